//! The worker pool: every planned assignment made through the gateway, users
//! concurrently, each user's assignments in order. Workers only send; one consumer
//! records each result in the journal, the progress and the report lines.

use std::collections::BTreeSet;

use futures::StreamExt;

use super::fresh::Fresh;
use crate::api::endpoint::{AssignPayRule, AssignTimeOff};
use crate::api::model::{PayRuleAssignment, TimeOffAssignment};
use crate::api::{ApiError, Budget, Call, Client, ErrorClass, StopReason};
use crate::journal::{Finished, Journal, Key, State, fingerprint};
use crate::pipeline::decide::{Action, Decision, Settled};
use crate::plan::{Assignment, Kind, PlanRow};
use crate::progress::Progress;
use crate::report::{AssignmentLine, AssignmentStatus, UserLine};

#[derive(Debug, Clone, Default)]
pub struct PoolOptions {
    pub concurrency: usize,
    pub max_errors: Option<usize>,
    pub limit: Option<usize>,
}

/// The line of an assignment before anything is sent: `planned`, or what the account or
/// the journal settles (`skipped`, `conflict`). A dry run's lines; a run starts the same.
pub fn decided_line(a: &Assignment, decision: &Decision) -> AssignmentLine {
    let line = AssignmentLine::of(a).with_diff(&decision.diff);
    let (status, settled) = match &decision.action {
        Action::Send => return line,
        Action::Skip(settled) => (AssignmentStatus::Skipped, settled),
        Action::Confirm(settled) => (AssignmentStatus::Done, settled),
        Action::Conflict(settled) => (AssignmentStatus::Conflict, settled),
    };
    let entry = settled.entry.as_ref();
    AssignmentLine {
        status,
        http_status: entry.and_then(|e| e.http_status),
        request_id: entry.map(|e| e.request_id.clone()).unwrap_or_default(),
        assignment_id: entry.map(|e| e.assignment_id.clone()).unwrap_or_default(),
        finished_at: entry.map(|e| e.updated_at.clone()).unwrap_or_default(),
        // Only a conflict has something to fix; the others are settled.
        error: match status {
            AssignmentStatus::Conflict => settled.reason.clone(),
            _ => String::new(),
        },
        ..line
    }
}

/// A dry run's lines for a row.
pub fn decided_lines(row: &PlanRow, decisions: &[Decision]) -> Vec<AssignmentLine> {
    row.assignments
        .iter()
        .zip(decisions)
        .map(|(a, d)| decided_line(a, d))
        .collect()
}

/// Everything the workers of one run share, by reference.
pub struct Run<'a> {
    pub client: &'a Client,
    /// Where each assignment is recorded, under `run_id`.
    pub journal: &'a Journal,
    pub run_id: &'a str,
    pub options: &'a PoolOptions,
    pub progress: &'a Progress,
    /// The kinds whose writes are read back: answered 200, they are journaled
    /// `unverified` until seen (`done` at once for the others).
    pub verified: &'a BTreeSet<Kind>,
    /// What users hold, read again before writing when it is older than allowed.
    pub fresh: Option<&'a Fresh<'a>>,
    /// The onboarding packs, assigned before the pool ([`super::packs`]): their lines,
    /// and how many failed.
    pub packs: &'a super::packs::PackStage,
    /// A canary's rows (`--limit`), as chosen before anyone was created or any pack
    /// assigned: the pool holds back the same rows.
    pub within: Option<&'a std::collections::HashSet<usize>>,
}

/// One assignment's result, from a worker to the consumer.
struct Event {
    slot: usize,
    position: usize,
    line: AssignmentLine,
    /// What the journal records of it, if anything.
    record: Option<Record>,
}

/// What the consumer writes in the journal for one event.
enum Record {
    /// A request was begun under this key: how it ended.
    Sent(Key),
    /// ct-onboard's own earlier write, now seen held: done.
    Confirmed(Key),
}

/// Runs every row's assignments with the progress bar ticking (its words change during
/// a pause, when no user finishes). One line per row, in the rows' order.
pub async fn execute_with_ticks(
    run: &Run<'_>,
    rows: &[&PlanRow],
    decisions: &[Vec<Decision>],
) -> Vec<UserLine> {
    let ticking = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            run.progress.tick();
        }
    };
    tokio::select! {
        lines = execute(run, rows, decisions) => lines,
        () = ticking => unreachable!("the ticker never ends"),
    }
}

/// Runs every row's assignments. Returns one line per row, in the rows' order.
async fn execute(run: &Run<'_>, rows: &[&PlanRow], decisions: &[Vec<Decision>]) -> Vec<UserLine> {
    // --limit counts users with something to send, in sheet order.
    let mut pending = 0usize;
    let positions: Vec<Option<usize>> = decisions
        .iter()
        .map(|d| {
            d.iter().any(Decision::sends).then(|| {
                pending += 1;
                pending - 1
            })
        })
        .collect();
    let mut lines: Vec<Vec<AssignmentLine>> = rows
        .iter()
        .map(|r| vec![AssignmentLine::default(); r.assignments.len()])
        .collect();
    let mut left: Vec<usize> = rows.iter().map(|r| r.assignments.len()).collect();
    // --max-errors counts the packs' failures, counted when they happened.
    let mut failures = run.packs.failures;
    let workers = rows.iter().zip(decisions).zip(positions).enumerate().map(
        |(slot, ((row, decisions), position))| {
            Box::pin(worker(run, slot, row, decisions, position))
        },
    );
    let mut events =
        futures::stream::iter(workers).flatten_unordered(run.options.concurrency.max(1));
    while let Some(event) = events.next().await {
        match &event.record {
            Some(Record::Sent(key)) => {
                let state = match event.line.status {
                    AssignmentStatus::Done if run.verified.contains(&event.line.kind) => {
                        State::Unverified
                    }
                    AssignmentStatus::Done => State::Done,
                    AssignmentStatus::Deferred => State::Deferred,
                    _ => State::Failed,
                };
                record(run, rows[event.slot], key, &event.line, state, "");
            }
            Some(Record::Confirmed(key)) => {
                record(run, rows[event.slot], key, &event.line, State::Done, "");
            }
            None => {}
        }
        log_unsettled(rows[event.slot], &event.line);
        if event.line.status == AssignmentStatus::Failed && event.line.kind != Kind::OnboardingPack
        {
            failures += 1;
            if run.options.max_errors.is_some_and(|max| failures >= max) {
                run.client.stop().set(StopReason::MaxErrors);
            }
        }
        lines[event.slot][event.position] = event.line;
        left[event.slot] -= 1;
        if left[event.slot] == 0 {
            run.progress
                .user_done(&UserLine::new(rows[event.slot], lines[event.slot].clone()));
        }
    }
    rows.iter()
        .zip(lines)
        .map(|(row, lines)| UserLine::new(row, lines))
        .collect()
}

/// A failed, conflicting, deferred or (a pack's, before verifying) unverified
/// assignment, as one log event with its fields.
fn log_unsettled(row: &PlanRow, line: &AssignmentLine) {
    if !matches!(
        line.status,
        AssignmentStatus::Failed
            | AssignmentStatus::Conflict
            | AssignmentStatus::Deferred
            | AssignmentStatus::Unverified
    ) {
        return;
    }
    tracing::warn!(
        event = "assignment",
        row = row.number,
        user_id = row.user_id,
        kind = line.kind.as_str(),
        policy_id = %line.policy_id,
        status = line.status.as_str(),
        change = line.change.as_str(),
        http_status = line.http_status,
        request_id = %line.request_id,
        error = %line.error,
        "row {}: {} {} {}: {}",
        row.number,
        line.kind,
        line.policy_id,
        line.status.as_str(),
        line.error
    );
}

/// Records how an assignment ended; `seen` is what the account held when an unverified
/// write was last looked for.
pub(super) fn record(
    run: &Run<'_>,
    row: &PlanRow,
    key: &Key,
    line: &AssignmentLine,
    state: State,
    seen: &str,
) {
    let finished = Finished {
        state,
        attempts: line.attempts,
        http_status: line.http_status,
        error: &line.error,
        request_id: &line.request_id,
        assignment_id: &line.assignment_id,
        seen,
    };
    if let Err(e) = run.journal.finish(key, &finished) {
        tracing::error!(
            event = "stop",
            "row {}: {} {} was {} but {e}: the run stops, nothing more is sent",
            row.number,
            line.kind,
            line.policy_id,
            line.status.as_str()
        );
        run.client.stop().set(StopReason::JournalFailed);
    }
}

/// Why a user's assignments are not started, if they are not.
type Hold = Option<(AssignmentStatus, String)>;

/// One user's assignments, in order, as a stream of results. Whether the user starts at
/// all is decided when the first one is due, so that the day's budget is claimed then,
/// and what the user holds is read again first if it is older than allowed.
fn worker<'r>(
    run: &'r Run<'r>,
    slot: usize,
    row: &'r PlanRow,
    planned: &'r [Decision],
    position: Option<usize>,
) -> impl futures::Stream<Item = Event> + 'r {
    let start: (usize, Option<(Hold, Vec<Decision>)>) = (0, None);
    futures::stream::unfold(start, move |(next, started)| async move {
        let assignment = row.assignments.get(next)?;
        let (hold, decisions) = match started {
            Some(started) => started,
            None => begin(run, slot, row, planned, position).await,
        };
        let decision = &decisions[next];
        if let Some(line) = run.packs.lines.get(&(slot, next)) {
            let event = Event {
                slot,
                position: next,
                line: line.clone(),
                record: None,
            };
            return Some((event, (next + 1, Some((hold, decisions)))));
        }
        let (line, record) = match (&decision.action, &hold) {
            // Packs go out together, before the pool, which never sends one: every pack
            // to send has its line from that stage (and is decided as planned here).
            (Action::Send, _) if assignment.kind() == Kind::OnboardingPack => (
                AssignmentLine::unsent(
                    assignment,
                    AssignmentStatus::NotAttempted,
                    "not sent: onboarding packs are assigned before the other assignments, and \
                     this one was not; the next run assigns it",
                ),
                None,
            ),
            (Action::Send, Some((status, reason))) => {
                (AssignmentLine::unsent(assignment, *status, reason), None)
            }
            (Action::Send, None) => {
                let (line, key) = send_recorded(run, row, assignment).await;
                (line, key.map(Record::Sent))
            }
            (Action::Confirm(_), _)
            | (
                Action::Skip(Settled {
                    record_done: true, ..
                }),
                _,
            ) => {
                let key = row
                    .user_id
                    .map(|user| Key::of(run.client.base_url(), user, assignment));
                (
                    decided_line(assignment, decision),
                    key.map(Record::Confirmed),
                )
            }
            _ => (decided_line(assignment, decision), None),
        };
        let line = line.with_diff(&decision.diff);
        let event = Event {
            slot,
            position: next,
            line,
            record,
        };
        Some((event, (next + 1, Some((hold, decisions)))))
    })
}

/// Starts a user: past `--limit` or a stop it is held; otherwise what it holds is read
/// again if older than allowed (and the decisions made again from it), and the day's
/// budget is claimed for every call it then needs.
async fn begin(
    run: &Run<'_>,
    slot: usize,
    row: &PlanRow,
    planned: &[Decision],
    position: Option<usize>,
) -> (Hold, Vec<Decision>) {
    if let Some(fresh) = run.fresh {
        fresh.started(slot);
    }
    let Some(position) = position else {
        return (None, planned.to_vec()); // nothing to send
    };
    if let Some(hold) = held_back(run, row, position) {
        return (Some(hold), planned.to_vec());
    }
    let decisions = match run.fresh {
        Some(fresh) => match fresh.decisions(run, slot, row).await {
            // The packs were settled before the pool, as planned: only the rest is
            // decided again.
            Ok(Some(decisions)) => decisions
                .into_iter()
                .zip(planned)
                .zip(&row.assignments)
                .map(|((again, planned), a)| match a.kind() {
                    Kind::OnboardingPack => planned.clone(),
                    _ => again,
                })
                .collect(),
            Ok(None) => planned.to_vec(),
            Err(reason) => return (Some((AssignmentStatus::Failed, reason)), planned.to_vec()),
        },
        None => planned.to_vec(),
    };
    (claim(run, row, &decisions), decisions)
}

/// Whether a user with something to send is held back: past `--limit`, or the run
/// stopped.
fn held_back(run: &Run<'_>, row: &PlanRow, position: usize) -> Hold {
    let past_limit = match run.within {
        Some(within) => !within.contains(&row.index),
        None => run.options.limit.is_some_and(|limit| position >= limit),
    };
    if past_limit {
        return Some((
            AssignmentStatus::NotAttempted,
            "left for a later run by --limit".to_owned(),
        ));
    }
    run.client
        .stop()
        .get()
        .map(|reason| stop_status(reason, run.client))
}

/// Claims the day's budget for every call a user needs, all at once: a user is never
/// left half done by the quota.
fn claim(run: &Run<'_>, row: &PlanRow, decisions: &[Decision]) -> Hold {
    // Packs were sent (and claimed) together, before the pool.
    let to_send = row
        .assignments
        .iter()
        .zip(decisions)
        .filter(|(a, d)| d.sends() && a.kind() != Kind::OnboardingPack)
        .count() as u64;
    if to_send == 0 || run.client.claim_day(to_send) {
        None
    } else {
        run.client.stop().set(StopReason::QuotaExhausted);
        Some(stop_status(StopReason::QuotaExhausted, run.client))
    }
}

/// The status and message of work not started because the run stopped.
pub(super) fn stop_status(reason: StopReason, client: &Client) -> (AssignmentStatus, String) {
    let message = match reason {
        StopReason::QuotaExhausted => {
            return (AssignmentStatus::Deferred, client.deferred_message());
        }
        StopReason::RateLimitedTooLong => {
            return (AssignmentStatus::Deferred, client.impatience_message());
        }
        StopReason::Interrupted => "the run was interrupted first",
        StopReason::AuthRefused => "the run stopped: Connecteam refused the API key",
        StopReason::MaxErrors => "the run stopped at --max-errors",
        StopReason::JournalFailed => "the run stopped: the journal could not be written",
    };
    (AssignmentStatus::NotAttempted, message.to_owned())
}

/// One assignment sent, with the journal written before the first request (the consumer
/// writes how it ended): a crash in between leaves it `in_flight`, and the next run
/// sends it again.
async fn send_recorded(
    run: &Run<'_>,
    row: &PlanRow,
    assignment: &Assignment,
) -> (AssignmentLine, Option<Key>) {
    // A quota stop lets a started user finish: its calls were claimed up front.
    if let Some(
        reason @ (StopReason::Interrupted
        | StopReason::AuthRefused
        | StopReason::MaxErrors
        | StopReason::JournalFailed),
    ) = run.client.stop().get()
    {
        let (status, reason) = stop_status(reason, run.client);
        return (AssignmentLine::unsent(assignment, status, &reason), None);
    }
    let Some(user_id) = row.user_id else {
        let reason = "the user was not resolved to a Connecteam user ID";
        return (
            AssignmentLine::unsent(assignment, AssignmentStatus::Failed, reason),
            None,
        );
    };
    let key = Key::of(run.client.base_url(), user_id, assignment);
    if let Err(e) = run
        .journal
        .begin(&key, &fingerprint(assignment), run.run_id)
    {
        // Unjournaled, a write could be sent twice: this one and every later one wait.
        tracing::error!(event = "stop", "{e}: the run stops, nothing more is sent");
        run.client.stop().set(StopReason::JournalFailed);
        let reason = format!("not sent: {e}");
        return (
            AssignmentLine::unsent(assignment, AssignmentStatus::NotAttempted, &reason),
            None,
        );
    }
    let started_at = now();
    let sent = send(run.client, user_id, assignment).await;
    let line = AssignmentLine {
        started_at,
        finished_at: now(),
        attempts: sent.attempts,
        ..answered(assignment, sent.result, sent.attempts)
    };
    (line, Some(key))
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The report line of a call's last answer (a stop before the first attempt: not
/// attempted; after it: failed).
fn answered(
    assignment: &Assignment,
    result: Result<(u16, Option<String>, Option<u64>), ApiError>,
    attempts: u32,
) -> AssignmentLine {
    match result {
        Ok((status, request_id, assignment_id)) => AssignmentLine {
            status: AssignmentStatus::Done,
            http_status: Some(status),
            request_id: request_id.unwrap_or_default(),
            assignment_id: assignment_id.map(|id| id.to_string()).unwrap_or_default(),
            ..AssignmentLine::of(assignment)
        },
        Err(error) => AssignmentLine {
            status: match error.class {
                ErrorClass::QuotaExhausted => AssignmentStatus::Deferred,
                ErrorClass::Stopped if attempts == 0 => AssignmentStatus::NotAttempted,
                _ => AssignmentStatus::Failed,
            },
            http_status: error.status,
            request_id: error.request_id.unwrap_or_default(),
            error: error.message,
            ..AssignmentLine::of(assignment)
        },
    }
}

/// The status, request ID and assignment ID of a write, or why it failed.
struct Sent {
    result: Result<(u16, Option<String>, Option<u64>), ApiError>,
    attempts: u32,
}

impl Sent {
    /// `assignment_id` picks the assignment ID out of the answer's data, if it has one.
    fn of<T>(call: Call<T>, assignment_id: impl FnOnce(T) -> Option<u64>) -> Sent {
        Sent {
            result: call
                .result
                .map(|r| (r.status, r.request_id, assignment_id(r.data))),
            attempts: call.attempts,
        }
    }
}

async fn send(client: &Client, user_id: u64, assignment: &Assignment) -> Sent {
    match assignment {
        Assignment::TimeOff { policy, balance } => {
            let Some(policy_id) = &policy.id else {
                return unresolved();
            };
            let body = TimeOffAssignment {
                user_id,
                balance: balance.map(|b| b.amount),
                unit: balance.map(|b| b.unit.as_str().to_owned()),
            };
            let request = AssignTimeOff {
                policy: policy_id,
                body: &body,
            };
            let call = client.call(Budget::Claimed, &request).await;
            Sent::of(call, |()| None)
        }
        Assignment::PayRule {
            policy,
            effective_date,
        } => {
            let Some(policy_id) = policy.id else {
                return unresolved();
            };
            let body = PayRuleAssignment {
                user_id,
                effective_date: *effective_date,
            };
            let request = AssignPayRule {
                policy: policy_id,
                body: &body,
            };
            let call = client.call(Budget::Claimed, &request).await;
            Sent::of(call, Some)
        }
        // Never reached: packs are sent together, before the pool (and the worker
        // reports one left over as not attempted).
        Assignment::OnboardingPack { .. } => Sent {
            result: Err(ApiError::unsent(
                ErrorClass::Permanent,
                "an onboarding pack is assigned with others, not alone".into(),
            )),
            attempts: 0,
        },
    }
}

fn unresolved() -> Sent {
    Sent {
        result: Err(ApiError::unsent(
            ErrorClass::Permanent,
            "the policy was not resolved to an ID".into(),
        )),
        attempts: 0,
    }
}
