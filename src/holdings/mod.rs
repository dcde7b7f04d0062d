//! Know the account: what each user holds now (refresh), what each planned assignment
//! would change (diff), and whether what was written is held as it was sent (verify).
//!
//! A read is believed only when it checks out ([`read`]): every row for a user that was
//! asked about, no user twice in one type or policy, every page read, every field
//! parsed. Where that fails for one user, what that user holds is unknown (a doubt, with
//! its reason); where a whole endpoint cannot tell (missing, refusing, not believed),
//! that part of the account is unread. The diff is a pure function of what was read.

mod read;

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::plan::{Assignment, Kind};
use crate::resolve::Directory;

pub use read::{Reads, far_date};

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
    /// What the user holds could not be read (offline, not read, or not believed).
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
    /// Why what the user holds is not known, when it is not: `what 9170005 holds in
    /// Vacation could not be read: balance null`.
    pub unknown: Option<String>,
    /// What is held, as values (policy, balance, unit), for the journal to compare with
    /// what verify saw: empty when nothing of the type is held, or for pay rules.
    pub held: String,
}

impl Diff {
    fn unknown(why: String) -> Diff {
        Diff {
            unknown: Some(why),
            ..Diff::default()
        }
    }

    /// What the account holds, in the words of a report: `unknown: why` when that is
    /// not known.
    pub fn holds_in_words(&self) -> String {
        match &self.unknown {
            Some(why) => format!("unknown: {why}"),
            None => self.holds.clone(),
        }
    }
}

/// A part of the account that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Not asked for: `--without-refresh`.
    Skipped(Kind),
    /// Asked for, and the endpoint could not tell: missing, refusing the query, or
    /// answering what is not believed.
    Failed { endpoint: String, why: String },
}

impl Unread {
    fn why(&self) -> String {
        match self {
            Unread::Skipped(kind) => format!("not read (--without-refresh {})", kind.as_str()),
            Unread::Failed { endpoint, why } => format!("{endpoint} {why}"),
        }
    }
}

/// What one user holds in one time-off type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBalance {
    pub policy_id: String,
    pub balance: Decimal,
    /// `hours` or `days`.
    pub units: String,
}

impl HeldBalance {
    /// The holding as values, unchanged by renaming a policy: `pol-1 15 days`.
    pub fn key(&self) -> String {
        format!(
            "{} {} {}",
            self.policy_id,
            self.balance.normalize(),
            self.units
        )
    }
}

/// One user's pay rule on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayRuleOn {
    pub policy_id: u64,
    pub effective_date: Date,
}

/// What a time-off type's read says: each user's holding, and the users whose rows did
/// not check out.
#[derive(Debug, Clone, Default)]
struct TypeHeld {
    held: HashMap<u64, HeldBalance>,
    doubt: HashMap<u64, String>,
}

/// What the pay-rule reads say.
#[derive(Debug, Clone, Default)]
struct PayRulesHeld {
    /// Every policy read on these dates: each user's rule in effect on each.
    on: HashMap<Date, HashMap<u64, PayRuleOn>>,
    /// One policy read on one date for some users.
    policy_on: HashMap<(u64, Date), OnDate>,
    doubt: HashMap<u64, String>,
}

/// One pay-rule policy read on one date: the users asked about, and who has it then.
#[derive(Debug, Clone, Default)]
struct OnDate {
    asked: HashSet<u64>,
    held: HashMap<u64, PayRuleOn>,
}

/// What `holds` says of a user a pack read does not show on it.
pub const NOT_ON_PACK: &str = "not on the pack";

/// What one pack's assignments say of the users asked about: who is on it (with the
/// status read), and the users whose rows did not check out.
#[derive(Debug, Clone, Default)]
struct PackHeld {
    on: HashMap<u64, String>,
    doubt: HashMap<u64, String>,
}

/// Who of `users` is on `pack` now, read and believed as a plan reads it: those on it,
/// and those whose rows did not check out (with why).
pub async fn who_is_on_pack(
    client: &crate::api::Client,
    pack: u64,
    users: &HashSet<u64>,
) -> Result<(HashSet<u64>, HashMap<u64, String>), crate::api::ApiError> {
    let held = read::read_pack(client, pack, users).await?;
    Ok((held.on.into_keys().collect(), held.doubt))
}

/// A part of the account as read, or why not.
#[derive(Debug, Clone)]
enum Part<T> {
    Read(T),
    Unread(Unread),
}

/// What the account holds for the users asked about.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// The users these holdings speak for.
    users: HashSet<u64>,
    /// By time-off policy type asked for.
    time_off: HashMap<String, Part<TypeHeld>>,
    /// Pay rules, when asked for.
    pay_rules: Option<Part<PayRulesHeld>>,
    /// By onboarding pack asked for.
    packs: HashMap<u64, Part<PackHeld>>,
    /// The date pay rules in effect "now" were read on.
    today: Option<Date>,
    names: Names,
    /// Why nothing at all was read, when nothing was.
    unread: Option<String>,
}

/// Policy names for the words of `holds` and `loses`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Time-off policy ID → (policy name, its type's ID, its type's name).
    time_off: HashMap<String, (String, String, String)>,
    pay_rule: HashMap<u64, String>,
    pack: HashMap<u64, String>,
}

impl Names {
    pub fn of(directory: &Directory) -> Names {
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
        for p in &directory.packs {
            names.pack.insert(p.id, p.name.clone());
        }
        names
    }

    pub fn pack(&self, id: u64) -> String {
        self.pack
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("onboarding pack {id}"))
    }

    /// The type ID of a time-off policy the account has.
    pub fn type_of(&self, policy_id: &str) -> Option<&str> {
        self.time_off.get(policy_id).map(|(_, ty, _)| ty.as_str())
    }

    fn type_name<'a>(&'a self, type_id: &'a str) -> &'a str {
        self.time_off
            .values()
            .find(|(_, id, _)| id == type_id)
            .map_or(type_id, |(_, _, name)| name)
    }

    pub fn time_off<'a>(&'a self, id: &'a str) -> &'a str {
        self.time_off.get(id).map_or(id, |(name, _, _)| name)
    }

    pub fn pay_rule(&self, id: u64) -> String {
        self.pay_rule
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("pay-rule policy {id}"))
    }
}

/// What verify finds of one assignment it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Held as sent: the policy, the balance and unit sent, the rule on its date.
    Held,
    /// Not (yet) held as sent; the account holds this instead (in words, and as the
    /// values [`Diff::held`] compares).
    Not { holds: String, held: String },
    /// What the user holds could not be read.
    Unknown(String),
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

    /// Whether nothing at all was read (offline, or interrupted first): nothing can be
    /// sent then either.
    pub fn read_nothing(&self) -> bool {
        self.unread.is_some()
    }

    /// Parts of the account whose endpoint could not tell (not those skipped on purpose):
    /// their kind, and words naming the part, the endpoint and what it answered.
    pub fn failed(&self) -> Vec<(Kind, String)> {
        self.parts()
            .filter_map(|(kind, part, unread)| match unread {
                Unread::Failed { .. } => Some((kind, format!("{part}: {}", unread.why()))),
                Unread::Skipped(_) => None,
            })
            .collect()
    }

    /// The kinds not read on purpose (`--without-refresh`).
    pub fn skipped(&self) -> BTreeSet<Kind> {
        self.parts()
            .filter_map(|(_, _, unread)| match unread {
                Unread::Skipped(kind) => Some(*kind),
                Unread::Failed { .. } => None,
            })
            .collect()
    }

    /// Users whose rows did not check out, with why, in user order.
    pub fn doubts(&self) -> Vec<(u64, String)> {
        let mut doubts: Vec<(u64, String)> = self
            .time_off
            .iter()
            .filter_map(|(ty, part)| match part {
                Part::Read(t) => Some((ty, t)),
                Part::Unread(_) => None,
            })
            .flat_map(|(ty, t)| {
                t.doubt
                    .iter()
                    .map(move |(user, why)| (*user, format!("{}: {why}", self.names.type_name(ty))))
            })
            .chain(
                self.pay_rules_read()
                    .into_iter()
                    .flat_map(|p| p.doubt.iter())
                    .map(|(user, why)| (*user, format!("pay rules: {why}"))),
            )
            .chain(
                self.packs
                    .iter()
                    .filter_map(|(pack, part)| match part {
                        Part::Read(p) => Some((pack, p)),
                        Part::Unread(_) => None,
                    })
                    .flat_map(|(pack, p)| {
                        p.doubt.iter().map(move |(user, why)| {
                            (*user, format!("{}: {why}", self.names.pack(*pack)))
                        })
                    }),
            )
            .collect();
        doubts.sort();
        doubts
    }

    /// Every part not read, named: `time-off type "Vacation"`, `pay-rule assignments`.
    fn parts(&self) -> impl Iterator<Item = (Kind, String, &Unread)> {
        let time_off = self.time_off.iter().filter_map(|(ty, part)| match part {
            Part::Unread(unread) => Some((
                Kind::TimeOff,
                format!("time-off type \"{}\"", self.names.type_name(ty)),
                unread,
            )),
            Part::Read(_) => None,
        });
        let pay_rules = match &self.pay_rules {
            Some(Part::Unread(unread)) => {
                Some((Kind::PayRule, "pay-rule assignments".to_owned(), unread))
            }
            _ => None,
        };
        let packs = self.packs.iter().filter_map(|(pack, part)| match part {
            Part::Unread(unread) => Some((
                Kind::OnboardingPack,
                format!("onboarding pack \"{}\"", self.names.pack(*pack)),
                unread,
            )),
            Part::Read(_) => None,
        });
        time_off.chain(pay_rules).chain(packs)
    }

    /// Each user seen on each pack read: pack ID, user, status.
    pub fn packs_held(&self) -> Vec<(u64, u64, &str)> {
        let mut held: Vec<(u64, u64, &str)> = self
            .packs
            .iter()
            .filter_map(|(pack, part)| match part {
                Part::Read(p) => Some((*pack, p)),
                Part::Unread(_) => None,
            })
            .flat_map(|(pack, p)| {
                p.on.iter()
                    .map(move |(user, status)| (pack, *user, status.as_str()))
            })
            .collect();
        held.sort_unstable();
        held
    }

    fn pay_rules_read(&self) -> Option<&PayRulesHeld> {
        match &self.pay_rules {
            Some(Part::Read(p)) => Some(p),
            _ => None,
        }
    }

    /// Each time-off policy held and believed: user, policy ID, balance.
    pub fn time_off_held(&self) -> impl Iterator<Item = (u64, &HeldBalance)> {
        self.time_off
            .values()
            .filter_map(|part| match part {
                Part::Read(t) => Some(t),
                Part::Unread(_) => None,
            })
            .flat_map(|t| t.held.iter().map(|(user, held)| (*user, held)))
    }

    /// Each pay-rule assignment seen and believed (in effect on a date read): user,
    /// policy ID, effective date.
    pub fn pay_rules_held(&self) -> Vec<(u64, u64, Date)> {
        let Some(p) = self.pay_rules_read() else {
            return Vec::new();
        };
        let mut held: Vec<(u64, u64, Date)> =
            p.on.values()
                .chain(p.policy_on.values().map(|on| &on.held))
                .flat_map(|by_user| {
                    by_user
                        .iter()
                        .map(|(user, on)| (*user, on.policy_id, on.effective_date))
                })
                .collect();
        held.sort_unstable();
        held.dedup();
        held
    }

    /// Why nothing is known of `user`'s holding for `a`, if nothing is.
    fn unknown_for(&self, user: Option<u64>, a: &Assignment) -> Result<u64, Diff> {
        if let Some(why) = &self.unread {
            return Err(Diff::unknown(why.clone()));
        }
        let Some(user) = user else {
            return Err(Diff::unknown("the user is not resolved".into()));
        };
        if !self.users.contains(&user) {
            return Err(Diff::unknown(format!("what {user} holds was not read")));
        }
        let (id, _) = a.policy_id_and_name();
        if id.is_empty() {
            return Err(Diff::unknown("the policy is not resolved".into()));
        }
        Ok(user)
    }

    /// What sending `a` to the row's user would change. Someone still to be created
    /// holds nothing yet (what Connecteam gives a new user by default is read once they
    /// are created, before their writes).
    pub fn diff_for(&self, row: &crate::plan::PlanRow, a: &Assignment) -> Diff {
        match (&row.person, row.user_id) {
            (Some(_), None) => Diff {
                change: Change::New,
                holds: "nothing: not in Connecteam yet".into(),
                ..Diff::default()
            },
            _ => self.diff(row.user_id, a),
        }
    }

    /// What sending `a` to `user` would change.
    pub fn diff(&self, user: Option<u64>, a: &Assignment) -> Diff {
        let user = match self.unknown_for(user, a) {
            Ok(user) => user,
            Err(unknown) => return unknown,
        };
        match a {
            Assignment::TimeOff { policy, balance } => {
                let id = policy.id.as_deref().unwrap_or_default();
                match self.type_held(user, id) {
                    Ok(held) => diff_time_off(&self.names, held, id, balance.as_ref()),
                    Err(unknown) => unknown,
                }
            }
            Assignment::PayRule {
                policy,
                effective_date,
            } => {
                let id = policy.id.unwrap_or_default();
                match self.pay_rules_of(user) {
                    Ok(p) => self.diff_pay_rule(p, user, id, *effective_date),
                    Err(unknown) => unknown,
                }
            }
            Assignment::OnboardingPack { pack } => {
                match self.pack_of(user, pack.id.unwrap_or_default()) {
                    Ok(Some(status)) => Diff {
                        change: Change::Unchanged,
                        holds: format!("on the pack ({status})"),
                        ..Diff::default()
                    },
                    Ok(None) => Diff {
                        change: Change::New,
                        holds: NOT_ON_PACK.into(),
                        ..Diff::default()
                    },
                    Err(unknown) => unknown,
                }
            }
        }
    }

    /// Whether `user` is on `pack`, with the status read: `Ok(None)` for not on it.
    fn pack_of(&self, user: u64, pack: u64) -> Result<Option<&str>, Diff> {
        let in_pack = |why: &str| {
            Diff::unknown(format!(
                "whether {user} is on {} could not be read: {why}",
                self.names.pack(pack)
            ))
        };
        match self.packs.get(&pack) {
            None => Err(in_pack("not read")),
            Some(Part::Unread(unread)) => Err(in_pack(&unread.why())),
            Some(Part::Read(p)) => match p.doubt.get(&user) {
                Some(why) => Err(in_pack(why)),
                None => Ok(p.on.get(&user).map(String::as_str)),
            },
        }
    }

    /// What `user` holds in the type of time-off policy `policy`: `Ok(None)` for nothing.
    fn type_held(&self, user: u64, policy: &str) -> Result<Option<&HeldBalance>, Diff> {
        let Some(ty) = self.names.type_of(policy) else {
            return Err(Diff::unknown("the policy is not in the account".into()));
        };
        let in_type = |why: &str| {
            Diff::unknown(format!(
                "what {user} holds in {} could not be read: {why}",
                self.names.type_name(ty)
            ))
        };
        match self.time_off.get(ty) {
            None => Err(in_type("not read")),
            Some(Part::Unread(unread)) => Err(in_type(&unread.why())),
            Some(Part::Read(t)) => match t.doubt.get(&user) {
                Some(why) => Err(in_type(why)),
                None => Ok(t.held.get(&user)),
            },
        }
    }

    fn pay_rules_of(&self, user: u64) -> Result<&PayRulesHeld, Diff> {
        let in_pay_rules =
            |why: &str| Diff::unknown(format!("{user}'s pay rules could not be read: {why}"));
        match &self.pay_rules {
            None => Err(in_pay_rules("not read")),
            Some(Part::Unread(unread)) => Err(in_pay_rules(&unread.why())),
            Some(Part::Read(p)) => match p.doubt.get(&user) {
                Some(why) => Err(in_pay_rules(why)),
                None => Ok(p),
            },
        }
    }

    fn diff_pay_rule(&self, p: &PayRulesHeld, user: u64, policy: u64, date: Date) -> Diff {
        let today = self
            .today
            .and_then(|t| p.on.get(&t))
            .and_then(|by_user| by_user.get(&user));
        let latest = p.on.get(&far_date()).and_then(|by_user| by_user.get(&user));
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
                ..Diff::default()
            };
        };
        // Ours would remove a later-dated one, unless the user already has ours in
        // effect on its date (a later switch is scheduled): then nothing is to be done.
        let later = latest.effective_date > date
            || (latest.effective_date == date && latest.policy_id != policy);
        let ours_on_date = p
            .policy_on
            .get(&(policy, date))
            .is_some_and(|on| on.held.contains_key(&user));
        let (change, loses) = if later && !ours_on_date {
            (Change::Replace, Some(describe(latest, "from")))
        } else if later || latest.policy_id == policy {
            (Change::Unchanged, None)
        } else {
            (Change::Switch, None)
        };
        Diff {
            change,
            holds,
            loses,
            ..Diff::default()
        }
    }

    /// Whether the account holds `a` for `user` as it was sent: the policy, with the
    /// balance and unit sent; the pay rule in effect on the date sent, from that date.
    pub fn seen(&self, user: u64, a: &Assignment) -> Seen {
        let user = match self.unknown_for(Some(user), a) {
            Ok(user) => user,
            Err(unknown) => return Seen::Unknown(unknown.unknown.unwrap_or_default()),
        };
        let seen = match a {
            Assignment::TimeOff { policy, balance } => {
                let id = policy.id.as_deref().unwrap_or_default();
                self.type_held(user, id)
                    .map(|held| self.time_off_seen(held, id, balance.as_ref()))
            }
            Assignment::PayRule {
                policy,
                effective_date,
            } => {
                let id = policy.id.unwrap_or_default();
                self.pay_rules_of(user)
                    .map(|p| self.pay_rule_seen(p, user, id, *effective_date))
            }
            Assignment::OnboardingPack { pack } => self
                .pack_of(user, pack.id.unwrap_or_default())
                .map(|on| match on {
                    Some(_) => Seen::Held,
                    None => Seen::Not {
                        holds: NOT_ON_PACK.into(),
                        held: String::new(),
                    },
                }),
        };
        seen.unwrap_or_else(|unknown| Seen::Unknown(unknown.unknown.unwrap_or_default()))
    }

    /// A time-off write as sent: the policy, with the balance and unit sent. A balance
    /// read back in another unit says nothing of the one sent: it is not seen (the plan
    /// warned of the unit).
    fn time_off_seen(
        &self,
        held: Option<&HeldBalance>,
        policy: &str,
        balance: Option<&crate::manifest::Balance>,
    ) -> Seen {
        let Some(held) = held else {
            return Seen::Not {
                holds: "nothing of that type".into(),
                held: String::new(),
            };
        };
        let balance_as_sent = balance.is_none_or(|b| {
            held.units.eq_ignore_ascii_case(b.unit.as_str())
                && b.amount.normalize() == held.balance.normalize()
        });
        if held.policy_id == policy && balance_as_sent {
            Seen::Held
        } else {
            Seen::Not {
                holds: describe_held(&self.names, held),
                held: held.key(),
            }
        }
    }

    /// A pay-rule write as sent: in effect on its date, from that date. When the user's
    /// latest rule is the one sent, it is in effect from its date on.
    fn pay_rule_seen(&self, p: &PayRulesHeld, user: u64, policy: u64, date: Date) -> Seen {
        let latest = p
            .policy_on
            .get(&(policy, far_date()))
            .and_then(|on| on.held.get(&user));
        if latest.is_some_and(|on| on.effective_date == date) {
            return Seen::Held;
        }
        let not = |holds: String| Seen::Not {
            holds,
            held: String::new(),
        };
        match p.policy_on.get(&(policy, date)) {
            Some(on) if on.asked.contains(&user) => match on.held.get(&user) {
                Some(on) if on.effective_date == date => Seen::Held,
                Some(on) => not(format!(
                    "{} from {}",
                    self.names.pay_rule(on.policy_id),
                    on.effective_date
                )),
                None => not(format!(
                    "another rule than {} on {date}",
                    self.names.pay_rule(policy)
                )),
            },
            _ => Seen::Unknown(format!("{user}'s pay rule on {date} was not read")),
        }
    }
}

fn diff_time_off(
    names: &Names,
    held: Option<&HeldBalance>,
    policy: &str,
    balance: Option<&crate::manifest::Balance>,
) -> Diff {
    let Some(held) = held else {
        return Diff {
            change: Change::New,
            ..Diff::default()
        };
    };
    let holds = describe_held(names, held);
    let key = held.key();
    let amount = describe_amount(held);
    let held_name = names.time_off(&held.policy_id);
    let loses = (!held.balance.is_zero()).then(|| format!("{amount} of {held_name}"));
    if held.policy_id != policy {
        return Diff {
            change: Change::Move,
            holds,
            loses,
            unknown: None,
            held: key,
        };
    }
    let same_balance = balance.is_none_or(|b| {
        b.amount.normalize() == held.balance.normalize()
            && held.units.eq_ignore_ascii_case(b.unit.as_str())
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
        unknown: None,
        held: key,
    }
}

fn describe_held(names: &Names, held: &HeldBalance) -> String {
    format!(
        "{}, {}",
        names.time_off(&held.policy_id),
        describe_amount(held)
    )
}

fn describe_amount(held: &HeldBalance) -> String {
    format!("{} {}", held.balance.normalize(), held.units)
}

#[cfg(test)]
mod tests;
