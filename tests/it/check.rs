//! `check`: each input defect class, with the exact file, row and column asserted.

use crate::util::{TODAY, assert_exit, ct, ct_in, fixture, write};

const HEADER: &str = "User ID,Email,Employee Type,Start Date,Name\n";

/// Runs `check` in-process on a sheet (and optionally a manifest) and returns exit code
/// and stderr.
fn check(sheet: &str, manifest: Option<&str>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let sheet_path = write(dir.path(), "hires.csv", sheet);
    let manifest_path = match manifest {
        Some(text) => write(dir.path(), "manifest.yaml", text),
        None => fixture("manifest.yaml"),
    };
    let (code, _, stderr) = ct_in(&[
        "check".as_ref(),
        sheet_path.as_ref(),
        "--manifest".as_ref(),
        manifest_path.as_ref(),
        "--today".as_ref(),
        TODAY.as_ref(),
    ]);
    let stderr = stderr.replace(&*dir.path().to_string_lossy(), "DIR");
    (i32::from(code), stderr)
}

fn assert_refused(sheet: &str, manifest: Option<&str>, expected_line: &str) {
    let (code, stderr) = check(sheet, manifest);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.lines().any(|l| l == expected_line),
        "expected line\n  {expected_line}\nin\n{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

#[test]
fn bad_user_id() {
    assert_refused(
        &format!("{HEADER}91x70357,,full-time,2027-01-04,Ana\n"),
        None,
        "error: DIR/hires.csv: row 2, column \"User ID\" (A): \"91x70357\" is not a Connecteam user ID (a positive whole number)",
    );
}

#[test]
fn scientific_notation_id() {
    assert_refused(
        &format!("{HEADER}9170357,,full-time,2027-01-04,Ana\n9.17E+06,,full-time,2027-01-04,Bo\n"),
        None,
        "error: DIR/hires.csv: row 3, column \"User ID\" (A): \"9.17E+06\" is in scientific notation and its digits are lost; \
         format the column as Number with no decimals (or as Text) in Excel and export again",
    );
}

#[test]
fn unknown_employee_type() {
    assert_refused(
        &format!("{HEADER}9170357,,seasonal,2027-01-04,Ana\n"),
        None,
        "error: DIR/hires.csv: row 2, column \"Employee Type\" (C): unknown employee type \"seasonal\"; \
         the manifest has: full-time, intern, part-time",
    );
}

#[test]
fn bad_date() {
    assert_refused(
        &format!("{HEADER}9170357,,full-time,2027-02-30,Ana\n"),
        None,
        "error: DIR/hires.csv: row 2, column \"Start Date\" (D): \"2027-02-30\" is not a real date",
    );
}

#[test]
fn ambiguous_date() {
    assert_refused(
        &format!("{HEADER}9170357,,full-time,01/02/2027,Ana\n"),
        None,
        "error: DIR/hires.csv: row 2, column \"Start Date\" (D): \"01/02/2027\" is ambiguous (day/month or month/day?); \
         write it as YYYY-MM-DD, or set date_format in the settings file",
    );
}

#[test]
fn retroactive_date_unless_allowed() {
    let sheet = format!("{HEADER}9170357,,full-time,2026-11-02,Ana\n");
    assert_refused(
        &sheet,
        None,
        "error: DIR/hires.csv: row 2, column \"Start Date\" (D): effective date 2026-11-02 is before today (2026-11-23): \
         a retroactive pay rule rewrites past payroll; pass --allow-retroactive if that is really meant",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "hires.csv", &sheet);
    ct().args(["check", "--allow-retroactive", "--manifest"])
        .arg(fixture("manifest.yaml"))
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn duplicate_user() {
    assert_refused(
        &format!(
            "{HEADER}9170357,,full-time,2027-01-04,Ana\n,x@y.io,intern,,Bo\n9170357.0,,part-time,,Ana again\n"
        ),
        None,
        "error: DIR/hires.csv: row 4, column \"User ID\" (A): 9170357 is already on row 2: each user may appear once",
    );
}

#[test]
fn missing_column() {
    assert_refused(
        "User ID,Start Date\n9170357,2027-01-04\n",
        None,
        "error: DIR/hires.csv: row 1: no employee_type column (accepted headers: Employee Type, employee_type, Employment Type…)",
    );
}

#[test]
fn empty_file_and_header_only() {
    assert_refused(
        "",
        None,
        "error: DIR/hires.csv: the file is empty: no header row and no data",
    );
    assert_refused(
        HEADER,
        None,
        "error: DIR/hires.csv: the sheet has a header row but no data rows: there is nobody to onboard",
    );
}

#[test]
fn bad_unit_in_manifest() {
    let manifest = "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-vac-ft-001\n        balance: 15\n        unit: weeks\n";
    assert_refused(
        &format!("{HEADER}9170357,,full-time,,Ana\n"),
        Some(manifest),
        "error: DIR/manifest.yaml: line 6, column 15: unit \"weeks\" is not one of: hours, days",
    );
}

#[test]
fn balance_without_unit_in_manifest() {
    let manifest = "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-vac-ft-001\n        balance: 15\n";
    assert_refused(
        &format!("{HEADER}9170357,,full-time,,Ana\n"),
        Some(manifest),
        "error: DIR/manifest.yaml: line 5, column 18: balance without unit: add unit: hours or unit: days",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let sheet = format!(
        "{HEADER}abc,,full-time,2027-01-04,A\n9170358,,nope,,B\n9170359,,full-time,01/02/2027,C\n,bad-email,intern,,D\n"
    );
    let (code, stderr) = check(&sheet, None);
    assert_eq!(code, 2);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    for row in ["row 2,", "row 3,", "row 4,", "row 5,"] {
        assert!(
            errors.iter().any(|e| e.contains(row)),
            "{row} missing in {stderr}"
        );
    }
    assert!(
        stderr.ends_with("4 problems found; nothing was sent.\n"),
        "{stderr}"
    );
}

#[test]
fn manifest_and_settings_problems_come_with_sheet_problems() {
    let dir = tempfile::tempdir().unwrap();
    let settings = write(dir.path(), "s.toml", "rate_per_minute = 0\n");
    let manifest = write(
        dir.path(),
        "m.yaml",
        "employee_types:\n  a:\n    time_off:\n      - policy_id: p\n        unit: days\n",
    );
    let sheet = write(dir.path(), "h.csv", "Name\nAna\n");
    let out = ct()
        .arg("--config")
        .arg(&settings)
        .arg("check")
        .arg(&sheet)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("setting `rate_per_minute`: must be at least 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("m.yaml: line 5, column 15: unit without balance"),
        "{stderr}"
    );
    assert!(
        stderr.contains("h.csv: row 1: no employee_type column"),
        "{stderr}"
    );
}

#[test]
fn the_samples_are_valid_in_both_forms() {
    for sheet in ["samples/new-hires.csv", "samples/new-hires.xlsx"] {
        for manifest in ["config/manifest.yaml", "config/manifest.csv"] {
            let out = ct()
                .args(["check", sheet, "--manifest", manifest])
                .output()
                .unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{sheet} {manifest}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains("30 rows valid, 124 assignments for 4 employee types"),
                "{stdout}"
            );
        }
    }
}

#[test]
fn column_mapping_from_the_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = write(
        dir.path(),
        "s.toml",
        "[columns]\nuser_id = \"Connecteam #\"\nemployee_type = \"Contract\"\n",
    );
    let sheet = write(
        dir.path(),
        "h.csv",
        "Connecteam #,Contract\n9170357,intern\n",
    );
    ct().arg("--config")
        .arg(&settings)
        .arg("check")
        .arg(&sheet)
        .arg("--manifest")
        .arg(fixture("manifest.yaml"))
        .assert()
        .success();
}

#[test]
fn run_without_a_key_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = ct()
        .args(["run", "samples/new-hires.csv", "--state"])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error: no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--dry-run") && stderr.contains("--sandbox"),
        "{stderr}"
    );
}

#[test]
fn an_offline_plan_cannot_be_saved_for_applying() {
    let dir = tempfile::tempdir().unwrap();
    let out = ct()
        .args(["plan", "samples/new-hires.csv", "--report-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("p.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--out needs a plan checked against Connecteam")
    );
    assert!(!dir.path().join("p.json").exists());
}

#[test]
fn a_settings_file_works_from_any_folder_named_by_flag_or_environment() {
    let elsewhere = tempfile::tempdir().unwrap();
    let root = crate::util::root();
    let settings = root.join("config/ct-onboard.toml");
    let sheet = root.join("samples/new-hires.csv");
    let by_flag = crate::util::ct_process()
        .current_dir(elsewhere.path())
        .arg("check")
        .arg(&sheet)
        .arg("--config")
        .arg(&settings)
        .output()
        .unwrap();
    assert_eq!(
        by_flag.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_flag.stderr)
    );
    let by_env = crate::util::ct_process()
        .current_dir(elsewhere.path())
        .arg("check")
        .arg(&sheet)
        .env("CT_ONBOARD_CONFIG", &settings)
        .output()
        .unwrap();
    assert_eq!(
        by_env.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    let missing = crate::util::ct_process()
        .current_dir(elsewhere.path())
        .arg("check")
        .arg(&sheet)
        .env("CT_ONBOARD_CONFIG", elsewhere.path().join("nope.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "a named file must exist");
}

#[test]
fn the_sheet_can_come_from_standard_input() {
    use std::io::Write;
    let sheet = std::fs::read(crate::util::root().join("samples/new-hires.csv")).unwrap();
    let mut child = crate::util::ct_process()
        .args(["check", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&sheet).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("standard input: 30 rows valid"));

    let mut child = crate::util::ct_process()
        .args(["check", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"user_id,employee_type\n12x,intern\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("error: standard input: row 2, column \"user_id\" (A)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_row_in_a_bare_cr_or_quoted_newline_sheet_is_named_as_a_spreadsheet_shows_it() {
    for (name, text) in [
        (
            "mac.csv",
            "User ID,Employee Type,Start Date\r9170357,full-time,2029-01-04\r91x,full-time,2029-01-04\r9170358,intern,\r",
        ),
        (
            "notes.csv",
            "User ID,Employee Type,Note\n9170357,intern,\"two\nlines\"\n91x,intern,x\n9170358,intern,y\n",
        ),
    ] {
        let (code, stderr) = check(text, None);
        assert_eq!(code, 2, "{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: only the bad row: {stderr}");
        assert!(
            errors[0].contains("row 3, column \"User ID\" (A)"),
            "{name}: {stderr}"
        );
    }
}
