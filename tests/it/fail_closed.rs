//! Fail closed: an account that answers oddly (short pages, an ignored filter, a repeated
//! or unparseable row, datetimes, a missing list, read-after-write lag, a balance not
//! applied, a change in the app meanwhile) never switches a guard off. Each test asserts
//! what the account still holds afterwards, not only the exit code, and that the safe
//! assignments of the same batch are still made.

use std::path::PathBuf;

use ct_onboard::sandbox::{
    AppChange, ExtraRow, Faults, Seed, SeedHoldings, SeedPack, SeedPayRule, SeedTimeOff, Snapshot,
};
use jiff::civil::date;
use serde_json::{Value, json};

use crate::util::{Record, RunningSandbox, Site, TestCommand, sample_seed, write};

/// Twelve full-time hires, IDs 9170357…9170368, starting 2029-01-04.
fn user(n: u64) -> u64 {
    9_170_356 + n
}

/// The eleventh hire holds 12.5 hours of Vacation - Part-time (a move would lose them).
const HOURS: u64 = 9_170_367;
/// The twelfth has Standard Hourly from 2030 (ours, from 2029, would remove it).
const LATER: u64 = 9_170_368;

/// The account: hires 1–10 hold Vacation - Full-time at 0 days and Standard Hourly since
/// 2026 (safe to set and to switch), so that what matters comes on later pages.
fn seed() -> Seed {
    let mut seed = sample_seed(vec![]);
    let mut time_off: Vec<SeedTimeOff> = (1..=10)
        .map(|n| SeedTimeOff {
            user_id: user(n),
            policy_id: "pol-vac-ft-001".into(),
            balance: Some(0.0),
        })
        .collect();
    time_off.push(SeedTimeOff {
        user_id: HOURS,
        policy_id: "pol-vac-pt-001".into(),
        balance: Some(12.5),
    });
    let mut pay_rules: Vec<SeedPayRule> = (1..=10)
        .map(|n| SeedPayRule {
            user_id: user(n),
            policy_id: 12345,
            effective_date: date(2026, 1, 1),
        })
        .collect();
    pay_rules.push(SeedPayRule {
        user_id: LATER,
        policy_id: 12345,
        effective_date: date(2030, 1, 1),
    });
    seed.holdings = SeedHoldings {
        packs: vec![],
        time_off,
        pay_rules,
    };
    seed
}

fn with_faults(faults: Faults) -> Seed {
    Seed { faults, ..seed() }
}

/// The twelve hires, as a sheet in `site`.
fn hires(site: &Site) -> PathBuf {
    let rows: String = (1..=12)
        .map(|n| format!("{},full-time,2029-01-04\n", user(n)))
        .collect();
    site.file(
        "hires.csv",
        &format!("User ID,Employee Type,Start Date\n{rows}"),
    )
}

/// Runs a command: its exit code, and all it said.
fn run(cmd: &mut TestCommand) -> (i32, String) {
    let ran = cmd.run();
    (ran.code, ran.text())
}

fn line<'a>(lines: &'a [Record], user: u64, policy: &str) -> &'a Record {
    lines
        .iter()
        .find(|l| l["user_id"] == *user.to_string() && &l["policy_id"] == policy)
        .unwrap_or_else(|| panic!("no line for {user} {policy}: {lines:?}"))
}

/// What the account holds for `user` in the Vacation type: policy and balance.
fn vacation(state: &Snapshot, user: u64) -> Option<(String, Option<f64>)> {
    state
        .time_off_assignments
        .iter()
        .find(|h| h.user_id == user && h.policy_type_id == "pt-vacation-001")
        .map(|h| (h.policy_id.clone(), h.balance))
}

/// The user's pay-rule assignments: policy and date.
fn pay_rules(state: &Snapshot, user: u64) -> Vec<(u64, String)> {
    state
        .pay_rule_assignments
        .iter()
        .filter(|h| h.user_id == user)
        .map(|h| (h.policy_id, h.effective_date.clone()))
        .collect()
}

/// The hours and the later pay rule are still held.
fn guarded_ones_kept(state: &Snapshot) {
    assert_eq!(
        vacation(state, HOURS),
        Some(("pol-vac-pt-001".into(), Some(12.5))),
        "the 12.5 hours are kept"
    );
    assert!(
        pay_rules(state, LATER).contains(&(12345, "2030-01-01".into())),
        "the later pay rule is kept: {:?}",
        pay_rules(state, LATER)
    );
}

/// The first ten hires got all three of their assignments, as sent.
fn safe_ones_made(state: &Snapshot) {
    for n in 1..=10 {
        assert_eq!(
            vacation(state, user(n)),
            Some(("pol-vac-ft-001".into(), Some(15.0))),
            "hire {n}"
        );
        assert!(pay_rules(state, user(n)).contains(&(12346, "2029-01-04".into())));
    }
}

#[test]
fn short_pages_without_a_total_are_read_to_the_empty_one_and_nothing_beyond_them_is_lost() {
    let running = RunningSandbox::start(with_faults(Faults {
        page_size: Some(3),
        no_paging_total: true,
        ..Faults::default()
    }));
    let site = Site::new();
    let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
    assert_eq!(code, 1, "the two guarded changes need a decision: {out}");
    let state = running.sandbox.snapshot();
    guarded_ones_kept(&state);
    safe_ones_made(&state);
    let lines = site.assignments();
    let moved = line(&lines, HOURS, "pol-vac-ft-001");
    assert_eq!((&moved["change"], &moved["status"]), ("move", "conflict"));
    assert!(
        moved["error"].contains("would lose 12.5 hours"),
        "{moved:?}"
    );
    assert_eq!(&line(&lines, LATER, "12346")["change"], "replace");
    // Verify reads the same way: every write made is seen, none called failed.
    assert!(
        lines
            .iter()
            .all(|l| matches!(&l["status"][..], "done" | "conflict")),
        "{lines:?}"
    );
}

#[test]
fn a_balances_read_that_ignores_the_user_filter_is_not_believed() {
    let running = RunningSandbox::start(with_faults(Faults {
        ignore_user_filter: vec!["balances".into()],
        ..Faults::default()
    }));
    // Two users of the sheet: the account's others come back anyway.
    let site = Site::new();
    let two = write(
        site.path(),
        "two.csv",
        &format!(
            "User ID,Employee Type,Start Date\n{},full-time,2029-01-04\n{HOURS},full-time,2029-01-04\n",
            user(1)
        ),
    );
    let (code, out) = run(&mut site.ct(&running, "run", &two));
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains(
            "who was not asked about: it ignored the userIds filter, so its answer is not believed"
        ),
        "{out}"
    );
    assert!(out.contains("--without-refresh time_off"), "{out}");
    assert_eq!(running.sandbox.snapshot().writes(), 0, "nothing was sent");

    // Going on without that read: time off is decided by the journal (which knows
    // nothing: held back), the pay rules, read as usual, are sent.
    let (code, out) = run(site
        .ct(&running, "run", &two)
        .args(["--without-refresh", "time_off"]));
    assert_eq!(code, 1, "{out}");
    let state = running.sandbox.snapshot();
    guarded_ones_kept(&state);
    assert_eq!(
        state.writes(),
        2 + 1,
        "the two pay rules, and the two put on the pack: {:?}",
        state.requests
    );
    assert!(pay_rules(&state, user(1)).contains(&(12346, "2029-01-04".into())));
    let lines = site.assignments();
    let held_back = line(&lines, HOURS, "pol-vac-ft-001");
    assert_eq!(
        (&held_back["change"], &held_back["status"]),
        ("unknown", "conflict")
    );
}

#[test]
fn a_repeated_row_makes_that_user_unknown_and_held_back() {
    // A second row for the user with the hours, saying 0: read as the last word before,
    // it made the move look free.
    let running = RunningSandbox::start(with_faults(Faults {
        extra_rows: vec![ExtraRow {
            list: "balances".into(),
            id: "pt-vacation-001".into(),
            row: json!({"userId": HOURS, "units": "hours", "balance": 0, "policyId": "pol-vac-pt-001"}),
        }],
        ..Faults::default()
    }));
    let site = Site::new();
    let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
    assert_eq!(code, 1, "{out}");
    let state = running.sandbox.snapshot();
    guarded_ones_kept(&state);
    safe_ones_made(&state);
    let held_back = line(&site.assignments(), HOURS, "pol-vac-ft-001").clone();
    assert_eq!(
        (&held_back["change"], &held_back["status"]),
        ("unknown", "conflict")
    );
    assert!(
        held_back["error"].contains(&format!(
            "what {HOURS} holds in Vacation could not be read: 2 rows for this one user"
        )),
        "{held_back:?}"
    );
}

#[test]
fn a_row_that_does_not_parse_makes_one_user_unknown_never_the_whole_type() {
    let doubtful = user(10);
    for (bad, why) in [
        (
            json!({"userId": doubtful, "units": "days", "balance": null, "policyId": "pol-vac-ft-001"}),
            "balance null",
        ),
        (
            json!({"userId": doubtful, "units": "days", "balance": "NaN", "policyId": "pol-vac-ft-001"}),
            "balance \"NaN\"",
        ),
        (
            json!({"userId": doubtful, "units": "days", "balance": 3}),
            "no policyId",
        ),
    ] {
        let mut seed = seed();
        // The hire's real row is the bad one.
        seed.holdings.time_off.retain(|h| h.user_id != doubtful);
        seed.faults.extra_rows = vec![ExtraRow {
            list: "balances".into(),
            id: "pt-vacation-001".into(),
            row: bad,
        }];
        let running = RunningSandbox::start(seed);
        let site = Site::new();
        let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
        assert_eq!(code, 1, "{why}: {out}");
        let state = running.sandbox.snapshot();
        guarded_ones_kept(&state);
        let lines = site.assignments();
        let held_back = line(&lines, doubtful, "pol-vac-ft-001");
        assert_eq!(
            (&held_back["change"], &held_back["status"]),
            ("unknown", "conflict")
        );
        assert!(
            held_back["error"].contains(&format!(
                "what {doubtful} holds in Vacation could not be read: {why}"
            )),
            "{held_back:?}"
        );
        // Every other user of the type was still read and guarded by what it holds.
        let moved = line(&lines, HOURS, "pol-vac-ft-001");
        assert_eq!(
            (&moved["change"], &moved["status"]),
            ("move", "conflict"),
            "{why}"
        );
        assert_eq!(
            vacation(&state, user(1)),
            Some(("pol-vac-ft-001".into(), Some(15.0))),
            "{why}: the safe ones are made"
        );
        assert_eq!(
            vacation(&state, doubtful),
            None,
            "{why}: nothing sent on doubt"
        );
    }
}

#[test]
fn a_row_that_names_no_user_makes_its_batch_unknown_and_the_rest_goes_on() {
    let running = RunningSandbox::start(with_faults(Faults {
        extra_rows: vec![ExtraRow {
            list: "balances".into(),
            id: "pt-vacation-001".into(),
            row: json!({"userId": -5, "units": "days", "balance": 3, "policyId": "pol-vac-ft-001"}),
        }],
        ..Faults::default()
    }));
    let site = Site::new();
    let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
    assert_eq!(code, 1, "{out}");
    let state = running.sandbox.snapshot();
    guarded_ones_kept(&state);
    let lines = site.assignments();
    assert!(
        lines
            .iter()
            .filter(|l| &l["policy_id"] == "pol-vac-ft-001")
            .all(|l| &l["status"] == "conflict" && l["error"].contains("names no user")),
        "{lines:?}"
    );
    // Sick leave and pay rules were read apart, and are made.
    assert!(pay_rules(&state, user(1)).contains(&(12346, "2029-01-04".into())));
}

#[test]
fn pay_rule_datetimes_are_read_and_the_later_pay_rule_is_kept() {
    let running = RunningSandbox::start(with_faults(Faults {
        pay_rule_datetimes: true,
        ..Faults::default()
    }));
    let site = Site::new();
    let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
    assert_eq!(code, 1, "{out}");
    let state = running.sandbox.snapshot();
    guarded_ones_kept(&state);
    safe_ones_made(&state);
    let replace = line(&site.assignments(), LATER, "12346").clone();
    assert_eq!(
        (&replace["change"], &replace["status"]),
        ("replace", "conflict")
    );
    assert!(replace["holds"].contains("from 2030-01-01"), "{replace:?}");
}

#[test]
fn a_missing_pay_rule_list_stops_the_plan_unless_told_to_go_on_without_it() {
    for status in [404, 405] {
        let running = RunningSandbox::start(with_faults(Faults {
            pay_rule_list_status: Some(status),
            ..Faults::default()
        }));
        let site = Site::new();
        let (code, out) = run(&mut site.ct(&running, "run", &hires(&site)));
        assert_eq!(code, 69, "{out}");
        assert!(
            out.contains(&format!(
                "pay-rule assignments: GET /company-policies/v1/pay-rule-policies/12345/assignments?date=2026-11-23 answered HTTP {status}: the endpoint is missing"
            )),
            "{out}"
        );
        assert_eq!(running.sandbox.snapshot().writes(), 0);

        let (code, out) = run(site
            .ct(&running, "run", &hires(&site))
            .args(["--without-refresh", "pay_rule"]));
        assert_eq!(code, 1, "{out}");
        let state = running.sandbox.snapshot();
        guarded_ones_kept(&state);
        assert_eq!(
            vacation(&state, user(1)),
            Some(("pol-vac-ft-001".into(), Some(15.0))),
            "time off, read as usual, is made"
        );
        assert_eq!(
            pay_rules(&state, user(1)),
            vec![(12345, "2026-01-01".into())],
            "no pay rule is sent on doubt"
        );
        let summary = crate::util::read_summary(&site.latest());
        assert_eq!(summary["without_refresh"], json!(["pay_rule"]), "{summary}");
    }
}

#[test]
fn with_the_reads_missing_the_journal_decides_per_time_off_type_not_per_policy() {
    let mut seed = seed();
    seed.missing_reads = true;
    seed.holdings = SeedHoldings::default();
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let blind = [
        "--without-refresh",
        "time_off",
        "--without-refresh",
        "pay_rule",
        "--without-refresh",
        "onboarding_pack",
    ];
    let one = write(
        site.path(),
        "first.csv",
        &format!("User ID,Employee Type,Start Date\n{HOURS},full-time,2029-01-11\n"),
    );
    // Sent blind, on the user's say-so.
    let (code, out) = run(site
        .ct(&running, "run", &one)
        .args(blind)
        .arg("--allow-overwrite"));
    assert_eq!(code, 0, "{out}");
    // The same person in another sheet, as part-time, starting a week earlier.
    let two = write(
        site.path(),
        "second.csv",
        &format!("User ID,Employee Type,Start Date\n{HOURS},part-time,2029-01-04\n"),
    );
    let (code, out) = run(site.ct(&running, "run", &two).args(blind));
    assert_eq!(code, 1, "{out}");
    let state = running.sandbox.snapshot();
    assert_eq!(
        vacation(&state, HOURS),
        Some(("pol-vac-ft-001".into(), Some(15.0))),
        "the 15 days ct-onboard set are kept"
    );
    assert_eq!(
        pay_rules(&state, HOURS),
        vec![(12346, "2029-01-11".into())],
        "ct-onboard's own later pay rule is kept"
    );
    let lines = site.assignments();
    let vacation_line = line(&lines, HOURS, "pol-vac-pt-001");
    assert_eq!(&vacation_line["status"], "conflict");
    assert!(
        vacation_line["error"]
            .contains("the journal shows ct-onboard last assigned Vacation - Full-time"),
        "{vacation_line:?}"
    );
    assert_eq!(&line(&lines, HOURS, "12345")["status"], "conflict");
    assert_eq!(
        &line(&lines, HOURS, "pol-sick-001")["status"],
        "skipped",
        "the same sick leave, made by ct-onboard: nothing to send"
    );
}

#[test]
fn a_balance_answered_200_and_not_applied_is_unverified_then_guarded_not_skipped() {
    let mut seed = seed();
    seed.faults.ignore_balances = true;
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    // Hire 1 holds Vacation - Full-time at 0 days: setting 15 is safe, and sent.
    let one = write(
        site.path(),
        "one.csv",
        &format!(
            "User ID,Employee Type,Start Date\n{},full-time,2029-01-04\n",
            user(1)
        ),
    );
    let (code, out) = run(&mut site.ct(&running, "run", &one));
    assert_eq!(code, 1, "{out}");
    let set = line(&site.assignments(), user(1), "pol-vac-ft-001").clone();
    assert_eq!(&set["status"], "unverified", "{set:?}");
    assert!(
        set["error"].contains("the account holds Vacation - Full-time, 0 days"),
        "{set:?}"
    );
    assert_eq!(
        vacation(&running.sandbox.snapshot(), user(1)),
        Some(("pol-vac-ft-001".into(), Some(0.0)))
    );
    let history = crate::util::history_of(&site.state());
    assert!(history.contains("unverified"), "{history}");

    // Next run: still 0 days, what verify saw after the write. It was never applied: a
    // balance change like any other (from 0: safe), sent again, not skipped as done.
    running.sandbox.set_faults(Faults::default());
    let (code, out) = run(&mut site.ct(&running, "run", &one));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        vacation(&running.sandbox.snapshot(), user(1)),
        Some(("pol-vac-ft-001".into(), Some(15.0)))
    );
}

#[test]
fn read_after_write_lag_is_waited_out_and_a_write_seen_later_is_ct_onboards_own() {
    let lagging = |read_lag| {
        let mut seed = with_faults(Faults {
            read_lag,
            ..Faults::default()
        });
        seed.holdings = SeedHoldings::default();
        RunningSandbox::start(seed)
    };
    let one = |site: &Site| {
        write(
            site.path(),
            "one.csv",
            &format!(
                "User ID,Employee Type,Start Date\n{},full-time,2029-01-04\n",
                user(1)
            ),
        )
    };
    // Each write shows after two more reads: a later look sees it.
    let running = lagging(2);
    let site = Site::new();
    let (code, out) = run(site
        .ct(&running, "run", &one(&site))
        .args(["--verify-patience", "2s"]));
    assert_eq!(code, 0, "the lag is waited out: {out}");
    assert!(site.assignments().iter().all(|l| &l["status"] == "done"));

    // A lag longer than the patience: unverified; the next run finds them held as sent.
    let running = lagging(10_000);
    let site = Site::new();
    let sheet = one(&site);
    let (code, out) = run(&mut site.ct(&running, "run", &sheet));
    assert_eq!(code, 1, "{out}");
    assert!(
        site.assignments()
            .iter()
            .all(|l| &l["status"] == "unverified")
    );
    let writes = running.sandbox.snapshot().writes();
    assert_eq!(writes, 3 + 1, "three PUTs and the pack's POST");
    running.sandbox.settle();
    let (code, out) = run(&mut site.ct(&running, "run", &sheet));
    assert_eq!(
        code, 0,
        "ct-onboard's own writes, seen now, are not conflicts: {out}"
    );
    assert_eq!(
        running.sandbox.snapshot().writes(),
        writes,
        "nothing is sent again"
    );
    assert!(
        site.assignments()
            .iter()
            .all(|l| &l["status"] == "done" && &l["change"] == "unchanged"),
        "{:?}",
        site.assignments()
    );
    let users = site.latest_users();
    assert_eq!(&users[0]["outcome"], "succeeded");
    let states = user_history(&site, user(1));
    assert!(
        states.contains("done") && !states.contains("unverified"),
        "{states}"
    );
}

/// `history --user ID` for this site's journal.
fn user_history(site: &Site, user: u64) -> String {
    let out = crate::util::ct()
        .args(["history", "--user", &user.to_string(), "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    crate::util::assert_exit(&out, 0);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_interrupt_during_verify_leaves_the_unseen_writes_unverified_never_done() {
    let running = RunningSandbox::start(with_faults(Faults {
        read_lag: 10_000,
        ..Faults::default()
    }));
    let site = Site::new();
    let child = site
        .ct(&running, "run", &hires(&site))
        .args(["--verify-patience", "60s"])
        .spawn();
    crate::util::wait_until("every safe write is sent", || {
        running.sandbox.snapshot().writes() >= 34
    });
    // The first look finds nothing; the next is seconds away.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    crate::util::assert_exit(&out, 130);
    let lines = site.assignments();
    assert!(
        lines
            .iter()
            .filter(|l| &l["status"] != "conflict")
            .all(|l| &l["status"] == "unverified"),
        "{lines:?}"
    );
    let history = crate::util::ct()
        .args(["history", "--user", &user(1).to_string(), "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(
        history.contains("unverified") && !history.contains(" done "),
        "{history}"
    );
}

#[test]
fn verify_sees_our_pay_rule_with_a_later_switch_scheduled_as_held() {
    let mut seed = sample_seed(vec![]);
    seed.holdings.pay_rules = vec![
        SeedPayRule {
            user_id: user(1),
            policy_id: 12346,
            effective_date: date(2029, 1, 4),
        },
        SeedPayRule {
            user_id: user(1),
            policy_id: 12345,
            effective_date: date(2030, 1, 1),
        },
    ];
    seed.holdings.time_off = vec![
        SeedTimeOff {
            user_id: user(1),
            policy_id: "pol-vac-ft-001".into(),
            balance: Some(15.0),
        },
        SeedTimeOff {
            user_id: user(1),
            policy_id: "pol-sick-001".into(),
            balance: None,
        },
    ];
    seed.holdings.packs = vec![SeedPack {
        pack_id: 501,
        user_id: user(1),
        status: "in_progress".into(),
    }];
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let one = write(
        site.path(),
        "one.csv",
        &format!(
            "User ID,Employee Type,Start Date\n{},full-time,2029-01-04\n",
            user(1)
        ),
    );
    let (code, out) = run(&mut site.ct(&running, "verify", &one));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("holds all 4 assignments"), "{out}");
    let (code, out) = run(&mut site.ct(&running, "run", &one));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        running.sandbox.snapshot().writes(),
        0,
        "not a replace: nothing to send"
    );
    assert_eq!(
        pay_rules(&running.sandbox.snapshot(), user(1)).len(),
        2,
        "the scheduled switch is kept"
    );
}

#[test]
fn a_policy_assigned_in_the_app_during_a_long_run_is_read_before_writing_to_that_user() {
    let mut seed = seed();
    seed.holdings = SeedHoldings::default();
    // After the first hire's three writes, someone gives the second 12.5 hours.
    seed.faults.app_changes = vec![AppChange {
        after_writes: 3,
        holdings: SeedHoldings {
            packs: vec![],
            time_off: vec![SeedTimeOff {
                user_id: user(2),
                policy_id: "pol-vac-pt-001".into(),
                balance: Some(12.5),
            }],
            pay_rules: vec![],
        },
    }];
    let two = |site: &Site| {
        write(
            site.path(),
            "two.csv",
            &format!(
                "User ID,Employee Type,Start Date\n{},full-time,2029-01-04\n{},full-time,2029-01-04\n",
                user(1),
                user(2)
            ),
        )
    };
    let running = RunningSandbox::start(seed.clone());
    let site = Site::new();
    let sheet = two(&site);
    let (code, out) = run(site.ct(&running, "run", &sheet).args([
        "--concurrency",
        "1",
        "--refresh-max-age",
        "0s",
    ]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        vacation(&running.sandbox.snapshot(), user(2)),
        Some(("pol-vac-pt-001".into(), Some(12.5))),
        "read again before writing: the hours are kept"
    );
    let moved = line(&site.assignments(), user(2), "pol-vac-ft-001").clone();
    assert_eq!(
        (&moved["change"], &moved["status"]),
        ("move", "conflict"),
        "{moved:?}"
    );

    // Within the age allowed, the read at the start stands (and the change is missed:
    // which is what refresh_max_age bounds).
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let sheet = two(&site);
    let (code, out) = run(site
        .ct(&running, "run", &sheet)
        .args(["--concurrency", "1"]));
    assert_eq!(code, 0, "{out}");
}

/// A hostile account, on wiremock: the policy listings and the user lookup answer
/// honestly; `balances` and `pay_rules` answer each read as they are told (a type or
/// policy, the query's offset and users, and the date for pay rules).
mod liar {
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    pub type Balances = fn(&str, u64, &[u64]) -> Value;
    pub type PayRules = fn(u64, &str, u64, &[u64]) -> Value;

    fn query(request: &Request) -> Vec<(String, String)> {
        request.url.query_pairs().into_owned().collect()
    }

    fn users(q: &[(String, String)]) -> Vec<u64> {
        q.iter()
            .filter(|(k, _)| k == "userIds")
            .filter_map(|(_, v)| v.parse().ok())
            .collect()
    }

    fn number(q: &[(String, String)], key: &str) -> u64 {
        q.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    fn json(body: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(body)
    }

    pub async fn start(policy_types: Value, balances: Balances, pay_rules: PayRules) -> MockServer {
        let server = MockServer::start().await;
        crate::util::mount_me(&server).await;
        Mock::given(method("GET"))
            .and(path("/time-off/v1/policy-types"))
            .respond_with(json(json!({"data": {"policyTypes": policy_types}})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/company-policies/v1/pay-rule-policies"))
            .respond_with(json(json!({"data": {"payRulesPolicies": [
                {"id": 12345, "name": "Standard Hourly"}, {"id": 12346, "name": "Overtime Eligible"},
                {"id": 12347, "name": "Night Shift Premium"}]}})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/users/v1/users"))
            .respond_with(|r: &Request| {
                let q = query(r);
                let found: Vec<Value> = match number(&q, "offset") {
                    0 => users(&q)
                        .into_iter()
                        .map(|id| {
                            json!({"userId": id, "firstName": "A", "lastName": "B",
                                         "phoneNumber": "+15550100", "userType": "user"})
                        })
                        .collect(),
                    _ => vec![],
                };
                json(json!({"data": {"users": found}, "paging": {"offset": 0}}))
            })
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/time-off/v1/policy-types/[^/]+/balances$"))
            .respond_with(move |r: &Request| {
                let q = query(r);
                let ty = r.url.path_segments().unwrap().nth(3).unwrap().to_owned();
                json(balances(&ty, number(&q, "offset"), &users(&q)))
            })
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/company-policies/v1/pay-rule-policies/\d+/assignments$",
            ))
            .respond_with(move |r: &Request| {
                let q = query(r);
                let policy = r
                    .url
                    .path_segments()
                    .unwrap()
                    .nth(3)
                    .unwrap()
                    .parse()
                    .unwrap();
                let date = q
                    .iter()
                    .find(|(k, _)| k == "date")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                json(pay_rules(policy, &date, number(&q, "offset"), &users(&q)))
            })
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .respond_with(json(json!({"data": {"assignmentId": 1}})))
            .mount(&server)
            .await;
        // The sample manifest's onboarding packs, which nobody is on: told the truth.
        Mock::given(method("GET"))
            .and(path("/onboarding/v1/packs"))
            .respond_with(json(json!({"data": {"packs": [
                {"id": 501, "name": "New hire essentials", "isDefault": false},
                {"id": 502, "name": "Warehouse safety", "isDefault": false}]}})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/onboarding/v1/packs/\d+/assignments$"))
            .respond_with(json(json!({"data": {"assignments": []}})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/onboarding/v1/packs/\d+/assignments$"))
            .respond_with(json(json!({"data": {}})))
            .mount(&server)
            .await;
        server
    }

    /// The usual two types.
    pub fn policy_types() -> Value {
        json!([
            {"id": "pt-vacation-001", "name": "Vacation", "policies": [
                {"id": "pol-vac-ft-001", "name": "Vacation - Full-time", "unit": "days"},
                {"id": "pol-vac-pt-001", "name": "Vacation - Part-time", "unit": "hours"}]},
            {"id": "pt-sick-001", "name": "Sick Leave", "policies": [
                {"id": "pol-sick-001", "name": "Sick Leave", "unit": "days"}]}
        ])
    }

    /// Nobody holds anything.
    pub fn nothing(_: &str, _: u64, _: &[u64]) -> Value {
        json!({"data": {"balances": []}, "paging": {"offset": 0}})
    }

    pub fn no_pay_rules(_: u64, _: &str, _: u64, _: &[u64]) -> Value {
        json!({"data": {"assignments": []}, "paging": {"offset": 0}})
    }

    pub async fn puts(server: &MockServer) -> usize {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "PUT")
            .count()
    }
}

/// Plans or runs `sheet` against a liar: exit code, output, and the PUTs it received.
async fn against(server: &wiremock::MockServer, verb: &str, sheet: String) -> (i32, String, usize) {
    let uri = server.uri();
    let verb = verb.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let sheet = write(dir.path(), "hires.csv", &sheet);
        crate::util::ct()
            .arg(verb)
            .arg(&sheet)
            .args([
                "--base-url",
                &uri,
                "--no-progress",
                "--verify-patience",
                "200ms",
                "--rate-per-minute",
                "1000000",
            ])
            .arg("--report-dir")
            .arg(dir.path().join("reports"))
            .arg("--state")
            .arg(dir.path().join("state.db"))
            .env("CONNECTEAM_API_KEY", "k")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        text,
        liar::puts(server).await,
    )
}

fn sheet_of(users: &[u64]) -> String {
    let rows: String = users
        .iter()
        .map(|u| format!("{u},full-time,2029-01-04\n"))
        .collect();
    format!("User ID,Employee Type,Start Date\n{rows}")
}

#[tokio::test]
async fn a_paging_total_too_small_to_be_true_is_not_believed() {
    // One row a page, and a total that says the page is all there is.
    fn one_a_page(ty: &str, offset: u64, asked: &[u64]) -> Value {
        let held: Vec<Value> = asked
            .iter()
            .map(|u| json!({"userId": u, "units": "hours", "balance": 12.5, "policyId": "pol-vac-pt-001"}))
            .filter(|_| ty == "pt-vacation-001")
            .collect();
        let page: Vec<Value> = held.into_iter().skip(offset as usize).take(1).collect();
        let total = page.len();
        json!({"data": {"balances": page}, "paging": {"offset": offset, "total": total}})
    }
    let server = liar::start(liar::policy_types(), one_a_page, liar::no_pay_rules).await;
    let (code, out, puts) = against(&server, "run", sheet_of(&[user(1), user(2), user(3)])).await;
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains("answered more rows than the 1 it says match"),
        "{out}"
    );
    assert_eq!(puts, 0);
}

#[tokio::test]
async fn a_rule_in_effect_today_that_the_far_read_cannot_see_is_in_doubt() {
    // A server with a date horizon: nothing after 2100, so the far-ahead read is empty.
    fn horizon(policy: u64, date: &str, offset: u64, asked: &[u64]) -> Value {
        let rows: Vec<Value> = match (policy, date < "2100", offset) {
            (12345, true, 0) => asked
                .iter()
                .map(|u| json!({"userId": u, "payRulePolicyId": 12345, "effectiveDate": "2026-01-01"}))
                .collect(),
            _ => vec![],
        };
        json!({"data": {"assignments": rows}, "paging": {"offset": offset}})
    }
    let server = liar::start(liar::policy_types(), liar::nothing, horizon).await;
    let (code, out, _) = against(&server, "plan", sheet_of(&[user(1)])).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("in doubt:     1"), "{out}");
    let (code, out, puts) = against(&server, "run", sheet_of(&[user(1)])).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        puts, 2,
        "the two time-off assignments; no pay rule on doubt: {out}"
    );
}

#[tokio::test]
async fn a_balance_row_of_a_policy_outside_the_type_read_is_in_doubt() {
    // Sick-leave rows answered on the Vacation read: not evidence of holding nothing.
    fn wrong_type(_: &str, offset: u64, asked: &[u64]) -> Value {
        let rows: Vec<Value> = match offset {
            0 => asked
                .iter()
                .map(|u| json!({"userId": u, "units": "days", "balance": 0, "policyId": "pol-sick-001"}))
                .collect(),
            _ => vec![],
        };
        json!({"data": {"balances": rows}, "paging": {"offset": offset}})
    }
    let server = liar::start(liar::policy_types(), wrong_type, liar::no_pay_rules).await;
    let (code, out, puts) = against(&server, "run", sheet_of(&[user(1)])).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(puts, 1, "only the pay rule is sent: {out}");
}

#[tokio::test]
async fn a_policy_listed_in_two_types_is_not_believed() {
    let mut types = liar::policy_types();
    types[1]["policies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "pol-vac-ft-001", "name": "Vacation - Full-time", "unit": "days"}));
    let server = liar::start(types, liar::nothing, liar::no_pay_rules).await;
    let (code, out, puts) = against(&server, "run", sheet_of(&[user(1)])).await;
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains("lists time-off policy pol-vac-ft-001 in two types"),
        "{out}"
    );
    assert_eq!(puts, 0);
}
