//! Hostile files and hostile servers: each test reproduces a way ct-onboard once broke.

use std::time::{Duration, Instant};

use ct_onboard::sandbox::Limits;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{
    RunningSandbox, assert_exit, ct, ct_process, history_of, only_run_dir, read_records,
    read_summary, sample_seed, stderr_of, write,
};

#[test]
fn the_one_run_lock_holds_through_a_symlink_to_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/ct-onboard.db");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(&state, b"").unwrap();
    let alias = dir.path().join("alias.db");
    std::os::unix::fs::symlink(&state, &alias).unwrap();
    let _held = ct_onboard::journal::StateLock::acquire(&state).unwrap();
    let running = RunningSandbox::start(sample_seed(vec![]));
    let out = running
        .ct()
        .args(["run", "samples/new-hires.csv", "--no-progress", "--state"])
        .arg(&alias)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    assert_exit(&out, 75);
    assert_eq!(running.sandbox.snapshot().requests.values().sum::<u64>(), 0);
}

#[test]
fn a_huge_bad_cell_is_quoted_in_part_with_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let cell = "x".repeat(5_000_000);
    let sheet = write(
        dir.path(),
        "big-cell.csv",
        &format!("user_id,employee_type\n{cell},full-time\n"),
    );
    let out = ct().arg("check").arg(&sheet).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    let line = stderr.lines().find(|l| l.contains("row 2")).unwrap();
    assert!(line.len() < 400, "{} bytes", line.len());
    assert!(line.contains("(5000000 characters)"), "{line}");
}

#[test]
fn a_user_id_and_an_email_of_two_people_make_the_row_invalid() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(
        dir.path(),
        "mixed.csv",
        "user_id,email,employee_type,start_date\n\
         9170357,ana.lopez@northwind-foods.example,full-time,2029-01-04\n\
         9170358,priya.raman@northwind-foods.example,full-time,2029-01-04\n",
    );
    let out = running
        .ct()
        .arg("plan")
        .arg(&sheet)
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("row 3, column \"user_id\" (A): user_id 9170358 and email priya.raman@northwind-foods.example are two different Connecteam users (the email is user 9170359)"),
        "{stderr}"
    );
    assert!(!stderr.contains("row 2,"), "row 2 is one person: {stderr}");
}

#[tokio::test]
async fn a_server_that_ignores_the_user_filter_is_not_paged_forever() {
    let server = MockServer::start().await;
    crate::util::mount_me(&server).await;
    let json = |body: String| {
        ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "application/json")
    };
    Mock::given(method("GET"))
        .and(path("/time-off/v1/policy-types"))
        .respond_with(json(
            std::fs::read_to_string(crate::util::fixture("policy-types.json")).unwrap(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/company-policies/v1/pay-rule-policies"))
        .respond_with(json(
            r#"{"requestId":"r","data":{"payRulesPolicies":[{"id":12345,"name":"Standard Hourly"},{"id":12346,"name":"Overtime Eligible"},{"id":12347,"name":"Night Shift Premium"}]}}"#.into(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/onboarding/v1/packs"))
        .respond_with(json(
            r#"{"requestId":"r","data":{"packs":[{"id":501,"name":"New hire essentials","isDefault":false},{"id":502,"name":"Warehouse safety","isDefault":false}]}}"#.into(),
        ))
        .mount(&server)
        .await;
    // Whatever is asked: the same 500 strangers.
    let users: Vec<String> = (1..=500)
        .map(|i| format!(r#"{{"userId":{i},"firstName":"S","lastName":"{i}","phoneNumber":"","userType":"user","email":"s{i}@x.example"}}"#))
        .collect();
    Mock::given(method("GET"))
        .and(path("/users/v1/users"))
        .respond_with(json(format!(
            r#"{{"requestId":"r","data":{{"users":[{}]}},"paging":{{"offset":0}}}}"#,
            users.join(",")
        )))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let uri = server.uri();
        let reports = dir.path().to_owned();
        move || {
            ct().args(["plan", "samples/new-hires.csv", "--base-url", &uri])
                .arg("--report-dir")
                .arg(reports)
                .env("CONNECTEAM_API_KEY", "k")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("ignored the filter"), "{stderr}");
    let lookups = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/users/v1/users")
        .count();
    assert_eq!(lookups, 1, "one look was enough to know");
}

#[test]
fn endless_429s_stop_like_a_quota_stop_after_the_patience() {
    let mut seed = sample_seed(vec![]);
    seed.limits = Limits {
        per_minute: Some(0),
        per_day: None,
        minute_secs: 1,
        day_secs: 86_400,
    };
    let running = RunningSandbox::start(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = running.run_samples(dir.path(), &["--rate-limit-patience", "1s"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("rate_limit_patience"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

fn sigint(child: &std::process::Child) {
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT) };
}

fn puts(running: &RunningSandbox) -> u64 {
    running.sandbox.snapshot().writes()
}

#[test]
fn sigint_during_a_rate_limit_pause_sends_nothing_more_and_exits_130_promptly() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    // The first pay rule is held in flight while the account's minute runs out: every
    // request after it is refused until the window resets, up to a minute away.
    running
        .sandbox
        .stall(ct_onboard::api::Endpoint::AssignPayRule);
    let dir = tempfile::tempdir().unwrap();
    let child = running
        .ct_process()
        .args(["run", "samples/new-hires.csv", "--no-progress"])
        .arg("--report-dir")
        .arg(dir.path())
        .arg("--state")
        .arg(dir.path().join("state.db"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::util::wait_until("a pay rule to be sent", || {
        running
            .sandbox
            .snapshot()
            .count("PUT /company-policies/v1/pay-rule-policies/{id}/assignments")
            > 0
    });
    running.sandbox.set_limits(Limits {
        per_minute: Some(0),
        per_day: None,
        ..Limits::default()
    });
    running.sandbox.release();
    crate::util::wait_until("a 429 and the pause after it", || {
        running.sandbox.snapshot().rate_limited > 0
    });
    let at_signal = puts(&running);
    sigint(&child);
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "exit came {:?} after the signal",
        signalled.elapsed()
    );
    assert!(
        puts(&running) <= at_signal + 4,
        "nothing started after the signal"
    );
    let users = read_records(&only_run_dir(dir.path()).join("users.csv"));
    assert_eq!(users.len(), 30, "the report is written");
}

/// `command` against a slow account, interrupted while its first request to `endpoint`
/// is on its way: the exit is 130 (not death by the signal), soon; nothing is written
/// to the account; the report is there, and says every row was not attempted.
fn interrupted_while_reading(command: &str, endpoint: &str) {
    let running = RunningSandbox::start(sample_seed(vec![]));
    interrupt_while_reading(&running, &[command], endpoint);
}

/// `ct-onboard ARGS samples/new-hires.csv` against `running`, interrupted while its next
/// request to `endpoint` is on its way (the sandbox holds it until the signal is sent);
/// asserts all that [`interrupted_while_reading`] says.
fn interrupt_while_reading(running: &RunningSandbox, args: &[&str], endpoint: &str) {
    let stalled = ct_onboard::api::Endpoint::ALL
        .into_iter()
        .find(|e| e.name() == endpoint)
        .unwrap();
    running.sandbox.stall(stalled);
    let asked_before = running.sandbox.snapshot().count(endpoint);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let reports = dir.path().join("reports");
    let child = running
        .ct_process()
        .args(args)
        .args(["samples/new-hires.csv", "--no-progress"])
        .arg("--report-dir")
        .arg(&reports)
        .arg("--state")
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::util::wait_until(&format!("{endpoint} to be asked"), || {
        running.sandbox.snapshot().count(endpoint) > asked_before
    });
    sigint(&child);
    let signalled = Instant::now();
    running.sandbox.release();
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(8), "{stderr}");
    assert!(
        stderr.contains("interrupted while reading the account"),
        "{stderr}"
    );
    assert_eq!(puts(running), 0, "nothing is written to the account");
    let run = only_run_dir(&reports);
    let users = read_records(&run.join("users.csv"));
    assert_eq!(users.len(), 30, "every row is in the report");
    assert!(
        users.iter().all(|u| &u["outcome"] == "not_attempted"),
        "{:?}",
        users
            .iter()
            .map(|u| (&u["outcome"], &u["error"]))
            .collect::<Vec<_>>()
    );
    let summary: serde_json::Value = read_summary(&run);
    assert_eq!(summary["exit_code"], 130, "{summary}");
    if args[0] == "run" {
        let text = history_of(&state);
        assert!(text.contains(" 130 "), "history records the run: {text}");
    }
}

#[test]
fn sigint_while_reading_policies_still_writes_the_plans_report() {
    interrupted_while_reading("plan", "GET /time-off/v1/policy-types");
}

#[test]
fn sigint_while_looking_up_users_still_writes_the_runs_report_and_history() {
    interrupted_while_reading("run", "GET /users/v1/users");
}

#[test]
fn sigint_while_reading_holdings_still_writes_the_runs_report_and_history() {
    interrupted_while_reading("run", "GET /time-off/v1/policy-types/{id}/balances");
}

#[test]
fn sigint_while_a_saved_plan_reads_policies_still_writes_the_runs_report() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let out = running
        .ct()
        .args(["plan", "samples/new-hires.csv", "--report-dir"])
        .arg(dir.path().join("plan-reports"))
        .arg("--out")
        .arg(&saved)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let saved = saved.to_str().unwrap();
    interrupt_while_reading(
        &running,
        &["run", "--plan", saved],
        "GET /time-off/v1/policy-types",
    );
}

#[test]
fn sigint_while_verify_reads_exits_130_without_a_verdict() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    running.sandbox.stall(ct_onboard::api::Endpoint::Users);
    let child = running
        .ct_process()
        .args(["verify", "samples/new-hires.csv"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::util::wait_until("the users to be looked up", || {
        running.sandbox.snapshot().count("GET /users/v1/users") > 0
    });
    sigint(&child);
    running.sandbox.release();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("holds all") && !stdout.contains("not held"),
        "a verdict from a part-read account: {stdout}"
    );
}

#[test]
fn a_report_that_cannot_be_written_exits_74_and_history_says_so() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    // The report folder's place is taken by a file.
    let reports = write(dir.path(), "reports", "not a folder");
    let state = dir.path().join("state.db");
    let out = running
        .ct()
        .args(["run", "samples/new-hires.csv", "--no-progress"])
        .args(["--rate-per-minute", "1000000", "--report-dir"])
        .arg(&reports)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_exit(&out, 74);
    assert!(stderr_of(&out).contains("cannot create a report folder"));
    let text = history_of(&state);
    assert!(
        text.contains(" 74 ") && text.contains("the report could not be written"),
        "{text}"
    );
}

#[test]
fn one_cell_at_the_last_column_and_row_does_not_blow_up_an_xlsx() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("far.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "user_id").unwrap();
    sheet.write_string(0, 1, "employee_type").unwrap();
    sheet.write_number(1, 0, 9_170_357).unwrap();
    sheet.write_string(1, 1, "intern").unwrap();
    // The intern's sick leave is prorated from the start date.
    sheet.write_string(0, 2, "start_date").unwrap();
    sheet.write_string(1, 2, "2029-06-04").unwrap();
    // XFD1048576: the last cell a sheet can have.
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    workbook.save(&path).unwrap();
    let started = Instant::now();
    let out = ct().arg("check").arg(&path).output().unwrap();
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 rows valid"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Runs `cmd` to its end; its exit code, standard error and peak RSS in MB (from
/// `wait4`, which std's `Child` cannot give). Linux counts a spawned child's peak from
/// this process's own peak, so the fourth value is that: a child's figure at or below it
/// says nothing of the child.
fn with_peak_rss(mut cmd: std::process::Command) -> (i32, String, i64, i64) {
    use std::io::Read;
    #[expect(clippy::zombie_processes, reason = "waited for by wait4 below")]
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `pid` is our own child, not yet waited for; wait4 fills `status` and `usage`.
    let (waited, usage) = unsafe {
        let waited = libc::wait4(pid, &mut status, 0, usage.as_mut_ptr());
        (waited, usage.assume_init())
    };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "ended by a signal: {stderr}");
    let mut own = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let own = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, own.as_mut_ptr());
        own.assume_init()
    };
    (
        libc::WEXITSTATUS(status),
        stderr,
        usage.ru_maxrss / 1024,
        own.ru_maxrss / 1024,
    )
}

#[test]
fn a_csv_past_the_size_cap_is_refused_by_its_size_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    // Sparse: 600 MB that take no disk, and would take 500 MB of memory to read.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(600_000_000)
        .unwrap();
    let mut check = ct_process();
    check.arg("check").arg(&path);
    let (code, stderr, peak_mb, harness_mb) = with_peak_rss(check);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("larger than the 500 MB ct-onboard reads"),
        "{stderr}"
    );
    // Reading it would take 500 MB; the test harness itself peaks near 100 MB.
    let bound = 200.max(harness_mb + 100);
    assert!(
        peak_mb < bound,
        "refused unread, yet peaked at {peak_mb} MB (the harness at {harness_mb} MB)"
    );
}
