//! Onboarding packs: assigned 500 users a request per pack, those already on a pack left
//! as they are, a refused request narrowed to the users at fault, an unclear answer read
//! back before anything is sent again, and a pack read in doubt sending nothing.

use std::path::PathBuf;

use ct_onboard::sandbox::{ExtraRow, Seed, SeedPack, SeedUser};
use serde_json::json;

use crate::util::{Record, RunningSandbox, Site, sample_seed, write};

const ASSIGN: &str = "POST /onboarding/v1/packs/{id}/assignments";

/// Both sample packs, nothing else.
const BOTH: &str = "employee_types:
  hire:
    onboarding_packs:
      - pack_name: New hire essentials
      - pack_id: 502
";

/// "New hire essentials" only.
const ONE: &str = "employee_types:
  hire:
    onboarding_packs:
      - pack_name: New hire essentials
";

fn hire(i: u64) -> u64 {
    60_000_000 + i
}

/// The sample account with `n` more people, hires `hire(0..n)`.
fn seed_with(n: u64) -> Seed {
    sample_seed(
        (0..n)
            .map(|i| SeedUser {
                id: hire(i),
                email: None,
                first_name: "New".into(),
                last_name: format!("Hire {i}"),
                archived: false,
                phone: None,
            })
            .collect(),
    )
}

/// A sheet of hires `hire(0..n)` and the manifest `manifest`, in `site`.
fn sheet(site: &Site, n: u64, manifest: &str) -> (PathBuf, PathBuf) {
    let rows: String = (0..n).map(|i| format!("{},hire\n", hire(i))).collect();
    (
        write(
            site.path(),
            "hires.csv",
            &format!("User ID,Employee Type\n{rows}"),
        ),
        write(site.path(), "packs.yaml", manifest),
    )
}

fn pack_lines(lines: &[Record], pack: &str) -> Vec<Record> {
    lines
        .iter()
        .filter(|l| &l["kind"] == "onboarding_pack" && &l["policy_id"] == pack)
        .cloned()
        .collect()
}

#[test]
fn six_hundred_hires_go_onto_two_packs_in_two_requests_each_skipping_those_already_on() {
    let mut seed = seed_with(600);
    // Fifty finished "New hire essentials" earlier (hired before, say): left alone.
    seed.holdings.packs = (0..50)
        .map(|i| SeedPack {
            pack_id: 501,
            user_id: hire(i),
            status: "completed".into(),
        })
        .collect();
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 600, BOTH);

    let planned = site
        .ct(&running, "plan", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(0);
    planned
        .says("assignments:  1150 (1150 onboarding pack)")
        .says("settled:      50 already held")
        .says("changes:      1150 new, 50 unchanged")
        .says("requests:     24 (4 to assign packs (up to 500 users a request) + 4 account");
    assert_eq!(
        running.sandbox.snapshot().writes(),
        0,
        "a plan sends nothing"
    );

    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(0)
        .says("600 succeeded; 1150 assignments done, 50 already done");
    let state = running.sandbox.snapshot();
    assert_eq!(
        state.count(ASSIGN),
        4,
        "550 and 600 people: two requests a pack"
    );
    assert_eq!(state.writes(), 4, "nothing else is written");
    let on = |pack: u64| {
        state
            .pack_assignments
            .iter()
            .filter(|h| h.pack_id == pack)
            .count()
    };
    assert_eq!((on(501), on(502)), (600, 600));
    // Put on by one request each; the fifty were there before (by no request of ours).
    assert!(
        state
            .pack_assignments
            .iter()
            .all(|h| h.times_set == u32::from(h.status != "completed"))
    );
    assert_eq!(
        state
            .pack_assignments
            .iter()
            .filter(|h| h.status == "completed")
            .count(),
        50,
        "those who had finished it still have"
    );
    let lines = site.assignments();
    let essentials = pack_lines(&lines, "501");
    assert_eq!(essentials.len(), 600);
    let skipped: Vec<_> = essentials
        .iter()
        .filter(|l| &l["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 50);
    assert!(
        skipped
            .iter()
            .all(|l| &l["change"] == "unchanged" && &l["holds"] == "on the pack (completed)"),
        "{:?}",
        skipped[0]
    );
    assert!(
        pack_lines(&lines, "502")
            .iter()
            .all(|l| &l["status"] == "done" && &l["policy_name"] == "Warehouse safety")
    );

    // Again: everyone is on both, so nothing is sent.
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(0)
        .says("0 assignments done, 1200 already done");
    assert_eq!(running.sandbox.snapshot().count(ASSIGN), 4);
}

#[test]
fn a_refused_request_is_narrowed_to_the_one_person_at_fault() {
    let mut seed = seed_with(40);
    let bad = hire(17);
    seed.faults.refuse_pack_users = vec![bad];
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 40, ONE);
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(1)
        .says("39 assignments done, 0 already done, 0 in conflict, 1 failed");
    let state = running.sandbox.snapshot();
    // Halving 40 down to the one: about 2·log₂ 40 requests, not one a person.
    let requests = state.count(ASSIGN);
    assert!(
        (2..=1 + 2 * 6).contains(&requests),
        "{requests} requests to find one person in 40"
    );
    assert_eq!(state.pack_assignments.len(), 39);
    assert!(state.pack_assignments.iter().all(|h| h.user_id != bad));
    let lines = site.assignments();
    let failed: Vec<_> = lines.iter().filter(|l| &l["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["user_id"], *bad.to_string());
    assert_eq!(&failed[0]["http_status"], "400");
    assert!(
        failed[0]["error"].contains(&format!("User {bad} cannot be assigned onboarding packs")),
        "the API's message: {:?}",
        failed[0]
    );
    let to_run_again = std::fs::read_to_string(site.latest().join("failed.csv")).unwrap();
    assert_eq!(to_run_again.lines().count(), 2, "{to_run_again}");
    assert!(to_run_again.contains(&bad.to_string()));

    // Once the account allows it, the next run sends the one person, once.
    running.sandbox.set_faults(Default::default());
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(0)
        .says("1 assignments done, 39 already done");
    assert_eq!(running.sandbox.snapshot().count(ASSIGN), requests + 1);
}

#[test]
fn a_refusal_of_everyone_costs_a_bounded_number_of_requests_not_one_a_person() {
    let mut seed = seed_with(40);
    seed.faults.refuse_pack_users = (0..40).map(hire).collect();
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 40, ONE);
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(1)
        .says("0 assignments done, 0 already done, 0 in conflict, 40 failed");
    // Narrowing is sized for three people at fault (1 + 2·⌈log₂ 40⌉·3 = 37 refusals),
    // plus the halves already waiting when it stops: not the 79 of halving to the end.
    let requests = running.sandbox.snapshot().count(ASSIGN);
    assert!((37..=37 + 6).contains(&requests), "{requests} requests");
    let lines = site.assignments();
    assert!(lines.iter().all(|l| &l["status"] == "failed"));
    assert!(
        lines
            .iter()
            .any(|l| l["error"].contains("the refusal is taken as the whole batch's")),
        "{:?}",
        lines[0]
    );
}

#[test]
fn a_request_applied_then_dropped_is_read_back_and_not_sent_again() {
    let mut seed = seed_with(10);
    seed.faults.pack_drops_after_applying = 1;
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 10, ONE);
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(0)
        .says("10 succeeded");
    let state = running.sandbox.snapshot();
    assert_eq!(state.count(ASSIGN), 1, "read back, not sent again");
    assert_eq!(state.pack_assignments.len(), 10);
    assert!(state.pack_assignments.iter().all(|h| h.times_set == 1));
    // Before sending, after the unclear answer, and to verify.
    assert_eq!(state.count("GET /onboarding/v1/packs/{id}/assignments"), 3);
    assert!(site.assignments().iter().all(|l| &l["status"] == "done"));
}

#[test]
fn a_request_that_got_no_answer_is_not_sent_again_until_the_pack_has_had_time_to_show_it() {
    let mut seed = seed_with(10);
    seed.faults.pack_drops_before_applying = 1;
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 10, ONE);
    let run_at = |extra: &[&str], now: Option<String>| {
        let mut cmd = site.ct(&running, "run", &hires);
        cmd.arg("--manifest").arg(&manifest).args(extra);
        if let Some(now) = now {
            cmd.env("CT_ONBOARD_NOW", now);
        }
        cmd.run()
    };
    let run = |extra: &[&str]| run_at(extra, None);
    // No answer, and not on the pack when read back: it may yet show, so not sent again.
    let first = run(&["--log-format", "json"]);
    first.expect(1);
    assert_eq!(running.sandbox.snapshot().count(ASSIGN), 1);
    // A machine reading the log sees the read-back and each user left in doubt.
    let events: Vec<serde_json::Value> = first
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let named = |name: &str| {
        events
            .iter()
            .filter(|e| e["fields"]["event"] == name)
            .map(|e| &e["fields"])
            .collect::<Vec<_>>()
    };
    let read_back = named("onboarding_pack_read_back");
    assert_eq!(read_back.len(), 1, "{}", first.stderr);
    assert_eq!(
        (&read_back[0]["users"], &read_back[0]["on_pack"]),
        (&json!(10), &json!(0))
    );
    let unsettled = named("assignment");
    assert!(
        unsettled.len() == 10 && unsettled.iter().all(|e| e["status"] == "unverified"),
        "{}",
        first.stderr
    );
    let lines = site.assignments();
    assert!(
        lines.iter().all(|l| &l["status"] == "unverified"
            && l["error"].contains("not on the pack when read back")
            && l["error"].contains("the next run reads the pack first")),
        "{:?}",
        lines[0]
    );
    let failed = std::fs::read_to_string(site.latest().join("failed.csv")).unwrap();
    assert_eq!(failed.lines().count(), 11, "all ten, to run again");

    // Told not to read the pack, and to overwrite: still not sent, since ours may be
    // there already and a pack cannot be taken back.
    run(&["--without-refresh", "onboarding_pack", "--allow-overwrite"]).expect(1);
    assert_eq!(running.sandbox.snapshot().count(ASSIGN), 1);
    assert!(
        site.assignments().iter().all(|l| &l["status"] == "conflict"
            && l["error"]
                .contains("without seeing it land: not sent again until the pack can be read")),
        "{:?}",
        site.assignments()[0]
    );

    // Read again at once, "not on the pack" may be the account's lag: not sent.
    run(&[]).expect(1);
    assert_eq!(running.sandbox.snapshot().count(ASSIGN), 1);
    assert!(
        site.assignments().iter().all(|l| &l["status"] == "conflict"
            && l["error"]
                .contains("without seeing it land, and the pack does not show the user yet")),
        "{:?}",
        site.assignments()[0]
    );
    // An hour on, it is believed: nobody is on the pack, so they are put on, once.
    run_at(&[], Some(crate::util::hours_later(2)))
        .expect(0)
        .says("10 assignments done");
    let state = running.sandbox.snapshot();
    assert_eq!(state.count(ASSIGN), 2);
    assert_eq!(state.pack_assignments.len(), 10);
    assert!(state.pack_assignments.iter().all(|h| h.times_set == 1));
}

#[test]
fn a_pack_read_in_doubt_sends_nothing_to_that_pack() {
    let mut seed = seed_with(5);
    // The first hire is on it, clearly.
    seed.holdings.packs = vec![SeedPack {
        pack_id: 501,
        user_id: hire(0),
        status: "in_progress".into(),
    }];
    // A row that names nobody: whoever it is about, "not on the pack" is not known.
    seed.faults.extra_rows = vec![ExtraRow {
        list: "pack_assignments".into(),
        id: "501".into(),
        row: json!({"id": 77, "userId": "someone", "status": "in_progress", "isWaitingApproval": false}),
    }];
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let (hires, manifest) = sheet(&site, 5, BOTH);
    let ran = site
        .ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(1);
    ran.says("5 assignments done");
    let state = running.sandbox.snapshot();
    assert_eq!(
        state.count(ASSIGN),
        1,
        "only Warehouse safety, read cleanly"
    );
    assert!(
        state
            .pack_assignments
            .iter()
            .all(|h| h.pack_id == 502 || h.times_set == 0),
        "nobody sent to 501"
    );
    let lines = site.assignments();
    let essentials = pack_lines(&lines, "501");
    assert_eq!(
        (&essentials[0]["status"], &essentials[0]["change"]),
        ("skipped", "unchanged"),
        "seen on it: a row naming no one does not undo that"
    );
    let doubtful = &essentials[1..];
    assert!(
        doubtful
            .iter()
            .all(|l| &l["status"] == "conflict" && &l["change"] == "unknown"),
        "{doubtful:?}"
    );
    assert!(
        doubtful[0]["error"].contains("a row of the answer names no user"),
        "{:?}",
        doubtful[0]
    );
    // Told to go ahead: the four in doubt are sent; the one on it is not sent again.
    site.ct(&running, "run", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--allow-overwrite")
        .expect(0);
    let state = running.sandbox.snapshot();
    let on: Vec<(u64, u32)> = state
        .pack_assignments
        .iter()
        .filter(|h| h.pack_id == 501)
        .map(|h| (h.user_id, h.times_set))
        .collect();
    assert_eq!(on.len(), 5);
    assert!(on.contains(&(hire(0), 0)), "{on:?}");
}

#[test]
fn an_unknown_pack_name_is_refused_with_its_manifest_line() {
    let running = RunningSandbox::start(seed_with(1));
    let site = Site::new();
    let (hires, manifest) = sheet(
        &site,
        1,
        "employee_types:\n  hire:\n    onboarding_packs:\n      - pack_name: Welcome aboard\n",
    );
    site.ct(&running, "plan", &hires)
        .arg("--manifest")
        .arg(&manifest)
        .expect(2)
        .says("line 4, column 9: no onboarding pack is named \"Welcome aboard\" (`ct-onboard policies` lists them)");
    assert_eq!(running.sandbox.snapshot().writes(), 0);
}
