//! `plan` / `run --dry-run`: the report files, field by field.

use std::os::unix::fs::PermissionsExt;

use crate::util::{assert_exit, ct, fixture, only_run_dir, read_csv, read_summary, write};

const SHEET: &str = "\
User ID,Email,Employee Type,Start Date,Name,Note
9170357,,full-time,2027-01-04,José Núñez,=HYPERLINK(\"http://evil\")
,Grace@Example.com,part-time,,Grace,+1 555 0100
abc,,intern,,Bad Id,-5
";

#[test]
fn dry_run_report_lists_every_row_once_with_neutralised_cells() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(dir.path(), "hires.csv", SHEET);
    let reports = dir.path().join("reports");
    let out = ct()
        .args(["run", "--dry-run", "--skip-invalid", "--manifest"])
        .arg(fixture("manifest.yaml"))
        .arg("--report-dir")
        .arg(&reports)
        .arg(&sheet)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an invalid row skipped means not everything will be done\n{stderr}"
    );
    assert!(
        stderr.contains("skipped: ") && stderr.contains("row 4, column \"User ID\" (A)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("users:        2 (1 invalid rows skipped)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("assignments:  3 (2 time-off, 1 pay-rule)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "requests:     10 (3 assignments + 3 account and policy reads + 4 user lookups)"
        ),
        "{stdout}"
    );

    let run = only_run_dir(&reports);
    assert_eq!(
        std::fs::metadata(&run).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "assignments.csv",
            "failed.csv",
            "report.html",
            "summary.json",
            "users.csv"
        ],
        "no temporary files left"
    );
    for name in &names {
        let mode = std::fs::metadata(run.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }

    let users = read_csv(&run.join("users.csv"));
    assert_eq!(
        users[0],
        [
            "row",
            "identifier",
            "user_id",
            "user_action",
            "employee_type",
            "outcome",
            "assignments",
            "succeeded",
            "failed",
            "error",
            "User ID (sheet)",
            "Email",
            "Employee Type (sheet)",
            "Start Date",
            "Name",
            "Note"
        ]
    );
    assert_eq!(
        users[1],
        [
            "2",
            "9170357",
            "9170357",
            "existing",
            "full-time",
            "planned",
            "2",
            "0",
            "0",
            "",
            "9170357",
            "",
            "full-time",
            "2027-01-04",
            "José Núñez",
            "'=HYPERLINK(\"http://evil\")"
        ]
    );
    assert_eq!(
        users[2],
        [
            "3",
            "grace@example.com",
            "",
            "",
            "part-time",
            "planned",
            "1",
            "0",
            "0",
            "",
            "",
            "Grace@Example.com",
            "part-time",
            "",
            "Grace",
            "'+1 555 0100"
        ]
    );
    assert_eq!(users[3][..6], ["4", "", "", "", "intern", "invalid"]);
    assert!(
        users[3][9].starts_with("\"abc\" is not a Connecteam user ID"),
        "{:?}",
        users[3]
    );
    assert_eq!(users[3][15], "-5", "plain numbers are not neutralised");
    assert_eq!(users.len(), 4);

    let assignments = read_csv(&run.join("assignments.csv"));
    assert_eq!(assignments.len(), 4);
    assert_eq!(
        assignments[0][..10],
        [
            "row",
            "identifier",
            "user_id",
            "kind",
            "policy_id",
            "policy_name",
            "balance",
            "unit",
            "effective_date",
            "status"
        ]
    );
    assert_eq!(
        assignments[1][..10],
        [
            "2",
            "9170357",
            "9170357",
            "time_off",
            "pol-vac-ft-001",
            "",
            "15",
            "days",
            "",
            "planned"
        ]
    );
    assert_eq!(
        assignments[2][..10],
        [
            "2",
            "9170357",
            "9170357",
            "pay_rule",
            "12346",
            "",
            "",
            "",
            "2027-01-04",
            "planned"
        ]
    );
    assert_eq!(
        assignments[3][..10],
        [
            "3",
            "grace@example.com",
            "",
            "time_off",
            "pol-vac-pt-001",
            "",
            "40",
            "hours",
            "",
            "planned"
        ]
    );

    let failed = read_csv(&run.join("failed.csv"));
    assert_eq!(
        failed[0],
        [
            "User ID",
            "Email",
            "Employee Type",
            "Start Date",
            "Name",
            "Note",
            "error"
        ]
    );
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1][..6], ["abc", "", "intern", "", "Bad Id", "-5"]);

    let summary: serde_json::Value = read_summary(&run);
    assert_eq!(
        summary["run_id"],
        run.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(summary["mode"], "plan");
    assert_eq!(summary["offline"], true);
    assert_eq!(summary["users"], 3);
    assert_eq!(
        summary["outcomes"],
        serde_json::json!({"invalid": 1, "planned": 2})
    );
    assert_eq!(summary["assignments"], 3);
    assert_eq!(summary["requests_planned"], 10);
    assert_eq!(summary["requests_sent"], 0);
    assert_eq!(summary["exit_code"], 1);
}

#[test]
fn failed_csv_feeds_back_in_and_replaces_its_error_column() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let sheet = write(dir.path(), "hires.csv", SHEET);
    let plan = |sheet: &std::path::Path| {
        ct().args(["plan", "--skip-invalid", "--manifest"])
            .arg(fixture("manifest.yaml"))
            .arg("--report-dir")
            .arg(&reports)
            .arg(sheet)
            .output()
            .unwrap()
    };
    assert_eq!(plan(&sheet).status.code(), Some(1));
    let first = only_run_dir(&reports);
    let refeed = dir.path().join("failed-again.csv");
    std::fs::copy(first.join("failed.csv"), &refeed).unwrap();
    std::fs::remove_dir_all(&reports).unwrap();
    assert_eq!(
        plan(&refeed).status.code(),
        Some(2),
        "every row of failed.csv is still invalid, so nothing to go ahead with"
    );

    // Fixed by hand, it plans cleanly, and its error column is not carried twice.
    let fixed = std::fs::read_to_string(&refeed)
        .unwrap()
        .replace("abc,", "9170999,");
    std::fs::write(&refeed, fixed).unwrap();
    assert_eq!(plan(&refeed).status.code(), Some(0));
    let users = read_csv(&only_run_dir(&reports).join("users.csv"));
    assert_eq!(
        users[0].iter().filter(|h| *h == "error").count(),
        1,
        "one column per name"
    );
    assert!(
        users[0].iter().any(|h| h == "error (sheet)"),
        "the fed-back sheet's own, suffixed: {:?}",
        users[0]
    );
    let failed = read_csv(&only_run_dir(&reports).join("failed.csv"));
    assert_eq!(
        failed,
        [[
            "User ID",
            "Email",
            "Employee Type",
            "Start Date",
            "Name",
            "Note",
            "error"
        ]]
    );
}

#[test]
fn invalid_input_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(dir.path(), "hires.csv", SHEET);
    let reports = dir.path().join("reports");
    let out = ct()
        .args(["plan", "--manifest"])
        .arg(fixture("manifest.yaml"))
        .arg("--report-dir")
        .arg(&reports)
        .arg(&sheet)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--skip-invalid would go ahead with the 2 valid rows")
    );
    assert!(!reports.exists());
}

#[test]
fn samples_plan_offline_from_xlsx_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = ct()
        .args(["plan", "samples/new-hires.xlsx", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("warning"),
        "offline is said once, in the plan's heading: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("users:        30\n"), "{stdout}");
    assert!(
        stdout.contains(
            "requests:     96 (86 assignments + 2 to assign packs (up to 500 users a request) + 4 account and policy reads + 4 user lookups)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("daily quota:  1.0% of 10000"), "{stdout}");
}

#[test]
fn a_prorated_balance_is_planned_with_how_it_was_worked_out() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = crate::util::write(
        dir.path(),
        "m.yaml",
        "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-vac-ft-001\n\
         \x20       balance: 15\n        unit: days\n        prorate: start_date\n",
    );
    let sheet = crate::util::write(
        dir.path(),
        "h.csv",
        "user_id,employee_type,start_date\n9170357,full-time,2029-07-01\n",
    );
    let reports = dir.path().join("reports");
    let out = crate::util::ct()
        .arg("plan")
        .arg(&sheet)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--today", crate::util::TODAY, "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    crate::util::assert_exit(&out, 0);
    let rows = crate::util::read_records(&only_run_dir(&reports).join("assignments.csv"));
    assert_eq!(&rows[0]["balance"], "7.5");
    assert_eq!(&rows[0]["balance_basis"], "15 days × 184/365 = 7.5");
    let page = std::fs::read_to_string(only_run_dir(&reports).join("report.html")).unwrap();
    assert!(
        page.contains("15 days × 184/365 = 7.5"),
        "the page shows it"
    );
}
