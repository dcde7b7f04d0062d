//! The one-run lock: an OS file lock beside the journal (`<state>.lock`), taken first so
//! that a second cron run stops at once, or waits for the other to end.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::Stop;
use crate::error::Error;

/// The lock that keeps two runs off one journal. Released when dropped, or when the
/// process dies however it dies (it is an OS file lock, not a PID file).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

#[derive(Debug)]
pub enum LockError {
    /// Another run holds it; the text says who and since when.
    Held(String),
    Io(String),
}

impl StateLock {
    /// Takes the lock on `<state>.lock`, writing who holds it and since when. The state
    /// path is made canonical first, so that a symlink or `..` to the same journal finds
    /// the same lock.
    pub fn acquire(state: &Path) -> Result<StateLock, LockError> {
        let state = canonical(state)
            .map_err(|e| LockError::Io(format!("cannot resolve {}: {e}", state.display())))?;
        let mut name = state.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| LockError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Io(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another ct-onboard run".to_owned()
                } else {
                    holder.to_owned()
                };
                return Err(LockError::Held(holder));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::Io(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        let holder = format!(
            "a ct-onboard run (pid {}) started at {}",
            std::process::id(),
            super::now()
        );
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()));
        written.map_err(|e| LockError::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(StateLock { _file: file })
    }
}

/// The path with every symlink and `..` resolved, for a file that may not exist yet
/// (its folder is created).
pub(super) fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    canonical_within(path, 0)
}

fn canonical_within(path: &Path, links: u32) -> std::io::Result<PathBuf> {
    if path.exists() {
        return std::fs::canonicalize(path);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A symlink whose target does not exist yet (the journal another run is about to
    // create) is the target's path: both runs must find the same lock.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        if links > 40 {
            return Err(std::io::Error::other("too many levels of symbolic links"));
        }
        return canonical_within(&dir.join(std::fs::read_link(path)?), links + 1);
    }
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    Ok(std::fs::canonicalize(dir)?.join(name))
}

/// Takes the journal's one-run lock: first, so that a second cron run stops at once, or
/// after waiting up to `wait` for the other run to end (a signal ends the wait).
pub async fn lock(state: &Path, wait: Duration, stop: &Stop) -> Result<StateLock, Error> {
    let state = state.to_path_buf();
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        match StateLock::acquire(&state) {
            Ok(lock) => return Ok(lock),
            Err(LockError::Io(message)) => return Err(Error::Local(message)),
            Err(LockError::Held(holder)) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Locked {
                    path: state,
                    holder,
                });
            }
            Err(LockError::Held(holder)) => {
                if !std::mem::replace(&mut told, true) {
                    tracing::info!(
                        "{} is in use by {holder}; waiting up to {} s for it",
                        state.display(),
                        wait.as_secs()
                    );
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = stop.halted() => return Err(Error::Interrupted(
                "interrupted while waiting for the lock; nothing was sent".into(),
            )),
        }
    }
}
