//! Know the account: what each user holds now (refresh), what each planned assignment
//! would change (diff), and whether what was written is held (verify).
//!
//! Reads are batched and go through the one gateway; the diff is a pure function of the
//! holdings and the plan. An endpoint that is missing or answers a shape ct-onboard
//! cannot read leaves that part of the account "unknown": the plan says so, and the
//! journal decides as it did before the account could be read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;

use crate::api::model::{Balance, PayRuleHeld};
use crate::api::{ApiError, Client, ErrorClass};
use crate::plan::{Assignment, Plan};
use crate::resolve::Directory;

/// Users per balances request (the endpoint's page limit is 100).
const BALANCE_BATCH: usize = 100;
/// Users per pay-rule assignments request: the page limit is 500, but 500 IDs would make
/// a query string longer than some proxies accept.
const PAY_RULE_BATCH: usize = 250;

/// The date asked for to see the latest assignment of each user, however far ahead.
pub fn far_date() -> Date {
    jiff::civil::date(2999, 12, 31)
}

/// What an assignment would change in the account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The user holds nothing of that time-off type, or no pay rule.
    New,
    /// Already held as the manifest says: nothing is sent.
    Unchanged,
    /// Holds this time-off policy; the manifest sets another balance.
    SetBalance,
    /// Holds another policy of the same time-off type, which this one replaces.
    Move,
    /// Another pay rule is in effect; ours starts later (a future-dated switch).
    Switch,
    /// A pay-rule assignment dated later than ours, which ours would remove.
    Replace,
    /// What the user holds could not be read (offline, or the endpoint is missing).
    #[default]
    Unknown,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Unchanged => "unchanged",
            Change::SetBalance => "set_balance",
            Change::Move => "move",
            Change::Switch => "switch",
            Change::Replace => "replace",
            Change::Unknown => "unknown",
        }
    }
}

/// One assignment against the account: the change, what the user holds now, and what
/// would be lost (a guarded change, not sent without `--allow-overwrite`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub change: Change,
    /// What the account holds now, in words: `Vacation - Part-time, 12.5 hours`.
    pub holds: String,
    /// What sending would lose: `12.5 hours of Vacation - Part-time`.
    pub loses: Option<String>,
}

impl Diff {
    fn unknown(why: &str) -> Diff {
        Diff {
            holds: format!("unknown: {why}"),
            ..Diff::default()
        }
    }
}

/// One user's pay rule on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PayRuleOn {
    policy_id: u64,
    effective_date: Date,
}

/// What the account holds for the users asked about.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// By time-off policy type that was read: each user's policy and balance.
    time_off: HashMap<String, HashMap<u64, Balance>>,
    /// Time-off policy types that could not be read, and why.
    unknown_types: BTreeMap<String, String>,
    /// Pay rules in effect today and the latest of each user (on [`far_date`]), when read.
    pay_rules_today: HashMap<u64, PayRuleOn>,
    pay_rules_latest: HashMap<u64, PayRuleOn>,
    /// Why pay rules could not be read (`None`: read, or not asked for).
    pay_rules_unknown: Option<String>,
    pay_rules_read: bool,
    names: Names,
    /// Why nothing at all was read, when nothing was.
    unread: Option<String>,
}

/// Policy names for the words of `holds` and `loses`.
#[derive(Debug, Clone, Default)]
struct Names {
    /// Time-off policy ID → (policy name, its type's ID, its type's name).
    time_off: HashMap<String, (String, String, String)>,
    pay_rule: HashMap<u64, String>,
}

impl Names {
    fn of(directory: &Directory) -> Names {
        let mut names = Names::default();
        for ty in &directory.policy_types {
            for p in &ty.policies {
                let entry = (p.name.clone(), ty.id.clone(), ty.name.clone());
                names.time_off.insert(p.id.clone(), entry);
            }
        }
        for p in &directory.pay_rule_policies {
            names.pay_rule.insert(p.id, p.name.clone());
        }
        names
    }

    /// The type ID of a time-off policy the account has.
    fn type_of(&self, policy: &crate::manifest::TimeOffPolicy) -> Option<String> {
        let (_, type_id, _) = self.time_off.get(policy.id.as_deref()?)?;
        Some(type_id.clone())
    }

    fn time_off<'a>(&'a self, id: &'a str) -> &'a str {
        self.time_off.get(id).map_or(id, |(name, _, _)| name)
    }

    fn pay_rule(&self, id: u64) -> String {
        self.pay_rule
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("pay-rule policy {id}"))
    }
}

/// What to read: time-off types, pay-rule policies and the dates to read them on.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub users: Vec<u64>,
    pub policy_types: BTreeSet<String>,
    pub pay_rule_policies: BTreeSet<u64>,
    pub dates: Vec<Date>,
}

impl Reads {
    /// Everything the plan's valid rows touch: the time-off types of their policies, and
    /// every pay-rule policy of the account (a user's current rule may be any of them),
    /// today and far ahead.
    pub fn refresh(plan: &Plan, directory: &Directory, today: Date) -> Reads {
        let mut reads = Reads::default();
        let names = Names::of(directory);
        let mut any_pay_rule = false;
        for row in plan.valid_rows() {
            reads.users.extend(row.user_id);
            for a in &row.assignments {
                match a {
                    Assignment::TimeOff { policy, .. } => {
                        reads.policy_types.extend(names.type_of(policy));
                    }
                    Assignment::PayRule { .. } => any_pay_rule = true,
                }
            }
        }
        if any_pay_rule {
            reads.pay_rule_policies = directory.pay_rule_policies.iter().map(|p| p.id).collect();
            reads.dates = vec![today, far_date()];
        }
        reads.users.sort_unstable();
        reads.users.dedup();
        reads
    }

    /// Only what is needed to check that `sent` (user, assignment) pairs are held: their
    /// time-off types, their pay-rule policies, far ahead.
    pub fn verify<'a>(
        sent: impl IntoIterator<Item = (u64, &'a Assignment)>,
        directory: &Directory,
    ) -> Reads {
        let names = Names::of(directory);
        let mut reads = Reads::default();
        for (user, a) in sent {
            reads.users.push(user);
            match a {
                Assignment::TimeOff { policy, .. } => {
                    reads.policy_types.extend(names.type_of(policy));
                }
                Assignment::PayRule { policy, .. } => {
                    reads.pay_rule_policies.extend(policy.id);
                    reads.dates = vec![far_date()];
                }
            }
        }
        reads.users.sort_unstable();
        reads.users.dedup();
        reads
    }

    /// Requests these reads take when every batch fits one page.
    pub fn requests(&self) -> usize {
        let batches = |size: usize| self.users.len().div_ceil(size);
        self.policy_types.len() * batches(BALANCE_BATCH)
            + self.pay_rule_policies.len() * self.dates.len() * batches(PAY_RULE_BATCH)
    }
}

/// Pages of a filtered list, stopping at the first short page, or once the filter's
/// users cannot produce more rows (`most`): never a page more than the filter justifies.
async fn pages<T, F, Fut>(limit: u64, most: usize, mut fetch: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ApiError>>,
{
    let mut rows = Vec::new();
    loop {
        let page = fetch(rows.len() as u64).await?;
        let short = (page.len() as u64) < limit;
        rows.extend(page);
        if short || rows.len() >= most {
            return Ok(rows);
        }
    }
}

/// An error that means "this endpoint cannot tell us" rather than "stop": it is missing
/// (404), refuses the query, or answers a shape that cannot be read.
fn unreadable(e: &ApiError) -> bool {
    e.class == ErrorClass::Permanent
}

fn why(e: &ApiError) -> String {
    match e.status {
        Some(404) => "the endpoint is missing (HTTP 404)".to_owned(),
        Some(status) => format!("HTTP {status}: {}", e.message),
        None => e.message.clone(),
    }
}

impl Holdings {
    /// No account read: every diff is `unknown` (offline plans).
    pub fn offline() -> Holdings {
        Holdings::unread("offline: no API key")
    }

    /// Nothing read, for `why`: every diff is `unknown`.
    pub fn unread(why: &str) -> Holdings {
        Holdings {
            unread: Some(why.to_owned()),
            ..Holdings::default()
        }
    }

    /// Reads what `reads` names. An endpoint that cannot tell (missing, unreadable) makes
    /// that part unknown; a refused key, a spent quota or an unreachable server is an
    /// error.
    pub async fn fetch(
        client: &Client,
        directory: &Directory,
        reads: &Reads,
    ) -> Result<Holdings, ApiError> {
        let mut holdings = Holdings {
            names: Names::of(directory),
            ..Holdings::default()
        };
        for ty in &reads.policy_types {
            match read_type(client, ty, &reads.users).await {
                Ok(rows) => {
                    let by_user = rows.into_iter().map(|b| (b.user_id, b)).collect();
                    holdings.time_off.insert(ty.clone(), by_user);
                }
                Err(e) if unreadable(&e) => {
                    tracing::warn!("cannot read who holds time-off type {ty}: {}", why(&e));
                    holdings.unknown_types.insert(ty.clone(), why(&e));
                }
                Err(e) => return Err(e),
            }
        }
        if !reads.pay_rule_policies.is_empty() {
            holdings.pay_rules_read = true;
            if let Err(e) = holdings.read_pay_rules(client, reads).await {
                if !unreadable(&e) {
                    return Err(e);
                }
                tracing::warn!("cannot read pay-rule assignments: {}", why(&e));
                holdings.pay_rules_unknown = Some(why(&e));
            }
        }
        Ok(holdings)
    }

    async fn read_pay_rules(&mut self, client: &Client, reads: &Reads) -> Result<(), ApiError> {
        for &policy in &reads.pay_rule_policies {
            for &date in &reads.dates {
                for batch in reads.users.chunks(PAY_RULE_BATCH) {
                    let rows = pages(500, batch.len(), |offset| async move {
                        let page = client
                            .pay_rule_assignments(policy, batch, date, offset, 500)
                            .await?;
                        Ok(page.data)
                    })
                    .await?;
                    let into = if date == far_date() {
                        &mut self.pay_rules_latest
                    } else {
                        &mut self.pay_rules_today
                    };
                    for PayRuleHeld {
                        user_id,
                        pay_rule_policy_id,
                        effective_date,
                        ..
                    } in rows
                    {
                        into.insert(
                            user_id,
                            PayRuleOn {
                                policy_id: pay_rule_policy_id,
                                effective_date,
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Each time-off policy held: user, policy ID, balance.
    pub fn time_off_held(&self) -> impl Iterator<Item = (u64, &str, f64)> {
        self.time_off.values().flat_map(|by_user| {
            by_user.values().map(|b| {
                let balance = b.balance.to_string().parse().unwrap_or(0.0);
                (b.user_id, b.policy_id.as_str(), balance)
            })
        })
    }

    /// Each pay-rule assignment seen (in effect today, or the latest-dated): user, policy
    /// ID, effective date.
    pub fn pay_rules_held(&self) -> Vec<(u64, u64, Date)> {
        let mut held: Vec<(u64, u64, Date)> = self
            .pay_rules_today
            .iter()
            .chain(&self.pay_rules_latest)
            .map(|(user, on)| (*user, on.policy_id, on.effective_date))
            .collect();
        held.sort_unstable();
        held.dedup();
        held
    }

    /// Parts of the account that could not be read, in words, for the plan to show.
    pub fn unknown(&self) -> Vec<String> {
        if let Some(why) = &self.unread {
            return vec![format!("every user: {why}")];
        }
        let mut parts: Vec<String> = self
            .unknown_types
            .iter()
            .map(|(ty, why)| {
                let name = self
                    .names
                    .time_off
                    .values()
                    .find(|(_, id, _)| id == ty)
                    .map_or(ty.as_str(), |(_, _, name)| name);
                format!("time-off type \"{name}\": {why}")
            })
            .collect();
        if let Some(why) = &self.pay_rules_unknown {
            parts.push(format!("pay-rule assignments: {why}"));
        }
        parts
    }

    /// What sending `a` to `user` would change.
    pub fn diff(&self, user: Option<u64>, a: &Assignment) -> Diff {
        if let Some(why) = &self.unread {
            return Diff::unknown(why);
        }
        let Some(user) = user else {
            return Diff::unknown("the user is not resolved");
        };
        match a {
            Assignment::TimeOff { policy, balance } => {
                let Some(id) = policy.id.as_deref() else {
                    return Diff::unknown("the policy is not resolved");
                };
                self.diff_time_off(user, id, balance.as_ref())
            }
            Assignment::PayRule {
                policy,
                effective_date,
            } => match policy.id {
                Some(id) => self.diff_pay_rule(user, id, *effective_date),
                None => Diff::unknown("the policy is not resolved"),
            },
        }
    }

    fn diff_time_off(
        &self,
        user: u64,
        policy: &str,
        balance: Option<&crate::manifest::Balance>,
    ) -> Diff {
        let Some((_, ty, _)) = self.names.time_off.get(policy) else {
            return Diff::unknown("the policy is not in the account");
        };
        if let Some(why) = self.unknown_types.get(ty) {
            return Diff::unknown(why);
        }
        let Some(by_user) = self.time_off.get(ty) else {
            return Diff::unknown("not read");
        };
        let Some(held) = by_user.get(&user) else {
            return Diff {
                change: Change::New,
                ..Diff::default()
            };
        };
        let held_name = self.names.time_off(&held.policy_id);
        let amount = describe_balance(held);
        let holds = format!("{held_name}, {amount}");
        let loses = (!held.balance.is_zero()).then(|| format!("{amount} of {held_name}"));
        if held.policy_id != policy {
            return Diff {
                change: Change::Move,
                holds,
                loses,
            };
        }
        let same_balance = balance.is_none_or(|b| {
            b.amount.normalize() == held.balance.normalize()
                && held
                    .units
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(b.unit.as_str()))
        });
        let change = if same_balance {
            Change::Unchanged
        } else {
            Change::SetBalance
        };
        let loses = loses.filter(|_| change == Change::SetBalance).map(|lost| {
            let new = balance.map_or_else(String::new, |b| {
                format!(" (set to {} {})", b.amount.normalize(), b.unit.as_str())
            });
            format!("{lost}{new}")
        });
        Diff {
            change,
            holds,
            loses,
        }
    }

    fn diff_pay_rule(&self, user: u64, policy: u64, date: Date) -> Diff {
        if let Some(why) = &self.pay_rules_unknown {
            return Diff::unknown(why);
        }
        if !self.pay_rules_read {
            return Diff::unknown("not read");
        }
        let today = self.pay_rules_today.get(&user);
        let latest = self.pay_rules_latest.get(&user);
        let describe = |on: &PayRuleOn, word: &str| {
            format!(
                "{} {word} {}",
                self.names.pay_rule(on.policy_id),
                on.effective_date
            )
        };
        let holds = match (today, latest) {
            (Some(t), Some(l)) if t != l => {
                format!("{}; {}", describe(t, "since"), describe(l, "from"))
            }
            (Some(t), _) => describe(t, "since"),
            (None, Some(l)) => describe(l, "from"),
            (None, None) => String::new(),
        };
        let Some(latest) = latest else {
            return Diff {
                change: Change::New,
                holds,
                loses: None,
            };
        };
        let (change, loses) = if latest.effective_date > date
            || (latest.effective_date == date && latest.policy_id != policy)
        {
            (Change::Replace, Some(describe(latest, "from")))
        } else if latest.policy_id == policy {
            (Change::Unchanged, None)
        } else {
            (Change::Switch, None)
        };
        Diff {
            change,
            holds,
            loses,
        }
    }

    /// Whether the account holds `a` for `user` as sent. A balance is not compared: it
    /// moves with use and accrual.
    pub fn holds(&self, user: u64, a: &Assignment) -> Option<bool> {
        match self.diff(Some(user), a).change {
            Change::Unknown => None,
            Change::Unchanged | Change::SetBalance => Some(true),
            _ => Some(false),
        }
    }
}

fn describe_balance(held: &Balance) -> String {
    let units = held.units.as_deref().unwrap_or("");
    format!("{} {units}", held.balance.normalize())
        .trim_end()
        .to_owned()
}

async fn read_type(client: &Client, ty: &str, users: &[u64]) -> Result<Vec<Balance>, ApiError> {
    let mut rows = Vec::new();
    for batch in users.chunks(BALANCE_BATCH) {
        let page = pages(100, batch.len(), |offset| async move {
            Ok(client.balances(ty, batch, offset, 100).await?.data)
        })
        .await?;
        // A user the filter did not name is not ours to judge.
        rows.extend(page.into_iter().filter(|b| batch.contains(&b.user_id)));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;
