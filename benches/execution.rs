//! Execution speed: `cargo bench --bench execution`.
//!
//! Runs the release binary's `run` against the sandbox (served from this process) and
//! prints two figures:
//! - pace efficiency: requests achieved per minute over the rate the server allows, and
//!   the 429s met, at 1200/min over 900 assignments (target ≥ 0.95 with zero 429s);
//! - overhead: assignments per second against an unlimited, zero-latency sandbox
//!   (target ≥ 2,000/s).

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
        })
        .collect();
    seed
}

/// Runs `ct-onboard run`; returns wall seconds.
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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");

    // Pace: the server allows 1200 a minute; ct-onboard is set to the same, no reserve.
    let users = 450;
    let allowed = 1200.0;
    let setup = Setup::new(users);
    let limits = Limits {
        per_minute: Some(1200),
        per_day: None,
        ..Limits::default()
    };
    let sandbox = runtime
        .block_on(Sandbox::start(
            seed(users, limits),
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
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
    let assignments = state.time_off_assignments.len() + state.pay_rule_assignments.len();
    let achieved = requests as f64 / (seconds / 60.0);
    println!(
        "pace:     {assignments} assignments, {requests} requests in {seconds:.1} s = {achieved:.0}/min of {allowed:.0}/min allowed: \
         efficiency {:.3}, {} 429s",
        achieved / allowed,
        state.rate_limited
    );
    drop(sandbox);

    // Overhead: no limits, no latency; what ct-onboard itself costs per assignment.
    let users = 5000;
    let setup = Setup::new(users);
    let sandbox = runtime
        .block_on(Sandbox::start(
            seed(users, Limits::unlimited()),
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
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
    println!(
        "overhead: {assignments} assignments in {seconds:.2} s = {:.0} assignments/s (whole run, validation included)",
        assignments as f64 / seconds
    );
}
