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
