//! The edges that still cut: which account and which day, saved plans' bodies, state
//! paths, IDs and dates past what can be read, full disks, user info in URLs, the
//! review page with hostile values.

use std::path::Path;

use crate::util::{Ran, RunningSandbox, Site, TestCommand, assert_exit, sample_seed};

#[test]
fn the_one_run_lock_holds_through_a_symlink_whose_journal_is_not_made_yet() {
    let site = Site::new();
    let state = site.path().join("state/ct-onboard.db");
    let alias = site.path().join("alias.db");
    std::os::unix::fs::symlink(&state, &alias).unwrap();
    // Another run holds the lock of the journal it is about to create.
    let _held = ct_onboard::journal::StateLock::acquire(&state).unwrap();
    let running = RunningSandbox::start(sample_seed(vec![]));
    let out = running
        .ct()
        .args(["run", "samples/new-hires.csv", "--no-progress", "--state"])
        .arg(&alias)
        .arg("--report-dir")
        .arg(site.reports())
        .output()
        .unwrap();
    assert_exit(&out, 75);
    assert_eq!(running.sandbox.snapshot().requests.values().sum::<u64>(), 0);
}

#[test]
fn a_state_path_is_a_file_never_an_sqlite_uri() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![]));
    let samples = crate::util::root().join("samples/new-hires.csv");
    let run = || {
        let mut cmd = TestCommand::new(running.ct_process());
        cmd.current_dir(site.path())
            .args(["run", "--no-progress", "--state", "file:j.db?mode=memory"])
            .arg(&samples)
            .arg("--manifest")
            .arg(crate::util::root().join("config/manifest.yaml"))
            .arg("--report-dir")
            .arg(site.reports());
        cmd.expect(0)
    };
    run();
    assert_eq!(running.sandbox.snapshot().writes(), 88);
    assert!(
        site.path().join("file:j.db?mode=memory").is_file(),
        "the journal is that file"
    );
    run().says("0 assignments done, 124 already done");
    assert_eq!(
        running.sandbox.snapshot().writes(),
        88,
        "remembered: nothing sent again"
    );
}

/// 20:00 UTC on 2 December: 09:00 that day in Pago Pago (UTC−11), 10:00 the next day on
/// Kiritimati (UTC+14).
const NOW: &str = "2026-12-02T20:00:00Z";

/// `check` of one full-time hire starting (and paid by the rule from) 2 December, on a
/// machine in Pago Pago, "now" fixed at [`NOW`].
fn check_in_pago_pago(site: &Site, extra: &[&str]) -> TestCommand {
    let sheet = site.file(
        "hires.csv",
        "User ID,Email,Employee Type,Start Date,Name\n9170357,,full-time,2026-12-02,Ana\n",
    );
    let mut cmd = TestCommand::ct();
    cmd.env_remove("CT_ONBOARD_TODAY")
        .env("CT_ONBOARD_NOW", NOW)
        .env("TZ", "Pacific/Pago_Pago")
        .args(["check", "--manifest"])
        .arg(crate::util::fixture("manifest.yaml"))
        .arg(&sheet)
        .args(extra);
    cmd
}

#[test]
fn today_is_the_machine_zones_date_unless_the_timezone_setting_names_another() {
    let site = Site::new();
    // The machine's day: 2 December, so a rule from 2 December is not retroactive.
    check_in_pago_pago(&site, &[]).expect(0);
    // The account keeps Kiritimati's time: there it is already 3 December.
    check_in_pago_pago(&site, &["--timezone", "Pacific/Kiritimati"])
        .expect(2)
        .says("effective date 2026-12-02 is before today (2026-12-03)");
    // The same from the settings file.
    let settings = site.file("settings.toml", "timezone = \"Pacific/Kiritimati\"\n");
    check_in_pago_pago(&site, &[])
        .env("CT_ONBOARD_CONFIG", &settings)
        .expect(2)
        .says("is before today (2026-12-03)");
    check_in_pago_pago(&site, &["--timezone", "Mars/Olympus_Mons"])
        .expect(2)
        .says("\"Mars/Olympus_Mons\" is not a time zone");
}

#[test]
fn the_plan_names_the_day_and_the_zone_it_used() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![]));
    site.ct(
        &running,
        "plan",
        &crate::util::root().join("samples/new-hires.csv"),
    )
    .env_remove("CT_ONBOARD_TODAY")
    .env("CT_ONBOARD_NOW", NOW)
    .env("TZ", "Pacific/Pago_Pago")
    .args(["--timezone", "Pacific/Kiritimati"])
    .expect(0)
    .says("today:        2026-12-03 in Pacific/Kiritimati");
    site.ct(
        &running,
        "plan",
        &crate::util::root().join("samples/new-hires.csv"),
    )
    .env_remove("CT_ONBOARD_TODAY")
    .env("CT_ONBOARD_NOW", NOW)
    .env("TZ", "Pacific/Pago_Pago")
    .expect(0)
    .says("today:        2026-12-02 in Pacific/Pago_Pago (the machine's zone)");
}

#[test]
fn a_base_url_with_user_info_is_refused_and_never_echoed() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![]));
    let url = running
        .sandbox
        .url()
        .replace("http://", "http://admin:hunter2@");
    for verb in ["plan", "run"] {
        let ran = site
            .ct(
                &running,
                verb,
                &crate::util::root().join("samples/new-hires.csv"),
            )
            .env("CONNECTEAM_BASE_URL", &url)
            .expect(2);
        ran.says("has a user name or password in it: refused, and not printed");
        assert!(!ran.text().contains("hunter2"), "{}", ran.text());
    }
    assert_eq!(running.sandbox.snapshot().requests.values().sum::<u64>(), 0);
    assert!(site.runs().is_empty(), "nothing written either");
}

#[test]
fn ids_beyond_i64_and_dates_past_the_far_ahead_read_are_refused_with_their_row() {
    let site = Site::new();
    let sheet = site.file(
        "hires.csv",
        "User ID,Email,Employee Type,Start Date,Name\n\
         9223372036854775808,,full-time,2027-01-04,Ana\n\
         9170358,,full-time,9999-12-31,Bo\n",
    );
    let ran = TestCommand::ct()
        .args(["check", "--manifest"])
        .arg(crate::util::fixture("manifest.yaml"))
        .arg(&sheet)
        .expect(2);
    ran.says("row 2, column \"User ID\" (A)")
        .says("9223372036854775808")
        .says("row 3, column \"Start Date\" (D)")
        .says("9999-12-31");
}

#[test]
fn a_sheet_on_a_pipe_is_read_once_whole() {
    use std::io::Write;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ct-onboard"))
        .current_dir(crate::util::root())
        .env("CT_ONBOARD_TODAY", crate::util::TODAY)
        .args(["check", "--manifest"])
        .arg(crate::util::fixture("manifest.yaml"))
        .arg("/dev/stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"User ID,Email,Employee Type,Start Date,Name\n9170357,,full-time,2027-01-04,Ana\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // Sniffing for a workbook must not eat the header: the row is read as written.
    assert_exit(&out, 0);
}

/// A plan of the samples saved with `plan --out`, in `site`, against `running`.
fn saved_plan(site: &Site, running: &RunningSandbox) -> (std::path::PathBuf, serde_json::Value) {
    let sheet = site.path().join("hires.csv");
    std::fs::copy(crate::util::root().join("samples/new-hires.csv"), &sheet).unwrap();
    let plan = site.path().join("plan.json");
    site.ct(running, "plan", &sheet)
        .arg("--out")
        .arg(&plan)
        .expect(0)
        .says("Plan for Northwind Foods (sandbox) (company 4f9a2c): policies and users checked against http://127.0.0.1:");
    let json = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    (sheet, json)
}

/// `run --plan` of `plan` (written to the plan's file first).
fn apply(site: &Site, running: &RunningSandbox, sheet: &Path, plan: &serde_json::Value) -> Ran {
    let file = site.path().join("plan.json");
    std::fs::write(&file, serde_json::to_vec_pretty(plan).unwrap()).unwrap();
    site.ct(running, "run", sheet)
        .arg("--plan")
        .arg(&file)
        .run()
}

#[test]
fn a_saved_plan_whose_body_was_edited_is_refused_naming_the_first_difference() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![crate::util::seed_user(
        424_242,
        "stranger@elsewhere.example",
        false,
    )]));
    let (sheet, plan) = saved_plan(&site, &running);
    assert_eq!(plan["company"]["companyId"], "4f9a2c");
    assert_eq!(plan["users"][0]["user_id"], 9_170_357);

    // 15 days made 150.
    let mut edited = plan.clone();
    edited["users"][0]["assignments"][0]["balance"] = "150".into();
    apply(&site, &running, &sheet, &edited).expect(2).says(
        "the plan was changed, or the account has: row 2: it assigns time-off policy pol-vac-ft-001 with 150 days, \
         and the manifest gives time-off policy pol-vac-ft-001 with 15 days",
    ).says("nothing was sent");
    // A user ID swapped for someone not on the sheet.
    let mut edited = plan.clone();
    edited["users"][1]["user_id"] = 424_242.into();
    apply(&site, &running, &sheet, &edited)
        .expect(2)
        .says("row 3: it sends to user 424242, and the sheet's row is user 9170358");
    // A pay rule moved a day later.
    let mut edited = plan.clone();
    let pay_rule = edited["users"][0]["assignments"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["kind"] == "pay_rule")
        .unwrap();
    pay_rule["effective_date"] = "2029-01-05".into();
    apply(&site, &running, &sheet, &edited)
        .expect(2)
        .says("row 2: it assigns pay-rule policy 12346 from 2029-01-05, and the manifest gives pay-rule policy 12346 from 2029-01-04");
    // An assignment added, and a row dropped.
    let mut edited = plan.clone();
    let extra = edited["users"][0]["assignments"][0].clone();
    edited["users"][0]["assignments"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    apply(&site, &running, &sheet, &edited)
        .expect(2)
        .says("which the manifest does not give");
    let mut edited = plan.clone();
    edited["users"].as_array_mut().unwrap().remove(4);
    apply(&site, &running, &sheet, &edited)
        .expect(2)
        .says("row 6 of the sheet is missing from it");
    // Made for another company (a key of another account on the same URL).
    let mut edited = plan.clone();
    edited["company"] = serde_json::json!({"companyId": "c-other", "companyName": "Contoso"});
    apply(&site, &running, &sheet, &edited).expect(2).says(
        "the plan is for another company: it was made for Contoso (company c-other), and this key is for \
         Northwind Foods (sandbox) (company 4f9a2c)",
    );
    assert_eq!(running.sandbox.snapshot().writes(), 0, "nothing was sent");

    // The plan as saved is applied, and its company is on the run's records.
    apply(&site, &running, &sheet, &plan)
        .expect(0)
        .says("Northwind Foods (sandbox) (company 4f9a2c): 30 users: 30 succeeded");
    assert_eq!(running.sandbox.snapshot().writes(), 88);
    let summary = crate::util::read_summary(&site.latest());
    assert_eq!(summary["company_id"], "4f9a2c");
    assert_eq!(summary["company_name"], "Northwind Foods (sandbox)");
    assert_eq!(summary["requests_planned"], summary["requests_sent"]);
    let page = std::fs::read_to_string(site.latest().join("report.html")).unwrap();
    assert!(
        page.contains("Account: Northwind Foods (sandbox) (company 4f9a2c) at http://127.0.0.1:"),
        "the page names the company"
    );
    let history = crate::util::history_of(&site.state());
    assert!(
        history.contains("Northwind Foods (sandbox) (company 4f9a2c)"),
        "{history}"
    );
}

#[test]
fn a_user_id_past_i64_from_the_account_is_not_believed() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![crate::util::seed_user(
        9_223_372_036_854_775_808,
        "huge@northwind-foods.example",
        false,
    )]));
    let sheet = site.file(
        "hires.csv",
        "Email,Employee Type,Start Date\nhuge@northwind-foods.example,full-time,2027-01-04\n",
    );
    site.ct(&running, "run", &sheet)
        .arg("--manifest")
        .arg(crate::util::root().join("config/manifest.yaml"))
        .expect(69)
        .says("answered user ID 9223372036854775808, past what a user ID can be");
    assert_eq!(running.sandbox.snapshot().writes(), 0);
}

/// The journal at `state` made, with a trigger that answers every write after the
/// `rows`th row as a full disk does.
fn journal_that_fills_up(state: &Path, rows: u32) {
    drop(ct_onboard::journal::Journal::open(state).unwrap());
    rusqlite::Connection::open(state)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER full BEFORE INSERT ON assignments
               WHEN (SELECT count(*) FROM assignments) >= {rows}
               BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        ))
        .unwrap();
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_with_74_naming_it() {
    let site = Site::new();
    let running = RunningSandbox::start(sample_seed(vec![]));
    // The 38 pack assignments are journaled and sent first (two POSTs), then ten PUTs.
    journal_that_fills_up(&site.state(), 48);
    let samples = crate::util::root().join("samples/new-hires.csv");
    let ran = site
        .ct(&running, "run", &samples)
        .args(["--concurrency", "1"])
        .expect(74);
    ran.says(&format!(
        "journal {}: database or disk is full: the run stops, nothing more is sent",
        site.state().display()
    ));
    // Only what the journal recorded first was sent: nothing it could not record.
    assert_eq!(running.sandbox.snapshot().writes(), 2 + 10);
    let assignments = site.assignments();
    let sent = assignments
        .iter()
        .filter(|a| &a["status"] == "done")
        .count();
    assert_eq!(sent, 48, "the rest is not attempted, not failed");
    assert!(assignments.iter().all(|a| &a["status"] != "failed"));
    assert!(crate::util::history_of(&site.state()).contains(" 74 "));

    // Room again: the next run sends exactly the rest.
    rusqlite::Connection::open(site.state())
        .unwrap()
        .execute_batch("DROP TRIGGER full;")
        .unwrap();
    site.ct(&running, "run", &samples).expect(0);
    assert_eq!(running.sandbox.snapshot().writes(), 88);
}

/// An offline plan of 20,000 rows (its report takes a while to write), started with its
/// stderr read until the report's writing begins; then `signals` SIGINTs.
fn interrupt_the_report_write(site: &Site, signals: usize) -> (std::process::Output, String) {
    use std::io::BufRead;
    let mut sheet = String::from("User ID,Email,Employee Type,Start Date,Name\n");
    for i in 0..20_000 {
        sheet += &format!("{},,full-time,2027-01-04,Person {i}\n", 7_000_000 + i);
    }
    let sheet = site.file("big.csv", &sheet);
    let mut child = TestCommand::ct()
        .args(["plan", "--no-progress", "--manifest"])
        .arg(crate::util::fixture("manifest.yaml"))
        .arg(&sheet)
        .arg("--report-dir")
        .arg(site.reports())
        .spawn();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut heard = String::new();
    while !heard.contains("writing the report") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended first: {heard}"
        );
        heard += &line;
    }
    for n in 0..signals {
        if n > 0 {
            // Signals sent together are heard as one: the next once the first is heard.
            while !heard.contains("interrupted:") {
                let mut line = String::new();
                assert!(
                    stderr.read_line(&mut line).unwrap() > 0,
                    "ended first: {heard}"
                );
                heard += &line;
            }
        }
        // SAFETY: kill(2) with a child's pid and SIGINT has no memory effects.
        unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT) };
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    (out, heard + &rest)
}

/// The report folders and every file in them, hidden ones included.
fn report_files(site: &Site) -> Vec<String> {
    let mut files = Vec::new();
    for run in std::fs::read_dir(site.reports()).unwrap() {
        for file in std::fs::read_dir(run.unwrap().path()).unwrap() {
            files.push(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    files.sort();
    files
}

#[test]
fn signals_during_the_report_write_leave_it_whole_and_exit_130() {
    let whole = [
        "assignments.csv",
        "failed.csv",
        "report.html",
        "summary.json",
        "users.csv",
    ];
    for signals in [1, 2] {
        let site = Site::new();
        let (out, stderr) = interrupt_the_report_write(&site, signals);
        assert_eq!(out.status.code(), Some(130), "{signals} signals: {stderr}");
        assert_eq!(report_files(&site), whole, "{signals} signals: {stderr}");
        if signals == 2 {
            assert!(stderr.contains("finishing the report first"), "{stderr}");
        }
    }
}
