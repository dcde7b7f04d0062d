//! Knowing the account: every change kind, the guard and `--allow-overwrite`, a lost
//! journal, writes answered 200 but not applied, `verify` finding drift, and an account
//! whose read endpoints are missing.

use std::path::PathBuf;

use ct_onboard::sandbox::{Faults, SeedHoldings, SeedPack, SeedPayRule, SeedTimeOff, Snapshot};
use jiff::civil::date;

use crate::util::{Record, RunningSandbox, Site, TestCommand, sample_seed, write};

const A: u64 = 9_170_357;
const B: u64 = 9_170_358;
const C: u64 = 9_170_359;
const D: u64 = 9_170_361;

fn time_off(user_id: u64, policy_id: &str, balance: f64) -> SeedTimeOff {
    SeedTimeOff {
        user_id,
        policy_id: policy_id.into(),
        balance: Some(balance),
    }
}

fn pay_rule(user_id: u64, policy_id: u64, effective_date: jiff::civil::Date) -> SeedPayRule {
    SeedPayRule {
        user_id,
        policy_id,
        effective_date,
    }
}

/// Four full-time hires (Vacation - Full-time 15 days, Sick Leave, Overtime Eligible from
/// the start date) and what the account already holds for them:
/// - A holds Vacation - Part-time with 12.5 hours: a guarded move;
/// - B holds exactly what the manifest says: unchanged, nothing sent;
/// - C holds Vacation - Full-time with 10 days (a guarded balance change) and Standard
///   Hourly since 2026: a switch;
/// - D holds Vacation - Part-time with 0 hours (a move that loses nothing) and Standard
///   Hourly from 2030, after D's start date: a guarded replace.
///
/// B has also finished the onboarding pack "New hire essentials" (unchanged); the others
/// are new to it.
fn account() -> (RunningSandbox, Site, PathBuf) {
    let mut seed = sample_seed(vec![]);
    seed.holdings = SeedHoldings {
        packs: vec![SeedPack {
            pack_id: 501,
            user_id: B,
            status: "completed".into(),
        }],
        time_off: vec![
            time_off(A, "pol-vac-pt-001", 12.5),
            time_off(B, "pol-vac-ft-001", 15.0),
            time_off(B, "pol-sick-001", 0.0),
            time_off(C, "pol-vac-ft-001", 10.0),
            time_off(D, "pol-vac-pt-001", 0.0),
        ],
        pay_rules: vec![
            pay_rule(B, 12346, date(2029, 1, 4)),
            pay_rule(C, 12345, date(2026, 1, 1)),
            pay_rule(D, 12345, date(2030, 1, 1)),
        ],
    };
    let running = RunningSandbox::start(seed);
    let dir = Site::new();
    let sheet = write(
        dir.path(),
        "hires.csv",
        &format!(
            "User ID,Employee Type,Start Date\n{A},full-time,2029-01-04\n{B},full-time,2029-01-04\n\
             {C},full-time,2029-01-11\n{D},full-time,2029-01-11\n"
        ),
    );
    (running, dir, sheet)
}

fn run(cmd: &mut TestCommand) -> (i32, String, String) {
    let ran = cmd.run();
    (ran.code, ran.stdout, ran.stderr)
}

fn line<'a>(lines: &'a [Record], user: u64, policy: &str) -> &'a Record {
    lines
        .iter()
        .find(|l| l["user_id"] == *user.to_string() && &l["policy_id"] == policy)
        .unwrap_or_else(|| panic!("no line for {user} {policy}"))
}

fn puts(state: &Snapshot) -> u64 {
    state.writes()
}

#[test]
fn the_plan_gives_every_assignment_its_change_and_holds_back_what_would_be_lost() {
    let (running, dir, sheet) = account();
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "plan", &sheet));
    assert_eq!(code, 1, "guarded changes need a decision: {stdout}{stderr}");
    assert!(
        stdout.contains(
            "changes:      7 new, 4 unchanged, 1 set_balance, 2 move, 1 switch, 1 replace"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("guarded:      3 would lose"), "{stdout}");
    let lines = dir.assignments();
    let expect = |user, policy, change: &str, status: &str| {
        let l = line(&lines, user, policy);
        assert_eq!((&l["change"], &l["status"]), (change, status), "{l:?}");
        l.clone()
    };
    let a = expect(A, "pol-vac-ft-001", "move", "conflict");
    assert_eq!(&a["holds"], "Vacation - Part-time, 12.5 hours");
    assert!(
        a["error"].contains("would lose 12.5 hours of Vacation - Part-time"),
        "{a:?}"
    );
    expect(A, "pol-sick-001", "new", "planned");
    expect(A, "12346", "new", "planned");
    for policy in ["pol-vac-ft-001", "pol-sick-001", "12346", "501"] {
        expect(B, policy, "unchanged", "skipped");
    }
    for user in [A, C, D] {
        expect(user, "501", "new", "planned");
    }
    assert_eq!(&line(&lines, B, "501")["holds"], "on the pack (completed)");
    let c = expect(C, "pol-vac-ft-001", "set_balance", "conflict");
    assert!(
        c["error"].contains("10 days of Vacation - Full-time (set to 15 days)"),
        "{c:?}"
    );
    let switch = expect(C, "12346", "switch", "planned");
    assert_eq!(&switch["holds"], "Standard Hourly since 2026-01-01");
    expect(D, "pol-vac-ft-001", "move", "planned");
    let d = expect(D, "12346", "replace", "conflict");
    assert!(
        d["error"].contains("would remove Standard Hourly from 2030-01-01"),
        "{d:?}"
    );
    assert_eq!(puts(&running.sandbox.snapshot()), 0, "a plan sends nothing");
}

#[test]
fn a_run_sends_only_what_is_safe_until_overwriting_is_allowed() {
    let (running, dir, sheet) = account();
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "run", &sheet));
    assert_eq!(code, 1, "{stdout}{stderr}");
    // A's sick leave and pay rule, C's sick leave and switch, D's move and sick leave;
    // and one POST putting A, C and D on the pack B has finished.
    let state = running.sandbox.snapshot();
    assert_eq!(puts(&state), 6 + 1, "{:?}", state.requests);
    let mut on_pack: Vec<(u64, &str)> = state
        .pack_assignments
        .iter()
        .map(|h| (h.user_id, h.status.as_str()))
        .collect();
    on_pack.sort_unstable();
    assert_eq!(
        on_pack,
        [
            (A, "in_progress"),
            (B, "completed"),
            (C, "in_progress"),
            (D, "in_progress")
        ]
    );
    let held = |user: u64, type_id: &str| {
        state
            .time_off_assignments
            .iter()
            .find(|h| h.user_id == user && h.policy_type_id == type_id)
            .map(|h| (h.policy_id.clone(), h.balance))
    };
    assert_eq!(
        held(A, "pt-vacation-001"),
        Some(("pol-vac-pt-001".into(), Some(12.5))),
        "A's hours are kept"
    );
    assert_eq!(
        held(D, "pt-vacation-001"),
        Some(("pol-vac-ft-001".into(), Some(15.0)))
    );
    assert!(
        state
            .pay_rule_assignments
            .iter()
            .any(|h| h.user_id == D && h.effective_date == "2030-01-01"),
        "D's later pay rule is kept"
    );
    let users = dir.latest_users();
    let outcome = |user: u64| {
        users
            .iter()
            .find(|u| u["user_id"] == *user.to_string())
            .map(|u| u["outcome"].to_owned())
    };
    assert_eq!(outcome(B).as_deref(), Some("skipped"));
    assert_eq!(outcome(A).as_deref(), Some("conflict"));

    let (code, stdout, stderr) = run(dir.ct(&running, "run", &sheet).arg("--allow-overwrite"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let state = running.sandbox.snapshot();
    assert_eq!(puts(&state), 10, "exactly the three guarded ones more");
    let a = state
        .time_off_assignments
        .iter()
        .find(|h| h.user_id == A && h.policy_type_id == "pt-vacation-001")
        .unwrap();
    assert_eq!(
        (a.policy_id.as_str(), a.balance),
        ("pol-vac-ft-001", Some(15.0))
    );
}

#[test]
fn with_the_journal_lost_a_sheet_the_account_matches_sends_nothing() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = Site::new();
    let samples = crate::util::root().join("samples/new-hires.csv");
    let (code, _, stderr) = run(&mut dir.ct(&running, "run", &samples));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(puts(&running.sandbox.snapshot()), 88);
    // A new machine: no state file.
    std::fs::remove_file(dir.state()).unwrap();
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "run", &samples));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        puts(&running.sandbox.snapshot()),
        88,
        "zero writes the second time"
    );
    assert!(
        stdout.contains("0 assignments done, 124 already done"),
        "{stdout}"
    );
}

#[test]
fn a_write_answered_200_but_not_applied_is_unverified_and_sent_again() {
    let mut seed = sample_seed(vec![]);
    seed.faults = Faults {
        silent_drop_rate: 1.0,
        ..Faults::default()
    };
    let running = RunningSandbox::start(seed);
    let dir = Site::new();
    let sheet = write(
        dir.path(),
        "two.csv",
        &format!(
            "User ID,Employee Type,Start Date\n{A},full-time,2029-01-04\n{B},part-time,2029-01-04\n"
        ),
    );
    let (code, stdout, stderr) = run(dir
        .ct(&running, "run", &sheet)
        .args(["--verify-patience", "200ms"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines = dir.assignments();
    assert_eq!(
        lines.len(),
        9,
        "six assignment PUTs and three people on packs"
    );
    assert!(
        lines.iter().all(|l| &l["status"] == "unverified"
            && l["error"].contains("Connecteam answered 200 but it is not seen held as sent")),
        "{lines:?}"
    );
    assert_eq!(puts(&running.sandbox.snapshot()), 6 + 2);

    running.sandbox.set_faults(Faults::default());
    // At once: the PUTs are read again, found not held, and sent again (a PUT sent twice
    // is the same PUT); the packs, which cannot be taken back, wait for the account.
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "run", &sheet));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(puts(&running.sandbox.snapshot()), 8 + 6);
    let packs: Vec<_> = dir
        .assignments()
        .into_iter()
        .filter(|l| &l["kind"] == "onboarding_pack")
        .collect();
    // Connecteam claimed a success: however long since, "not on the pack" may be its
    // lag, or someone took them off. Not sent again by a run on its own.
    let held_back = |packs: Vec<Record>| {
        assert!(
            packs.iter().all(|l| &l["status"] == "conflict"
                && l["error"].contains("with a success")
                && l["error"].contains("--allow-overwrite")),
            "{packs:?}"
        );
    };
    held_back(packs);
    let (code, stdout, stderr) = run(dir
        .ct(&running, "run", &sheet)
        .env("CT_ONBOARD_NOW", crate::util::hours_later(2)));
    assert_eq!(code, 1, "{stdout}{stderr}");
    held_back(
        dir.assignments()
            .into_iter()
            .filter(|l| &l["kind"] == "onboarding_pack")
            .collect(),
    );
    assert_eq!(puts(&running.sandbox.snapshot()), 8 + 6);
    // Checked in Connecteam (nobody is on it): sent, once each.
    let (code, stdout, stderr) = run(dir.ct(&running, "run", &sheet).arg("--allow-overwrite"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let state = running.sandbox.snapshot();
    assert_eq!(
        puts(&state),
        16,
        "each read again, found not held, and sent again once"
    );
    assert_eq!(
        state.time_off_assignments.len() + state.pay_rule_assignments.len(),
        6
    );
    assert_eq!(state.pack_assignments.len(), 3);
    assert!(state.pack_assignments.iter().all(|h| h.times_set == 1));
}

#[test]
fn verify_finds_a_change_made_elsewhere() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = Site::new();
    let samples = crate::util::root().join("samples/new-hires.csv");
    let (code, _, stderr) = run(&mut dir.ct(&running, "run", &samples));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "verify", &samples));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("holds all 124 assignments"), "{stdout}");

    // Someone moves Ana to the part-time vacation policy in the Connecteam app.
    running.sandbox.hold(&SeedHoldings {
        packs: vec![],
        time_off: vec![time_off(A, "pol-vac-pt-001", 5.0)],
        pay_rules: vec![],
    });
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "verify", &samples));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("row 2 (user 9170357): time_off pol-vac-ft-001 \"Vacation - Full-time\" is not held; the account holds Vacation - Part-time, 5 hours"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 of 124 assignments are not held"),
        "{stdout}"
    );
    let writes = puts(&running.sandbox.snapshot());
    assert_eq!(writes, 88, "verify writes nothing");
}

#[test]
fn missing_read_endpoints_stop_the_plan_unless_told_to_go_on_without_them() {
    let mut seed = sample_seed(vec![]);
    seed.missing_reads = true;
    let running = RunningSandbox::start(seed);
    let dir = Site::new();
    let samples = crate::util::root().join("samples/new-hires.csv");
    let (code, stdout, stderr) = run(&mut dir.ct(&running, "plan", &samples));
    assert_eq!(code, 69, "{stdout}{stderr}");
    assert!(
        stderr.contains("time-off type \"Vacation\": GET /time-off/v1/policy-types/pt-vacation-001/balances answered HTTP 404: the endpoint is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pay-rule assignments: GET /company-policies/v1/pay-rule-policies/"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "--without-refresh onboarding_pack --without-refresh pay_rule --without-refresh time_off"
        ),
        "{stderr}"
    );
    // The old flag is accepted: refreshing is required anyway.
    let (code, _, stderr) = run(dir.ct(&running, "plan", &samples).arg("--require-refresh"));
    assert_eq!(code, 69, "{stderr}");

    // Told to go on: every assignment is unknown, and none of them is ct-onboard's own.
    let (code, stdout, stderr) = run(dir.ct(&running, "run", &samples).args([
        "--without-refresh",
        "time_off",
        "--without-refresh",
        "pay_rule",
        "--without-refresh",
        "onboarding_pack",
    ]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("--without-refresh time_off: what users hold of it is not read"),
        "{stderr}"
    );
    assert_eq!(
        puts(&running.sandbox.snapshot()),
        0,
        "nothing in doubt is sent"
    );
    let lines = dir.assignments();
    assert!(
        lines
            .iter()
            .all(|l| &l["status"] == "conflict" && &l["change"] == "unknown"),
        "{lines:?}"
    );
    assert!(
        lines[0]["error"].contains("could not be read: not read (--without-refresh time_off)"),
        "{:?}",
        lines[0]
    );
    let pack = lines
        .iter()
        .find(|l| &l["kind"] == "onboarding_pack")
        .unwrap();
    assert!(
        pack["error"].contains("not read (--without-refresh onboarding_pack)"),
        "{pack:?}"
    );
}
