//! The stop flag: why a run stops starting new work, checked before every request and
//! awaited by every wait.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Why a run stopped starting new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    Interrupted = 1,
    QuotaExhausted = 2,
    AuthRefused = 3,
    MaxErrors = 4,
    /// Rate-limited with no success for longer than the patience: stops like the quota.
    RateLimitedTooLong = 5,
    /// The journal could not be written (a full disk): nothing more is sent, since a
    /// write it cannot record could be sent twice. Exits 74.
    JournalFailed = 6,
}

/// A stop flag checked before every request, and awaited by every wait. The first
/// reason set wins, except that a refused key always shows (it decides the exit code).
#[derive(Debug, Default)]
pub struct Stop {
    reason: AtomicU8,
    changed: tokio::sync::Notify,
}

/// How long a request already in flight may finish after an interrupt.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(5);

impl StopReason {
    /// Why nothing more is sent, in a report's words.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Interrupted => "the run was interrupted first",
            StopReason::QuotaExhausted => "today's quota ran out first",
            StopReason::AuthRefused => "the API key was refused",
            StopReason::MaxErrors => "the run stopped at --max-errors first",
            StopReason::RateLimitedTooLong => "the run stopped, rate-limited for too long",
            StopReason::JournalFailed => "the journal could not be written",
        }
    }
}

impl Stop {
    pub fn set(&self, reason: StopReason) {
        let first = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if reason == StopReason::AuthRefused {
            self.reason.store(reason as u8, Ordering::SeqCst);
        }
        if first || reason == StopReason::AuthRefused {
            tracing::warn!(event = "stop", reason = ?reason, "the run stops starting new work: {reason:?}");
        }
        self.changed.notify_waiters();
    }

    /// Resolves once the run is interrupted or its key refused: every wait races this.
    pub async fn halted(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.ends_retries() {
                return;
            }
            changed.await;
        }
    }

    pub fn get(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::Interrupted),
            2 => Some(StopReason::QuotaExhausted),
            3 => Some(StopReason::AuthRefused),
            4 => Some(StopReason::MaxErrors),
            5 => Some(StopReason::RateLimitedTooLong),
            6 => Some(StopReason::JournalFailed),
            _ => None,
        }
    }

    /// A stop that also ends requests already started (a quota stop lets them finish).
    pub fn ends_retries(&self) -> bool {
        matches!(
            self.get(),
            Some(StopReason::Interrupted | StopReason::AuthRefused)
        )
    }
}
