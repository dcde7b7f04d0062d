//! The journal: re-runs, conflicts, resume after a quota stop or a SIGKILL, the lock,
//! and `history`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ct_onboard::sandbox::{Faults, Limits};

use crate::util::{RunningSandbox, Site, assert_exit, history_of, sample_seed, stderr_of, write};

fn samples() -> PathBuf {
    crate::util::root().join("samples/new-hires.csv")
}

/// The samples' writes: 86 assignment PUTs and one POST for each of the two packs.
const WRITES: u64 = 88;

fn puts(running: &RunningSandbox) -> u64 {
    running.sandbox.snapshot().writes()
}

#[test]
fn a_rerun_sends_no_assignment_request() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let first = site.run(&running, &samples(), None, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert_eq!(puts(&running), WRITES);
    let second = site.run(&running, &samples(), None, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr_of(&second));
    assert_eq!(puts(&running), WRITES, "nothing sent again");
    let users = site.latest_users();
    assert!(
        users.iter().all(|u| &u["outcome"] == "skipped"),
        "{users:?}"
    );
    let stdout = String::from_utf8(second.stdout).unwrap();
    assert!(
        stdout.contains("0 assignments done, 124 already done, 0 in conflict, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_changed_balance_is_a_conflict_until_reapplied() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    assert_eq!(
        site.run(&running, &samples(), None, &[]).status.code(),
        Some(0)
    );
    let manifest = std::fs::read_to_string(crate::util::root().join("config/manifest.yaml"))
        .unwrap()
        .replacen("balance: 15", "balance: 20", 1);
    let manifest = write(site.dir.path(), "manifest.yaml", &manifest);

    let conflicted = site.run(&running, &samples(), Some(&manifest), &[]);
    assert_eq!(
        conflicted.status.code(),
        Some(1),
        "{}",
        stderr_of(&conflicted)
    );
    assert_eq!(puts(&running), WRITES, "a conflict sends nothing");
    let users = site.latest_users();
    let full_time: Vec<_> = users
        .iter()
        .filter(|u| &u["employee_type"] == "full-time")
        .collect();
    assert_eq!(full_time.len(), 12);
    assert!(
        full_time.iter().all(|u| &u["outcome"] == "conflict"),
        "{full_time:?}"
    );
    // The account holds 15 days: setting 20 would replace them, so it is guarded.
    let error = &full_time[0]["error"];
    assert!(
        error.contains("would replace 15 days of Vacation - Full-time (set to 20 days)")
            && error.contains("--allow-overwrite"),
        "{:?}",
        full_time[0]
    );
    assert!(
        users
            .iter()
            .filter(|u| &u["employee_type"] != "full-time")
            .all(|u| &u["outcome"] == "skipped")
    );

    let reapplied = site.run(&running, &samples(), Some(&manifest), &["--reapply"]);
    assert_eq!(
        reapplied.status.code(),
        Some(0),
        "{}",
        stderr_of(&reapplied)
    );
    assert_eq!(
        puts(&running),
        WRITES + 12,
        "exactly the changed assignments"
    );
    let state = running.sandbox.snapshot();
    let ana = state
        .time_off_assignments
        .iter()
        .find(|h| h.user_id == 9_170_357 && h.policy_id == "pol-vac-ft-001")
        .unwrap();
    assert_eq!((ana.balance, ana.times_set), (Some(20.0), 2));
    let again = site.run(&running, &samples(), Some(&manifest), &[]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "the new balance is now what is done"
    );
    assert_eq!(puts(&running), WRITES + 12);
}

#[test]
fn a_quota_stop_resumes_after_the_reset_sending_each_assignment_once() {
    let mut seed = sample_seed(vec![]);
    // 40 requests a day: three or four runs (and days) to get through 90 requests.
    seed.limits = Limits {
        per_minute: None,
        per_day: Some(40),
        ..Limits::default()
    };
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let mut codes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = site.run(&running, &samples(), None, &[]);
        codes.push(out.status.code().unwrap());
        match out.status.code() {
            Some(0) => break,
            Some(3) => {}
            other => panic!("exit {other:?}: {}", stderr_of(&out)),
        }
        assert!(Instant::now() < deadline, "{codes:?}");
        running.sandbox.next_day();
    }
    assert!(codes.len() >= 3 && codes[0] == 3, "{codes:?}");
    let state = running.sandbox.snapshot();
    assert_eq!(
        state.time_off_assignments.len() + state.pay_rule_assignments.len(),
        86
    );
    assert_eq!(state.pack_assignments.len(), 38);
    assert!(
        state.time_off_assignments.iter().all(|h| h.times_set == 1),
        "each sent exactly once"
    );
    assert!(state.pay_rule_assignments.iter().all(|h| h.times_set == 1));
    assert!(state.pack_assignments.iter().all(|h| h.times_set == 1));
    assert_eq!(puts(&running), WRITES);
    assert_eq!(state.rate_limited, 0);
}

#[test]
fn sigkill_at_any_point_loses_nothing_and_repeats_at_most_what_was_in_flight() {
    let mut seed = sample_seed(vec![]);
    seed.faults = Faults {
        latency_ms: 25,
        ..Faults::default()
    };
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let concurrency = 3;
    let mut kills = 0;
    for kill_after in [4, 30, 61] {
        let mut child = site
            .command(
                &running,
                &samples(),
                None,
                &["--concurrency", &concurrency.to_string()],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::util::wait_until(&format!("{kill_after} writes"), || {
            puts(&running) >= kill_after
        });
        child.kill().unwrap(); // SIGKILL: no cleanup of any kind
        child.wait().unwrap();
        kills += 1;
    }
    let last = site.run(&running, &samples(), None, &[]);
    assert_eq!(last.status.code(), Some(0), "{}", stderr_of(&last));
    let state = running.sandbox.snapshot();
    assert_eq!(
        state.time_off_assignments.len() + state.pay_rule_assignments.len(),
        86,
        "every assignment done"
    );
    assert_eq!(state.pack_assignments.len(), 38);
    // Nobody is put on a pack twice: a pack request in flight at a kill is read back.
    assert!(state.pack_assignments.iter().all(|h| h.times_set == 1));
    let extra = puts(&running) - WRITES;
    assert!(
        extra <= kills * concurrency,
        "{extra} repeated writes for {kills} kills at concurrency {concurrency}"
    );
    let users = site.latest_users();
    assert!(
        users
            .iter()
            .all(|u| &u["outcome"] == "succeeded" || &u["outcome"] == "skipped"),
        "{users:?}"
    );
    // A killed run leaves no report folder; the finished one's is whole.
    let folders: Vec<_> = std::fs::read_dir(site.reports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(folders[0].join("summary.json").exists());

    // history shows the killed runs as unfinished and the last one as done.
    let text = history_of(&site.state());
    assert_eq!(text.matches("did not finish").count(), 3, "{text}");
    assert_eq!(text.lines().count(), 5, "a header and four runs: {text}");
    // Columns are two spaces apart or more; a company's name has single spaces.
    let last: Vec<&str> = text
        .lines()
        .last()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    assert_eq!(
        last[2..5],
        ["run", "Northwind Foods (sandbox) (company 4f9a2c)", "0"],
        "{text}"
    );
}

#[test]
fn a_second_run_on_the_same_state_exits_75_naming_the_holder() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let held = ct_onboard::journal::StateLock::acquire(&site.state()).unwrap();
    let out = site.run(&running, &samples(), None, &[]);
    assert_eq!(out.status.code(), Some(75));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!(
            "is in use by a ct-onboard run (pid {}) started at 20",
            std::process::id()
        )),
        "{stderr}"
    );
    assert_eq!(
        running.sandbox.snapshot().requests.values().sum::<u64>(),
        0,
        "it did nothing"
    );
    // With --lock-timeout it waits for the other run instead.
    let waiting = site
        .command(&running, &samples(), None, &["--lock-timeout", "30s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It says it is waiting (on stderr, as it goes), and does nothing meanwhile.
    let mut waiting = waiting;
    let stderr = waiting.stderr.take().unwrap();
    let (said, hear) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = said.send(line);
        }
    });
    let line = hear.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(line.contains("waiting up to 30 s for it"), "{line}");
    assert_eq!(
        running.sandbox.snapshot().requests.values().sum::<u64>(),
        0,
        "still waiting"
    );
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    reader.join().unwrap();
    assert_exit(&out, 0);
    assert_eq!(puts(&running), WRITES, "it ran once the lock was free");
}

#[test]
fn history_lists_runs_and_one_users_assignments() {
    let site = Site::new();
    assert!(history_of(&site.state()).contains("nothing has run"));
    assert!(!site.state().exists(), "history creates nothing");
    let empty = crate::util::ct()
        .args(["history", "--json", "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&empty.stdout).trim(), "[]");

    let running = RunningSandbox::start(sample_seed(vec![]));
    site.run(&running, &samples(), None, &["--limit", "2"]);
    site.run(&running, &samples(), None, &[]);
    let text = history_of(&site.state());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("OUTCOMES"),
        "{text}"
    );
    assert!(
        lines[1].contains("not_attempted: 28") && lines[1].contains("succeeded: 2"),
        "{text}"
    );
    assert!(
        lines[2].contains("skipped: 2") && lines[2].contains("succeeded: 28"),
        "{text}"
    );

    let out = crate::util::ct()
        .args(["history", "--user", "9170357", "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("User 9170357\nKIND"), "{text}");
    assert!(
        text.contains("time_off         pol-vac-ft-001  done   balance 15 days"),
        "{text}"
    );
    assert!(
        text.contains("pay_rule         12346           done   effective 2029-01-04"),
        "{text}"
    );
    assert!(
        text.contains("onboarding_pack  501             done   on the pack"),
        "{text}"
    );
    let json = crate::util::ct()
        .args(["history", "--json", "--user", "9170357", "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 4);
    assert_eq!(entries[0]["state"], "done");
    let runs = crate::util::ct()
        .args(["history", "--json", "--state"])
        .arg(site.state())
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["exit_code"].is_u64())
    );
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_when_stale() {
    use std::os::unix::fs::PermissionsExt;
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let sheet = site.dir.path().join("hires.csv");
    std::fs::copy(samples(), &sheet).unwrap();
    let plan_file = site.dir.path().join("plan.json");
    let out = running
        .ct()
        .arg("plan")
        .arg(&sheet)
        .arg("--report-dir")
        .arg(site.reports())
        .arg("--out")
        .arg(&plan_file)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("Plan saved to")
    );
    assert_eq!(
        std::fs::metadata(&plan_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["users"].as_array().unwrap().len(), 30);
    assert_eq!(saved["users"][0]["assignments"][0]["balance"], "15");

    // An edited sheet makes the plan stale: refused, nothing sent.
    let original = std::fs::read_to_string(&sheet).unwrap();
    std::fs::write(
        &sheet,
        original.replace("Operations,Austin", "Operations,Boston"),
    )
    .unwrap();
    let refused = site.run(
        &running,
        &sheet,
        None,
        &["--plan", plan_file.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = stderr_of(&refused);
    assert!(
        stderr.contains("is stale: the sheet") && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    // So does another manifest.
    std::fs::write(&sheet, &original).unwrap();
    let manifest = write(
        site.dir.path(),
        "m.yaml",
        &std::fs::read_to_string(crate::util::root().join("config/manifest.yaml"))
            .unwrap()
            .replace("balance: 15", "balance: 16"),
    );
    let refused = site.run(
        &running,
        &sheet,
        Some(&manifest),
        &["--plan", plan_file.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr_of(&refused).contains("is stale: the manifest"),
        "{}",
        stderr_of(&refused)
    );
    assert_eq!(puts(&running), 0);

    // Unchanged inputs: exactly the plan is applied.
    let lookups = running.sandbox.snapshot().count("GET /users/v1/users");
    let applied = site.run(
        &running,
        &sheet,
        None,
        &["--plan", plan_file.to_str().unwrap()],
    );
    assert_eq!(applied.status.code(), Some(0), "{}", stderr_of(&applied));
    assert_eq!(puts(&running), WRITES);
    let state = running.sandbox.snapshot();
    assert_eq!(
        state.count("GET /users/v1/users"),
        lookups + 4,
        "the plan made again to check its body: the plan's lookups, once more"
    );
    assert!(
        site.latest_users()
            .iter()
            .all(|u| &u["outcome"] == "succeeded")
    );
}

#[test]
fn plan_shows_what_the_journal_already_settles() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    assert_eq!(
        site.run(&running, &samples(), None, &["--limit", "10"])
            .status
            .code(),
        Some(0)
    );
    let plan = |manifest: Option<&Path>| {
        let mut cmd = running.ct();
        cmd.arg("plan")
            .arg(samples())
            .arg("--state")
            .arg(site.state())
            .arg("--report-dir")
            .arg(site.dir.path().join("plans"));
        if let Some(m) = manifest {
            cmd.arg("--manifest").arg(m);
        }
        cmd.output().unwrap()
    };
    let out = plan(None);
    assert_exit(&out, 0);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("assignments:  84 (38 time-off, 20 pay-rule, 26 onboarding pack)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("settled:      40 already held (not sent again), 0 in conflict"),
        "{stdout}"
    );
    assert!(
        stdout.contains("requests:     95 (58 assignments + 2 to assign packs (up to 500 users a request) + 4 account and policy reads + 4 user lookups + 15 reads of what users hold + 12 to verify)"),
        "{stdout}"
    );

    let manifest = std::fs::read_to_string(crate::util::root().join("config/manifest.yaml"))
        .unwrap()
        .replacen("balance: 15", "balance: 20", 1);
    let manifest = write(site.dir.path(), "manifest.yaml", &manifest);
    let out = plan(Some(&manifest));
    assert_eq!(
        out.status.code(),
        Some(1),
        "conflicts need a decision: {}",
        stderr_of(&out)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("in conflict (left alone; --allow-overwrite sends them)")
    );
    assert_eq!(puts(&running), 28 + 2, "planning sends nothing");
}
