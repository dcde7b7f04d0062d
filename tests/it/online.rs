//! `plan`, `policies` and `sandbox` against the sandbox simulator.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::{
    RunningSandbox, assert_exit, ct, fixture, sample_seed, seed_user, stderr_of, write,
};

const KEY: &str = "sandbox-key-0451";

#[test]
fn emails_resolve_to_exactly_one_active_user() {
    let running = RunningSandbox::start(sample_seed(vec![
        seed_user(7_000_001, "gone@northwind-foods.example", true),
        seed_user(7_000_002, "twin@northwind-foods.example", false),
        seed_user(7_000_003, "twin@northwind-foods.example", false),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(
        dir.path(),
        "hires.csv",
        "Email,Employee Type\n\
         Tomas.Herrera@northwind-foods.example,part-time\n\
         nobody@northwind-foods.example,part-time\n\
         gone@northwind-foods.example,part-time\n\
         twin@northwind-foods.example,part-time\n",
    );
    let out = running
        .ct()
        .args(["plan", "--manifest"])
        .arg(fixture("manifest.yaml"))
        .arg(&sheet)
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = sheet.display();
    for expected in [
        format!(
            "error: {file}: row 3, column \"Email\" (A): no Connecteam user has the email nobody@northwind-foods.example (--create-missing creates people who are not in Connecteam yet)"
        ),
        format!(
            "error: {file}: row 4, column \"Email\" (A): only archived users have the email gone@northwind-foods.example (IDs 7000001): \
             restore the user, or give an active user's user_id"
        ),
        format!(
            "error: {file}: row 5, column \"Email\" (A): 2 active Connecteam users have the email twin@northwind-foods.example \
             (IDs 7000002, 7000003): put the right user_id in the sheet"
        ),
    ] {
        assert!(
            stderr.lines().any(|l| l == expected),
            "missing\n  {expected}\nin\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("row 2"),
        "one active match (an archived namesake aside) is fine: {stderr}"
    );

    // --skip-invalid goes ahead with the resolved row; the report carries its user ID.
    let reports = dir.path().join("reports");
    let out = running
        .ct()
        .args(["plan", "--skip-invalid", "--manifest"])
        .arg(fixture("manifest.yaml"))
        .arg("--report-dir")
        .arg(&reports)
        .arg(&sheet)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let users = crate::util::read_records(&crate::util::only_run_dir(&reports).join("users.csv"));
    let first = &users[0];
    assert_eq!(
        [
            &first["row"],
            &first["identifier"],
            &first["user_id"],
            &first["employee_type"],
            &first["outcome"]
        ],
        [
            "2",
            "tomas.herrera@northwind-foods.example",
            "9170360",
            "part-time",
            "planned"
        ]
    );
    assert_eq!(&users[1]["outcome"], "invalid");
}

fn plan_with_manifest(manifest: &str) -> (i32, String) {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "manifest.yaml", manifest);
    let out = running
        .ct()
        .args(["plan", "samples/new-hires.csv", "--manifest"])
        .arg(&manifest)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        stderr_of(&out).replace(&*dir.path().to_string_lossy(), "DIR"),
    )
}

const OTHER_TYPES: &str = "  part-time:\n  night-shift:\n  intern:\n";

#[test]
fn unknown_policies_are_refused_before_anything_is_sent() {
    let (code, stderr) = plan_with_manifest(&format!(
        "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-nope\n    pay_rule:\n      policy_name: Salaried\n      effective_date: start_date\n{OTHER_TYPES}"
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(
        "error: DIR/manifest.yaml: line 4, column 9: time-off policy \"pol-nope\" does not exist in this account (`ct-onboard policies` lists them)"
    ), "{stderr}");
    assert!(
        stderr.contains(
            "error: DIR/manifest.yaml: line 6, column 7: no pay-rule policy is named \"Salaried\""
        ),
        "{stderr}"
    );
}

#[test]
fn two_policies_of_one_time_off_type_are_refused() {
    let (code, stderr) = plan_with_manifest(&format!(
        "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-vac-ft-001\n      - policy_id: pol-vac-pt-001\n{OTHER_TYPES}"
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(
        "error: DIR/manifest.yaml: line 5, column 9: \"full-time\" gets both \"Vacation - Full-time\" and \"Vacation - Part-time\", \
         two policies of the time-off type \"Vacation\": a user holds one policy per type, so the second would silently unassign the first"
    ), "{stderr}");
}

#[test]
fn a_unit_other_than_the_policys_is_a_warning_only() {
    let (code, stderr) = plan_with_manifest(&format!(
        "employee_types:\n  full-time:\n    time_off:\n      - policy_id: pol-vac-pt-001\n        balance: 5\n        unit: days\n{OTHER_TYPES}"
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(
        "warning: DIR/manifest.yaml: line 4, column 9: the balance is in days but \"Vacation - Part-time\" counts hours: check that 5 days is what you mean"
    ), "{stderr}");
}

#[test]
fn a_40_row_sheet_plans_in_eighteen_batched_gets_and_no_writes() {
    let users: Vec<_> = (0..40)
        .map(|i| {
            seed_user(
                6_000_000 + i,
                &format!("hire{i}@northwind-foods.example"),
                false,
            )
        })
        .collect();
    let running = RunningSandbox::start(sample_seed(users));
    let mut sheet = String::from("User ID,Email,Employee Type,Start Date\n");
    for i in 0..40 {
        if i % 2 == 0 {
            sheet += &format!("{},,part-time,2027-02-01\n", 6_000_000 + i);
        } else {
            sheet += &format!(",hire{i}@northwind-foods.example,full-time,2027-02-01\n");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(dir.path(), "forty.csv", &sheet);
    let out = running
        .ct()
        .arg("plan")
        .arg(&sheet)
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let snapshot = running.sandbox.snapshot();
    assert_eq!(snapshot.count("GET /me"), 1, "which company, once");
    assert_eq!(snapshot.count("GET /time-off/v1/policy-types"), 1);
    assert_eq!(
        snapshot.count("GET /company-policies/v1/pay-rule-policies"),
        1
    );
    assert_eq!(
        snapshot.count("GET /users/v1/users"),
        4,
        "one batch of emails, one of user IDs: each a page, then the empty page that ends it"
    );
    // What users hold: one balances read per time-off type in use (Vacation, Sick
    // Leave), and each of the 3 pay-rule policies on two dates (today, far ahead); new
    // hires hold nothing, so each first page is empty, and the last.
    assert_eq!(
        snapshot.count("GET /time-off/v1/policy-types/{id}/balances"),
        2
    );
    assert_eq!(
        snapshot.count("GET /company-policies/v1/pay-rule-policies/{id}/assignments"),
        6
    );
    // The onboarding packs listed once, and who is on each of the two in use.
    assert_eq!(snapshot.count("GET /onboarding/v1/packs"), 1);
    assert_eq!(
        snapshot.count("GET /onboarding/v1/packs/{id}/assignments"),
        2
    );
    assert_eq!(
        snapshot.requests.values().sum::<u64>(),
        18,
        "{:?}",
        snapshot.requests
    );
    assert!(snapshot.time_off_assignments.is_empty() && snapshot.pay_rule_assignments.is_empty());
}

#[test]
fn a_refused_key_exits_4_and_is_never_shown() {
    let mut seed = sample_seed(vec![]);
    seed.api_key = Some("the-right-key".into());
    let running = RunningSandbox::start(seed);
    let dir = tempfile::tempdir().unwrap();
    let out = running
        .ct()
        .args(["plan", "samples/new-hires.csv", "-vv", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("Connecteam refused the API key (HTTP 401): Invalid API key"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY) && !String::from_utf8_lossy(&out.stdout).contains(KEY));
    assert_eq!(
        running.sandbox.snapshot().requests.values().sum::<u64>(),
        1,
        "stopped at the first refusal"
    );
}

#[test]
fn the_key_never_reaches_output_or_reports() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    let out = running
        .ct()
        .args([
            "plan",
            "samples/new-hires.csv",
            "-vv",
            "--log-format",
            "json",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(KEY));
    assert!(!stderr_of(&out).contains(KEY));
    for entry in std::fs::read_dir(crate::util::only_run_dir(dir.path())).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(KEY));
    }
}

#[test]
fn an_api_key_file_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    let key_file = write(dir.path(), "key", "from-a-file\n");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = running
        .ct()
        .env_remove("CONNECTEAM_API_KEY")
        .arg("policies")
        .arg("--api-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        stderr_of(&out).contains("can be read by others (mode 644); run: chmod 600"),
        "{}",
        stderr_of(&out)
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = running
        .ct()
        .env_remove("CONNECTEAM_API_KEY")
        .arg("policies")
        .arg("--api-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(!stderr_of(&out).contains("read by others"));
}

#[test]
fn policies_lists_the_account_as_a_table_and_as_json() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let out = running.ct().arg("policies").output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.starts_with("Policies of Northwind Foods (sandbox) (company 4f9a2c)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  Vacation     pol-vac-ft-001   Vacation - Full-time  days\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  12347   Night Shift Premium\n"),
        "{stdout}"
    );
    let out = running.ct().args(["policies", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["policy_types"][1]["policies"][0]["id"], "pol-sick-001");
    assert_eq!(json["pay_rule_policies"][0]["id"], 12345);
    assert_eq!(json["company_id"], "4f9a2c");
    let out = ct().arg("policies").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no key: a clear message, not a request"
    );
    assert!(stderr_of(&out).contains("no API key"));
}

#[test]
fn plain_http_to_another_host_is_refused() {
    let out = ct()
        .env("CONNECTEAM_BASE_URL", "http://api.connecteam.com")
        .env("CONNECTEAM_API_KEY", KEY)
        .arg("policies")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("plain http to another host"),
        "{}",
        stderr_of(&out)
    );
}

/// One HTTP/1.1 GET over a plain socket, as curl would send it.
fn http_get(port: u16, path: &str, key: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: {key}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn the_sandbox_command_answers_a_plain_http_client() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = crate::util::ct_process()
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut response = None;
    crate::util::wait_until("the sandbox to answer", || {
        response = http_get(port, "/time-off/v1/policy-types", "any").ok();
        response.is_some()
    });
    let response = response.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.contains("x-ratelimit-minute-remaining: 99"),
        "{response}"
    );
    assert!(response.contains("\"id\":\"pol-vac-ft-001\""), "{response}");
    let state = http_get(port, "/__sandbox/state", "").unwrap();
    assert!(
        state.contains("\"GET /time-off/v1/policy-types\":1"),
        "{state}"
    );
    // SIGTERM stops it cleanly.
    unsafe_sigterm(child.id());
    assert!(child.wait().unwrap().success());
}

fn unsafe_sigterm(pid: u32) {
    // SAFETY: kill(2) with a child's pid and SIGTERM has no memory effects.
    unsafe {
        libc::kill(i32::try_from(pid).unwrap(), libc::SIGTERM);
    }
}

#[test]
fn the_sandbox_refuses_to_listen_beyond_loopback() {
    let out = ct()
        .args(["sandbox", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("loopback only"));
}
