//! How commands end: a closed pipe, an unreachable API, and the in-process entry point.

use std::io::{BufRead, BufReader};

use crate::util::{TODAY, ct, ct_in, fixture, write};

#[test]
fn a_closed_pipe_ends_quietly_with_the_normal_exit_code() {
    // `ct-onboard check big.csv 2>&1 | head -1`: thousands of error lines into a pipe
    // whose reader leaves after the first.
    let dir = tempfile::tempdir().unwrap();
    let mut sheet = String::from("user_id,employee_type\n");
    for id in 1..=20_000 {
        sheet += &format!("{id},nope\n");
    }
    let sheet = write(dir.path(), "big.csv", &sheet);
    let mut child = crate::util::ct_process()
        .arg("check")
        .arg(&sheet)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("error: "), "{first}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "not a panic (101)");
}

#[test]
fn an_unreachable_api_before_any_write_exits_69_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    // The default retry policy (5 retries, 500 ms doubling) would take ~15 s: a host
    // that was never reached gets one retry, so this ends in about a second.
    let started = std::time::Instant::now();
    let out = ct()
        .args(["plan", "samples/new-hires.csv", "--base-url", &url])
        .env("CONNECTEAM_API_KEY", "k")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains(&format!("{url} (from --base-url)")),
        "{stderr}"
    );
    assert!(stderr.contains("Nothing was sent"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn commands_run_in_process_with_captured_output() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let (code, stdout, stderr) = ct_in(&[
        "plan".as_ref(),
        fixture("hires-utf8.csv").as_ref(),
        "--manifest".as_ref(),
        fixture("manifest.yaml").as_ref(),
        "--today".as_ref(),
        TODAY.as_ref(),
        "--report-dir".as_ref(),
        reports.as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("Plan (offline"), "{stdout}");
    assert!(reports.exists());
}

#[test]
fn a_base_url_with_a_path_or_without_a_scheme_is_refused_before_anything() {
    for (url, expect) in [
        (
            "https://api.connecteam.com/v1",
            "use https://api.connecteam.com",
        ),
        ("127.0.0.1:8080", "write it whole"),
    ] {
        let out = ct()
            .args(["plan", "samples/new-hires.csv", "--base-url", url])
            .env("CONNECTEAM_API_KEY", "k")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(expect) && stderr.contains("(from --base-url)"),
            "{stderr}"
        );
    }
}

#[test]
fn output_json_prints_the_summary_object_alone_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = ct()
        .args([
            "plan",
            "samples/new-hires.csv",
            "--output",
            "json",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["mode"], "plan");
    assert_eq!(summary["users"], 30);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Report: "));
}

/// Every stderr line as a JSON object.
fn json_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn events<'a>(lines: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["event"] == name)
        .map(|l| &l["fields"])
        .collect()
}

#[test]
fn json_logs_are_one_object_a_line_with_the_run_each_failure_and_the_summary() {
    let mut seed = crate::util::sample_seed(vec![]);
    seed.faults = ct_onboard::sandbox::Faults {
        client_error_rate: 1.0,
        ..ct_onboard::sandbox::Faults::default()
    };
    let running = crate::util::RunningSandbox::start(seed);
    let dir = tempfile::tempdir().unwrap();
    let out = running.run_samples(
        dir.path(),
        &[
            "--log-format",
            "json",
            "--rate-per-minute",
            "1000000",
            "--max-errors",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    assert_eq!(events(&lines, "run").len(), 1);
    let failed = events(&lines, "assignment");
    assert!(failed.len() >= 3, "{failed:?}");
    let first = failed[0];
    assert_eq!(first["status"], "failed");
    assert_eq!(first["http_status"], 409, "{failed:?}");
    assert_eq!(first["request_id"], "sbx-409");
    assert!(first["row"].is_u64() && first["user_id"].is_u64() && first["policy_id"].is_string());
    assert!(first["error"].as_str().unwrap().contains("HAS_LOCKED_DAYS"));
    assert!(
        !events(&lines, "stop").is_empty(),
        "--max-errors stopped it"
    );
    let summary = events(&lines, "summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["exit_code"], 1);
    assert!(summary[0]["outcomes"].as_str().unwrap().contains("failed"));

    // Problems with the input too.
    let bad = write(
        dir.path(),
        "bad.csv",
        "user_id,employee_type,start_date\n12x,intern,2029-06-04\n",
    );
    let out = ct()
        .args(["check", "--log-format", "json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out.stderr);
    let problems = events(&lines, "problem");
    assert_eq!(problems[0]["row"], 2);
}

#[test]
fn help_groups_flags_and_says_the_environment_and_exit_codes_and_man_pages_exist() {
    let out = ct().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "Input:",
        "Connecteam:",
        "Pacing:",
        "Output:",
        "Run control:",
    ] {
        assert!(help.lines().any(|l| l == heading), "{heading} in\n{help}");
    }
    assert!(help.contains("CONNECTEAM_API_KEY") && help.contains("CT_ONBOARD_CONFIG"));
    assert!(help.contains("69   Connecteam unreachable"), "{help}");
    // Each command shows the flags it uses.
    let policies = ct().args(["policies", "--help"]).output().unwrap();
    let policies = String::from_utf8_lossy(&policies.stdout);
    assert!(policies.contains("--base-url") && policies.contains("--rate-per-minute"));
    assert!(!policies.contains("--manifest") && !policies.contains("--concurrency"));
    let dir = tempfile::tempdir().unwrap();
    let out = ct()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for page in ["ct-onboard.1", "ct-onboard-run.1", "ct-onboard-snapshot.1"] {
        assert!(dir.path().join(page).exists(), "{page}");
    }
    let main_page = std::fs::read_to_string(dir.path().join("ct-onboard.1")).unwrap();
    assert!(main_page.contains("EXIT STATUS"));
}

#[test]
fn no_color_and_color_never_keep_escape_codes_out_of_stderr() {
    let running = crate::util::RunningSandbox::start(crate::util::sample_seed(vec![]));
    let dir = tempfile::tempdir().unwrap();
    for (flag, env) in [("--color=never", None), ("--color=auto", Some("1"))] {
        let mut cmd = running.ct();
        cmd.args(["plan", "samples/new-hires.csv", flag, "--report-dir"])
            .arg(dir.path());
        if let Some(v) = env {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.stderr.contains(&0x1b), "{flag}");
    }
    let out = running
        .ct()
        .args([
            "plan",
            "samples/new-hires.csv",
            "--color=always",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.stderr.contains(&0x1b), "always means always");
}

#[test]
fn the_install_files_agree_with_the_readme_and_systemd_accepts_them() {
    let root = crate::util::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cron = std::fs::read_to_string(root.join("contrib/cron/ct-onboard")).unwrap();
    let job = cron.lines().last().unwrap();
    assert!(
        readme.contains(job),
        "the README shows the cron.d line as it is"
    );
    let unit = std::fs::read_to_string(root.join("contrib/systemd/ct-onboard.service")).unwrap();
    for needed in [
        "LoadCredential=api-key:",
        "--api-key-file %d/api-key",
        "StateDirectory=ct-onboard",
        "LogsDirectory=ct-onboard",
        "SuccessExitStatus=3 75",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not here: the units are not verified");
        return;
    };
    // Verified as installed, but with this build standing in for /usr/local/bin.
    let dir = tempfile::tempdir().unwrap();
    let binary = assert_cmd::cargo::cargo_bin!("ct-onboard");
    write(
        dir.path(),
        "ct-onboard.service",
        &unit.replace("/usr/local/bin/ct-onboard", &binary.display().to_string()),
    );
    std::fs::copy(
        root.join("contrib/systemd/ct-onboard.timer"),
        dir.path().join("ct-onboard.timer"),
    )
    .unwrap();
    let out = std::process::Command::new(analyze)
        .current_dir(dir.path())
        .args(["verify", "ct-onboard.service", "ct-onboard.timer"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
