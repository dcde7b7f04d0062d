//! The gateway every request goes through, reads and writes alike (lychee's per-host
//! `Host` is the model): it owns the throttle, the one retry policy, the stop flag and
//! the counters, and sends the request itself. Callers ask it for a call; they never
//! feed it headers by hand.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use super::client::{ApiKey, Http, QueryArrays, Response};
use super::error::{ApiError, ErrorClass};
use super::list::Listing;
use super::model::{PayRuleAssignment, PayRulePolicyInfo, PolicyType, TimeOffAssignment, User};
use crate::throttle::{DayBudget, Throttle};

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

/// The one retry policy: 5xx, timeouts and dropped connections are retried up to
/// `max_retries` times with capped exponential backoff and jitter; rate limits wait for
/// the window (every worker at once) and are retried without counting as failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The first retry's backoff; it doubles each time, capped at 30 s.
    pub backoff_base: Duration,
}

impl RetryPolicy {
    /// Between half and all of base × 2^(retry-1), at most 30 s.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .backoff_base
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(Duration::from_secs(30));
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Retries of a connection that never reached the server (DNS, connect, TLS) while no
/// request has ever been answered: a typo in the host fails in seconds, not minutes.
const UNREACHED_RETRIES: u32 = 1;

/// Rate-limited answers to one request before it is given up as failed: a safety net
/// against a server that never lets up, not a budget a normal run comes near.
const MAX_RATE_LIMITED_RETRIES: u32 = 30;

/// How a client is set up: connection, pacing, retries.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// The account's per-minute limit; the reserve is taken off it.
    pub rate_per_minute: u32,
    pub reserve_percent: u8,
    pub daily_quota: u32,
    pub retry: RetryPolicy,
    pub query_arrays: QueryArrays,
    /// How long to go on being rate-limited with no request succeeding before stopping.
    pub rate_limit_patience: Duration,
}

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
struct Recorder {
    started: tokio::time::Instant,
    timeline: std::sync::Mutex<Timeline>,
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
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn record(&self, what: impl FnOnce(&mut Timeline, f64)) {
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
struct Counters {
    requests: AtomicU64,
    /// Answers of any kind (a status code came back): the server is there.
    answered: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
}

/// One call as the gateway made it: the last answer and how many requests it took.
#[derive(Debug)]
pub struct Call<T> {
    pub result: Result<Response<T>, ApiError>,
    pub attempts: u32,
}

/// Whether a call's day budget is claimed by the gateway or was claimed up front (a
/// user's writes are claimed together, so that a user is never left half done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    ClaimEach,
    Claimed,
}

/// The Connecteam client: typed calls, each paced, counted and retried in one place.
#[derive(Clone)]
pub struct Client {
    http: Http,
    throttle: Arc<Throttle>,
    retry: RetryPolicy,
    stop: Arc<Stop>,
    counters: Arc<Counters>,
    patience: Duration,
    origin: &'static str,
    recorder: Arc<Recorder>,
    /// When a request last succeeded (or the client was made).
    last_success: Arc<std::sync::Mutex<tokio::time::Instant>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.http.base_url())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that says where its base URL came from (a flag, the environment, the
    /// settings file) when it cannot reach it.
    #[must_use]
    pub fn with_origin(self, origin: &'static str) -> Client {
        Client { origin, ..self }
    }

    /// The base URL and where it came from, for messages.
    pub fn described(&self) -> String {
        if self.origin.is_empty() {
            self.base_url().to_owned()
        } else {
            format!("{} (from {})", self.base_url(), self.origin)
        }
    }

    /// A client that stops on `stop` (shared with the signal handler) instead of its own.
    #[must_use]
    pub fn with_stop(self, stop: Arc<Stop>) -> Client {
        Client { stop, ..self }
    }

    pub fn new(base_url: &str, key: &ApiKey, options: &ClientOptions) -> Result<Client, String> {
        Ok(Client {
            http: Http::new(base_url, key, options.timeout)?
                .with_query_arrays(options.query_arrays),
            throttle: Arc::new(Throttle::new(
                options.rate_per_minute,
                options.reserve_percent,
                options.daily_quota,
            )),
            retry: options.retry,
            stop: Arc::default(),
            counters: Arc::default(),
            patience: options.rate_limit_patience,
            origin: "",
            recorder: Arc::default(),
            last_success: Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())),
        })
    }

    pub fn base_url(&self) -> &str {
        self.http.base_url()
    }

    /// The stop flag every request checks; set it to stop the run.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// Claims `calls` requests of today's budget at once (one user's writes).
    pub fn claim_day(&self, calls: u64) -> bool {
        self.throttle.try_claim_day(calls)
    }

    pub fn day(&self) -> DayBudget {
        self.throttle.day()
    }

    /// The per-minute limit the server last announced, if any.
    pub fn minute_limit(&self) -> Option<u64> {
        self.throttle.minute_limit()
    }

    /// How much longer every request waits, and why, while the throttle pauses them.
    pub fn paused(&self) -> Option<(Duration, &'static str)> {
        self.throttle.paused()
    }

    /// What to tell the user about work left for after the day's reset.
    pub fn deferred_message(&self) -> String {
        self.throttle.deferred_message()
    }

    /// When requests were sent, rate-limited and paused.
    pub fn timeline(&self) -> Timeline {
        self.recorder
            .timeline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Answers that said "too many requests" (429 or the 200 quirk).
    pub fn rate_limited_count(&self) -> u64 {
        self.counters.rate_limited.load(Ordering::Relaxed)
    }

    /// Requests sent again after a 5xx, timeout or dropped connection.
    pub fn retries(&self) -> u64 {
        self.counters.retries.load(Ordering::Relaxed)
    }

    /// `GET /time-off/v1/policy-types`.
    pub async fn policy_types(&self) -> Result<Response<Vec<PolicyType>>, ApiError> {
        self.call(Budget::ClaimEach, || self.http.policy_types())
            .await
            .result
    }

    /// `GET /company-policies/v1/pay-rule-policies`.
    pub async fn pay_rule_policies(&self) -> Result<Response<Vec<PayRulePolicyInfo>>, ApiError> {
        self.call(Budget::ClaimEach, || self.http.pay_rule_policies())
            .await
            .result
    }

    /// `GET /users/v1/users`, one page.
    pub async fn users(
        &self,
        emails: &[String],
        user_ids: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing<User>>, ApiError> {
        self.call(Budget::ClaimEach, || {
            self.http.users(emails, user_ids, offset, limit)
        })
        .await
        .result
    }

    /// `GET /time-off/v1/policy-types/{id}/balances`, one page.
    pub async fn balances(
        &self,
        policy_type_id: &str,
        user_ids: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing>, ApiError> {
        self.call(Budget::ClaimEach, || {
            self.http.balances(policy_type_id, user_ids, offset, limit)
        })
        .await
        .result
    }

    /// `GET /company-policies/v1/pay-rule-policies/{id}/assignments`, one page.
    pub async fn pay_rule_assignments(
        &self,
        policy_id: u64,
        user_ids: &[u64],
        date: jiff::civil::Date,
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing>, ApiError> {
        self.call(Budget::ClaimEach, || {
            self.http
                .pay_rule_assignments(policy_id, user_ids, date, offset, limit)
        })
        .await
        .result
    }

    /// `PUT …/time-off-policies/{id}/assignments`.
    pub async fn assign_time_off(
        &self,
        policy_id: &str,
        body: &TimeOffAssignment,
        budget: Budget,
    ) -> Call<()> {
        self.call(budget, || self.http.assign_time_off(policy_id, body))
            .await
    }

    /// `PUT …/pay-rule-policies/{id}/assignments`; the answer is the assignment ID.
    pub async fn assign_pay_rule(
        &self,
        policy_id: u64,
        body: &PayRuleAssignment,
        budget: Budget,
    ) -> Call<u64> {
        self.call(budget, || self.http.assign_pay_rule(policy_id, body))
            .await
    }

    /// Sends one request through the throttle until it succeeds, fails for good, runs
    /// out of budget, or the run is stopped.
    async fn call<T, F, Fut>(&self, budget: Budget, mut send: F) -> Call<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Response<T>, ApiError>>,
    {
        let mut attempts = 0;
        let mut retries = 0;
        let mut rate_limited = 0;
        let mut retrying = false;
        loop {
            if let Some(refusal) = self.refuse(budget, attempts) {
                return Call {
                    result: Err(refusal),
                    attempts,
                };
            }
            tokio::select! {
                () = self.throttle.acquire() => {}
                () = self.stop.halted() => continue, // refused at the top, with the reason
            }
            if std::mem::take(&mut retrying) {
                // Counted when sent, not when decided: a stop in between sends nothing.
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            attempts += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            self.recorder.record(|t, now| t.requests.push(now));
            let answer = self.in_flight(send()).await;
            match &answer {
                Ok(r) => {
                    tracing::debug!(event = "request", attempt = attempts, status = r.status, request_id = ?r.request_id)
                }
                Err(e) => {
                    tracing::debug!(event = "request", attempt = attempts, status = ?e.status, class = ?e.class, error = %e.message)
                }
            }
            if answer
                .as_ref()
                .map_or_else(|e| e.status.is_some(), |_| true)
            {
                self.counters.answered.fetch_add(1, Ordering::Relaxed);
            }
            let error = match answer {
                Ok(response) => {
                    self.observe(&response.limits);
                    *self
                        .last_success
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        tokio::time::Instant::now();
                    return Call {
                        result: Ok(response),
                        attempts,
                    };
                }
                Err(error) => error,
            };
            let give_up = match error.class {
                ErrorClass::RateLimited if self.out_of_patience() => {
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    self.stop.set(StopReason::RateLimitedTooLong);
                    Some(ApiError::unsent(
                        ErrorClass::QuotaExhausted,
                        self.impatience_message(),
                    ))
                }
                ErrorClass::RateLimited => {
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let wait = self.throttle.note_rate_limited(&error.limits);
                    self.recorder.record(|t, now| {
                        t.rate_limited.push(now);
                        t.pauses.push((now, wait.as_secs_f64()));
                    });
                    rate_limited += 1;
                    (rate_limited >= MAX_RATE_LIMITED_RETRIES).then(|| ApiError {
                        message: format!(
                            "rate-limited {rate_limited} times in a row: {}",
                            error.message
                        ),
                        ..error.clone()
                    })
                }
                ErrorClass::Retryable if retries < self.retries_allowed(&error) => {
                    self.observe(&error.limits);
                    retries += 1;
                    None
                }
                ErrorClass::Retryable => {
                    self.observe(&error.limits);
                    Some(ApiError {
                        message: format!("{} (gave up after {attempts} attempts)", error.message),
                        ..error.clone()
                    })
                }
                ErrorClass::Auth => {
                    self.stop.set(StopReason::AuthRefused);
                    Some(error.clone())
                }
                _ => {
                    self.observe(&error.limits);
                    Some(error.clone())
                }
            };
            if let Some(error) = give_up {
                return Call {
                    result: Err(error),
                    attempts,
                };
            }
            if error.class == ErrorClass::Retryable {
                tracing::debug!("{} ({}); retry {retries}", error.message, self.base_url());
                if !self.stop.ends_retries() {
                    retrying = true;
                    tokio::select! {
                        () = tokio::time::sleep(self.retry.backoff(retries)) => {}
                        () = self.stop.halted() => {}
                    }
                }
            }
        }
    }

    /// A request on its way: after an interrupt it has [`IN_FLIGHT_GRACE`] to finish,
    /// then it is abandoned (the next run's refresh finds out whether it landed).
    async fn in_flight<T>(
        &self,
        request: impl Future<Output = Result<Response<T>, ApiError>>,
    ) -> Result<Response<T>, ApiError> {
        tokio::pin!(request);
        tokio::select! {
            answer = &mut request => return answer,
            () = self.stop.halted() => {}
        }
        match tokio::time::timeout(IN_FLIGHT_GRACE, request).await {
            Ok(answer) => answer,
            Err(_) => Err(ApiError::unsent(
                ErrorClass::Stopped,
                "abandoned in flight: the run was interrupted".into(),
            )),
        }
    }

    /// How many retries a retryable failure gets: the policy's, or just one while the
    /// server has never been reached at all.
    fn retries_allowed(&self, error: &ApiError) -> u32 {
        let never_reached = error.unreached && self.counters.answered.load(Ordering::Relaxed) == 0;
        if never_reached {
            self.retry.max_retries.min(UNREACHED_RETRIES)
        } else {
            self.retry.max_retries
        }
    }

    /// The throttle learns from the headers; a pause it sets goes on the timeline.
    fn observe(&self, limits: &super::RateLimits) {
        if let Some(wait) = self.throttle.observe(limits) {
            self.recorder
                .record(|t, now| t.pauses.push((now, wait.as_secs_f64())));
        }
    }

    fn out_of_patience(&self) -> bool {
        self.last_success
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            > self.patience
    }

    /// Why work is left for later when the server has rate-limited for too long.
    pub fn impatience_message(&self) -> String {
        format!(
            "rate-limited with no request succeeding for over {} s (rate_limit_patience): left for a later run",
            self.patience.as_secs()
        )
    }

    /// Why the next attempt is not sent, if it is not.
    fn refuse(&self, budget: Budget, attempts: u32) -> Option<ApiError> {
        if self.stop.ends_retries() {
            let message = match self.stop.get() {
                Some(StopReason::AuthRefused) => "the run stopped: Connecteam refused the API key",
                _ => "the run was interrupted first",
            };
            let message = if attempts > 0 {
                format!("not retried: {message}")
            } else {
                message.to_owned()
            };
            return Some(ApiError::unsent(ErrorClass::Stopped, message));
        }
        if self.stop.get() == Some(StopReason::RateLimitedTooLong) {
            return Some(ApiError::unsent(
                ErrorClass::QuotaExhausted,
                self.impatience_message(),
            ));
        }
        let spent = match budget {
            Budget::ClaimEach => !self.throttle.try_claim_day(1),
            // A request claimed up front but rate-limited into an empty day: stop here.
            Budget::Claimed => attempts > 0 && self.throttle.day().remaining == Some(0),
        };
        if spent {
            self.stop.set(StopReason::QuotaExhausted);
            return Some(ApiError::unsent(
                ErrorClass::QuotaExhausted,
                self.throttle.deferred_message(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff_base: Duration::from_millis(100),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = policy.backoff(3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            assert!(policy.backoff(40) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn the_first_stop_reason_wins_but_a_refused_key_always_shows() {
        let stop = Stop::default();
        assert_eq!(stop.get(), None);
        stop.set(StopReason::QuotaExhausted);
        stop.set(StopReason::Interrupted);
        assert_eq!(stop.get(), Some(StopReason::QuotaExhausted));
        stop.set(StopReason::AuthRefused);
        assert_eq!(stop.get(), Some(StopReason::AuthRefused));
    }
}
