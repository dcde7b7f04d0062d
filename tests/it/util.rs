use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The binary, run from the repository root with a fixed "today" and no key or base URL
/// leaking in from the developer's environment.
pub fn ct() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("ct-onboard");
    cmd.current_dir(root())
        .env("CT_ONBOARD_TODAY", "2026-11-23")
        .env_remove("CONNECTEAM_API_KEY")
        .env_remove("CONNECTEAM_BASE_URL")
        .env_remove("RUST_LOG");
    cmd
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
        let mut cmd = ct();
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
    }
}
