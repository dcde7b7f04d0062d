//! Reading what users hold, and checking every row of it before it is believed.
//!
//! Each list is paged by [`crate::api::list::read_all`]; each row is then checked: it
//! must be for a user that was asked about (anyone else means the filter was ignored,
//! and the whole answer is not believed), no user may come twice in one type or policy,
//! and every field must parse. A row that fails makes that one user unknown, never the
//! whole type.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    HeldBalance, Holdings, Names, PackHeld, Part, PayRuleOn, PayRulesHeld, TypeHeld, Unread,
};
use crate::api::Page;
use crate::api::endpoint::{Balances, PackAssignments, PayRuleAssignments};
use crate::api::list::{self, id_of};
use crate::api::{ApiError, Client, ErrorClass};
use crate::plan::{Assignment, Kind, Plan};
use crate::resolve::Directory;

/// Users per balances request: as many as a query string safely carries (like the
/// pay-rule reads); the page limit is 100 (the official maximum), and pages are read to
/// the empty one, so new hires holding nothing cost one request a batch.
const BALANCE_BATCH: usize = 250;
const BALANCE_LIMIT: u64 = 100;
/// Users per pay-rule assignments request: the page limit is 500, but 500 IDs would make
/// a query string longer than some proxies accept.
const PAY_RULE_BATCH: usize = 250;
const PAY_RULE_LIMIT: u64 = 500;

/// The date asked for to see the latest assignment of each user, however far ahead.
pub fn far_date() -> Date {
    crate::plan::LATEST_READABLE
}

/// What to read: time-off types, pay-rule policies on dates (every policy), and single
/// policies on single dates for some users.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub users: Vec<u64>,
    pub policy_types: BTreeSet<String>,
    pub pay_rule_policies: BTreeSet<u64>,
    pub dates: Vec<Date>,
    /// One pay-rule policy on one date, for these users.
    pub on_date: BTreeMap<(u64, Date), Vec<u64>>,
    /// Pay rules sent (policy, date) to these users, to be seen in effect on that date:
    /// each policy is read far ahead first (a user whose latest rule is the one sent has
    /// it in effect from its date on), then on the date for the users it does not show.
    pub sent_pay_rules: BTreeMap<(u64, Date), Vec<u64>>,
    /// Onboarding packs: each read whole (its list is neither paged nor filtered).
    pub packs: BTreeSet<u64>,
    /// Kinds not to read (`--without-refresh`): they stay unknown.
    pub skipped: BTreeSet<Kind>,
    /// The date "now" is for pay rules (the first of `dates`, when read).
    pub today: Option<Date>,
}

impl Reads {
    /// Everything the plan's valid rows touch: the time-off types of their policies, and
    /// every pay-rule policy of the account (a user's current rule may be any of them),
    /// today and far ahead; less what `skipped` says not to read.
    pub fn refresh(
        plan: &Plan,
        directory: &Directory,
        today: Date,
        skipped: &BTreeSet<Kind>,
    ) -> Reads {
        Reads::of(
            plan.valid_rows()
                .filter_map(|row| Some((row.user_id?, row)))
                .flat_map(|(user, row)| row.assignments.iter().map(move |a| (user, a))),
            directory,
            today,
            skipped,
        )
    }

    /// The same for some (user, assignment) pairs: a batch of a long run read again.
    pub fn of<'a>(
        pairs: impl IntoIterator<Item = (u64, &'a Assignment)>,
        directory: &Directory,
        today: Date,
        skipped: &BTreeSet<Kind>,
    ) -> Reads {
        let names = Names::of(directory);
        let mut reads = Reads {
            skipped: skipped.clone(),
            ..Reads::default()
        };
        let mut any_pay_rule = false;
        for (user, a) in pairs {
            reads.users.push(user);
            match a {
                Assignment::TimeOff { policy, .. } => reads.policy_types.extend(
                    policy
                        .id
                        .as_deref()
                        .and_then(|id| names.type_of(id))
                        .map(str::to_owned),
                ),
                Assignment::PayRule { .. } => any_pay_rule = true,
                Assignment::OnboardingPack { pack } => reads.packs.extend(pack.id),
            }
        }
        if any_pay_rule {
            reads.pay_rule_policies = directory.pay_rule_policies.iter().map(|p| p.id).collect();
            reads.dates = vec![today, far_date()];
            reads.today = Some(today);
        }
        reads.users.sort_unstable();
        reads.users.dedup();
        reads
    }

    /// Only what is needed to check that `sent` (user, assignment) pairs are held as
    /// sent: their time-off types, and each pay-rule policy on each date sent.
    pub fn verify<'a>(
        sent: impl IntoIterator<Item = (u64, &'a Assignment)>,
        directory: &Directory,
    ) -> Reads {
        let names = Names::of(directory);
        let mut reads = Reads::default();
        for (user, a) in sent {
            reads.users.push(user);
            match a {
                Assignment::TimeOff { policy, .. } => reads.policy_types.extend(
                    policy
                        .id
                        .as_deref()
                        .and_then(|id| names.type_of(id))
                        .map(str::to_owned),
                ),
                Assignment::PayRule {
                    policy,
                    effective_date,
                } => {
                    if let Some(id) = policy.id {
                        reads
                            .sent_pay_rules
                            .entry((id, *effective_date))
                            .or_default()
                            .push(user);
                    }
                }
                Assignment::OnboardingPack { pack } => reads.packs.extend(pack.id),
            }
        }
        reads.users.sort_unstable();
        reads.users.dedup();
        for users in reads.sent_pay_rules.values_mut() {
            users.sort_unstable();
            users.dedup();
        }
        reads
    }

    /// Each policy of the pay rules sent, with every user it was sent to.
    fn sent_policies(&self) -> BTreeMap<u64, Vec<u64>> {
        let mut policies: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (&(policy, _), users) in &self.sent_pay_rules {
            policies.entry(policy).or_default().extend(users);
        }
        for users in policies.values_mut() {
            users.sort_unstable();
            users.dedup();
        }
        policies
    }

    /// Requests these reads take when every batch's rows fit one page: that page, and
    /// the empty one that ends the paging (a batch of users holding nothing is one).
    pub fn requests(&self) -> usize {
        let batches = |size: usize| self.users.len().div_ceil(size) * 2;
        let time_off = match self.skipped.contains(&Kind::TimeOff) {
            true => 0,
            false => self.policy_types.len() * batches(BALANCE_BATCH),
        };
        let pay_rules = match self.skipped.contains(&Kind::PayRule) {
            true => 0,
            false => {
                let lists = |groups: &mut dyn Iterator<Item = &Vec<u64>>| {
                    groups
                        .map(|users| users.len().div_ceil(PAY_RULE_BATCH) * 2)
                        .sum::<usize>()
                };
                self.pay_rule_policies.len() * self.dates.len() * batches(PAY_RULE_BATCH)
                    + lists(&mut self.on_date.values())
                    + lists(&mut self.sent_policies().values())
            }
        };
        let packs = match self.skipped.contains(&Kind::OnboardingPack) {
            true => 0,
            false => self.packs.len(),
        };
        time_off + pay_rules + packs
    }
}

/// An error that means "this endpoint cannot tell us" rather than "stop": it is missing
/// (404, 405), refuses the query, or answers what is not believed.
fn cannot_tell(e: &ApiError) -> bool {
    e.class == ErrorClass::Permanent
}

/// A part whose endpoint could not tell, with what it answered (and a warning).
fn could_not_tell<T>(endpoint: String, e: &ApiError) -> Part<T> {
    let why = answered(&endpoint, e);
    tracing::warn!("cannot read what users hold: {endpoint} {why}");
    Part::Unread(Unread::Failed { endpoint, why })
}

/// What an endpoint that cannot tell answered, in words that follow its name.
fn answered(endpoint: &str, e: &ApiError) -> String {
    match e.status {
        Some(status @ (404 | 405)) => format!("answered HTTP {status}: the endpoint is missing"),
        _ if e.message.starts_with(endpoint) => e.message[endpoint.len()..].trim().to_owned(),
        Some(status) => format!("answered HTTP {status}: {}", e.message),
        None => e.message.clone(),
    }
}

impl Holdings {
    /// Reads what `reads` names. An endpoint that cannot tell (missing, refusing, not
    /// believed) leaves that part unread, with why; a refused key, a spent quota or an
    /// unreachable server is an error.
    pub async fn fetch(
        client: &Client,
        directory: &Directory,
        reads: &Reads,
    ) -> Result<Holdings, ApiError> {
        let mut holdings = Holdings {
            users: reads.users.iter().copied().collect(),
            names: Names::of(directory),
            today: reads.today,
            ..Holdings::default()
        };
        for ty in &reads.policy_types {
            let part = if reads.skipped.contains(&Kind::TimeOff) {
                Part::Unread(Unread::Skipped(Kind::TimeOff))
            } else {
                let policies: HashSet<&str> = directory
                    .policy_types
                    .iter()
                    .filter(|t| t.id == *ty)
                    .flat_map(|t| t.policies.iter().map(|p| p.id.as_str()))
                    .collect();
                let endpoint = format!("GET /time-off/v1/policy-types/{ty}/balances");
                match read_type(client, ty, &policies, &reads.users).await {
                    Ok(held) => Part::Read(held),
                    Err(e) if cannot_tell(&e) => could_not_tell(endpoint, &e),
                    Err(e) => return Err(e.at(&endpoint)),
                }
            };
            holdings.time_off.insert(ty.clone(), part);
        }
        if !reads.pay_rule_policies.is_empty()
            || !reads.on_date.is_empty()
            || !reads.sent_pay_rules.is_empty()
        {
            holdings.pay_rules = Some(if reads.skipped.contains(&Kind::PayRule) {
                Part::Unread(Unread::Skipped(Kind::PayRule))
            } else {
                let mut held = PayRulesHeld::default();
                match held.read(client, reads).await {
                    Ok(()) => Part::Read(held),
                    Err((e, endpoint)) if cannot_tell(&e) => could_not_tell(endpoint, &e),
                    Err((e, endpoint)) => return Err(e.at(&endpoint)),
                }
            });
        }
        for &pack in &reads.packs {
            let part = if reads.skipped.contains(&Kind::OnboardingPack) {
                Part::Unread(Unread::Skipped(Kind::OnboardingPack))
            } else {
                let endpoint = format!("GET /onboarding/v1/packs/{pack}/assignments");
                match read_pack(client, pack, &holdings.users).await {
                    Ok(held) => Part::Read(held),
                    Err(e) if cannot_tell(&e) => could_not_tell(endpoint, &e),
                    Err(e) => return Err(e.at(&endpoint)),
                }
            };
            holdings.packs.insert(pack, part);
        }
        Ok(holdings)
    }

    /// Reads, for each valid row's pay rule that looks like a `replace` (the user's latest
    /// rule is dated after ours), whether the user already has ours in effect on its date:
    /// then a later switch is merely scheduled, and nothing is to be done.
    pub async fn read_replace_candidates(
        &mut self,
        client: &Client,
        pairs: impl IntoIterator<Item = (u64, &Assignment)>,
    ) -> Result<(), ApiError> {
        let mut reads = Reads::default();
        for (user, a) in pairs {
            if let Assignment::PayRule {
                policy: crate::manifest::PolicyRef { id: Some(id), .. },
                effective_date,
            } = a
                && self.diff(Some(user), a).change == super::Change::Replace
            {
                reads
                    .on_date
                    .entry((*id, *effective_date))
                    .or_default()
                    .push(user);
            }
        }
        if reads.on_date.is_empty() {
            return Ok(());
        }
        let Some(Part::Read(held)) = &mut self.pay_rules else {
            return Ok(());
        };
        match held.read(client, &reads).await {
            Ok(()) => Ok(()),
            Err((e, endpoint)) if cannot_tell(&e) => {
                self.pay_rules = Some(could_not_tell(endpoint, &e));
                Ok(())
            }
            Err((e, endpoint)) => Err(e.at(&endpoint)),
        }
    }
}

/// A row's user, if it names one: `Err` with the row's text when it names none.
fn user_of(row: &Value) -> Result<u64, String> {
    row.get("userId")
        .and_then(id_of)
        .ok_or_else(|| match row.get("userId") {
            Some(v) => format!("userId {v}"),
            None => "no userId".to_owned(),
        })
}

/// Why a page is not believed: a row for a user that was not asked about.
fn stray(page: &[Value], asked: &[u64]) -> Option<String> {
    page.iter()
        .filter_map(|row| user_of(row).ok())
        .find(|user| !asked.contains(user))
        .map(ignored_filter)
}

fn ignored_filter(user: u64) -> String {
    format!(
        "answered a row for user {user}, who was not asked about: it ignored the userIds filter"
    )
}

/// A batch's rows as checked: each user's row believed, and the users in doubt.
struct Checked<T> {
    held: HashMap<u64, T>,
    doubt: HashMap<u64, String>,
}

/// Checks a batch's rows: each attributed to a user that was asked about, parsed by
/// `parse`, at most once per user. A row for a user not asked about means the filter
/// was ignored: `Err` says so, and nothing of the answer is believed.
fn check_rows<T>(
    asked: &[u64],
    rows: Vec<Value>,
    mut parse: impl FnMut(&Value) -> Result<T, String>,
) -> Result<Checked<T>, String> {
    let asked_set: HashSet<u64> = asked.iter().copied().collect();
    let mut held: HashMap<u64, T> = HashMap::new();
    let mut doubt: HashMap<u64, String> = HashMap::new();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for row in rows {
        let user = match user_of(&row) {
            Ok(user) => user,
            Err(what) => {
                // A row that names no one could be anyone's of this batch.
                for user in asked {
                    doubt
                        .entry(*user)
                        .or_insert_with(|| format!("a row of the answer names no user ({what})"));
                }
                continue;
            }
        };
        if !asked_set.contains(&user) {
            return Err(ignored_filter(user));
        }
        let times = seen.entry(user).or_insert(0);
        *times += 1;
        if *times > 1 {
            held.remove(&user);
            doubt.insert(user, format!("{} rows for this one user", *times));
            continue;
        }
        match parse(&row) {
            Ok(value) => {
                held.insert(user, value);
            }
            Err(why) => {
                doubt.insert(user, why);
            }
        }
    }
    for user in doubt.keys() {
        held.remove(user);
    }
    Ok(Checked { held, doubt })
}

/// Every batch of users' rows in one time-off type.
async fn read_type(
    client: &Client,
    ty: &str,
    policies: &HashSet<&str>,
    users: &[u64],
) -> Result<TypeHeld, ApiError> {
    let endpoint = format!("GET /time-off/v1/policy-types/{ty}/balances");
    let mut type_held = TypeHeld::default();
    for batch in users.chunks(BALANCE_BATCH) {
        let rows = list::read_all(
            &endpoint,
            BALANCE_LIMIT,
            batch.len() * 2,
            |offset, limit| {
                let request = Balances {
                    policy_type: ty,
                    users: batch,
                    page: Page { offset, limit },
                };
                async move { client.read(&request).await }
            },
            |page| stray(page, batch),
        )
        .await?;
        let parse = |row: &Value| {
            let held = parse_balance(row)?;
            match policies.contains(held.policy_id.as_str()) {
                true => Ok(held),
                false => Err(format!("policy {} is not of this type", held.policy_id)),
            }
        };
        let checked = check_rows(batch, rows, parse)
            .map_err(|why| list::not_believed(&endpoint, &why, 200, None))?;
        type_held.held.extend(checked.held);
        type_held.doubt.extend(checked.doubt);
    }
    Ok(type_held)
}

/// Everyone on one pack, as far as `users` are concerned. The list is the pack's whole
/// (unfiltered): rows for other users are not read. A row that names no user could be
/// anyone's, so everyone asked about is in doubt; a row for a user that does not check
/// out makes that user unknown. Two rows for one user both say the user is on the pack.
pub(super) async fn read_pack(
    client: &Client,
    pack: u64,
    users: &HashSet<u64>,
) -> Result<PackHeld, ApiError> {
    let rows = client.read(&PackAssignments { pack }).await?.data;
    let mut held = PackHeld::default();
    for row in rows {
        let user = match user_of(&row) {
            Ok(user) => user,
            Err(what) => {
                for user in users {
                    held.doubt
                        .entry(*user)
                        .or_insert_with(|| format!("a row of the answer names no user ({what})"));
                }
                continue;
            }
        };
        if !users.contains(&user) {
            continue;
        }
        match parse_pack_row(&row) {
            Ok(status) => {
                let on = held.on.entry(user).or_default();
                if !on.split(", ").any(|s| s == status) {
                    if !on.is_empty() {
                        on.push_str(", ");
                    }
                    on.push_str(&status);
                }
            }
            Err(why) => {
                held.doubt.insert(user, why);
            }
        }
    }
    // A row that says a user is on the pack is enough not to send: doubt (their own
    // row that does not parse, a row naming no one) is about those not seen on it.
    held.doubt.retain(|user, _| !held.on.contains_key(user));
    Ok(held)
}

/// `{id, userId, status, isWaitingApproval}` (`AssignmentResponse`): the status, when
/// every required field is there.
fn parse_pack_row(row: &Value) -> Result<String, String> {
    if row.get("id").and_then(id_of).is_none() {
        return Err(format!(
            "assignment id {}",
            row.get("id")
                .map_or_else(|| "missing".into(), Value::to_string)
        ));
    }
    if !row.get("isWaitingApproval").is_some_and(Value::is_boolean) {
        return Err("no isWaitingApproval".into());
    }
    match row.get("status") {
        Some(Value::String(status)) if !status.trim().is_empty() => Ok(status.clone()),
        Some(other) => Err(format!("status {other}")),
        None => Err("no status".into()),
    }
}

/// `{userId, units, balance, policyId}`, every field as the official schema says.
fn parse_balance(row: &Value) -> Result<HeldBalance, String> {
    let policy_id = match row.get("policyId") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        Some(other) => return Err(format!("policyId {other}")),
        None => return Err("no policyId".into()),
    };
    let balance = match row.get("balance") {
        Some(Value::Number(n)) => decimal(n).ok_or_else(|| format!("balance {n}"))?,
        Some(other) => return Err(format!("balance {other}")),
        None => return Err("no balance".into()),
    };
    let units = match row.get("units") {
        Some(Value::String(u)) if u == "hours" || u == "days" => u.clone(),
        Some(other) => return Err(format!("units {other}")),
        None => return Err("no units".into()),
    };
    Ok(HeldBalance {
        policy_id,
        balance,
        units,
    })
}

fn decimal(n: &serde_json::Number) -> Option<Decimal> {
    let text = n.to_string();
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

/// An effective date as a date, or a datetime whose date part is taken as written.
fn effective_date(value: &Value) -> Result<Date, String> {
    let Some(text) = value.as_str() else {
        return Err(format!("effectiveDate {value}"));
    };
    let text = text.trim();
    let date = text.get(..10).and_then(|d| d.parse::<Date>().ok());
    let rest_ok = match text.get(10..) {
        Some("") => true,
        Some(_) => {
            text.parse::<jiff::Timestamp>().is_ok() || text.parse::<jiff::civil::DateTime>().is_ok()
        }
        None => false,
    };
    match date {
        Some(date) if rest_ok => Ok(date),
        _ => Err(format!("effectiveDate \"{text}\"")),
    }
}

impl PayRulesHeld {
    /// Reads every policy on every date of `reads`, and each single policy on its date;
    /// a failure comes back with the endpoint that failed.
    async fn read(&mut self, client: &Client, reads: &Reads) -> Result<(), (ApiError, String)> {
        for &policy in &reads.pay_rule_policies {
            for &date in &reads.dates {
                let checked = read_policy_on(client, policy, date, &reads.users).await?;
                self.doubt.extend(checked.doubt);
                let on = self.on.entry(date).or_default();
                for (user, rule) in checked.held {
                    match on.get(&user) {
                        Some(other) if other.policy_id != rule.policy_id => {
                            self.doubt.insert(
                                user,
                                format!(
                                    "in effect under both policy {} and policy {} on {date}",
                                    other.policy_id, rule.policy_id
                                ),
                            );
                        }
                        _ => {
                            on.insert(user, rule);
                        }
                    }
                }
            }
        }
        for (&(policy, date), users) in &reads.on_date {
            self.read_one(client, policy, date, users).await?;
        }
        if !reads.sent_pay_rules.is_empty() {
            for (policy, users) in reads.sent_policies() {
                self.read_one(client, policy, far_date(), &users).await?;
            }
            for (&(policy, date), users) in &reads.sent_pay_rules {
                let latest = self.policy_on.get(&(policy, far_date()));
                let unseen: Vec<u64> = users
                    .iter()
                    .copied()
                    .filter(|user| {
                        latest
                            .and_then(|on| on.held.get(user))
                            .is_none_or(|on| on.effective_date != date)
                    })
                    .collect();
                if !unseen.is_empty() {
                    self.read_one(client, policy, date, &unseen).await?;
                }
            }
        }
        // In effect now, but with no latest rule: a far read that cannot see what is there.
        if let (Some(today), Some(far)) = (reads.today, self.on.get(&far_date())) {
            let unseen: Vec<(u64, u64)> = self
                .on
                .get(&today)
                .into_iter()
                .flatten()
                .filter(|(user, _)| !far.contains_key(user))
                .map(|(user, on)| (*user, on.policy_id))
                .collect();
            for (user, policy) in unseen {
                self.doubt.insert(
                    user,
                    format!(
                        "policy {policy} is in effect on {today}, yet no rule is read on {}",
                        far_date()
                    ),
                );
            }
        }
        for user in self.doubt.keys() {
            for on in self.on.values_mut() {
                on.remove(user);
            }
        }
        Ok(())
    }
}

impl PayRulesHeld {
    /// One policy on one date for some users, kept as such.
    async fn read_one(
        &mut self,
        client: &Client,
        policy: u64,
        date: Date,
        users: &[u64],
    ) -> Result<(), (ApiError, String)> {
        let checked = read_policy_on(client, policy, date, users).await?;
        self.doubt.extend(checked.doubt);
        let on = self.policy_on.entry((policy, date)).or_default();
        on.asked.extend(users.iter().copied());
        on.held.extend(checked.held);
        Ok(())
    }
}

/// One pay-rule policy's assignments in effect on `date`, for `users`.
async fn read_policy_on(
    client: &Client,
    policy: u64,
    date: Date,
    users: &[u64],
) -> Result<Checked<PayRuleOn>, (ApiError, String)> {
    let endpoint =
        format!("GET /company-policies/v1/pay-rule-policies/{policy}/assignments?date={date}");
    let mut all = Checked {
        held: HashMap::new(),
        doubt: HashMap::new(),
    };
    for batch in users.chunks(PAY_RULE_BATCH) {
        let rows = list::read_all(
            &endpoint,
            PAY_RULE_LIMIT,
            batch.len() * 2,
            |offset, limit| {
                let request = PayRuleAssignments {
                    policy,
                    users: batch,
                    date,
                    page: Page { offset, limit },
                };
                async move { client.read(&request).await }
            },
            |page| stray(page, batch),
        )
        .await
        .map_err(|e| (e, endpoint.clone()))?;
        let parse = |row: &Value| parse_pay_rule(row, policy, date);
        let checked = check_rows(batch, rows, parse).map_err(|why| {
            (
                list::not_believed(&endpoint, &why, 200, None),
                endpoint.clone(),
            )
        })?;
        all.held.extend(checked.held);
        all.doubt.extend(checked.doubt);
    }
    Ok(all)
}

/// `{userId, payRulePolicyId?, effectiveDate}`, read tolerantly (the shape is
/// unpublished): ids as numbers or strings, dates or datetimes. A rule of another policy,
/// or dated after the day it is said to be in effect, does not check out.
fn parse_pay_rule(row: &Value, policy: u64, on: Date) -> Result<PayRuleOn, String> {
    if let Some(value) = row.get("payRulePolicyId").filter(|v| !v.is_null())
        && id_of(value) != Some(policy)
    {
        return Err(format!(
            "payRulePolicyId {value} in the list of policy {policy}"
        ));
    }
    let effective_date = match row.get("effectiveDate") {
        Some(value) => effective_date(value)?,
        None => return Err("no effectiveDate".into()),
    };
    if effective_date > on {
        return Err(format!(
            "effectiveDate {effective_date}, after {on}, on which it is said to be in effect"
        ));
    }
    Ok(PayRuleOn {
        policy_id: policy,
        effective_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bad_row_makes_one_user_unknown_and_a_stray_row_the_whole_answer() {
        let rows = vec![
            json!({"userId": 1, "units": "hours", "balance": 12.5, "policyId": "pt"}),
            json!({"userId": 2, "units": "days", "balance": null, "policyId": "ft"}),
            json!({"userId": 3, "units": "days", "balance": 0, "policyId": "ft"}),
            json!({"userId": 3, "units": "days", "balance": 15, "policyId": "ft"}),
            json!({"userId": "4", "units": "days", "balance": 1e1, "policyId": "ft"}),
        ];
        let Checked { held, doubt } = check_rows(&[1, 2, 3, 4, 5], rows, parse_balance).unwrap();
        assert_eq!(held[&1].balance, "12.5".parse::<Decimal>().unwrap());
        assert_eq!(held[&4].balance, Decimal::from(10));
        assert_eq!(doubt[&2], "balance null");
        assert_eq!(doubt[&3], "2 rows for this one user");
        assert!(!held.contains_key(&3) && !held.contains_key(&5) && !doubt.contains_key(&5));

        let stray = vec![json!({"userId": 9, "units": "days", "balance": 1, "policyId": "ft"})];
        let error = check_rows(&[1], stray, parse_balance).err().unwrap();
        assert!(error.contains("ignored the userIds filter"), "{error}");

        let nameless = vec![json!({"userId": -5, "units": "days", "balance": 1, "policyId": "ft"})];
        let Checked { held, doubt } = check_rows(&[1, 2], nameless, parse_balance).unwrap();
        assert!(held.is_empty());
        assert_eq!(
            doubt.len(),
            2,
            "a row naming no one could be anyone's of the batch"
        );
    }

    #[test]
    fn balance_rows_need_every_field_the_schema_requires() {
        let row = |v: Value| parse_balance(&v);
        assert!(
            row(json!({"userId": 1, "balance": 1, "policyId": "p"}))
                .unwrap_err()
                .contains("units")
        );
        assert!(
            row(json!({"userId": 1, "units": "days", "balance": 1}))
                .unwrap_err()
                .contains("policyId")
        );
        assert!(
            row(json!({"userId": 1, "units": "days", "balance": "NaN", "policyId": "p"}))
                .unwrap_err()
                .contains("NaN")
        );
        assert!(
            row(json!({"userId": 1, "units": "weeks", "balance": 1, "policyId": "p"})).is_err()
        );
    }

    #[test]
    fn pay_rule_rows_are_read_tolerantly_but_must_check_out() {
        let on = jiff::civil::date(2029, 1, 1);
        let row = |v: Value| parse_pay_rule(&v, 7, on);
        let date = jiff::civil::date(2028, 1, 1);
        for effective in [
            "2028-01-01",
            "2028-01-01T00:00:00Z",
            "2028-01-01T09:30:00",
            "2028-01-01T00:00:00+10:00",
        ] {
            assert_eq!(
                row(json!({"userId": 1, "payRulePolicyId": "7", "effectiveDate": effective}))
                    .unwrap()
                    .effective_date,
                date,
                "{effective}"
            );
        }
        assert!(
            row(json!({"userId": 1, "effectiveDate": "2028-01-01"})).is_ok(),
            "the policy is the list's"
        );
        assert!(
            row(json!({"userId": 1, "payRulePolicyId": 8, "effectiveDate": "2028-01-01"})).is_err()
        );
        assert!(
            row(json!({"userId": 1, "payRulePolicyId": 7, "effectiveDate": "01/01/2028"})).is_err()
        );
        assert!(row(json!({"userId": 1, "payRulePolicyId": 7})).is_err());
        assert!(
            row(json!({"userId": 1, "payRulePolicyId": 7, "effectiveDate": "2030-01-01"})).is_err(),
            "not in effect on the day asked"
        );
    }
}
