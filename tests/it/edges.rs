//! The edges that still cut: which account and which day, saved plans' bodies, state
//! paths, IDs and dates past what can be read, full disks, user info in URLs, the
//! review page with hostile values.

use crate::util::{RunningSandbox, Site, TestCommand, assert_exit, sample_seed};

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
    assert_eq!(running.sandbox.snapshot().writes(), 86);
    assert!(
        site.path().join("file:j.db?mode=memory").is_file(),
        "the journal is that file"
    );
    run().says("0 assignments done, 86 already done");
    assert_eq!(
        running.sandbox.snapshot().writes(),
        86,
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
