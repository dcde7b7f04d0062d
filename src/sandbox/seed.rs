//! The simulator's seed: the account it starts with, its limits, and the faults it adds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::api::model::{Company, PayRulePolicyInfo, PolicyType};
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
    /// Which company `GET /me` names (`companyId`, `companyName`).
    #[serde(default = "simulated_company")]
    pub company: Company,
    pub users: Vec<SeedUser>,
    pub policy_types: Vec<PolicyType>,
    pub pay_rule_policies: Vec<PayRulePolicyInfo>,
    /// The onboarding packs (`GET /onboarding/v1/packs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<crate::api::model::PackInfo>,
    /// The account's custom fields (`GET /users/v1/custom-fields`), set on people created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<crate::api::model::CustomField>,
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
    /// Who is on which onboarding pack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<SeedPack>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPack {
    pub pack_id: u64,
    pub user_id: u64,
    /// `in_progress` (the default) or `completed`.
    #[serde(default = "in_progress")]
    pub status: String,
}

fn in_progress() -> String {
    "in_progress".into()
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

/// The company of a seed that names none.
pub fn simulated_company() -> Company {
    Company {
        company_id: "sandbox".into(),
        company_name: "Simulated account".into(),
    }
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
    /// E.164; the simulator makes one up from the ID when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
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

/// Faults to inject into API calls: probabilities per request, and switches for the ways
/// a real server's reads go wrong.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Lists serve at most this many rows a page, whatever `limit` asks (a server that
    /// ignores it and uses its own default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// Lists leave out `paging.total` (it is optional): paging ends at an empty page.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_paging_total: bool,
    /// These lists (`balances`, `pay_rule_assignments`) answer every user, not only
    /// those the `userIds` filter asks for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_user_filter: Vec<String>,
    /// Rows added to list answers as they are (duplicates, rows that do not parse), when
    /// their `userId` passes the filter.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_rows: Vec<ExtraRow>,
    /// Pay-rule assignments come with datetimes (`2028-01-01T00:00:00Z`), not dates.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pay_rule_datetimes: bool,
    /// The pay-rule assignments list answers with this status (404, 405): an account or
    /// server without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_rule_list_status: Option<u16>,
    /// A write shows in reads only after this many more read requests (read-after-write
    /// lag, counted in reads so that a test owns it, not the clock).
    #[serde(skip_serializing_if = "is_zero")]
    pub read_lag: u64,
    /// Time-off writes are applied without their balance: the policy is assigned, the
    /// balance stays what it was (a write answered 200 and not wholly applied).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_balances: bool,
    /// Changes made in the Connecteam app while a run goes on: after this many writes,
    /// these holdings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app_changes: Vec<AppChange>,
    /// The first this many `POST /users/v1/users` create their people and then drop the
    /// connection: the client cannot tell whether anyone was made.
    #[serde(skip_serializing_if = "is_zero")]
    pub create_drops_after_applying: u64,
    /// A `POST /users/v1/users` holding one of these phones is refused whole (400), as
    /// Connecteam refuses a number it will not take.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refuse_phones: Vec<String>,
    /// A `POST …/packs/{id}/assignments` naming one of these users is refused whole (400).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refuse_pack_users: Vec<u64>,
    /// The first this many pack assignment requests are applied and then drop the
    /// connection: the client cannot tell whether anyone was put on the pack.
    #[serde(skip_serializing_if = "is_zero")]
    pub pack_drops_after_applying: u64,
    /// The first this many pack assignment requests drop the connection before anything
    /// is applied: to the client, the same unclear answer.
    #[serde(skip_serializing_if = "is_zero")]
    pub pack_drops_before_applying: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A row a list answer carries beyond what the account holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRow {
    /// `balances`, `pay_rule_assignments` or `pack_assignments`.
    pub list: String,
    /// The policy type (balances) or pay-rule policy whose list carries it.
    pub id: String,
    pub row: serde_json::Value,
}

/// Holdings changed in the app after `after_writes` writes of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppChange {
    pub after_writes: u64,
    pub holdings: SeedHoldings,
}

impl PartialEq for AppChange {
    fn eq(&self, other: &Self) -> bool {
        self.after_writes == other.after_writes
    }
}
