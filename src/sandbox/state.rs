//! The simulator's account: seed, state, rate-limit windows, and the rules of each call.
//! Plain data and functions; the HTTP side is in `mod.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::model::{PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo, User};
use crate::problem::{Place, Problem};

/// `samples/sandbox.yaml` and friends: the account the simulator starts with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// When set, only this key is accepted; otherwise any non-empty key is.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The key may read but not write, as a key without the write scopes: PUTs get 403.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub faults: Faults,
    pub users: Vec<SeedUser>,
    pub policy_types: Vec<PolicyType>,
    pub pay_rule_policies: Vec<PayRulePolicyInfo>,
    /// What users already hold when the simulator starts.
    #[serde(default)]
    pub holdings: SeedHoldings,
    /// Answer the two read endpoints (balances, pay-rule assignments) with 404, as an
    /// account or server without them would.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing_reads: bool,
    /// Whether the seed file set `limits:` (otherwise a rehearsal takes the settings').
    #[serde(skip)]
    pub limits_set: bool,
}

/// Policies users hold before any run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedHoldings {
    #[serde(default)]
    pub time_off: Vec<SeedTimeOff>,
    #[serde(default)]
    pub pay_rules: Vec<SeedPayRule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTimeOff {
    pub user_id: u64,
    pub policy_id: String,
    #[serde(default)]
    pub balance: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPayRule {
    pub user_id: u64,
    pub policy_id: u64,
    pub effective_date: jiff::civil::Date,
}

/// The sample account (`samples/sandbox.yaml`), built into the binary so that the
/// simulator works from any folder.
const BUILT_IN: &str = include_str!("../../samples/sandbox.yaml");

impl Seed {
    /// The sample account, as `ct-onboard sandbox` serves it without `--seed`.
    pub fn built_in() -> Seed {
        Seed::parse(BUILT_IN, "built-in seed").expect("the built-in seed is valid")
    }

    pub fn from_file(path: &Path) -> Result<Seed, Problem> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problem::new(
                &file,
                Place::File,
                format!("cannot read the sandbox seed: {e}"),
            )
        })?;
        Seed::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Seed, Problem> {
        #[derive(Deserialize)]
        struct Limited {
            #[serde(default)]
            limits: Option<serde::de::IgnoredAny>,
        }
        let limits_set = serde_saphyr::from_str::<Limited>(text)
            .ok()
            .is_some_and(|l| l.limits.is_some());
        let seed: Result<Seed, _> = serde_saphyr::from_str(text);
        seed.map(|seed| Seed { limits_set, ..seed }).map_err(|e| {
            let place = e.location().map_or(Place::File, |l| Place::Text {
                line: l.line(),
                column: l.column(),
            });
            Problem::new(
                file,
                place,
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("invalid YAML")
                    .to_owned(),
            )
        })
    }

    /// The seed as YAML, for `snapshot`.
    pub fn to_yaml(&self) -> Result<String, String> {
        serde_saphyr::to_string(self).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub archived: bool,
}

/// Per-account limits, as Connecteam enforces them; `None` is unlimited. Window lengths
/// are settable so that tests can see a "day" reset in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub per_minute: Option<u64>,
    pub per_day: Option<u64>,
    pub minute_secs: u64,
    pub day_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_minute: Some(100),
            per_day: Some(10_000),
            minute_secs: 60,
            day_secs: 86_400,
        }
    }
}

impl Limits {
    pub fn unlimited() -> Self {
        Limits {
            per_minute: None,
            per_day: None,
            ..Limits::default()
        }
    }
}

/// Faults to inject into API calls, as probabilities per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    pub latency_ms: u64,
    /// 503 with a `{"detail": ...}` body, the change not applied.
    pub server_error_rate: f64,
    /// The connection drops: half the time before the change is applied, half after.
    pub drop_rate: f64,
    /// HTTP 200 with `{"detail": "Too many requests"}`, the change not applied.
    pub quirk_rate: f64,
    /// A permanent 409 refusal of a write (`HAS_LOCKED_DAYS`), the change not applied.
    pub client_error_rate: f64,
    /// A write answered 200 like any other, but not applied.
    pub silent_drop_rate: f64,
    /// Seeds the dice that pick the faults, so that a failing test can be replayed.
    pub seed: Option<u64>,
}

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
    pub time_off_assignments: Vec<TimeOffHolding>,
    pub pay_rule_assignments: Vec<PayRuleHolding>,
}

impl Snapshot {
    pub fn count(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).copied().unwrap_or(0)
    }

    /// Write requests (PUTs) that reached the API.
    pub fn writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.starts_with("PUT"))
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
    users: BTreeMap<u64, User>,
    policy_types: Vec<PolicyType>,
    pay_rule_policies: Vec<PayRulePolicyInfo>,
    time_off: BTreeMap<(u64, String), TimeOffHolding>,
    pay_rules: Vec<PayRuleHolding>,
    next_assignment_id: u64,
    minute: Window,
    day: Window,
    pub snapshot_counts: Snapshot,
    /// The fault dice.
    pub rng: fastrand::Rng,
    pub missing_reads: bool,
}

/// An API answer: status and JSON body.
pub type Reply = (u16, Value);

/// A list endpoint's `userIds` filter and `limit`/`offset` paging.
struct Page {
    user_ids: Vec<u64>,
    limit: u64,
    offset: u64,
}

impl Page {
    fn read(query: &[(String, String)], default_limit: u64) -> Result<Page, Reply> {
        let mut page = Page {
            user_ids: Vec::new(),
            limit: default_limit,
            offset: 0,
        };
        for (key, value) in query {
            let number = |loc: &str| {
                value.parse::<u64>().map_err(|_| {
                    invalid(
                        &["query", loc],
                        "value is not a valid integer",
                        "type_error.integer",
                    )
                })
            };
            match key.as_str() {
                "userIds" => {
                    for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        page.user_ids.push(v.parse().map_err(|_| {
                            invalid(
                                &["query", "userIds"],
                                "value is not a valid integer",
                                "type_error.integer",
                            )
                        })?);
                    }
                }
                "limit" => page.limit = number("limit")?,
                "offset" => page.offset = number("offset")?,
                _ => {}
            }
        }
        if page.limit == 0 || page.limit > 500 {
            return Err(invalid(
                &["query", "limit"],
                "ensure this value is between 1 and 500",
                "value_error.number",
            ));
        }
        Ok(page)
    }

    fn wants(&self, user_id: u64) -> bool {
        self.user_ids.is_empty() || self.user_ids.contains(&user_id)
    }

    fn reply(&self, collection: &str, rows: Vec<Value>) -> Reply {
        let total = rows.len() as u64;
        let page: Vec<Value> = rows
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(500))
            .collect();
        let next = self.offset + page.len() as u64;
        (
            200,
            json!({"requestId": request_id(), "data": {collection: page}, "paging": {"offset": next, "total": total}}),
        )
    }
}

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

impl State {
    pub fn new(seed: Seed) -> State {
        let users = seed
            .users
            .into_iter()
            .map(|u| {
                let user = User {
                    user_id: u.id,
                    first_name: u.first_name,
                    last_name: u.last_name,
                    email: u.email,
                    is_archived: u.archived,
                };
                (u.id, user)
            })
            .collect();
        let mut state = State {
            api_key: seed.api_key,
            read_only: seed.read_only,
            limits: seed.limits,
            faults: seed.faults,
            users,
            policy_types: seed.policy_types,
            pay_rule_policies: seed.pay_rule_policies,
            time_off: BTreeMap::new(),
            pay_rules: Vec::new(),
            next_assignment_id: 789_456,
            minute: Window::default(),
            day: Window::default(),
            rng: seed
                .faults
                .seed
                .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            missing_reads: seed.missing_reads,
            snapshot_counts: Snapshot::default(),
        };
        state.hold(&seed.holdings);
        state
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            time_off_assignments: self.time_off.values().cloned().collect(),
            pay_rule_assignments: self.pay_rules.clone(),
            ..self.snapshot_counts.clone()
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

    /// `GET /time-off/v1/policy-types/{id}/balances`: what each asked-for user holds in
    /// the type, one row per user who holds a policy of it.
    pub fn balances(&self, type_id: &str, query: &[(String, String)], path: &str) -> Reply {
        if self.missing_reads {
            return (404, json!({"detail": "Not Found"}));
        }
        if !self.policy_types.iter().any(|t| t.id == type_id) {
            return not_found(format!("Policy type {type_id} not found"), path);
        }
        let page = match Page::read(query, 100) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let rows: Vec<Value> = self
            .time_off
            .values()
            .filter(|h| h.policy_type_id == type_id && page.wants(h.user_id))
            .map(|h| {
                json!({"userId": h.user_id, "units": h.unit, "balance": h.balance.unwrap_or(0.0),
                       "policyId": h.policy_id})
            })
            .collect();
        page.reply("balances", rows)
    }

    /// `GET /company-policies/v1/pay-rule-policies/{id}/assignments`: the asked-for users'
    /// assignments of this policy in effect on `date` (today when absent).
    pub fn pay_rule_assignments(
        &self,
        policy_id: &str,
        query: &[(String, String)],
        path: &str,
    ) -> Reply {
        if self.missing_reads {
            return (404, json!({"detail": "Not Found"}));
        }
        let Some(policy_id) = policy_id
            .parse::<u64>()
            .ok()
            .filter(|id| self.pay_rule_policies.iter().any(|p| p.id == *id))
        else {
            return not_found(format!("Pay rule policy {policy_id} not found"), path);
        };
        let page = match Page::read(query, 100) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let date = match query.iter().find(|(k, _)| k == "date") {
            None => jiff::Zoned::now().date().to_string(),
            Some((_, v)) if v.parse::<jiff::civil::Date>().is_ok() => v.clone(),
            Some(_) => {
                return invalid(
                    &["query", "date"],
                    "invalid date format",
                    "value_error.date",
                );
            }
        };
        // In effect on a date: each user's latest assignment dated on or before it.
        let mut in_effect: BTreeMap<u64, &PayRuleHolding> = BTreeMap::new();
        for h in self.pay_rules.iter().filter(|h| h.effective_date <= date) {
            let later = in_effect
                .get(&h.user_id)
                .is_none_or(|held| held.effective_date <= h.effective_date);
            if later {
                in_effect.insert(h.user_id, h);
            }
        }
        let rows: Vec<Value> = in_effect
            .values()
            .filter(|h| h.policy_id == policy_id && page.wants(h.user_id))
            .map(|h| {
                json!({"assignmentId": h.assignment_id, "userId": h.user_id,
                       "payRulePolicyId": h.policy_id, "effectiveDate": h.effective_date})
            })
            .collect();
        page.reply("assignments", rows)
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
        for (limit, len, window, names) in active {
            if allowed {
                window.used += 1;
            }
            headers.extend([
                (names[0], limit),
                (names[1], window.remaining(limit)),
                (names[2], window.reset(len)),
            ]);
        }
        Admission { allowed, headers }
    }

    pub fn policy_types(&self) -> Reply {
        ok(json!({"policyTypes": self.policy_types}))
    }

    pub fn pay_rule_policies(&self) -> Reply {
        ok(json!({"payRulesPolicies": self.pay_rule_policies}))
    }

    /// `GET /users/v1/users` with its filters; `query` is the raw query's pairs.
    pub fn users(&self, query: &[(String, String)]) -> Reply {
        let mut emails: Vec<String> = Vec::new();
        let mut ids: Vec<u64> = Vec::new();
        let (mut status, mut limit, mut offset) = ("active".to_owned(), 10u64, 0u64);
        for (key, value) in query {
            let values = value.split(',').map(str::trim).filter(|v| !v.is_empty());
            match key.as_str() {
                "emailAddresses" => emails.extend(values.map(str::to_lowercase)),
                "userIds" => {
                    for v in values {
                        match v.parse() {
                            Ok(id) => ids.push(id),
                            Err(_) => {
                                return invalid(
                                    &["query", "userIds"],
                                    "value is not a valid integer",
                                    "type_error.integer",
                                );
                            }
                        }
                    }
                }
                "userStatus" => status.clone_from(value),
                "limit" => match value.parse() {
                    Ok(n) if (1..=500).contains(&n) => limit = n,
                    _ => {
                        return invalid(
                            &["query", "limit"],
                            "ensure this value is between 1 and 500",
                            "value_error.number",
                        );
                    }
                },
                "offset" => match value.parse() {
                    Ok(n) => offset = n,
                    Err(_) => {
                        return invalid(
                            &["query", "offset"],
                            "value is not a valid integer",
                            "type_error.integer",
                        );
                    }
                },
                _ => {}
            }
        }
        if !["active", "archived", "all"].contains(&status.as_str()) {
            return invalid(
                &["query", "userStatus"],
                "value is not a valid enumeration member",
                "type_error.enum",
            );
        }
        let matching: Vec<&User> = self
            .users
            .values()
            .filter(|u| match status.as_str() {
                "active" => !u.is_archived,
                "archived" => u.is_archived,
                _ => true,
            })
            .filter(|u| ids.is_empty() || ids.contains(&u.user_id))
            .filter(|u| {
                emails.is_empty()
                    || u.email
                        .as_ref()
                        .is_some_and(|e| emails.contains(&e.to_lowercase()))
            })
            .collect();
        let total = matching.len() as u64;
        let page: Vec<&User> = matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(500))
            .collect();
        let next = offset + page.len() as u64;
        (
            200,
            json!({"requestId": request_id(), "data": {"users": page}, "paging": {"offset": next, "total": total}}),
        )
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
        let key = (user_id, policy_type_id.clone());
        let times_set = self.time_off.get(&key).map_or(0, |h| h.times_set) + 1;
        self.time_off.insert(
            key,
            TimeOffHolding {
                user_id,
                policy_type_id,
                policy_id: policy_id.to_owned(),
                balance,
                unit,
                times_set,
            },
        );
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
        self.pay_rules
            .retain(|h| !(h.user_id == user_id && h.effective_date.as_str() >= date));
        self.next_assignment_id += 1;
        let assignment_id = self.next_assignment_id;
        self.pay_rules.push(PayRuleHolding {
            assignment_id,
            user_id,
            policy_id,
            effective_date: date.to_owned(),
            times_set: 1,
        });
        ok(json!({"assignmentId": assignment_id}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(limits: Limits) -> Seed {
        Seed {
            api_key: None,
            read_only: false,
            limits,
            faults: Faults::default(),
            users: vec![],
            policy_types: vec![],
            pay_rule_policies: vec![],
            holdings: SeedHoldings::default(),
            missing_reads: false,
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
        let mut state = State::new(seed(limits));
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
        let mut state = State::new(seed(Limits::unlimited()));
        let a = state.admit(5);
        assert!(a.allowed && a.headers.is_empty());
    }
}
