//! The gateway every request goes through, reads and writes alike (lychee's per-host
//! `Host` is the model): it owns the throttle, the one retry policy, the stop flag and
//! the counters, and sends the request itself. Callers hand it a request of the endpoint
//! table; they never feed it headers by hand.
//!
//! One call is a loop of three steps: [`Client::admit`] (refused by a stop or the day's
//! budget, else the throttle's turn), [`Client::attempt`] (one request, counted and put
//! on the timeline), and [`classify`], a pure function of the answer that says whether
//! to return it, give up, or wait and try again.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::counters::{Counters, Recorder, Timeline};
use super::endpoint::Request;
use super::error::{ApiError, ErrorClass};
use super::http::{ApiKey, Http, Response};
use super::stop::{IN_FLIGHT_GRACE, Stop, StopReason};
use super::throttle::{DayBudget, Throttle};

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
    /// Between half and all of base × 2^(retry-1), at most 30 s; `dice` is a number in
    /// [0, 1) from the client's own seeded generator.
    pub fn backoff(&self, retry: u32, dice: f64) -> Duration {
        let full = self
            .backoff_base
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(Duration::from_secs(30));
        full / 2 + full.mul_f64(dice / 2.0)
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
    /// How long to go on being rate-limited with no request succeeding before stopping.
    pub rate_limit_patience: Duration,
    /// Seeds the jitter of backoffs and pauses, so that a replayed test replays the
    /// client too; `None` seeds it from the system.
    pub jitter_seed: Option<u64>,
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

/// The Connecteam client: every request of the endpoint table, paced, counted and
/// retried in one place.
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
    last_success: Arc<Mutex<tokio::time::Instant>>,
    dice: Arc<Mutex<fastrand::Rng>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.http.base_url())
            .finish_non_exhaustive()
    }
}

/// What one call has been through so far.
#[derive(Debug, Default, Clone, Copy)]
struct Tries {
    attempts: u32,
    retries: u32,
    rate_limited: u32,
    /// The next attempt is a retry (counted when it is sent).
    retrying: bool,
}

/// What to do after an answer that is an error.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Give up: this is the call's answer.
    GiveUp(ApiError),
    /// Rate-limited: every worker waits for the window, then this request goes again.
    WaitForWindow,
    /// A blip: back off, then send it again.
    Retry,
}

/// What [`classify`] needs to know of the client beyond the error.
#[derive(Debug, Clone, Copy)]
struct Standing {
    retries_allowed: u32,
    out_of_patience: bool,
}

/// The verdict on an error, from the error and the call's tries alone.
fn classify(error: &ApiError, tries: &Tries, standing: Standing) -> Verdict {
    match error.class {
        ErrorClass::RateLimited if standing.out_of_patience => {
            Verdict::GiveUp(ApiError::unsent(ErrorClass::QuotaExhausted, String::new()))
        }
        ErrorClass::RateLimited if tries.rate_limited + 1 >= MAX_RATE_LIMITED_RETRIES => {
            Verdict::GiveUp(ApiError {
                message: format!(
                    "rate-limited {} times in a row: {}",
                    tries.rate_limited + 1,
                    error.message
                ),
                ..error.clone()
            })
        }
        ErrorClass::RateLimited => Verdict::WaitForWindow,
        ErrorClass::Retryable if tries.retries < standing.retries_allowed => Verdict::Retry,
        ErrorClass::Retryable => Verdict::GiveUp(ApiError {
            message: format!(
                "{} (gave up after {} attempts)",
                error.message, tries.attempts
            ),
            ..error.clone()
        }),
        _ => Verdict::GiveUp(error.clone()),
    }
}

impl Client {
    pub fn new(base_url: &str, key: &ApiKey, options: &ClientOptions) -> Result<Client, String> {
        let mut dice = options
            .jitter_seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let throttle_dice = dice.fork();
        Ok(Client {
            http: Http::new(base_url, key, options.timeout)?,
            throttle: Arc::new(Throttle::new(
                options.rate_per_minute,
                options.reserve_percent,
                options.daily_quota,
                throttle_dice,
            )),
            retry: options.retry,
            stop: Arc::default(),
            counters: Arc::default(),
            patience: options.rate_limit_patience,
            origin: "",
            recorder: Arc::default(),
            last_success: Arc::new(Mutex::new(tokio::time::Instant::now())),
            dice: Arc::new(Mutex::new(dice)),
        })
    }

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

    pub fn base_url(&self) -> &str {
        self.http.base_url()
    }

    /// The stop flag every request checks; set it to stop the run.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// Whether a signal has stopped this client's work.
    pub fn interrupted(&self) -> bool {
        self.stop.get() == Some(StopReason::Interrupted)
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
            .unwrap_or_else(PoisonError::into_inner)
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

    /// A read: its day budget claimed by the gateway; the answer, or why not.
    pub async fn read<R: Request>(&self, request: &R) -> Result<Response<R::Data>, ApiError> {
        self.call(Budget::ClaimEach, request)
            .await
            .result
            .map_err(|e| match e.class {
                ErrorClass::Permanent | ErrorClass::Retryable | ErrorClass::RateLimited => {
                    e.at(&R::ENDPOINT.name())
                }
                _ => e,
            })
    }

    /// Sends one request until it succeeds, fails for good, runs out of budget, or the
    /// run is stopped.
    pub async fn call<R: Request>(&self, budget: Budget, request: &R) -> Call<R::Data> {
        let mut tries = Tries::default();
        loop {
            if let Err(refusal) = self.admit(budget, &tries).await {
                return Call {
                    result: Err(refusal),
                    attempts: tries.attempts,
                };
            }
            let error = match self.attempt(request, &mut tries).await {
                Ok(response) => {
                    return Call {
                        result: Ok(response),
                        attempts: tries.attempts,
                    };
                }
                Err(error) => error,
            };
            // Only a real 429 says the request was not processed: "too many requests" in
            // another answer (the 200 quirk) may follow a write that was applied, so a
            // request that must not be sent twice is handed back, unclear.
            if !R::REPLAY_SAFE
                && error.class == ErrorClass::RateLimited
                && error.status != Some(429)
            {
                return Call {
                    result: Err(ApiError {
                        class: ErrorClass::Retryable,
                        ..error
                    }),
                    attempts: tries.attempts,
                };
            }
            let standing = Standing {
                // An unclear answer to a request that must not be sent twice is handed
                // back, for the caller to look up what happened.
                retries_allowed: match R::REPLAY_SAFE {
                    true => self.retries_allowed(&error),
                    false => 0,
                },
                out_of_patience: error.class == ErrorClass::RateLimited && self.out_of_patience(),
            };
            match classify(&error, &tries, standing) {
                Verdict::GiveUp(given_up) => {
                    return Call {
                        result: Err(self.given_up(&error, given_up)),
                        attempts: tries.attempts,
                    };
                }
                Verdict::WaitForWindow => {
                    tries.rate_limited += 1;
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let wait = self.throttle.note_rate_limited(&error.limits);
                    self.recorder.record(|t, now| {
                        t.rate_limited.push(now);
                        t.pauses.push((now, wait.as_secs_f64()));
                    });
                }
                Verdict::Retry => {
                    self.observe(&error.limits);
                    tries.retries += 1;
                    self.back_off(&error, tries.retries, &mut tries).await;
                }
            }
        }
    }

    /// Whether the next attempt may go: refused by a stop or the day's budget, else once
    /// the throttle gives it its turn (a stop during the wait refuses it).
    async fn admit(&self, budget: Budget, tries: &Tries) -> Result<(), ApiError> {
        loop {
            if let Some(refusal) = self.refuse(budget, tries.attempts) {
                return Err(refusal);
            }
            tokio::select! {
                () = self.throttle.acquire() => return Ok(()),
                () = self.stop.halted() => {} // refused at the top, with the reason
            }
        }
    }

    /// One request: counted when sent, its answer observed.
    async fn attempt<R: Request>(
        &self,
        request: &R,
        tries: &mut Tries,
    ) -> Result<Response<R::Data>, ApiError> {
        if std::mem::take(&mut tries.retrying) {
            // Counted when sent, not when decided: a stop in between sends nothing.
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        tries.attempts += 1;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.recorder.record(|t, now| t.requests.push(now));
        let answer = self.in_flight(self.http.send(request)).await;
        match &answer {
            Ok(r) => {
                tracing::debug!(event = "request", attempt = tries.attempts, status = r.status, request_id = ?r.request_id);
            }
            Err(e) => {
                tracing::debug!(event = "request", attempt = tries.attempts, status = ?e.status, class = ?e.class, error = %e.message);
            }
        }
        if answer
            .as_ref()
            .map_or_else(|e| e.status.is_some(), |_| true)
        {
            self.counters.answered.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(response) = &answer {
            self.observe(&response.limits);
            *self
                .last_success
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = tokio::time::Instant::now();
        }
        answer
    }

    /// The error a call ends with, and what giving up sets: a refused key stops the run,
    /// patience run out stops it like the quota.
    fn given_up(&self, error: &ApiError, given_up: ApiError) -> ApiError {
        match error.class {
            ErrorClass::RateLimited if given_up.class == ErrorClass::QuotaExhausted => {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                self.stop.set(StopReason::RateLimitedTooLong);
                ApiError::unsent(ErrorClass::QuotaExhausted, self.impatience_message())
            }
            ErrorClass::RateLimited => {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                given_up
            }
            ErrorClass::Auth => {
                self.stop.set(StopReason::AuthRefused);
                given_up
            }
            _ => {
                self.observe(&error.limits);
                given_up
            }
        }
    }

    /// Waits the policy's backoff before a retry (a stop ends the wait).
    async fn back_off(&self, error: &ApiError, retry: u32, tries: &mut Tries) {
        tracing::debug!("{} ({}); retry {retry}", error.message, self.base_url());
        if self.stop.ends_retries() {
            return;
        }
        tries.retrying = true;
        let dice = self
            .dice
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64();
        tokio::select! {
            () = tokio::time::sleep(self.retry.backoff(retry, dice)) => {}
            () = self.stop.halted() => {}
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
            .unwrap_or_else(PoisonError::into_inner)
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
        let mut dice = fastrand::Rng::with_seed(7);
        for _ in 0..50 {
            let first = policy.backoff(1, dice.f64());
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = policy.backoff(3, dice.f64());
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            assert!(policy.backoff(40, dice.f64()) <= Duration::from_secs(30));
        }
        assert_eq!(policy.backoff(2, 0.5), Duration::from_millis(150));
    }

    fn error(class: ErrorClass) -> ApiError {
        ApiError::unsent(class, "x".into())
    }

    const PATIENT: Standing = Standing {
        retries_allowed: 2,
        out_of_patience: false,
    };

    #[test]
    fn classify_retries_blips_waits_out_rate_limits_and_gives_up_on_the_rest() {
        let fresh = Tries::default();
        assert_eq!(
            classify(&error(ErrorClass::Retryable), &fresh, PATIENT),
            Verdict::Retry
        );
        let spent = Tries {
            retries: 2,
            attempts: 3,
            ..Tries::default()
        };
        let Verdict::GiveUp(e) = classify(&error(ErrorClass::Retryable), &spent, PATIENT) else {
            panic!("out of retries");
        };
        assert!(e.message.contains("gave up after 3 attempts"));
        assert_eq!(
            classify(&error(ErrorClass::RateLimited), &spent, PATIENT),
            Verdict::WaitForWindow,
            "rate limits are not failures"
        );
        let impatient = Standing {
            out_of_patience: true,
            ..PATIENT
        };
        let Verdict::GiveUp(e) = classify(&error(ErrorClass::RateLimited), &fresh, impatient)
        else {
            panic!("patience run out");
        };
        assert_eq!(e.class, ErrorClass::QuotaExhausted);
        let endless = Tries {
            rate_limited: MAX_RATE_LIMITED_RETRIES - 1,
            ..Tries::default()
        };
        assert!(matches!(
            classify(&error(ErrorClass::RateLimited), &endless, PATIENT),
            Verdict::GiveUp(_)
        ));
        for class in [ErrorClass::Permanent, ErrorClass::Auth] {
            assert!(matches!(
                classify(&error(class), &fresh, PATIENT),
                Verdict::GiveUp(_)
            ));
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
