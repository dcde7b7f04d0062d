//! What the gateway has sent: counts for the summary, and a timeline for the report's
//! chart.

use std::sync::atomic::AtomicU64;

/// When requests were sent, rate-limited and paused, in seconds from the client's start:
/// what the report's chart draws.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub requests: Vec<f64>,
    pub rate_limited: Vec<f64>,
    /// (start, length) of each pause every worker made.
    pub pauses: Vec<(f64, f64)>,
}

#[derive(Debug)]
pub(super) struct Recorder {
    started: tokio::time::Instant,
    pub(super) timeline: std::sync::Mutex<Timeline>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            started: tokio::time::Instant::now(),
            timeline: std::sync::Mutex::default(),
        }
    }
}

impl Recorder {
    pub(super) fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub(super) fn record(&self, what: impl FnOnce(&mut Timeline, f64)) {
        let now = self.now();
        what(
            &mut self
                .timeline
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            now,
        );
    }
}

/// What the gateway has sent so far.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    /// Answers of any kind (a status code came back): the server is there.
    pub(super) answered: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) retries: AtomicU64,
}
