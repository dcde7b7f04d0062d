//! The simulator's account: seed, state, rate-limit windows, and the rules of each call.
//! Plain data and functions; the HTTP side is in `mod.rs`.

use std::collections::BTreeMap;

mod lists;
mod packs;
mod people;

pub use packs::PackHolding;

use serde::Serialize;
use serde_json::{Value, json};

use super::seed::{Faults, Limits, Seed, SeedHoldings};
use crate::api::model::{Company, PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo, User};

/// One user's policy in one time-off type (a user holds one per type).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeOffHolding {
    pub user_id: u64,
    pub policy_type_id: String,
    pub policy_id: String,
    pub balance: Option<f64>,
    pub unit: Option<String>,
    /// How many assignment calls set this holding: more than one means a repeat.
    pub times_set: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayRuleHolding {
    pub assignment_id: u64,
    pub user_id: u64,
    pub policy_id: u64,
    pub effective_date: String,
    pub times_set: u64,
}

/// What tests assert on: `GET /__sandbox/state`, or [`super::Sandbox::snapshot`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Requests that reached the API, by method and path template.
    pub requests: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub faults_injected: u64,
    /// Per-minute windows that let at least one request through: how many windows a run
    /// took, counted by the server, not by a test's own watch.
    pub windows: u64,
    pub time_off_assignments: Vec<TimeOffHolding>,
    pub pay_rule_assignments: Vec<PayRuleHolding>,
    /// Who is on which onboarding pack.
    pub pack_assignments: Vec<PackHolding>,
    /// People `POST /users/v1/users` created, and activation SMS it was asked to send.
    pub users_created: u64,
    pub activation_sms: u64,
}

impl Snapshot {
    pub fn count(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).copied().unwrap_or(0)
    }

    /// Write requests (PUTs and POSTs) that reached the API.
    pub fn writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.starts_with("PUT") || k.starts_with("POST"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// A fixed window of `len` seconds: which one it is and how many requests it has taken.
/// A test turns it over on demand ([`Window::turn`]) instead of waiting for the clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    index: u64,
    used: u64,
    /// Windows started early by the test: the count restarts, the reset shown stays the
    /// clock's, so no client ever waits longer for having been rehearsed.
    turned: u64,
}

impl Window {
    /// Moves to the window `now` falls in, empty if it is a new one.
    fn roll(&mut self, now: u64, len: u64) {
        let index = now / len.max(1) + self.turned;
        if index != self.index {
            *self = Window {
                index,
                used: 0,
                turned: self.turned,
            };
        }
    }

    /// Starts the next window now, as if its reset had come.
    fn turn(&mut self) {
        self.turned += 1;
    }

    fn remaining(&self, limit: u64) -> u64 {
        limit.saturating_sub(self.used)
    }

    /// When this window ends by the clock, in epoch seconds.
    fn reset(&self, len: u64) -> u64 {
        (self.index - self.turned + 1) * len.max(1)
    }
}

/// The rate-limit verdict for one request, with the headers to send.
pub struct Admission {
    pub allowed: bool,
    pub headers: Vec<(&'static str, u64)>,
}

pub struct State {
    pub api_key: Option<String>,
    pub read_only: bool,
    pub limits: Limits,
    pub faults: Faults,
    company: Company,
    users: BTreeMap<u64, User>,
    pub(super) custom_fields: Vec<crate::api::model::CustomField>,
    /// Custom fields set on the people created, as `customFields` shows them.
    pub(super) field_values: BTreeMap<u64, Vec<Value>>,
    policy_types: Vec<PolicyType>,
    pay_rule_policies: Vec<PayRulePolicyInfo>,
    time_off: BTreeMap<(u64, String), TimeOffHolding>,
    pay_rules: Vec<PayRuleHolding>,
    packs: Vec<crate::api::model::PackInfo>,
    pack_holdings: Vec<PackHolding>,
    next_assignment_id: u64,
    minute: Window,
    day: Window,
    pub snapshot_counts: Snapshot,
    /// The fault dice.
    pub rng: fastrand::Rng,
    pub missing_reads: bool,
    /// List reads served so far: the clock of read-after-write lag.
    reads_served: u64,
    /// Writes made but not shown to reads yet, with the read count they show after.
    pending: Vec<(u64, Pending)>,
    /// Writes answered with a success so far (for the app's changes meanwhile).
    writes: u64,
    /// Requests to this endpoint wait at the gate until it opens.
    pub stalled: Option<crate::api::Endpoint>,
    pub released: tokio::sync::watch::Receiver<bool>,
}

/// A write not yet shown to reads (read-after-write lag).
#[derive(Debug, Clone)]
enum Pending {
    TimeOff(TimeOffHolding),
    PayRule(PayRuleHolding),
    Pack(PackHolding),
}

/// Applies a write to the account: a time-off policy replaces the user's policy of the
/// same type; a pay rule replaces and removes the user's assignments dated on or after
/// its date.
fn apply(
    time_off: &mut BTreeMap<(u64, String), TimeOffHolding>,
    pay_rules: &mut Vec<PayRuleHolding>,
    packs: &mut Vec<PackHolding>,
    write: Pending,
) {
    match write {
        Pending::Pack(h) => packs.push(h),
        Pending::TimeOff(h) => {
            time_off.insert((h.user_id, h.policy_type_id.clone()), h);
        }
        Pending::PayRule(h) => {
            pay_rules.retain(|held| {
                !(held.user_id == h.user_id && held.effective_date >= h.effective_date)
            });
            pay_rules.push(h);
        }
    }
}

/// An API answer: status and JSON body.
pub type Reply = (u16, Value);

fn request_id() -> String {
    format!("sbx-{:016x}", fastrand::u64(..))
}

fn ok(data: Value) -> Reply {
    (200, json!({"requestId": request_id(), "data": data}))
}

fn not_found(message: String, path: &str) -> Reply {
    (
        404,
        json!({"error": message, "path": path, "request_id": request_id()}),
    )
}

fn invalid(loc: &[&str], msg: &str, kind: &str) -> Reply {
    (
        422,
        json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]}),
    )
}

/// A seed's user as the account shows it; a phone is made up from the ID when none is
/// given.
fn user_of(u: crate::sandbox::SeedUser) -> User {
    User {
        user_id: u.id,
        first_name: u.first_name,
        last_name: u.last_name,
        email: u.email,
        phone_number: u
            .phone
            .unwrap_or_else(|| format!("+1{:010}", u.id % 10_000_000_000)),
        user_type: "user".into(),
        is_archived: u.archived,
    }
}

impl State {
    /// A user added to the account (as the app, or a request whose answer was lost).
    pub fn add_user(&mut self, user: crate::sandbox::SeedUser) {
        let user = user_of(user);
        self.users.insert(user.user_id, user);
    }

    pub fn new(seed: Seed, released: tokio::sync::watch::Receiver<bool>) -> State {
        let users = seed.users.into_iter().map(|u| (u.id, user_of(u))).collect();
        let dice = seed
            .faults
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let mut state = State {
            api_key: seed.api_key,
            read_only: seed.read_only,
            limits: seed.limits,
            faults: seed.faults,
            company: seed.company,
            users,
            policy_types: seed.policy_types,
            pay_rule_policies: seed.pay_rule_policies,
            time_off: BTreeMap::new(),
            pay_rules: Vec::new(),
            packs: seed.packs,
            pack_holdings: Vec::new(),
            next_assignment_id: 789_456,
            minute: Window::default(),
            day: Window::default(),
            rng: dice,
            missing_reads: seed.missing_reads,
            custom_fields: seed.custom_fields,
            field_values: BTreeMap::new(),
            snapshot_counts: Snapshot::default(),
            reads_served: 0,
            pending: Vec::new(),
            writes: 0,
            stalled: None,
            released,
        };
        state.hold(&seed.holdings);
        state
    }

    /// What the account holds (writes still hidden from reads by lag included) and what
    /// it has seen.
    pub fn snapshot(&self) -> Snapshot {
        let mut time_off = self.time_off.clone();
        let mut pay_rules = self.pay_rules.clone();
        let mut packs = self.pack_holdings.clone();
        for (_, write) in &self.pending {
            apply(&mut time_off, &mut pay_rules, &mut packs, write.clone());
        }
        Snapshot {
            time_off_assignments: time_off.into_values().collect(),
            pay_rule_assignments: pay_rules,
            pack_assignments: packs,
            ..self.snapshot_counts.clone()
        }
    }

    /// Shows every write still hidden by read-after-write lag: the lag is over.
    pub fn settle(&mut self) {
        for (_, write) in std::mem::take(&mut self.pending) {
            apply(
                &mut self.time_off,
                &mut self.pay_rules,
                &mut self.pack_holdings,
                write,
            );
        }
    }

    /// A list read was served: writes whose lag is over now show.
    fn served_a_read(&mut self) {
        self.reads_served += 1;
        let now = self.reads_served;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(after, _)| *after <= now);
        self.pending = later;
        for (_, write) in due {
            apply(
                &mut self.time_off,
                &mut self.pay_rules,
                &mut self.pack_holdings,
                write,
            );
        }
    }

    /// Makes a write: shown to reads at once, or after `read_lag` more reads. Then the
    /// app's changes that were waiting for this many writes.
    fn write(&mut self, write: Pending) {
        match self.faults.read_lag {
            0 => apply(
                &mut self.time_off,
                &mut self.pay_rules,
                &mut self.pack_holdings,
                write,
            ),
            lag => self.pending.push((self.reads_served + lag, write)),
        }
        self.writes += 1;
        let writes = self.writes;
        let changes: Vec<SeedHoldings> = self
            .faults
            .app_changes
            .iter()
            .filter(|c| c.after_writes == writes)
            .map(|c| c.holdings.clone())
            .collect();
        for holdings in changes {
            self.hold(&holdings);
        }
    }

    /// Gives users the seed's holdings, as if assigned before any run (`times_set` 0).
    pub fn hold(&mut self, holdings: &SeedHoldings) {
        for h in &holdings.time_off {
            let Some((type_id, policy)) = self.time_off_policy(&h.policy_id) else {
                continue;
            };
            let key = (h.user_id, type_id.clone());
            let holding = TimeOffHolding {
                user_id: h.user_id,
                policy_type_id: type_id,
                policy_id: h.policy_id.clone(),
                balance: h.balance,
                unit: policy.unit,
                times_set: 0,
            };
            self.time_off.insert(key, holding);
        }
        for h in &holdings.pay_rules {
            self.next_assignment_id += 1;
            self.pay_rules.push(PayRuleHolding {
                assignment_id: self.next_assignment_id,
                user_id: h.user_id,
                policy_id: h.policy_id,
                effective_date: h.effective_date.to_string(),
                times_set: 0,
            });
        }
        for h in &holdings.packs {
            self.next_assignment_id += 1;
            self.pack_holdings.push(PackHolding {
                assignment_id: self.next_assignment_id,
                pack_id: h.pack_id,
                user_id: h.user_id,
                status: h.status.clone(),
                times_set: 0,
            });
        }
    }

    /// A time-off policy's type ID and the policy, by policy ID.
    fn time_off_policy(&self, policy_id: &str) -> Option<(String, TimeOffPolicyInfo)> {
        self.policy_types.iter().find_map(|t| {
            t.policies
                .iter()
                .find(|p| p.id == policy_id)
                .map(|p| (t.id.clone(), p.clone()))
        })
    }

    /// Starts the next minute window at once.
    pub fn next_minute(&mut self) {
        self.minute.turn();
    }

    /// Starts the next day window at once: the day's quota is whole again.
    pub fn next_day(&mut self) {
        self.day.turn();
    }

    /// Admits a request if both windows have room, counting it against both, as the
    /// real API does per account. A refused request is not counted.
    pub fn admit(&mut self, now: u64) -> Admission {
        let limits = self.limits;
        let windows = [
            (
                limits.per_minute,
                limits.minute_secs,
                &mut self.minute,
                [
                    "x-ratelimit-minute-limit",
                    "x-ratelimit-minute-remaining",
                    "x-ratelimit-minute-reset",
                ],
            ),
            (
                limits.per_day,
                limits.day_secs,
                &mut self.day,
                [
                    "x-ratelimit-day-limit",
                    "x-ratelimit-day-remaining",
                    "x-ratelimit-day-reset",
                ],
            ),
        ];
        let mut active: Vec<_> = windows
            .into_iter()
            .filter_map(|(limit, len, w, names)| limit.map(|l| (l, len, w, names)))
            .collect();
        for (_, len, window, _) in &mut active {
            window.roll(now, *len);
        }
        let allowed = active
            .iter()
            .all(|(limit, _, window, _)| window.remaining(*limit) > 0);
        let mut headers = Vec::new();
        let mut new_minute = false;
        for (limit, len, window, names) in active {
            if allowed {
                new_minute |= names[0] == "x-ratelimit-minute-limit" && window.used == 0;
                window.used += 1;
            }
            headers.extend([
                (names[0], limit),
                (names[1], window.remaining(limit)),
                (names[2], window.reset(len)),
            ]);
        }
        if new_minute {
            self.snapshot_counts.windows += 1;
        }
        Admission { allowed, headers }
    }

    pub fn me(&self) -> Reply {
        ok(json!(self.company))
    }

    /// The custom fields a person created holds, by user.
    pub fn field_values(&self, user_id: u64) -> Vec<Value> {
        self.field_values.get(&user_id).cloned().unwrap_or_default()
    }

    pub fn policy_types(&self) -> Reply {
        ok(json!({"policyTypes": self.policy_types}))
    }

    pub fn pay_rule_policies(&self) -> Reply {
        ok(json!({"payRulesPolicies": self.pay_rule_policies}))
    }

    fn active_user(&self, body: &Value, path: &str) -> Result<u64, Reply> {
        let Some(user_id) = body.get("userId").and_then(Value::as_u64) else {
            return Err(invalid(
                &["body", "userId"],
                "field required",
                "value_error.missing",
            ));
        };
        match self.users.get(&user_id) {
            None => Err(not_found(format!("User with ID {user_id} not found"), path)),
            Some(u) if u.is_archived => Err((
                400,
                json!({"details": {"error_message": "User is archived", "error_code": "USER_ARCHIVED"},
                       "error": format!("User {user_id} is archived"), "path": path, "request_id": request_id()}),
            )),
            Some(_) => Ok(user_id),
        }
    }

    /// `PUT /time-off/v1/time-off-policies/{id}/assignments`: assigning a policy moves the
    /// user off any other policy of the same type.
    pub fn assign_time_off(&mut self, policy_id: &str, body: &[u8], path: &str) -> Reply {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return invalid(&["body"], "value is not a valid dict", "type_error.dict");
        };
        let Some(policy_type) = self
            .policy_types
            .iter()
            .find(|t| t.policies.iter().any(|p| p.id == policy_id))
        else {
            return not_found(format!("Time off policy {policy_id} not found"), path);
        };
        let policy_type_id = policy_type.id.clone();
        let user_id = match self.active_user(&body, path) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let balance = match body.get("balance") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(b) => Some(b),
                None => {
                    return invalid(
                        &["body", "balance"],
                        "value is not a valid float",
                        "type_error.float",
                    );
                }
            },
        };
        let unit = match body.get("unit") {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) if u == "hours" || u == "days" => Some(u.clone()),
            Some(_) => {
                return invalid(
                    &["body", "unit"],
                    "value is not a valid enumeration member; permitted: 'hours', 'days'",
                    "type_error.enum",
                );
            }
        };
        let held = self.time_off.get(&(user_id, policy_type_id.clone()));
        let times_set = held.map_or(0, |h| h.times_set) + 1;
        let (balance, unit) = match (self.faults.ignore_balances, held) {
            (false, _) => (balance, unit),
            (true, Some(h)) if h.policy_id == policy_id => (h.balance, h.unit.clone()),
            (true, _) => (None, None),
        };
        self.write(Pending::TimeOff(TimeOffHolding {
            user_id,
            policy_type_id,
            policy_id: policy_id.to_owned(),
            balance,
            unit,
            times_set,
        }));
        ok(json!({}))
    }

    /// `PUT /company-policies/v1/pay-rule-policies/{id}/assignments`: an earlier effective
    /// date replaces and removes later assignments of the user.
    pub fn assign_pay_rule(&mut self, policy_id: &str, body: &[u8], path: &str) -> Reply {
        let Ok(policy_id) = policy_id.parse::<u64>() else {
            return invalid(
                &["path", "payRulePolicyId"],
                "value is not a valid integer",
                "type_error.integer",
            );
        };
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return invalid(&["body"], "value is not a valid dict", "type_error.dict");
        };
        if !self.pay_rule_policies.iter().any(|p| p.id == policy_id) {
            return not_found(format!("Pay rule policy {policy_id} not found"), path);
        }
        let user_id = match self.active_user(&body, path) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let Some(date) = body.get("effectiveDate").and_then(Value::as_str) else {
            return invalid(
                &["body", "effectiveDate"],
                "field required",
                "value_error.missing",
            );
        };
        if date.parse::<jiff::civil::Date>().is_err() {
            return invalid(
                &["body", "effectiveDate"],
                "invalid date format",
                "value_error.date",
            );
        }
        let repeat = self.pay_rules.iter().position(|h| {
            h.user_id == user_id && h.policy_id == policy_id && h.effective_date == date
        });
        if let Some(i) = repeat {
            self.pay_rules[i].times_set += 1;
            return ok(json!({"assignmentId": self.pay_rules[i].assignment_id}));
        }
        self.next_assignment_id += 1;
        let assignment_id = self.next_assignment_id;
        self.write(Pending::PayRule(PayRuleHolding {
            assignment_id,
            user_id,
            policy_id,
            effective_date: date.to_owned(),
            times_set: 1,
        }));
        ok(json!({"assignmentId": assignment_id}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(limits: Limits) -> Seed {
        Seed {
            custom_fields: Vec::new(),
            api_key: None,
            read_only: false,
            limits,
            faults: Faults::default(),
            users: vec![],
            policy_types: vec![],
            pay_rule_policies: vec![],
            packs: vec![],
            holdings: SeedHoldings::default(),
            missing_reads: false,
            company: crate::sandbox::seed::simulated_company(),
            limits_set: true,
        }
    }

    fn remaining(a: &Admission, name: &str) -> u64 {
        a.headers.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn windows_count_down_refuse_and_reset_on_the_boundary() {
        let limits = Limits {
            per_minute: Some(2),
            per_day: Some(3),
            minute_secs: 60,
            day_secs: 600,
        };
        let mut state = State::new(seed(limits), tokio::sync::watch::channel(false).1);
        let first = state.admit(120);
        assert!(first.allowed);
        assert_eq!(remaining(&first, "x-ratelimit-minute-remaining"), 1);
        assert_eq!(remaining(&first, "x-ratelimit-minute-reset"), 180);
        assert_eq!(remaining(&first, "x-ratelimit-day-remaining"), 2);
        assert!(state.admit(130).allowed);
        let refused = state.admit(179);
        assert!(!refused.allowed);
        assert_eq!(
            remaining(&refused, "x-ratelimit-day-remaining"),
            1,
            "a refused request is not counted"
        );
        assert!(state.admit(180).allowed, "a new minute");
        let day_spent = state.admit(181);
        assert!(!day_spent.allowed);
        assert_eq!(remaining(&day_spent, "x-ratelimit-day-remaining"), 0);
        assert_eq!(remaining(&day_spent, "x-ratelimit-day-reset"), 600);
        assert!(state.admit(600).allowed, "a new day");
    }

    #[test]
    fn unlimited_sends_no_headers() {
        let mut state = State::new(
            seed(Limits::unlimited()),
            tokio::sync::watch::channel(false).1,
        );
        let a = state.admit(5);
        assert!(a.allowed && a.headers.is_empty());
    }
}
