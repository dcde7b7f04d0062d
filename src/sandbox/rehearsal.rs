//! A seed for rehearsing one batch: an account in which every user the sheet names and
//! every policy the manifest names exists, so a rehearsal shows the real request count,
//! pacing, time and reports of *that* batch.

use std::collections::BTreeSet;

use super::seed::{Faults, Limits, Seed, SeedHoldings, SeedUser};
use crate::api::model::{PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo};
use crate::manifest::Manifest;
use crate::plan::{Identity, Plan};

/// Where the simulator gives IDs to users the sheet names by email only.
const FIRST_MADE_UP_USER: u64 = 900_000_001;
/// Where it gives IDs to pay-rule policies the manifest names by name only.
const FIRST_MADE_UP_PAY_RULE: u64 = 990_001;
/// Where it gives IDs to onboarding packs the manifest names by name only.
const FIRST_MADE_UP_PACK: u64 = 880_001;

impl Seed {
    /// An account for this manifest and sheet: each time-off policy in a type of its own
    /// (balance unit from the manifest), each pay-rule policy and onboarding pack (nobody
    /// on it), each user by ID or email,
    /// active, holding nothing. Creating people (`create_missing`), those the sheet names
    /// by email or phone are not there, so that creating them is rehearsed too, and each
    /// custom field the manifest names is a text field.
    pub fn for_batch(
        manifest: &Manifest,
        plan: &Plan,
        limits: Limits,
        create_missing: bool,
    ) -> Seed {
        Seed {
            custom_fields: match create_missing {
                true => text_fields(manifest),
                false => Vec::new(),
            },
            api_key: None,
            read_only: false,
            limits,
            faults: Faults::default(),
            users: users(plan, create_missing),
            policy_types: time_off_policies(manifest),
            pay_rule_policies: pay_rule_policies(manifest),
            packs: packs(manifest),
            holdings: SeedHoldings::default(),
            missing_reads: false,
            company: super::seed::simulated_company(),
            limits_set: true,
        }
    }
}

/// Each custom field the manifest names, as a text field (a snapshot's seed has the
/// account's own, dropdown options and all).
fn text_fields(manifest: &Manifest) -> Vec<crate::api::model::CustomField> {
    let mut names: Vec<&str> = manifest
        .user_fields
        .iter()
        .chain(manifest.types.iter().flat_map(|t| &t.user_fields))
        .map(|f| f.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
        .into_iter()
        .zip(1..)
        .map(|(name, id)| crate::api::model::CustomField {
            id,
            name: name.to_owned(),
            kind: Some("str".into()),
            dropdown_options: None,
            is_multi_select: false,
        })
        .collect()
}

fn users(plan: &Plan, create_missing: bool) -> Vec<SeedUser> {
    let taken: BTreeSet<u64> = plan.rows.iter().filter_map(|r| r.user_id).collect();
    let mut made_up = (FIRST_MADE_UP_USER..).filter(|id| !taken.contains(id));
    let mut users: Vec<SeedUser> = Vec::new();
    let mut seen_emails = BTreeSet::new();
    for row in &plan.rows {
        let (id, email, phone) = match &row.identity {
            Some(Identity::UserId(id)) => (*id, row.also_email.clone(), None),
            // Not there yet: the rehearsal creates them.
            Some(Identity::Email(_) | Identity::Phone(_)) if create_missing => continue,
            Some(Identity::Email(email)) if seen_emails.insert(email.clone()) => (
                made_up.next().expect("IDs to spare"),
                Some(email.clone()),
                None,
            ),
            Some(Identity::Phone(phone)) if seen_emails.insert(phone.clone()) => (
                made_up.next().expect("IDs to spare"),
                None,
                Some(phone.clone()),
            ),
            _ => continue,
        };
        if users.iter().any(|u| u.id == id) {
            continue;
        }
        users.push(SeedUser {
            id,
            email,
            first_name: "Rehearsal".into(),
            last_name: format!("Row {}", row.number),
            archived: false,
            phone,
        });
    }
    users
}

fn time_off_policies(manifest: &Manifest) -> Vec<PolicyType> {
    let mut types: Vec<PolicyType> = Vec::new();
    for rule in manifest.types.iter().flat_map(|t| &t.time_off) {
        let id = rule.policy.id.as_deref().map_or_else(
            || format!("rehearsal-pol-{}", types.len() + 1),
            str::to_owned,
        );
        let name = rule
            .policy
            .name
            .as_deref()
            .map_or_else(|| id.clone(), str::to_owned);
        let known = types.iter().any(|t| {
            t.policies
                .iter()
                .any(|p| p.id == id || p.name.eq_ignore_ascii_case(&name))
        });
        if known {
            continue;
        }
        let unit = rule.balance.map_or("days", |b| b.unit.as_str());
        types.push(PolicyType {
            id: format!("pt-{id}"),
            name: name.clone(),
            policies: vec![TimeOffPolicyInfo {
                id,
                name,
                unit: Some(unit.to_owned()),
                accrual_type: Some("fixed".into()),
            }],
        });
    }
    types
}

fn pay_rule_policies(manifest: &Manifest) -> Vec<PayRulePolicyInfo> {
    let mut policies: Vec<PayRulePolicyInfo> = Vec::new();
    let mut next = FIRST_MADE_UP_PAY_RULE;
    for rule in manifest.types.iter().filter_map(|t| t.pay_rule.as_ref()) {
        let name = rule.policy.name.as_deref().map(str::to_owned);
        let known = policies.iter().any(|p| {
            Some(p.id) == rule.policy.id
                || name
                    .as_deref()
                    .is_some_and(|n| p.name.eq_ignore_ascii_case(n))
        });
        if known {
            continue;
        }
        let id = rule.policy.id.unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        policies.push(PayRulePolicyInfo {
            id,
            name: name.unwrap_or_else(|| format!("Pay rule {id}")),
        });
    }
    policies
}

fn packs(manifest: &Manifest) -> Vec<crate::api::model::PackInfo> {
    let mut packs: Vec<crate::api::model::PackInfo> = Vec::new();
    let mut next = FIRST_MADE_UP_PACK;
    for rule in manifest.types.iter().flat_map(|t| &t.packs) {
        let name = rule.pack.name.as_deref().map(str::to_owned);
        let known = packs.iter().any(|p| {
            Some(p.id) == rule.pack.id
                || name
                    .as_deref()
                    .is_some_and(|n| p.name.eq_ignore_ascii_case(n))
        });
        if known {
            continue;
        }
        let id = rule.pack.id.unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        packs.push(crate::api::model::PackInfo {
            id,
            name: name.unwrap_or_else(|| format!("Onboarding pack {id}")),
            is_default: false,
            description: None,
        });
    }
    packs
}
