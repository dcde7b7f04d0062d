//! The process exit codes, as PRODUCT.md lists them.

/// How a command ended. The numbers are part of the contract cron jobs rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every assignment succeeded, or was already done.
    Success = 0,
    /// Some assignments failed (see `failed.csv`).
    SomeFailed = 1,
    /// Invalid input, manifest, settings or usage: nothing was sent.
    Invalid = 2,
    /// Stopped early for the daily quota: re-run after the reset.
    QuotaExhausted = 3,
    /// Authentication or permission refused (401/403).
    AuthRefused = 4,
    /// Another run holds the lock.
    Locked = 75,
    /// Interrupted by SIGINT or SIGTERM.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
