use std::sync::Arc;

use jiff::civil::date;

use super::*;
use crate::api::model::{PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo};
use crate::manifest::{Balance as Grant, PolicyRef, Unit};
use crate::plan::Kind;

fn directory() -> Directory {
    let policy = |id: &str, name: &str, unit: &str| TimeOffPolicyInfo {
        id: id.into(),
        name: name.into(),
        unit: Some(unit.into()),
        accrual_type: None,
    };
    Directory {
        company: crate::api::model::Company::default(),
        policy_types: vec![PolicyType {
            id: "pt-vac".into(),
            name: "Vacation".into(),
            policies: vec![
                policy("ft", "Vacation - Full-time", "days"),
                policy("pt", "Vacation - Part-time", "hours"),
            ],
        }],
        packs: Vec::new(),
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

fn held(policy: &str, balance: &str, units: &str) -> HeldBalance {
    HeldBalance {
        policy_id: policy.into(),
        balance: balance.parse().unwrap(),
        units: units.into(),
    }
}

fn on(policy_id: u64, d: Date) -> PayRuleOn {
    PayRuleOn {
        policy_id,
        effective_date: d,
    }
}

const TODAY: Date = date(2026, 11, 23);

fn holdings() -> Holdings {
    let vacation = TypeHeld {
        held: HashMap::from([
            (10, held("pt", "12.5", "hours")),
            (11, held("pt", "0", "hours")),
            (12, held("ft", "15", "days")),
        ]),
        doubt: HashMap::from([(13, "balance null".to_owned())]),
    };
    let pay_rules = PayRulesHeld {
        on: HashMap::from([
            (
                TODAY,
                HashMap::from([(20, on(1, date(2026, 1, 1))), (21, on(2, date(2026, 1, 1)))]),
            ),
            (
                far_date(),
                HashMap::from([
                    (20, on(1, date(2026, 1, 1))),
                    (21, on(2, date(2028, 1, 1))),
                    (22, on(2, date(2027, 2, 1))),
                    (23, on(2, date(2028, 1, 1))),
                ]),
            ),
        ]),
        // 23 holds policy 1 from 2027-02-01, then policy 2 from 2028.
        policy_on: HashMap::from([(
            (1, date(2027, 2, 1)),
            OnDate {
                asked: HashSet::from([21, 23]),
                held: HashMap::from([(23, on(1, date(2027, 2, 1)))]),
            },
        )]),
        doubt: HashMap::from([(24, "effectiveDate \"soon\"".to_owned())]),
    };
    Holdings {
        users: (10..=24).chain([99]).collect(),
        time_off: HashMap::from([("pt-vac".to_owned(), Part::Read(vacation))]),
        pay_rules: Some(Part::Read(pay_rules)),
        packs: HashMap::new(),
        today: Some(TODAY),
        names: Names::of(&directory()),
        unread: None,
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
fn a_later_switch_over_ours_is_not_a_replace() {
    let h = holdings();
    // 23 already has policy 1 on 2027-02-01, with policy 2 scheduled from 2028.
    let scheduled = h.diff(Some(23), &pay(1, date(2027, 2, 1)));
    assert_eq!(scheduled.change, Change::Unchanged);
    assert_eq!(h.seen(23, &pay(1, date(2027, 2, 1))), Seen::Held);
    // 21 was read on that date too, and does not have it: a real replace.
    assert_eq!(
        h.diff(Some(21), &pay(1, date(2027, 2, 1))).change,
        Change::Replace
    );
}

#[test]
fn unreadable_parts_and_doubtful_users_are_unknown_not_guessed() {
    let mut h = holdings();
    let doubtful = h.diff(Some(13), &vacation("ft", Some("15")));
    assert_eq!(doubtful.change, Change::Unknown);
    assert_eq!(
        doubtful.unknown.as_deref(),
        Some("what 13 holds in Vacation could not be read: balance null")
    );
    assert_eq!(
        h.diff(Some(10), &vacation("ft", Some("15"))).change,
        Change::Move,
        "one bad row makes one user unknown, never the type"
    );
    assert_eq!(
        h.diff(Some(24), &pay(1, date(2027, 1, 4))).change,
        Change::Unknown
    );
    assert_eq!(
        h.diff(Some(98), &pay(1, date(2027, 1, 4))).change,
        Change::Unknown,
        "not read"
    );
    assert_eq!(h.doubts().len(), 2);

    h.time_off.insert(
        "pt-vac".into(),
        Part::Unread(Unread::Failed {
            endpoint: "GET /time-off/v1/policy-types/pt-vac/balances".into(),
            why: "answered HTTP 404: the endpoint is missing".into(),
        }),
    );
    h.pay_rules = Some(Part::Unread(Unread::Skipped(Kind::PayRule)));
    let d = h.diff(Some(10), &vacation("ft", Some("15")));
    assert_eq!(d.change, Change::Unknown);
    assert!(
        d.holds_in_words().contains("HTTP 404"),
        "{}",
        d.holds_in_words()
    );
    let skipped = h.diff(Some(20), &pay(1, date(2027, 1, 4)));
    assert!(
        skipped
            .unknown
            .unwrap()
            .contains("--without-refresh pay_rule")
    );
    assert_eq!(h.failed().len(), 1);
    assert_eq!(h.skipped(), BTreeSet::from([Kind::PayRule]));
    let offline = Holdings::offline();
    assert_eq!(
        offline.diff(Some(1), &pay(1, date(2027, 1, 4))).change,
        Change::Unknown
    );
}

#[test]
fn seen_means_the_policy_the_balance_and_the_date_sent() {
    let h = holdings();
    assert_eq!(h.seen(12, &vacation("ft", Some("15"))), Seen::Held);
    assert_eq!(h.seen(12, &vacation("ft", None)), Seen::Held);
    assert_eq!(
        h.seen(12, &vacation("ft", Some("20"))),
        Seen::Not {
            holds: "Vacation - Full-time, 15 days".into(),
            held: "ft 15 days".into()
        },
        "a balance sent and not applied is not held as sent"
    );
    assert!(matches!(
        h.seen(10, &vacation("ft", Some("15"))),
        Seen::Not { .. }
    ));
    assert!(matches!(
        h.seen(13, &vacation("ft", Some("15"))),
        Seen::Unknown(_)
    ));
    assert!(matches!(
        h.seen(21, &pay(1, date(2027, 2, 1))),
        Seen::Not { .. }
    ));
    assert!(
        matches!(h.seen(20, &pay(1, date(2026, 1, 1))), Seen::Unknown(_)),
        "a date not read back is not seen"
    );
}

#[test]
fn reads_cover_the_plans_types_and_every_pay_rule_policy() {
    let reads = Reads {
        users: (1..=300).collect(),
        policy_types: ["a".to_owned(), "b".to_owned()].into(),
        pay_rule_policies: [1, 2, 3].into(),
        dates: vec![date(2026, 11, 23), far_date()],
        ..Reads::default()
    };
    // 2 types × 2 batches of 250, 3 policies × 2 dates × 2 batches of 250; each batch's
    // page, and the empty one after it.
    assert_eq!(reads.requests(), 2 * (4 + 12));
    let skipped = Reads {
        skipped: BTreeSet::from([Kind::PayRule]),
        ..reads
    };
    assert_eq!(skipped.requests(), 2 * 4);
}
