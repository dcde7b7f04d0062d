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

impl Seed {
    /// An account for this manifest and sheet: each time-off policy in a type of its own
    /// (balance unit from the manifest), each pay-rule policy, each user by ID or email,
    /// active, holding nothing.
    pub fn for_batch(manifest: &Manifest, plan: &Plan, limits: Limits) -> Seed {
        Seed {
            custom_fields: Vec::new(),
            api_key: None,
            read_only: false,
            limits,
            faults: Faults::default(),
            users: users(plan),
            policy_types: time_off_policies(manifest),
            pay_rule_policies: pay_rule_policies(manifest),
            holdings: SeedHoldings::default(),
            missing_reads: false,
            company: super::seed::simulated_company(),
            limits_set: true,
        }
    }
}

fn users(plan: &Plan) -> Vec<SeedUser> {
    let taken: BTreeSet<u64> = plan.rows.iter().filter_map(|r| r.user_id).collect();
    let mut made_up = (FIRST_MADE_UP_USER..).filter(|id| !taken.contains(id));
    let mut users: Vec<SeedUser> = Vec::new();
    let mut seen_emails = BTreeSet::new();
    for row in &plan.rows {
        let (id, email, phone) = match &row.identity {
            Some(Identity::UserId(id)) => (*id, row.also_email.clone(), None),
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
