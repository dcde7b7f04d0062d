//! The worker pool: every planned assignment made through the API, users concurrently,
//! each user's assignments in order, results to one consumer.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;

use crate::api::model::{PayRuleAssignment, TimeOffAssignment};
use crate::api::{ApiError, Client, ErrorClass, RateLimits};
use crate::journal::{Entry, Journal, Key, fingerprint};
use crate::plan::{Assignment, Identity, PlanRow};
use crate::progress::Progress;
use crate::report::{AssignmentLine, Outcome, UserLine};
use crate::throttle::Throttle;

/// Why a run stopped starting new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    Interrupted = 1,
    QuotaExhausted = 2,
    AuthRefused = 3,
    MaxErrors = 4,
}

/// A stop flag every worker checks before starting a user or a request. The first
/// reason set wins, except that a refused key always shows (it decides the exit code).
#[derive(Debug, Default)]
pub struct Stop(AtomicU8);

impl Stop {
    pub fn set(&self, reason: StopReason) {
        let _ = self
            .0
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
        if reason == StopReason::AuthRefused {
            self.0.store(reason as u8, Ordering::SeqCst);
        }
    }

    pub fn get(&self) -> Option<StopReason> {
        match self.0.load(Ordering::SeqCst) {
            1 => Some(StopReason::Interrupted),
            2 => Some(StopReason::QuotaExhausted),
            3 => Some(StopReason::AuthRefused),
            4 => Some(StopReason::MaxErrors),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub concurrency: usize,
    pub max_retries: u32,
    pub max_errors: Option<usize>,
    pub limit: Option<usize>,
    /// The first retry's backoff; it doubles each time, capped at 30 s, with jitter.
    pub backoff_base: Duration,
    /// Re-send assignments the journal has as done with other parameters.
    pub reapply: bool,
}

/// Everything the workers of one run share, by reference.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub client: &'a Client,
    pub throttle: &'a Throttle,
    /// Where each assignment is recorded, under `run_id`.
    pub journal: &'a Journal,
    pub run_id: &'a str,
    pub options: &'a ExecOptions,
    pub stop: &'a Stop,
    pub stats: &'a ExecStats,
}

/// What to do with one planned assignment, given the journal.
#[derive(Debug, Clone)]
pub enum Decision {
    Send,
    /// Done before with the same parameters: nothing to send.
    Skip(Entry),
    /// Done before with other parameters: re-sending would overwrite it (a balance would
    /// be reset), so it is left alone unless `--reapply`.
    Conflict(Entry),
}

/// Decides every assignment of a row from the journal.
pub fn decide(
    journal: &Journal,
    base_url: &str,
    row: &PlanRow,
    reapply: bool,
) -> Result<Vec<Decision>, String> {
    let Some(user_id) = row.user_id else {
        return Ok(vec![Decision::Send; row.assignments.len()]);
    };
    row.assignments
        .iter()
        .map(|a| {
            let entry = journal.lookup(&Key::of(base_url, user_id, a))?;
            Ok(match entry {
                Some(e) if e.state == "done" && e.fingerprint == fingerprint(a) => {
                    Decision::Skip(e)
                }
                Some(e) if e.state == "done" && !reapply => Decision::Conflict(e),
                _ => Decision::Send,
            })
        })
        .collect()
}

/// Rate-limited retries of one request before it is given up as failed: a safety net
/// against a server that never lets up, not a budget a normal run comes near.
const MAX_RATE_LIMITED_RETRIES: u32 = 30;

#[derive(Debug, Default)]
pub struct ExecStats {
    /// Requests sent again after a 5xx, timeout or dropped connection.
    pub retries: AtomicU64,
}

/// Runs every row's assignments. Returns one line per row, in the rows' order.
pub async fn execute(
    run: &Run<'_>,
    rows: &[&PlanRow],
    progress: &Progress,
) -> Result<Vec<UserLine>, String> {
    let Run {
        client,
        throttle,
        journal,
        options,
        stop,
        ..
    } = *run;
    let decisions: Vec<Vec<Decision>> = rows
        .iter()
        .map(|row| decide(journal, client.base_url(), row, options.reapply))
        .collect::<Result<_, _>>()?;
    // --limit counts users with something to send, in sheet order.
    let mut pending = 0usize;
    let positions: Vec<Option<usize>> = decisions
        .iter()
        .map(|d| {
            d.iter().any(|d| matches!(d, Decision::Send)).then(|| {
                pending += 1;
                pending - 1
            })
        })
        .collect();
    let mut failures = 0usize;
    let mut lines: Vec<UserLine> =
        futures::stream::iter(rows.iter().zip(&decisions).zip(positions))
            .map(|((row, decisions), position)| async move {
                let to_send = decisions
                    .iter()
                    .filter(|d| matches!(d, Decision::Send))
                    .count() as u64;
                let held = match position {
                    None => None,
                    Some(p) if options.limit.is_some_and(|limit| p >= limit) => Some((
                        "not_attempted",
                        "left for a later run by --limit".to_owned(),
                    )),
                    Some(_) => stop
                        .get()
                        .map(|reason| stop_status(reason, throttle))
                        .or_else(|| {
                            (!throttle.try_claim_day(to_send)).then(|| {
                                stop.set(StopReason::QuotaExhausted);
                                stop_status(StopReason::QuotaExhausted, throttle)
                            })
                        }),
                };
                match held {
                    Some((status, reason)) => unstarted(row, decisions, status, &reason),
                    None => process_user(run, row, decisions).await,
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .inspect(|line| {
                progress.user_done(line);
                failures += line
                    .assignments
                    .iter()
                    .filter(|a| a.status == "failed")
                    .count();
                if options.max_errors.is_some_and(|max| failures >= max) {
                    stop.set(StopReason::MaxErrors);
                }
            })
            .collect()
            .await;
    lines.sort_by_key(|l| l.index);
    Ok(lines)
}

/// The status and message of work not started because the run stopped.
fn stop_status(reason: StopReason, throttle: &Throttle) -> (&'static str, String) {
    match reason {
        StopReason::QuotaExhausted => ("deferred", deferred_message(throttle)),
        StopReason::Interrupted => ("not_attempted", "the run was interrupted first".into()),
        StopReason::AuthRefused => (
            "not_attempted",
            "the run stopped: Connecteam refused the API key".into(),
        ),
        StopReason::MaxErrors => ("not_attempted", "the run stopped at --max-errors".into()),
    }
}

fn deferred_message(throttle: &Throttle) -> String {
    match throttle
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

/// A user none of whose assignments were started: those to send get `status`; those the
/// journal settles are reported as such.
fn unstarted(row: &PlanRow, decisions: &[Decision], status: &str, reason: &str) -> UserLine {
    let mut line = user_line(row);
    line.assignments = row
        .assignments
        .iter()
        .zip(decisions)
        .map(|(a, decision)| match decision {
            Decision::Send => AssignmentLine {
                status: status.to_owned(),
                error: reason.to_owned(),
                ..describe(a)
            },
            settled => settled_line(a, settled),
        })
        .collect();
    finish_user(&mut line);
    line
}

/// The line of an assignment the journal settles (`skipped` or `conflict`).
pub fn settled_line(a: &Assignment, decision: &Decision) -> AssignmentLine {
    let (status, entry) = match decision {
        Decision::Skip(entry) => ("skipped", entry),
        Decision::Conflict(entry) => ("conflict", entry),
        Decision::Send => unreachable!("only settled decisions have a line of their own"),
    };
    let error = match decision {
        Decision::Conflict(entry) => format!(
            "already assigned with {} (run {}); this sheet says {}: re-sending would overwrite it, so it was left alone \
             (--reapply sends it)",
            entry.fingerprint,
            entry.run_id,
            fingerprint(a)
        ),
        _ => String::new(),
    };
    AssignmentLine {
        status: status.to_owned(),
        http_status: entry.http_status,
        request_id: entry.request_id.clone(),
        assignment_id: entry.assignment_id.clone(),
        finished_at: entry.updated_at.clone(),
        error,
        ..describe(a)
    }
}

fn finish_user(line: &mut UserLine) {
    line.errors = line
        .assignments
        .iter()
        .filter(|a| !a.error.is_empty())
        .map(|a| format!("{} {}: {}", a.kind, a.policy_id, a.error))
        .collect();
    line.outcome = outcome_of(&line.assignments);
}

/// A row's report line before anything is known of its assignments (`planned`).
pub fn user_line(row: &PlanRow) -> UserLine {
    UserLine {
        index: row.index,
        row: row.number,
        identifier: row
            .identity
            .as_ref()
            .map(Identity::to_string)
            .unwrap_or_default(),
        user_id: row.user_id,
        employee_type: row.employee_type.clone(),
        outcome: Outcome::Planned,
        assignments: Vec::new(),
        errors: Vec::new(),
    }
}

/// The report fields of an assignment that describe what is sent.
pub fn describe(a: &Assignment) -> AssignmentLine {
    let (policy_id, policy_name) = a.policy_id_and_name();
    let mut line = AssignmentLine {
        kind: a.kind(),
        policy_id,
        policy_name,
        ..AssignmentLine::default()
    };
    match a {
        Assignment::TimeOff {
            balance: Some(b), ..
        } => {
            line.balance = b.amount.to_string();
            line.unit = b.unit.as_str().to_owned();
        }
        Assignment::TimeOff { balance: None, .. } => {}
        Assignment::PayRule { effective_date, .. } => {
            line.effective_date = effective_date.to_string()
        }
    }
    line
}

/// A user's outcome from its assignments' statuses.
pub fn outcome_of(assignments: &[AssignmentLine]) -> Outcome {
    let has = |status: &str| assignments.iter().any(|a| a.status == status);
    if has("failed") {
        if has("done") || has("skipped") {
            Outcome::Partial
        } else {
            Outcome::Failed
        }
    } else if has("conflict") {
        Outcome::Conflict
    } else if has("deferred") {
        Outcome::Deferred
    } else if has("not_attempted") {
        Outcome::NotAttempted
    } else if !assignments.is_empty() && assignments.iter().all(|a| a.status == "skipped") {
        Outcome::Skipped
    } else {
        Outcome::Succeeded
    }
}

async fn process_user(run: &Run<'_>, row: &PlanRow, decisions: &[Decision]) -> UserLine {
    let Run { throttle, stop, .. } = *run;
    let mut line = user_line(row);
    for (assignment, decision) in row.assignments.iter().zip(decisions) {
        let result = match (decision, stop.get()) {
            (Decision::Skip(_) | Decision::Conflict(_), _) => settled_line(assignment, decision),
            // A quota stop lets a started user finish: its calls were claimed up front.
            (
                Decision::Send,
                Some(
                    reason @ (StopReason::Interrupted
                    | StopReason::AuthRefused
                    | StopReason::MaxErrors),
                ),
            ) => {
                let (status, error) = stop_status(reason, throttle);
                AssignmentLine {
                    status: status.to_owned(),
                    error,
                    ..describe(assignment)
                }
            }
            (Decision::Send, _) => send_recorded(run, row, assignment).await,
        };
        line.assignments.push(result);
    }
    finish_user(&mut line);
    line
}

/// One assignment sent, with the journal written before the first request and after the
/// last: a crash in between leaves it `in_flight`, and the next run sends it again.
async fn send_recorded(run: &Run<'_>, row: &PlanRow, assignment: &Assignment) -> AssignmentLine {
    let Run {
        client,
        journal,
        run_id,
        ..
    } = *run;
    let Some(user_id) = row.user_id else {
        return AssignmentLine {
            status: "failed".into(),
            error: "the user was not resolved to a Connecteam user ID".into(),
            ..describe(assignment)
        };
    };
    let key = Key::of(client.base_url(), user_id, assignment);
    if let Err(e) = journal.begin(&key, &fingerprint(assignment), run_id) {
        return AssignmentLine {
            status: "failed".into(),
            error: format!("not sent: {e}"),
            ..describe(assignment)
        };
    }
    let line = send_with_retries(run, user_id, row, assignment).await;
    let written = journal.finish(
        &key,
        &line.status,
        line.attempts,
        line.http_status,
        &line.error,
        &line.request_id,
        &line.assignment_id,
    );
    if let Err(e) = written {
        tracing::error!(
            "row {}: {} {} was {} but {e}",
            row.number,
            line.kind,
            line.policy_id,
            line.status
        );
    }
    line
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// One assignment, retried through the throttle until done, failed for good, or stopped.
async fn send_with_retries(
    run: &Run<'_>,
    user_id: u64,
    row: &PlanRow,
    assignment: &Assignment,
) -> AssignmentLine {
    let Run {
        client,
        throttle,
        options,
        stop,
        stats,
        ..
    } = *run;
    let mut line = AssignmentLine {
        started_at: now(),
        ..describe(assignment)
    };
    let mut retries = 0;
    let mut rate_limited = 0;
    loop {
        throttle.acquire().await;
        line.attempts += 1;
        let result = send(client, user_id, assignment).await;
        line.finished_at = now();
        let error = match result {
            Ok(sent) => {
                throttle.observe(&sent.limits);
                line.status = "done".into();
                line.http_status = Some(sent.status);
                line.request_id = sent.request_id.unwrap_or_default();
                line.assignment_id = sent
                    .assignment_id
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                line.error.clear();
                return line;
            }
            Err(error) => error,
        };
        line.http_status = error.status;
        line.request_id = error.request_id.clone().unwrap_or_default();
        line.error = error.message.clone();
        match error.class {
            ErrorClass::RateLimited => {
                throttle.note_rate_limited(&error.limits);
                rate_limited += 1;
                if throttle.day().remaining == Some(0) {
                    stop.set(StopReason::QuotaExhausted);
                    line.status = "deferred".into();
                    line.error = deferred_message(throttle);
                    return line;
                }
                if rate_limited >= MAX_RATE_LIMITED_RETRIES {
                    line.status = "failed".into();
                    line.error = format!(
                        "rate-limited {rate_limited} times in a row: {}",
                        error.message
                    );
                    return line;
                }
            }
            ErrorClass::Retryable if retries < options.max_retries => {
                throttle.observe(&error.limits);
                retries += 1;
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "row {}: {} failed ({}); retry {retries}",
                    row.number,
                    assignment.kind(),
                    error.message
                );
                tokio::time::sleep(backoff(options.backoff_base, retries)).await;
            }
            ErrorClass::Auth => {
                stop.set(StopReason::AuthRefused);
                line.status = "failed".into();
                return line;
            }
            ErrorClass::Retryable | ErrorClass::Permanent => {
                throttle.observe(&error.limits);
                line.status = "failed".into();
                if error.class == ErrorClass::Retryable {
                    line.error = format!(
                        "{} (gave up after {} attempts)",
                        error.message, line.attempts
                    );
                }
                return line;
            }
        }
        if matches!(
            stop.get(),
            Some(StopReason::Interrupted | StopReason::AuthRefused)
        ) {
            line.status = "failed".into();
            line.error = format!("{} (not retried: the run was stopped)", line.error);
            return line;
        }
    }
}

/// Capped exponential backoff with jitter: between half and all of base × 2^(n-1), ≤ 30 s.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let full = base
        .saturating_mul(1 << retry.saturating_sub(1).min(16))
        .min(Duration::from_secs(30));
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

struct Sent {
    status: u16,
    request_id: Option<String>,
    assignment_id: Option<u64>,
    limits: RateLimits,
}

async fn send(client: &Client, user_id: u64, assignment: &Assignment) -> Result<Sent, ApiError> {
    match assignment {
        Assignment::TimeOff { policy, balance } => {
            let Some(policy_id) = &policy.id else {
                return Err(unresolved());
            };
            let body = TimeOffAssignment {
                user_id,
                balance: balance.map(|b| b.amount),
                unit: balance.map(|b| b.unit.as_str().to_owned()),
            };
            let r = client.assign_time_off(policy_id, &body).await?;
            Ok(Sent {
                status: r.status,
                request_id: r.request_id,
                assignment_id: None,
                limits: r.limits,
            })
        }
        Assignment::PayRule {
            policy,
            effective_date,
        } => {
            let Some(policy_id) = policy.id else {
                return Err(unresolved());
            };
            let body = PayRuleAssignment {
                user_id,
                effective_date: *effective_date,
            };
            let r = client.assign_pay_rule(policy_id, &body).await?;
            Ok(Sent {
                status: r.status,
                request_id: r.request_id,
                assignment_id: Some(r.data),
                limits: r.limits,
            })
        }
    }
}

fn unresolved() -> ApiError {
    ApiError {
        class: ErrorClass::Permanent,
        ..ApiError::transport("the policy was not resolved to an ID".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str) -> AssignmentLine {
        AssignmentLine {
            status: status.into(),
            ..AssignmentLine::default()
        }
    }

    #[test]
    fn outcomes_follow_assignment_statuses() {
        assert_eq!(
            outcome_of(&[line("done"), line("done")]),
            Outcome::Succeeded
        );
        assert_eq!(outcome_of(&[]), Outcome::Succeeded);
        assert_eq!(
            outcome_of(&[line("done"), line("failed")]),
            Outcome::Partial
        );
        assert_eq!(outcome_of(&[line("failed")]), Outcome::Failed);
        assert_eq!(
            outcome_of(&[line("done"), line("deferred")]),
            Outcome::Deferred
        );
        assert_eq!(
            outcome_of(&[line("done"), line("not_attempted")]),
            Outcome::NotAttempted
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            let first = backoff(base, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff(base, 3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            assert!(backoff(base, 40) <= Duration::from_secs(30));
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
