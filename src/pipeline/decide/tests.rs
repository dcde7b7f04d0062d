use std::sync::Arc;

use jiff::civil::date;

use super::*;
use crate::api::model::{PayRulePolicyInfo, PolicyType, TimeOffPolicyInfo};
use crate::journal::Key;
use crate::manifest::{Balance, PolicyRef, Unit};
use crate::resolve::Directory;

fn names() -> Names {
    let policy = |id: &str, name: &str| TimeOffPolicyInfo {
        id: id.into(),
        name: name.into(),
        unit: Some("days".into()),
        accrual_type: None,
    };
    Names::of(&Directory {
        company: crate::api::model::Company::default(),
        packs: Vec::new(),
        policy_types: vec![
            PolicyType {
                id: "pt-vac".into(),
                name: "Vacation".into(),
                policies: vec![
                    policy("ft", "Vacation - Full-time"),
                    policy("pt", "Vacation - Part-time"),
                ],
            },
            PolicyType {
                id: "pt-sick".into(),
                name: "Sick".into(),
                policies: vec![policy("sick", "Sick Leave")],
            },
        ],
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
    })
}

fn vacation(policy: &str, days: u32) -> Assignment {
    Assignment::TimeOff {
        policy: PolicyRef {
            id: Some(Arc::from(policy)),
            name: None,
        },
        balance: Some(Balance {
            amount: days.into(),
            unit: Unit::Days,
        }),
    }
}

fn pay(policy: u64, day: u8) -> Assignment {
    Assignment::PayRule {
        policy: PolicyRef {
            id: Some(policy),
            name: None,
        },
        effective_date: date(2029, 1, i8::try_from(day).unwrap()),
    }
}

/// A journal entry of ct-onboard's for user 7: `a`, in `state`, at `when`.
fn entry(a: &Assignment, state: State, when: &str) -> Entry {
    Entry {
        key: Key::of("https://api.example", 7, a),
        fingerprint: fingerprint(a),
        state,
        run_id: format!("run-{when}"),
        attempts: 1,
        http_status: Some(200),
        error: String::new(),
        request_id: String::new(),
        assignment_id: String::new(),
        updated_at: format!("2026-11-{when}T00:00:00Z"),
        seen: String::new(),
    }
}

fn unknown() -> Diff {
    Diff {
        holds: "unknown: x".into(),
        unknown: Some("what 7 holds in Vacation could not be read: balance null".into()),
        ..Diff::default()
    }
}

/// The instant the tests decide at.
const NOW: &str = "2026-11-23T12:00:00Z";

fn action(a: &Assignment, diff: &Diff, own: &[Entry], allow: bool) -> Action {
    decide(a, diff, own, &names(), allow, NOW.parse().unwrap()).action
}

#[test]
fn a_pack_sent_without_a_clear_answer_is_not_sent_again_until_it_has_had_time_to_show() {
    let pack = Assignment::OnboardingPack {
        pack: PolicyRef {
            id: Some(501),
            name: Some(Arc::from("New hire essentials")),
        },
    };
    let not_on = Diff {
        change: Change::New,
        holds: "not on the pack".into(),
        ..Diff::default()
    };
    let sent = |state, at: &str| Entry {
        updated_at: at.into(),
        ..entry(&pack, state, "23")
    };
    {
        let state = State::InFlight;
        // Sent without a clear answer half an hour ago: the account may not show it yet.
        let recent = [sent(state, "2026-11-23T11:30:00Z")];
        let Action::Conflict(settled) = action(&pack, &not_on, &recent, false) else {
            panic!("{state:?} 30 min ago is not sent again");
        };
        assert!(
            settled
                .reason
                .starts_with("ct-onboard sent this 30 min ago (run run-23) without seeing it land"),
            "{}",
            settled.reason
        );
        assert!(
            matches!(action(&pack, &not_on, &recent, true), Action::Send),
            "once checked"
        );
        // Two hours ago: "not on the pack" is believed.
        let settled_long_ago = [sent(state, "2026-11-23T10:00:00Z")];
        assert!(matches!(
            action(&pack, &not_on, &settled_long_ago, false),
            Action::Send
        ));
    }
    // Answered with a success and never seen: not sent again by any run on its own.
    let answered = [sent(State::Unverified, "2026-11-20T10:00:00Z")];
    let Action::Conflict(settled) = action(&pack, &not_on, &answered, false) else {
        panic!("a 200 never seen is not sent again");
    };
    assert!(
        settled.reason.contains("with a success"),
        "{}",
        settled.reason
    );
    assert!(matches!(
        action(&pack, &not_on, &answered, true),
        Action::Send
    ));
    // Refused (failed) or never begun: nothing of ours can be on its way.
    let refused = [sent(State::Failed, "2026-11-23T11:59:00Z")];
    assert!(matches!(
        action(&pack, &not_on, &refused, false),
        Action::Send
    ));
    assert!(matches!(action(&pack, &not_on, &[], false), Action::Send));
    // Seen done, and gone since: taken off in the app, not ours to redo.
    let done = [sent(State::Done, "2026-11-20T10:00:00Z")];
    let Action::Conflict(settled) = action(&pack, &not_on, &done, false) else {
        panic!("a pack of ours taken off is not put back");
    };
    assert!(
        settled.reason.contains("taken off in Connecteam?"),
        "{}",
        settled.reason
    );
    // A time that cannot be read, or one after now: held, and said why.
    for (at, why) in [
        (
            "yesterday",
            "at a time the journal cannot say (\"yesterday\")",
        ),
        (
            "2026-11-23T13:00:00Z",
            "after now (2026-11-23T12:00:00Z): the clocks disagree",
        ),
    ] {
        let Action::Conflict(settled) = action(&pack, &not_on, &[sent(State::InFlight, at)], false)
        else {
            panic!("{at}");
        };
        assert!(settled.reason.contains(why), "{}", settled.reason);
    }
    // Not read at all: blind, not within the hour; an hour on, --allow-overwrite sends.
    let blind = Diff {
        unknown: Some("not read (--without-refresh onboarding_pack)".into()),
        ..unknown()
    };
    let recent = [sent(State::InFlight, "2026-11-23T11:30:00Z")];
    assert!(matches!(
        action(&pack, &blind, &recent, true),
        Action::Conflict(_)
    ));
    let long_ago = [sent(State::InFlight, "2026-11-23T10:00:00Z")];
    assert!(matches!(
        action(&pack, &blind, &long_ago, false),
        Action::Conflict(_)
    ));
    assert!(matches!(
        action(&pack, &blind, &long_ago, true),
        Action::Send
    ));
}

#[test]
fn unknown_is_held_back_naming_why_unless_overwriting_is_allowed() {
    let a = vacation("ft", 15);
    let Action::Conflict(settled) = action(&a, &unknown(), &[], false) else {
        panic!("unknown with no journal is a conflict");
    };
    assert_eq!(
        settled.reason,
        "what 7 holds in Vacation could not be read: balance null: not sent (--allow-overwrite sends it)"
    );
    assert!(matches!(action(&a, &unknown(), &[], true), Action::Send));
}

#[test]
fn the_journal_speaks_per_time_off_type_not_per_policy() {
    let ours = vacation("ft", 15);
    let done = entry(&ours, State::Done, "20");
    assert!(
        matches!(
            action(&ours, &unknown(), std::slice::from_ref(&done), false),
            Action::Skip(_)
        ),
        "ct-onboard made exactly this"
    );
    // The same user came in another sheet as part-time: ct-onboard assigned the other
    // policy of the type since, so this write would replace ct-onboard's own.
    let other = entry(&vacation("pt", 40), State::Done, "21");
    let Action::Conflict(settled) = action(&ours, &unknown(), &[done.clone(), other], false) else {
        panic!("a move off ct-onboard's own later assignment is guarded");
    };
    assert!(
        settled
            .reason
            .contains("last assigned Vacation - Part-time"),
        "{}",
        settled.reason
    );
    // An assignment of another type says nothing of this one.
    let sick = entry(&vacation("sick", 3), State::Done, "22");
    assert!(matches!(
        action(&ours, &unknown(), &[done, sick], false),
        Action::Skip(_)
    ));
    // Other parameters than this sheet's: not exactly this.
    let fifteen = entry(&vacation("ft", 10), State::Done, "20");
    assert!(matches!(
        action(&ours, &unknown(), &[fifteen], false),
        Action::Conflict(_)
    ));
    // Sent but never seen held is not made.
    let unseen = entry(&ours, State::Unverified, "20");
    assert!(matches!(
        action(&ours, &unknown(), &[unseen], false),
        Action::Conflict(_)
    ));
}

#[test]
fn the_journal_speaks_per_user_for_pay_rules() {
    let ours = pay(2, 4);
    let done = entry(&ours, State::Done, "20");
    assert!(matches!(
        action(&ours, &unknown(), std::slice::from_ref(&done), false),
        Action::Skip(_)
    ));
    let later = entry(&pay(1, 1), State::Done, "21");
    assert!(
        matches!(
            action(&ours, &unknown(), &[done, later], false),
            Action::Conflict(_)
        ),
        "ct-onboard's own earlier-dated rule since would have removed ours"
    );
}

#[test]
fn an_unverified_write_found_held_is_ct_onboards_own() {
    let ours = vacation("ft", 15);
    let unseen = entry(&ours, State::Unverified, "20");
    let held = Diff {
        change: Change::Unchanged,
        ..Diff::default()
    };
    assert!(matches!(
        action(&ours, &held, std::slice::from_ref(&unseen), false),
        Action::Confirm(Settled {
            record_done: true,
            ..
        })
    ));
    // Use or accrual moved the balance since verify looked: still ct-onboard's own.
    let moved = Diff {
        change: Change::SetBalance,
        holds: "Vacation - Full-time, 14 days".into(),
        held: "ft 14 days".into(),
        loses: Some("14 days of Vacation - Full-time (set to 15 days)".into()),
        ..Diff::default()
    };
    let seen_ten = Entry {
        seen: "ft 10 days".into(),
        ..unseen.clone()
    };
    assert!(matches!(
        action(&ours, &moved, std::slice::from_ref(&seen_ten), false),
        Action::Skip(Settled {
            record_done: true,
            ..
        })
    ));
    // Still what verify saw after the write: it was never applied. A balance change like
    // any other, guarded.
    let never_applied = Diff {
        holds: "Vacation - Full-time, 10 days".into(),
        held: "ft 10 days".into(),
        loses: Some("10 days of Vacation - Full-time (set to 15 days)".into()),
        ..moved.clone()
    };
    assert!(matches!(
        action(
            &ours,
            &never_applied,
            std::slice::from_ref(&seen_ten),
            false
        ),
        Action::Conflict(_)
    ));
    // Verify saw nothing definite (cut short, or in doubt): not "moved since" either.
    assert!(matches!(
        action(&ours, &moved, &[unseen], false),
        Action::Conflict(_)
    ));
    // Not held: decided like any other change.
    let new = Diff {
        change: Change::New,
        ..Diff::default()
    };
    assert!(matches!(action(&ours, &new, &[], false), Action::Send));
}

#[test]
fn guarded_changes_name_what_would_be_lost() {
    let moved = Diff {
        change: Change::Move,
        loses: Some("12.5 hours of Vacation - Part-time".into()),
        ..Diff::default()
    };
    let Action::Conflict(settled) = action(&vacation("ft", 15), &moved, &[], false) else {
        panic!("a move off hours is guarded");
    };
    assert_eq!(
        settled.reason,
        "moving the user would lose 12.5 hours of Vacation - Part-time: not sent (--allow-overwrite sends it)"
    );
    let free = Diff {
        change: Change::Move,
        ..Diff::default()
    };
    assert!(matches!(
        action(&vacation("ft", 15), &free, &[], false),
        Action::Send
    ));
}
