use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The "today" every test plans on.
pub const TODAY: &str = "2026-11-23";

/// The binary, run from the repository root with a fixed "today", the test settings
/// (`tests/fixtures/fast.toml`: nothing to wait out) and no key or base URL leaking in
/// from the developer's environment.
pub fn ct() -> Command {
    Command::from_std(ct_process())
}

/// The same, as a plain process to spawn, signal or kill.
pub fn ct_process() -> std::process::Command {
    let mut cmd = ct_as_shipped();
    cmd.env("CT_ONBOARD_CONFIG", fixture("fast.toml"));
    cmd
}

/// The binary as a newcomer runs it from the repository: the shipped settings
/// (`config/ct-onboard.toml`), at their real pace.
pub fn ct_as_shipped() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ct-onboard"));
    cmd.current_dir(root())
        .env("CT_ONBOARD_TODAY", TODAY)
        .env_remove("CONNECTEAM_API_KEY")
        .env_remove("CONNECTEAM_BASE_URL")
        .env_remove("CT_ONBOARD_CONFIG")
        .env_remove("CT_ONBOARD_JITTER_SEED")
        .env_remove("RUST_LOG");
    cmd
}

/// The library in-process on a command line (no `ct-onboard` in front): the exit code,
/// stdout and stderr. Paths are relative to the repository root, as for [`ct`]; nothing
/// is read from the environment that a flag can say instead.
pub fn ct_in(args: &[&std::ffi::OsStr]) -> (u8, String, String) {
    let cli = ct_onboard::cli::try_parse_from(
        [std::ffi::OsStr::new("ct-onboard")]
            .into_iter()
            .chain(args.iter().copied()),
    )
    .unwrap();
    let (console, captured) = ct_onboard::Console::captured();
    let exit = ct_onboard::run(cli, &console);
    (exit.code(), captured.stdout(), captured.stderr())
}

/// A seed for a random test, printed so that a failure can be replayed with
/// `CT_ONBOARD_TEST_SEED=N`.
pub fn dice(test: &str) -> u64 {
    let seed = std::env::var("CT_ONBOARD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test}: seed {seed} (replay with CT_ONBOARD_TEST_SEED={seed})");
    seed
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The only run folder under a report dir.
pub fn only_run_dir(report_dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(report_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// A CSV report file as rows of fields, BOM stripped.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("reports start with a UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// A sandbox served from its own runtime, so that a plain test can run the binary
/// against it. Stops when dropped.
pub struct RunningSandbox {
    pub sandbox: ct_onboard::sandbox::Sandbox,
    _runtime: tokio::runtime::Runtime,
}

impl RunningSandbox {
    pub fn start(seed: ct_onboard::sandbox::Seed) -> RunningSandbox {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(ct_onboard::sandbox::Sandbox::start(
                seed,
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        RunningSandbox {
            sandbox,
            _runtime: runtime,
        }
    }

    /// The binary, pointed at this sandbox with a key.
    pub fn ct(&self) -> Command {
        Command::from_std(self.ct_process())
    }

    /// The same, as a plain process to spawn, signal or kill.
    /// `ct-onboard run samples/new-hires.csv ARGS` against this sandbox, without progress,
    /// its report and its journal in `dir`.
    pub fn run_samples(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        self.ct()
            .args(["run", "samples/new-hires.csv", "--no-progress"])
            .args(args)
            .arg("--report-dir")
            .arg(dir)
            .arg("--state")
            .arg(dir.join("state.db"))
            .output()
            .unwrap()
    }

    pub fn ct_process(&self) -> std::process::Command {
        let mut cmd = ct_process();
        cmd.env("CONNECTEAM_BASE_URL", self.sandbox.url())
            .env("CONNECTEAM_API_KEY", "sandbox-key-0451");
        cmd
    }
}

/// The sample seed with unlimited rate limits, plus `extra` users.
pub fn sample_seed(extra: Vec<ct_onboard::sandbox::SeedUser>) -> ct_onboard::sandbox::Seed {
    let mut seed =
        ct_onboard::sandbox::Seed::from_file(&root().join("samples/sandbox.yaml")).unwrap();
    seed.limits = ct_onboard::sandbox::Limits::unlimited();
    seed.users.extend(extra);
    seed
}

pub fn seed_user(id: u64, email: &str, archived: bool) -> ct_onboard::sandbox::SeedUser {
    ct_onboard::sandbox::SeedUser {
        id,
        email: Some(email.to_owned()),
        first_name: "Test".into(),
        last_name: format!("User {id}"),
        archived,
        phone: None,
    }
}

/// One data row of a report CSV, its cells found by column name.
#[derive(Debug, Clone)]
pub struct Record {
    cells: std::collections::HashMap<String, String>,
}

impl std::ops::Index<&str> for Record {
    type Output = str;

    fn index(&self, column: &str) -> &str {
        self.cells
            .get(column)
            .unwrap_or_else(|| panic!("no column \"{column}\" in {:?}", self.cells))
    }
}

/// A report CSV's data rows (the header row names the columns), for assertions by name.
pub fn read_records(path: &Path) -> Vec<Record> {
    let rows = read_csv(path);
    let (header, data) = rows.split_first().expect("a header row");
    data.iter()
        .map(|row| Record {
            cells: header.iter().cloned().zip(row.iter().cloned()).collect(),
        })
        .collect()
}

/// A command's standard error, as text.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a command's exit code, showing its standard error when it is another.
#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr_of(out));
}

/// A report folder's `summary.json`.
pub fn read_summary(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap()
}

/// What `history` prints for the journal at `state`.
pub fn history_of(state: &Path) -> String {
    let out = ct()
        .arg("history")
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `done` holds, up to a minute of real time, saying what for on a timeout.
#[track_caller]
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
