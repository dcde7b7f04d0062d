//! Execution speed: `cargo bench --bench execution`.
//!
//! Runs the release binary's `run` against the sandbox (served from this process) and
//! prints:
//! - pacing: requests achieved per minute over the rate the server allows, and the 429s
//!   met, at 1200/min over 900 assignments (target ≥ 0.95 with zero 429s) and at the
//!   Expert plan's 100/min;
//! - overhead: assignments per second against an unlimited, zero-latency sandbox
//!   (target ≥ 2,000/s), next to a bare reqwest loop sending the same requests;
//! - lookups: `plan` of a 10,000-row sheet identified by email at the Expert plan's
//!   100/min: its ~100 user lookups go through the same throttle as writes (target: zero
//!   429s);
//! - economy: a 300-user run with everything included (policy reads, lookups, reading
//!   what users hold before, verifying after) of 900 time-off and pay-rule assignments
//!   and 600 on two onboarding packs: requests per assignment, with the packs and without
//!   them (target ≤ 1.05), and 429s (target zero);
//! - the naive peer: the API documentation's own bulk example (one PUT after another,
//!   no pacing, no retry) against a sandbox at Expert limits, next to ct-onboard on the
//!   same sheet.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ct_onboard::sandbox::{Limits, Sandbox, Seed, SeedUser};

const MANIFEST: &str = "employee_types:
  bench:
    time_off:
      - policy_id: pol-vac-ft-001
        balance: 10
        unit: days
    pay_rule:
      policy_id: 12345
      effective_date: 2027-06-01
";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// A sheet of `users` hires, each with two assignments, and its manifest.
    fn new(users: u64) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sheet = String::from("user_id,employee_type\n");
        for id in 1..=users {
            sheet += &format!("{id},bench\n");
        }
        std::fs::write(dir.path().join("hires.csv"), sheet).expect("sheet");
        std::fs::write(dir.path().join("manifest.yaml"), MANIFEST).expect("manifest");
        Setup { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

fn seed(users: u64, limits: Limits) -> Seed {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seed = Seed::from_file(&root.join("samples/sandbox.yaml")).expect("sample seed");
    seed.limits = limits;
    seed.users = (1..=users)
        .map(|id| SeedUser {
            id,
            email: Some(format!("u{id}@bench.example")),
            first_name: "B".into(),
            last_name: id.to_string(),
            archived: false,
            phone: None,
        })
        .collect();
    seed
}

/// Runs `ct-onboard run`; returns wall seconds.
/// A simulator on loopback holding `users` users, under `limits`.
fn start(runtime: &tokio::runtime::Runtime, users: u64, limits: Limits) -> Sandbox {
    runtime
        .block_on(Sandbox::start(
            seed(users, limits),
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox")
}

/// The Expert plan's limits: 100 requests a minute, 10,000 a day.
fn expert() -> Limits {
    Limits {
        per_minute: Some(100),
        per_day: Some(10_000),
        ..Limits::default()
    }
}

fn run(sandbox: &Sandbox, setup: &Setup, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ct-onboard"))
        .env("CT_ONBOARD_TODAY", "2026-11-23")
        .env("CONNECTEAM_BASE_URL", sandbox.url())
        .env("CONNECTEAM_API_KEY", "bench")
        .arg("run")
        .arg(setup.path("hires.csv"))
        .arg("--manifest")
        .arg(setup.path("manifest.yaml"))
        .arg("--report-dir")
        .arg(setup.path("reports"))
        .args(["--no-progress", "-q"])
        .args(args)
        .output()
        .expect("run ct-onboard");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seconds
}

/// Pace at `per_minute`: ct-onboard set to the same rate with no reserve.
fn pace(runtime: &tokio::runtime::Runtime, per_minute: u64, users: u64) -> (f64, u64, usize, f64) {
    let setup = Setup::new(users);
    let limits = Limits {
        per_minute: Some(per_minute),
        per_day: None,
        ..Limits::default()
    };
    let sandbox = start(runtime, users, limits);
    let rate = per_minute.to_string();
    let seconds = run(
        &sandbox,
        &setup,
        &[
            "--rate-per-minute",
            &rate,
            "--quota-reserve-percent",
            "0",
            "--concurrency",
            "8",
        ],
    );
    let state = sandbox.snapshot();
    let requests: u64 = state.requests.values().sum();
    let assignments = state.time_off_assignments.len() + state.pay_rule_assignments.len();
    let achieved = requests as f64 / (seconds / 60.0);
    println!(
        "pace:     {per_minute}/min allowed: {assignments} assignments, {requests} requests in {seconds:.1} s = {achieved:.0}/min, \
         efficiency {:.3}, {} 429s",
        achieved / per_minute as f64,
        state.rate_limited
    );
    (
        achieved / per_minute as f64,
        state.rate_limited,
        assignments,
        seconds,
    )
}

/// The same two PUTs per user as ct-onboard sends, from a plain reqwest loop with the
/// same concurrency and nothing else: no validation, throttle, journal or report.
async fn bare_loop(url: &str, users: u64, concurrency: usize) -> (usize, f64) {
    use futures::StreamExt;
    let client = reqwest::Client::new();
    let start = Instant::now();
    let ok = futures::stream::iter(1..=users)
        .map(|id| {
            let client = client.clone();
            async move {
                let a = client
                    .put(format!(
                        "{url}/time-off/v1/time-off-policies/pol-vac-ft-001/assignments"
                    ))
                    .header("x-api-key", "bench")
                    .json(&serde_json::json!({"userId": id, "balance": 10, "unit": "days"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let b = client
                    .put(format!(
                        "{url}/company-policies/v1/pay-rule-policies/12345/assignments"
                    ))
                    .header("x-api-key", "bench")
                    .json(&serde_json::json!({"userId": id, "effectiveDate": "2027-06-01"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                usize::from(a) + usize::from(b)
            }
        })
        .buffer_unordered(concurrency)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    (ok, start.elapsed().as_secs_f64())
}

/// The documentation's bulk example: for each user, one PUT, then the next; no pacing,
/// no retry, a failure is a failure.
async fn naive_peer(url: &str, users: u64) -> (usize, usize, f64) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let (mut ok, mut sent) = (0, 0);
    for id in 1..=users {
        for (path, body) in [
            (
                "/time-off/v1/time-off-policies/pol-vac-ft-001/assignments",
                serde_json::json!({"userId": id, "balance": 10, "unit": "days"}),
            ),
            (
                "/company-policies/v1/pay-rule-policies/12345/assignments",
                serde_json::json!({"userId": id, "effectiveDate": "2027-06-01"}),
            ),
        ] {
            sent += 1;
            let response = client
                .put(format!("{url}{path}"))
                .header("x-api-key", "bench")
                .json(&body)
                .send()
                .await;
            ok += usize::from(response.is_ok_and(|r| r.status().is_success()));
        }
    }
    (ok, sent, start.elapsed().as_secs_f64())
}

/// Five assignments per user (two time-off types, a pay rule and two onboarding packs)
/// at 1200/min: every request the run sends, per assignment. The packs' requests (one
/// per pack per 500 users) are counted with the rest, and the figure without the packs'
/// assignments and requests is printed beside it.
fn economy(runtime: &tokio::runtime::Runtime, users: u64) {
    let setup = Setup::new(users);
    std::fs::write(
        setup.path("manifest.yaml"),
        "employee_types:
  bench:
    time_off:
      - policy_id: pol-vac-ft-001
        balance: 10
        unit: days
      - policy_id: pol-sick-001
    pay_rule:
      policy_id: 12345
      effective_date: 2027-06-01
    onboarding_packs:
      - pack_id: 501
      - pack_id: 502
",
    )
    .expect("manifest");
    let limits = Limits {
        per_minute: Some(1200),
        per_day: None,
        ..Limits::default()
    };
    let sandbox = start(runtime, users, limits);
    let seconds = run(
        &sandbox,
        &setup,
        &[
            "--rate-per-minute",
            "1200",
            "--quota-reserve-percent",
            "0",
            "--concurrency",
            "8",
        ],
    );
    let state = sandbox.snapshot();
    let requests: u64 = state.requests.values().sum();
    let on_packs = state.pack_assignments.len();
    let assignments = state.time_off_assignments.len() + state.pay_rule_assignments.len();
    let reads = requests - state.writes();
    let pack_requests: u64 = state
        .requests
        .iter()
        .filter(|(k, _)| k.contains(" /onboarding/"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "economy:  {users} users, {} assignments ({on_packs} on packs): {requests} requests ({reads} reads, {} pack writes) in {seconds:.1} s = {:.3} per assignment; without the packs {:.3} per assignment; {} 429s",
        assignments + on_packs,
        state.count("POST /onboarding/v1/packs/{id}/assignments"),
        requests as f64 / (assignments + on_packs) as f64,
        (requests - pack_requests) as f64 / assignments as f64,
        state.rate_limited
    );
}

/// `plan` of a sheet of `users` hires identified by email, at the Expert plan's limits
/// and ct-onboard's default pace (100/min less the 10 % reserve).
fn lookups(runtime: &tokio::runtime::Runtime, users: u64) {
    let setup = Setup::new(0);
    let mut sheet = String::from("email,employee_type\n");
    for id in 1..=users {
        sheet += &format!("u{id}@bench.example,bench\n");
    }
    std::fs::write(setup.path("emails.csv"), sheet).expect("sheet");
    let sandbox = start(runtime, users, expert());
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ct-onboard"))
        .env("CT_ONBOARD_TODAY", "2026-11-23")
        .env("CONNECTEAM_BASE_URL", sandbox.url())
        .env("CONNECTEAM_API_KEY", "bench")
        .arg("plan")
        .arg(setup.path("emails.csv"))
        .arg("--manifest")
        .arg(setup.path("manifest.yaml"))
        .arg("--report-dir")
        .arg(setup.path("reports"))
        .arg("-q")
        .output()
        .expect("run ct-onboard");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = sandbox.snapshot();
    let requests: u64 = state.requests.values().sum();
    let lookups = state.count("GET /users/v1/users");
    let holdings = state.count("GET /time-off/v1/policy-types/{id}/balances")
        + state.count("GET /company-policies/v1/pay-rule-policies/{id}/assignments");
    println!(
        "lookups:  plan of {users} rows by email at 100/min: {requests} reads ({lookups} user lookups, \
         {holdings} of what users hold) in {seconds:.1} s, {} 429s",
        state.rate_limited
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));

    if wanted("pace") {
        pace(&runtime, 1200, 450);
    }

    if wanted("overhead") {
        let users = 5000;
        let setup = Setup::new(users);
        let sandbox = start(&runtime, users, Limits::unlimited());
        let seconds = run(
            &sandbox,
            &setup,
            &[
                "--rate-per-minute",
                "100000000",
                "--quota-reserve-percent",
                "0",
                "--concurrency",
                "16",
            ],
        );
        let state = sandbox.snapshot();
        let assignments = state.time_off_assignments.len() + state.pay_rule_assignments.len();
        let tool_rate = assignments as f64 / seconds;
        drop(sandbox);
        let sandbox = start(&runtime, users, Limits::unlimited());
        let (ok, bare_seconds) = runtime.block_on(bare_loop(&sandbox.url(), users, 16));
        let bare_rate = ok as f64 / bare_seconds;
        println!(
            "overhead: ct-onboard {assignments} assignments in {seconds:.2} s = {tool_rate:.0}/s (whole run: validation, lookups, \
             journal, report); bare reqwest loop {ok} in {bare_seconds:.2} s = {bare_rate:.0}/s; ratio {:.2}",
            tool_rate / bare_rate
        );
    }

    if wanted("economy") {
        economy(&runtime, 300);
    }

    if wanted("lookups") {
        lookups(&runtime, 10_000);
    }

    if wanted("naive") || wanted("expert") {
        // The Expert plan: 100 requests a minute. 75 hires, 150 assignments.
        let users = 75;
        let sandbox = start(&runtime, users, expert());
        let (ok, sent, seconds) = runtime.block_on(naive_peer(&sandbox.url(), users));
        println!(
            "naive:    the docs' example, one PUT after another: {ok}/{sent} succeeded ({:.0} %) in {seconds:.1} s, {} refused with 429 and not retried",
            ok as f64 * 100.0 / sent as f64,
            sandbox.snapshot().rate_limited
        );
        drop(sandbox);
        let (_, rate_limited, assignments, seconds) = pace(&runtime, 100, users);
        println!(
            "expert:   ct-onboard on the same sheet at Expert limits: {assignments}/{sent} succeeded (100 %) in {seconds:.1} s, {rate_limited} 429s"
        );
    }
}
