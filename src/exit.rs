//! The process exit codes, as PRODUCT.md and the README list them.

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
    /// Connecteam unreachable, or answering what cannot be read, before any write
    /// (EX_UNAVAILABLE).
    Unavailable = 69,
    /// A local file (journal, report, saved plan) could not be written (EX_IOERR).
    CannotWrite = 74,
    /// Another run holds the lock (EX_TEMPFAIL).
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

impl Exit {
    /// The exit code of a plan or run from its users' outcomes: a refused key, then an
    /// interruption, then the quota, then failures, decide it in that order.
    pub fn of_outcomes(
        stop: Option<crate::api::StopReason>,
        users: &[crate::report::UserLine],
    ) -> Exit {
        use crate::api::StopReason;
        use crate::report::Outcome;
        match stop {
            Some(StopReason::AuthRefused) => return Exit::AuthRefused,
            Some(StopReason::Interrupted) => return Exit::Interrupted,
            Some(StopReason::JournalFailed) => return Exit::CannotWrite,
            _ => {}
        }
        // A write left unverified by a quota stop is finished by the next run, like a
        // deferred one.
        let quota_stop = matches!(
            stop,
            Some(StopReason::QuotaExhausted | StopReason::RateLimitedTooLong)
        );
        if users.iter().any(|u| {
            u.outcome == Outcome::Deferred || (quota_stop && u.outcome == Outcome::Unverified)
        }) {
            Exit::QuotaExhausted
        } else if users.iter().any(|u| {
            matches!(
                u.outcome,
                Outcome::Failed
                    | Outcome::Partial
                    | Outcome::Invalid
                    | Outcome::Conflict
                    | Outcome::Unverified
            )
        }) {
            Exit::SomeFailed
        } else {
            Exit::Success
        }
    }
}
