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

/// An instant `hours` from now, for `CT_ONBOARD_NOW`: a later run, without waiting.
pub fn hours_later(hours: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours)).to_string()
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

/// Asserts a command's exit code, showing its whole output when it is another.
#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32) {
    Ran::of(out).expect(code);
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

/// A test's own folder (ripgrep's `Dir`, fd's `TestEnv`): its sheets, its report folder
/// and its journal, gone when dropped.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

impl Site {
    pub fn new() -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to a file of this folder and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        write(self.path(), name, text)
    }

    pub fn reports(&self) -> PathBuf {
        self.path().join("reports")
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("state/ct-onboard.db")
    }

    /// `ct-onboard VERB SHEET` against `running`, without progress, its reports and
    /// journal in this folder.
    pub fn ct(&self, running: &RunningSandbox, verb: &str, sheet: &Path) -> TestCommand {
        let mut cmd = TestCommand::new(running.ct_process());
        cmd.arg(verb)
            .arg(sheet)
            .arg("--no-progress")
            .arg("--report-dir")
            .arg(self.reports())
            .arg("--state")
            .arg(self.state());
        cmd
    }

    /// `ct-onboard run SHEET EXTRA` against `running` (with `--manifest` when given),
    /// as a process to run, spawn or kill.
    pub fn command(
        &self,
        running: &RunningSandbox,
        sheet: &Path,
        manifest: Option<&Path>,
        extra: &[&str],
    ) -> std::process::Command {
        let mut cmd = self.ct(running, "run", sheet);
        if let Some(manifest) = manifest {
            cmd.arg("--manifest").arg(manifest);
        }
        cmd.args(extra);
        cmd.cmd
    }

    /// The same, run to the end.
    pub fn run(
        &self,
        running: &RunningSandbox,
        sheet: &Path,
        manifest: Option<&Path>,
        extra: &[&str],
    ) -> std::process::Output {
        self.command(running, sheet, manifest, extra)
            .output()
            .unwrap()
    }

    /// The report folders written so far, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.reports())
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        runs.sort();
        runs
    }

    /// The latest report folder.
    pub fn latest(&self) -> PathBuf {
        self.runs().pop().expect("a report was written")
    }

    /// The latest report's `assignments.csv`.
    pub fn assignments(&self) -> Vec<Record> {
        read_records(&self.latest().join("assignments.csv"))
    }

    /// The latest report's `users.csv`.
    pub fn latest_users(&self) -> Vec<Record> {
        read_records(&self.latest().join("users.csv"))
    }
}

/// A command line to run (ripgrep's `TestCommand`): built up, then run with its whole
/// output (exit code, stdout, stderr) in hand, shown whole when an expectation fails.
pub struct TestCommand {
    cmd: std::process::Command,
}

impl TestCommand {
    pub fn new(cmd: std::process::Command) -> TestCommand {
        TestCommand { cmd }
    }

    /// The binary with the tests' settings (see [`ct`]).
    pub fn ct() -> TestCommand {
        TestCommand::new(ct_process())
    }

    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: &Path) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs it to the end.
    pub fn run(&mut self) -> Ran {
        Ran::of(&self.cmd.output().unwrap())
    }

    /// Runs it, and asserts its exit code, showing the whole output when it is another.
    #[track_caller]
    pub fn expect(&mut self, code: i32) -> Ran {
        let ran = self.run();
        ran.expect(code);
        ran
    }

    /// Starts it with stdout and stderr piped, to signal or kill.
    pub fn spawn(&mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// A command's whole output.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The exit code; -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn of(out: &std::process::Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Stdout then stderr: what a person at a terminal sees.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing the whole output when it is another.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit {} where {code} was expected\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stdout or stderr says `words`, showing the whole output when not.
    #[track_caller]
    pub fn says(&self, words: &str) -> &Self {
        assert!(
            self.stdout.contains(words) || self.stderr.contains(words),
            "no \"{words}\" in the output\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `GET /me` on a wiremock server: the company behind any key.
pub async fn mount_me(server: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/me"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!(
                {"requestId": "me", "data": {"companyId": "c-wire", "companyName": "Wiremock Ltd"}}
            )),
        )
        .mount(server)
        .await;
}
