use std::sync::Arc;

use jiff::civil::date;

use super::*;
use crate::api::model::{PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo};
use crate::manifest::{Balance as Grant, PolicyRef, Unit};

fn directory() -> Directory {
    let policy = |id: &str, name: &str, unit: &str| TimeOffPolicyInfo {
        id: id.into(),
        name: name.into(),
        unit: Some(unit.into()),
        accrual_type: None,
    };
    Directory {
        policy_types: vec![PolicyType {
            id: "pt-vac".into(),
            name: "Vacation".into(),
            policies: vec![
                policy("ft", "Vacation - Full-time", "days"),
                policy("pt", "Vacation - Part-time", "hours"),
            ],
        }],
        pay_rule_policies: vec![
            PayRulePolicyInfo {
                id: 1,
                name: "Standard Hourly".into(),
            },
            PayRulePolicyInfo {
                id: 2,
                name: "Overtime Eligible".into(),
            },
        ],
    }
}

fn holdings() -> Holdings {
    let held = |user: u64, policy: &str, balance: &str, units: &str| {
        (
            user,
            Balance {
                user_id: user,
                units: Some(units.into()),
                balance: balance.parse().unwrap(),
                policy_id: policy.into(),
            },
        )
    };
    let on = |policy_id: u64, d: Date| PayRuleOn {
        policy_id,
        effective_date: d,
    };
    Holdings {
        time_off: HashMap::from([(
            "pt-vac".to_owned(),
            HashMap::from([
                held(10, "pt", "12.5", "hours"),
                held(11, "pt", "0", "hours"),
                held(12, "ft", "15", "days"),
            ]),
        )]),
        pay_rules_today: HashMap::from([
            (20, on(1, date(2026, 1, 1))),
            (21, on(2, date(2026, 1, 1))),
        ]),
        pay_rules_latest: HashMap::from([
            (20, on(1, date(2026, 1, 1))),
            (21, on(2, date(2028, 1, 1))),
            (22, on(2, date(2027, 2, 1))),
        ]),
        pay_rules_read: true,
        names: Names::of(&directory()),
        ..Holdings::default()
    }
}

fn vacation(policy: &str, balance: Option<&str>) -> Assignment {
    Assignment::TimeOff {
        policy: PolicyRef {
            id: Some(Arc::from(policy)),
            name: None,
        },
        balance: balance.map(|b| Grant {
            amount: b.parse().unwrap(),
            unit: Unit::Days,
        }),
    }
}

fn pay(policy: u64, d: Date) -> Assignment {
    Assignment::PayRule {
        policy: PolicyRef {
            id: Some(policy),
            name: None,
        },
        effective_date: d,
    }
}

#[test]
fn time_off_changes_and_what_they_would_lose() {
    let h = holdings();
    let new = h.diff(Some(99), &vacation("ft", Some("15")));
    assert_eq!((new.change, new.holds.as_str()), (Change::New, ""));
    let moved = h.diff(Some(10), &vacation("ft", Some("15")));
    assert_eq!(moved.change, Change::Move);
    assert_eq!(moved.holds, "Vacation - Part-time, 12.5 hours");
    assert_eq!(
        moved.loses.as_deref(),
        Some("12.5 hours of Vacation - Part-time")
    );
    let free_move = h.diff(Some(11), &vacation("ft", Some("15")));
    assert_eq!((free_move.change, free_move.loses), (Change::Move, None));
    let same = h.diff(Some(12), &vacation("ft", Some("15.0")));
    assert_eq!(same.change, Change::Unchanged);
    let defaults = h.diff(Some(12), &vacation("ft", None));
    assert_eq!(
        defaults.change,
        Change::Unchanged,
        "no balance set: held is enough"
    );
    let balance = h.diff(Some(12), &vacation("ft", Some("20")));
    assert_eq!(balance.change, Change::SetBalance);
    assert_eq!(
        balance.loses.as_deref(),
        Some("15 days of Vacation - Full-time (set to 20 days)")
    );
}

#[test]
fn pay_rule_changes() {
    let h = holdings();
    let new = h.diff(Some(99), &pay(1, date(2027, 1, 4)));
    assert_eq!(new.change, Change::New);
    let same = h.diff(Some(20), &pay(1, date(2026, 1, 1)));
    assert_eq!(same.change, Change::Unchanged);
    let switch = h.diff(Some(20), &pay(2, date(2027, 1, 4)));
    assert_eq!(switch.change, Change::Switch);
    assert_eq!(switch.holds, "Standard Hourly since 2026-01-01");
    assert_eq!(switch.loses, None, "a switch is an ordinary change");
    let replace = h.diff(Some(21), &pay(1, date(2027, 2, 1)));
    assert_eq!(replace.change, Change::Replace);
    assert_eq!(
        replace.holds,
        "Overtime Eligible since 2026-01-01; Overtime Eligible from 2028-01-01"
    );
    assert_eq!(
        replace.loses.as_deref(),
        Some("Overtime Eligible from 2028-01-01")
    );
    let same_day_other_rule = h.diff(Some(22), &pay(1, date(2027, 2, 1)));
    assert_eq!(same_day_other_rule.change, Change::Replace);
}

#[test]
fn unreadable_parts_are_unknown_not_guessed() {
    let mut h = holdings();
    h.unknown_types
        .insert("pt-vac".into(), "the endpoint is missing (HTTP 404)".into());
    h.pay_rules_unknown = Some("HTTP 404".into());
    let d = h.diff(Some(10), &vacation("ft", Some("15")));
    assert_eq!(d.change, Change::Unknown);
    assert!(d.holds.contains("HTTP 404"), "{}", d.holds);
    assert_eq!(
        h.diff(Some(20), &pay(1, date(2027, 1, 4))).change,
        Change::Unknown
    );
    assert_eq!(h.unknown().len(), 2);
    assert_eq!(h.holds(10, &vacation("ft", None)), None);
    let offline = Holdings::offline();
    assert_eq!(
        offline.diff(Some(1), &pay(1, date(2027, 1, 4))).change,
        Change::Unknown
    );
}

#[test]
fn held_means_the_policy_not_the_balance() {
    let h = holdings();
    assert_eq!(h.holds(12, &vacation("ft", Some("20"))), Some(true));
    assert_eq!(h.holds(10, &vacation("ft", Some("15"))), Some(false));
    assert_eq!(h.holds(20, &pay(1, date(2026, 1, 1))), Some(true));
    assert_eq!(h.holds(22, &pay(1, date(2027, 2, 1))), Some(false));
}

#[test]
fn reads_cover_the_plans_types_and_every_pay_rule_policy() {
    let reads = Reads {
        users: (1..=300).collect(),
        policy_types: ["a".to_owned(), "b".to_owned()].into(),
        pay_rule_policies: [1, 2, 3].into(),
        dates: vec![date(2026, 11, 23), far_date()],
    };
    // 2 types × 3 batches of 100, 3 policies × 2 dates × 2 batches of 250.
    assert_eq!(reads.requests(), 6 + 12);
}
