//! Saved plans (Terraform's `plan -out`): what a run will send, frozen with hashes of the
//! inputs it came from, so that `run --plan` applies exactly that or refuses.

use std::path::Path;
use std::sync::Arc;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::api::model::Company;
use crate::manifest::{Balance, PolicyRef, Unit};
use crate::plan::{Assignment, Identity, Plan, PlanRow};
use crate::problem::Problem;

/// Version 2 records the company (`GET /me`) the plan was made for.
pub const FORMAT: &str = "ct-onboard-plan/2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub created_at: String,
    pub base_url: String,
    /// The company the key was for when the plan was made.
    pub company: Company,
    pub inputs: Fingerprints,
    pub users: Vec<SavedUser>,
    /// Sheet rows left out as invalid (`--skip-invalid`), by row number.
    pub invalid_rows: Vec<u64>,
}

/// What the plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    pub sheet: String,
    pub sheet_sha256: String,
    pub manifest: String,
    pub manifest_sha256: String,
    pub settings_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedUser {
    pub row: u64,
    pub index: usize,
    pub identifier: String,
    pub user_id: u64,
    pub employee_type: String,
    pub assignments: Vec<SavedAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SavedAssignment {
    TimeOff {
        policy_id: String,
        policy_name: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "rust_decimal::serde::str_option"
        )]
        balance: Option<rust_decimal::Decimal>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<Unit>,
    },
    PayRule {
        policy_id: u64,
        policy_name: Option<String>,
        effective_date: Date,
    },
    OnboardingPack {
        pack_id: u64,
        pack_name: Option<String>,
    },
}

impl SavedPlan {
    /// Freezes a plan whose rows have been resolved online (user and policy IDs known).
    pub fn new(
        plan: &Plan,
        base_url: &str,
        company: &Company,
        inputs: Fingerprints,
    ) -> Result<SavedPlan, String> {
        let mut users = Vec::new();
        for row in plan.valid_rows() {
            let user_id = row
                .user_id
                .ok_or_else(|| format!("row {} has no resolved user ID", row.number))?;
            let assignments = row
                .assignments
                .iter()
                .map(freeze)
                .collect::<Result<_, _>>()?;
            users.push(SavedUser {
                row: row.number,
                index: row.index,
                identifier: row
                    .identity
                    .as_ref()
                    .map(Identity::to_string)
                    .unwrap_or_default(),
                user_id,
                employee_type: row.employee_type.clone(),
                assignments,
            });
        }
        Ok(SavedPlan {
            format: FORMAT.to_owned(),
            created_at: jiff::Timestamp::now().to_string(),
            base_url: base_url.to_owned(),
            company: company.clone(),
            inputs,
            users,
            invalid_rows: plan
                .rows
                .iter()
                .filter(|r| !r.is_valid())
                .map(|r| r.number)
                .collect(),
        })
    }

    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
        let plan: SavedPlan = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a ct-onboard plan: {e}", path.display()))?;
        if plan.format != FORMAT {
            return Err(format!(
                "{} is a plan of format \"{}\"; this ct-onboard reads \"{FORMAT}\"",
                path.display(),
                plan.format
            ));
        }
        Ok(plan)
    }

    /// Every difference between what the plan was made from and `now`.
    pub fn stale_because(&self, now: &Fingerprints) -> Vec<String> {
        let was = &self.inputs;
        let mut changes = Vec::new();
        if was.sheet_sha256 != now.sheet_sha256 {
            changes.push(format!(
                "the sheet {} is not the one planned ({})",
                now.sheet, was.sheet
            ));
        }
        if was.manifest_sha256 != now.manifest_sha256 {
            changes.push(format!(
                "the manifest {} is not the one planned ({})",
                now.manifest, was.manifest
            ));
        }
        if was.settings_sha256 != now.settings_sha256 {
            changes.push("settings that shape the plan (base URL, sheet, date format, columns, --allow-retroactive, --skip-invalid) changed".into());
        }
        changes
    }

    /// The first way this plan's body differs from `made`, the plan made again from the
    /// same sheet and manifest against the account: a user it sends to, an assignment it
    /// makes, a row it leaves out. `None` when it says exactly what `made` says.
    pub fn first_difference(&self, made: &SavedPlan) -> Option<String> {
        if self.invalid_rows != made.invalid_rows {
            return Some(format!(
                "it leaves out rows {:?} as invalid; the sheet's invalid rows are {:?}",
                self.invalid_rows, made.invalid_rows
            ));
        }
        let by_row: std::collections::BTreeMap<u64, &SavedUser> =
            made.users.iter().map(|u| (u.row, u)).collect();
        let mut rows = std::collections::BTreeSet::new();
        for user in &self.users {
            let row = user.row;
            if !rows.insert(row) {
                return Some(format!("it names row {row} twice"));
            }
            let Some(want) = by_row.get(&row) else {
                return Some(format!(
                    "it sends to row {row}, which is not a valid row of the sheet"
                ));
            };
            if let Some(difference) = user.first_difference(want) {
                return Some(format!("row {row}: {difference}"));
            }
        }
        made.users
            .iter()
            .find(|u| !rows.contains(&u.row))
            .map(|u| format!("row {} of the sheet is missing from it", u.row))
    }

    /// The plan's rows, in sheet order, for a sheet of `sheet_rows` rows: the saved users
    /// as valid rows, every other row invalid.
    pub fn to_plan(&self, sheet_file: &str, sheet_numbers: &[u64]) -> Plan {
        let mut rows: Vec<PlanRow> = sheet_numbers
            .iter()
            .enumerate()
            .map(|(index, number)| PlanRow {
                index,
                number: *number,
                identity: None,
                user_id: None,
                also_email: None,
                phone: None,
                person: None,
                bases: Vec::new(),
                employee_type: String::new(),
                assignments: Vec::new(),
                problems: vec![Problem::in_row(
                    sheet_file,
                    *number,
                    None,
                    "left out of the saved plan as invalid",
                )],
            })
            .collect();
        for user in &self.users {
            if let Some(row) = rows.get_mut(user.index) {
                row.identity = Some(match user.identifier.parse() {
                    Ok(id) => Identity::UserId(id),
                    Err(_) if user.identifier.starts_with('+') => {
                        Identity::Phone(user.identifier.clone())
                    }
                    Err(_) => Identity::Email(user.identifier.clone()),
                });
                row.user_id = Some(user.user_id);
                row.employee_type.clone_from(&user.employee_type);
                row.assignments = user.assignments.iter().map(thaw).collect();
                row.problems.clear();
            }
        }
        Plan {
            rows,
            problems: Vec::new(),
        }
    }
}

impl SavedUser {
    fn first_difference(&self, want: &SavedUser) -> Option<String> {
        if self.user_id != want.user_id {
            return Some(format!(
                "it sends to user {}, and the sheet's row is user {}",
                self.user_id, want.user_id
            ));
        }
        if self.index != want.index || self.identifier != want.identifier {
            return Some(format!(
                "it names the row's user \"{}\", the sheet \"{}\"",
                self.identifier, want.identifier
            ));
        }
        if self.employee_type != want.employee_type {
            return Some(format!(
                "it gives the employee type \"{}\", the sheet \"{}\"",
                self.employee_type, want.employee_type
            ));
        }
        let (got, wanted) = (&self.assignments, &want.assignments);
        if let Some((g, w)) = got.iter().zip(wanted).find(|(g, w)| g != w) {
            return Some(format!("it assigns {g}, and the manifest gives {w}"));
        }
        match got.len().cmp(&wanted.len()) {
            std::cmp::Ordering::Greater => Some(format!(
                "it assigns {}, which the manifest does not give",
                got[wanted.len()]
            )),
            std::cmp::Ordering::Less => Some(format!(
                "it leaves out {}, which the manifest gives",
                wanted[got.len()]
            )),
            std::cmp::Ordering::Equal => None,
        }
    }
}

impl std::fmt::Display for SavedAssignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SavedAssignment::TimeOff {
                policy_id,
                balance,
                unit,
                ..
            } => match (balance, unit) {
                (Some(balance), Some(unit)) => write!(
                    f,
                    "time-off policy {policy_id} with {balance} {}",
                    unit.as_str()
                ),
                _ => write!(f, "time-off policy {policy_id} with its default balance"),
            },
            SavedAssignment::PayRule {
                policy_id,
                effective_date,
                ..
            } => write!(f, "pay-rule policy {policy_id} from {effective_date}"),
            SavedAssignment::OnboardingPack { pack_id, .. } => {
                write!(f, "onboarding pack {pack_id}")
            }
        }
    }
}

fn freeze(a: &Assignment) -> Result<SavedAssignment, String> {
    let name = |n: &Option<Arc<str>>| n.as_deref().map(str::to_owned);
    match a {
        Assignment::TimeOff { policy, balance } => Ok(SavedAssignment::TimeOff {
            policy_id: policy
                .id
                .as_deref()
                .ok_or("a time-off policy was not resolved")?
                .to_owned(),
            policy_name: name(&policy.name),
            balance: balance.map(|b| b.amount),
            unit: balance.map(|b| b.unit),
        }),
        Assignment::PayRule {
            policy,
            effective_date,
        } => Ok(SavedAssignment::PayRule {
            policy_id: policy.id.ok_or("a pay-rule policy was not resolved")?,
            policy_name: name(&policy.name),
            effective_date: *effective_date,
        }),
        Assignment::OnboardingPack { pack } => Ok(SavedAssignment::OnboardingPack {
            pack_id: pack.id.ok_or("an onboarding pack was not resolved")?,
            pack_name: name(&pack.name),
        }),
    }
}

fn thaw(a: &SavedAssignment) -> Assignment {
    match a {
        SavedAssignment::TimeOff {
            policy_id,
            policy_name,
            balance,
            unit,
        } => Assignment::TimeOff {
            policy: PolicyRef {
                id: Some(Arc::from(policy_id.as_str())),
                name: policy_name.as_deref().map(Arc::from),
            },
            balance: balance
                .zip(*unit)
                .map(|(amount, unit)| Balance { amount, unit }),
        },
        SavedAssignment::PayRule {
            policy_id,
            policy_name,
            effective_date,
        } => Assignment::PayRule {
            policy: PolicyRef {
                id: Some(*policy_id),
                name: policy_name.as_deref().map(Arc::from),
            },
            effective_date: *effective_date,
        },
        SavedAssignment::OnboardingPack { pack_id, pack_name } => Assignment::OnboardingPack {
            pack: PolicyRef {
                id: Some(*pack_id),
                name: pack_name.as_deref().map(Arc::from),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_survive_the_round_trip_exactly() {
        let originals = [
            Assignment::TimeOff {
                policy: PolicyRef {
                    id: Some("pol/1".into()),
                    name: Some("Vacation".into()),
                },
                balance: Some(Balance {
                    amount: "7.50".parse().unwrap(),
                    unit: Unit::Hours,
                }),
            },
            Assignment::TimeOff {
                policy: PolicyRef {
                    id: Some("pol-2".into()),
                    name: None,
                },
                balance: None,
            },
            Assignment::PayRule {
                policy: PolicyRef {
                    id: Some(12345),
                    name: None,
                },
                effective_date: jiff::civil::date(2027, 1, 4),
            },
        ];
        for original in originals {
            let frozen = freeze(&original).unwrap();
            let json = serde_json::to_string(&frozen).unwrap();
            let back: SavedAssignment = serde_json::from_str(&json).unwrap();
            assert_eq!(thaw(&back), original, "{json}");
        }
        let json = serde_json::to_string(
            &freeze(&Assignment::TimeOff {
                policy: PolicyRef {
                    id: Some("p".into()),
                    name: None,
                },
                balance: Some(Balance {
                    amount: "7.50".parse().unwrap(),
                    unit: Unit::Hours,
                }),
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            json,
            r#"{"kind":"time_off","policy_id":"p","policy_name":null,"balance":"7.50","unit":"hours"}"#
        );
    }

    #[test]
    fn staleness_names_each_changed_input() {
        let f = |sheet: &str, manifest: &str, settings: &str| Fingerprints {
            sheet: "h.csv".into(),
            sheet_sha256: sheet.into(),
            manifest: "m.yaml".into(),
            manifest_sha256: manifest.into(),
            settings_sha256: settings.into(),
        };
        let plan = SavedPlan {
            format: FORMAT.into(),
            created_at: String::new(),
            base_url: String::new(),
            company: Company::default(),
            inputs: f("a", "b", "c"),
            users: vec![],
            invalid_rows: vec![],
        };
        assert!(plan.stale_because(&f("a", "b", "c")).is_empty());
        assert_eq!(plan.stale_because(&f("x", "b", "y")).len(), 2);
        assert_eq!(
            crate::digest::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
