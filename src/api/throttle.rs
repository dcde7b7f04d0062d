//! One throttle shared by every worker (lychee's per-host `Host` is the model).
//!
//! Three gates, in order, before each request:
//! 1. a pause every worker honours, set when the server says the minute is spent (a 429,
//!    the 200 quirk, or `x-ratelimit-minute-remaining` down to the reserve), lifted at the
//!    window's reset plus jitter;
//! 2. spacing that spreads the minute's remaining budget (less the reserve) over the time
//!    left until its reset, recomputed from the headers of every response;
//! 3. governor, pacing at the configured rate less the reserve: an upper bound that
//!    holds even when the server sends no headers.
//!
//! The day budget is counted here too: a user is started only if the day's remaining
//! requests, less the reserve, cover all of that user's calls.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::RateLimits;

/// The longest any single pause lasts, whatever a header says.
const MAX_PAUSE: Duration = Duration::from_secs(65);

/// What is known of today's budget: limit, remaining and reset (epoch seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayBudget {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<u64>,
}

#[derive(Debug, Default)]
struct Gate {
    pause_until: Option<Instant>,
    /// Why every worker is paused, while it is.
    pause_reason: &'static str,
    next_slot: Option<Instant>,
    spacing: Duration,
    /// Consecutive rate limits without a reset header: the fallback pause doubles.
    blind_pauses: u32,
}

pub struct Throttle {
    limiter: DefaultDirectRateLimiter,
    /// The per-minute limit the server last announced.
    minute_limit: Mutex<Option<u64>>,
    reserve_percent: u8,
    configured_daily_quota: u64,
    gate: Mutex<Gate>,
    day: Mutex<DayBudget>,
    /// The jitter added to pauses, from the client's seeded generator.
    dice: Mutex<fastrand::Rng>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn epoch_now() -> u64 {
    jiff::Timestamp::now().as_second().max(0).cast_unsigned()
}

/// Time from now until an epoch-seconds instant (zero if past), capped.
fn until_epoch(epoch: u64) -> Duration {
    Duration::from_secs(epoch.saturating_sub(epoch_now())).min(MAX_PAUSE)
}

impl Throttle {
    /// `rate_per_minute` is the configured limit; the reserve is taken off it here.
    pub fn new(
        rate_per_minute: u32,
        reserve_percent: u8,
        daily_quota: u32,
        dice: fastrand::Rng,
    ) -> Throttle {
        let usable =
            (u64::from(rate_per_minute) * (100 - u64::from(reserve_percent.min(99))) / 100).max(1);
        let usable =
            NonZeroU32::new(u32::try_from(usable).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        // A burst of one spreads requests evenly instead of front-loading the minute.
        let quota = Quota::per_minute(usable).allow_burst(NonZeroU32::MIN);
        Throttle {
            limiter: RateLimiter::direct(quota),
            minute_limit: Mutex::new(None),
            reserve_percent: reserve_percent.min(99),
            configured_daily_quota: u64::from(daily_quota),
            gate: Mutex::new(Gate::default()),
            day: Mutex::new(DayBudget::default()),
            dice: Mutex::new(dice),
        }
    }

    /// A pause's jitter, so that every worker does not come back at the same instant.
    fn jitter(&self) -> Duration {
        Duration::from_millis(lock(&self.dice).u64(50..300))
    }

    fn reserve_of(&self, limit: u64) -> u64 {
        (limit * u64::from(self.reserve_percent)).div_ceil(100)
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        loop {
            let paused = lock(&self.gate).pause_until.filter(|p| *p > Instant::now());
            if let Some(until) = paused {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let slot = {
                let mut gate = lock(&self.gate);
                let now = Instant::now();
                let slot = gate.next_slot.map_or(now, |s| s.max(now));
                gate.next_slot = Some(slot + gate.spacing);
                slot
            };
            tokio::time::sleep_until(slot).await;
            // A pause set while this worker waited for its slot still applies.
            if lock(&self.gate)
                .pause_until
                .is_some_and(|p| p > Instant::now())
            {
                continue;
            }
            break;
        }
        self.limiter.until_ready().await;
    }

    /// Learns from the headers of any response, success or failure. Returns the pause it
    /// set, if the minute's budget is spent.
    pub fn observe(&self, limits: &RateLimits) -> Option<Duration> {
        self.observe_day(limits);
        if limits.minute_limit.is_some() {
            *lock(&self.minute_limit) = limits.minute_limit;
        }
        let (Some(remaining), Some(reset)) = (limits.minute_remaining, limits.minute_reset) else {
            return None;
        };
        let usable =
            remaining.saturating_sub(limits.minute_limit.map_or(0, |l| self.reserve_of(l)));
        let left = until_epoch(reset);
        let mut gate = lock(&self.gate);
        gate.blind_pauses = 0;
        if usable == 0 {
            let wait = left + self.jitter();
            Self::pause(&mut gate, wait, "the minute's budget is spent");
            tracing::info!(
                event = "pause",
                waiting_s = wait.as_secs_f64(),
                reason = "minute budget spent",
                "the minute's budget (less the reserve) is spent; all workers wait {:.1} s",
                wait.as_secs_f64()
            );
            Some(wait)
        } else {
            gate.spacing = left / u32::try_from(usable).unwrap_or(u32::MAX);
            None
        }
    }

    /// A 429 or the 200 quirk: every worker waits for the window to reset. Returns the wait.
    pub fn note_rate_limited(&self, limits: &RateLimits) -> Duration {
        self.observe_day(limits);
        let mut gate = lock(&self.gate);
        let wait = match limits.minute_reset {
            Some(reset) => until_epoch(reset).max(Duration::from_millis(500)),
            None => {
                gate.blind_pauses += 1;
                Duration::from_secs(1 << gate.blind_pauses.min(6)).min(MAX_PAUSE)
            }
        };
        let jitter = self.jitter();
        Self::pause(&mut gate, wait + jitter, "rate-limited by Connecteam");
        tracing::info!(
            event = "pause",
            waiting_s = wait.as_secs_f64(),
            reason = "rate-limited",
            "rate limit reached; all workers pause {:.1} s",
            wait.as_secs_f64()
        );
        wait
    }

    fn pause(gate: &mut Gate, wait: Duration, reason: &'static str) {
        let until = Instant::now() + wait;
        gate.pause_reason = reason;
        gate.pause_until = Some(gate.pause_until.map_or(until, |p| p.max(until)));
        // The next window's budget is unknown until its first response: pace freely.
        gate.spacing = Duration::ZERO;
        gate.next_slot = None;
    }

    fn observe_day(&self, limits: &RateLimits) {
        let mut day = lock(&self.day);
        if limits.day_limit.is_some() {
            day.limit = limits.day_limit;
        }
        let Some(remaining) = limits.day_remaining else {
            return;
        };
        let new_day = limits.day_reset.is_some() && limits.day_reset != day.reset;
        // Responses overtake each other: within one day, the lowest count is the truest.
        day.remaining = Some(match day.remaining {
            Some(known) if !new_day => known.min(remaining),
            _ => remaining,
        });
        if limits.day_reset.is_some() {
            day.reset = limits.day_reset;
        }
    }

    /// Claims `calls` requests of today's budget for one user; false when they would eat
    /// into the reserve. An unknown budget (no headers yet) allows.
    pub fn try_claim_day(&self, calls: u64) -> bool {
        let mut day = lock(&self.day);
        let Some(remaining) = day.remaining else {
            return true;
        };
        let reserve = self.reserve_of(day.limit.unwrap_or(self.configured_daily_quota));
        if remaining.saturating_sub(reserve) < calls {
            return false;
        }
        day.remaining = Some(remaining - calls);
        true
    }

    pub fn day(&self) -> DayBudget {
        *lock(&self.day)
    }

    /// How much longer every worker waits, and why, while they are paused.
    pub fn paused(&self) -> Option<(Duration, &'static str)> {
        let gate = lock(&self.gate);
        let until = gate.pause_until?;
        let left = until.checked_duration_since(Instant::now())?;
        Some((left, gate.pause_reason))
    }

    /// The per-minute limit the server last announced, if any.
    pub fn minute_limit(&self) -> Option<u64> {
        *lock(&self.minute_limit)
    }

    /// What to tell the user about work left for after the day's reset.
    pub fn deferred_message(&self) -> String {
        match self
            .day()
            .reset
            .and_then(|r| jiff::Timestamp::from_second(r.cast_signed()).ok())
        {
            Some(reset) => {
                format!("today's API quota is used up; it resets at {reset}: run again then")
            }
            None => "today's API quota is used up: run again after it resets".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(remaining: u64, reset_in: u64) -> RateLimits {
        RateLimits {
            minute_limit: Some(100),
            minute_remaining: Some(remaining),
            minute_reset: Some(epoch_now() + reset_in),
            day_limit: Some(1000),
            day_remaining: Some(500),
            day_reset: Some(epoch_now() + 3600),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_minute_pauses_every_worker_until_the_reset() {
        let throttle = Throttle::new(1_000_000, 10, 10_000, fastrand::Rng::with_seed(1));
        throttle.acquire().await;
        // 10 left of 100 is the 10 % reserve: nothing usable until the reset.
        throttle.observe(&limits(10, 20));
        let start = Instant::now();
        throttle.acquire().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(18) && waited <= Duration::from_secs(21),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_remaining_budget_is_spread_over_the_window() {
        let throttle = Throttle::new(1_000_000, 0, 10_000, fastrand::Rng::with_seed(1));
        throttle.observe(&limits(5, 10));
        let start = Instant::now();
        for _ in 0..3 {
            throttle.acquire().await;
        }
        let waited = start.elapsed();
        // Slots at 0, ~2 s and ~4 s.
        assert!(
            waited >= Duration::from_millis(3500) && waited <= Duration::from_millis(4500),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_without_headers_backs_off() {
        let throttle = Throttle::new(1_000_000, 0, 10_000, fastrand::Rng::with_seed(1));
        throttle.note_rate_limited(&RateLimits::default());
        let start = Instant::now();
        throttle.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_day_budget_keeps_the_reserve_and_takes_the_lowest_count() {
        let throttle = Throttle::new(100, 10, 10_000, fastrand::Rng::with_seed(1));
        assert!(throttle.try_claim_day(1_000_000), "unknown budget allows");
        let mut l = limits(50, 30);
        l.day_remaining = Some(105);
        throttle.observe(&l);
        l.day_remaining = Some(110); // an older response arriving late
        throttle.observe(&l);
        assert_eq!(throttle.day().remaining, Some(105));
        // Reserve: 10 % of the 1000 day limit = 100, so 5 usable.
        assert!(throttle.try_claim_day(3));
        assert!(!throttle.try_claim_day(3));
        assert!(throttle.try_claim_day(2));
        // A new day (a later reset) starts afresh.
        l.day_remaining = Some(1000);
        l.day_reset = Some(epoch_now() + 90_000);
        throttle.observe(&l);
        assert!(throttle.try_claim_day(900));
    }
}
