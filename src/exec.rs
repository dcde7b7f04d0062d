//! The worker pool: every planned assignment made through the gateway, users
//! concurrently, each user's assignments in order. Workers only send; one consumer
//! records each result in the journal, the progress and the report lines.

use futures::StreamExt;

use crate::api::model::{PayRuleAssignment, TimeOffAssignment};
use crate::api::{ApiError, Budget, Call, Client, ErrorClass, StopReason};
use crate::holdings::{Change, Diff, Holdings, Reads};
use crate::journal::{Entry, Finished, Journal, Key, State, fingerprint};
use crate::plan::{Assignment, PlanRow};
use crate::progress::Progress;
use crate::report::{AssignmentLine, AssignmentStatus, UserLine};
use crate::resolve::Directory;

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub concurrency: usize,
    pub max_errors: Option<usize>,
    pub limit: Option<usize>,
}

/// What to do with one planned assignment, and what it changes in the account.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    pub diff: Diff,
}

#[derive(Debug, Clone)]
pub enum Action {
    Send,
    /// Nothing to send: the account already holds it, or the journal has it done with
    /// the same parameters.
    Skip(Settled),
    /// Not sent: it would lose what the user holds (a guarded change), or the journal has
    /// it done with other parameters. `--allow-overwrite` sends it.
    Conflict(Settled),
}

/// Why an assignment is settled without a request, with the journal's record if any.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    pub entry: Option<Entry>,
    pub reason: String,
}

impl Decision {
    pub fn sends(&self) -> bool {
        matches!(self.action, Action::Send)
    }

    /// A decision with nothing known of the account or the journal: send.
    pub fn send() -> Decision {
        Decision {
            action: Action::Send,
            diff: Diff::default(),
        }
    }
}

/// Decides every assignment of a row from what the account holds (its diff) and the
/// journal. The account is the truth where it could be read; where it could not, the
/// journal decides as before.
pub fn decide(
    journal: Option<&Journal>,
    base_url: &str,
    row: &PlanRow,
    diffs: &[Diff],
    allow_overwrite: bool,
) -> Result<Vec<Decision>, String> {
    row.assignments
        .iter()
        .zip(diffs)
        .map(|(a, diff)| {
            let entry = match (journal, row.user_id) {
                (Some(journal), Some(user)) => journal.lookup(&Key::of(base_url, user, a))?,
                _ => None,
            };
            Ok(Decision {
                action: action(a, diff, entry, allow_overwrite),
                diff: diff.clone(),
            })
        })
        .collect()
}

fn action(a: &Assignment, diff: &Diff, entry: Option<Entry>, allow_overwrite: bool) -> Action {
    let done = entry.as_ref().filter(|e| e.state == State::Done);
    let done_same = done.is_some_and(|e| e.fingerprint == fingerprint(a));
    let settled = |reason: String| Settled {
        entry: entry.clone(),
        reason,
    };
    match diff.change {
        Change::Unknown => match done {
            Some(_) if done_same => Action::Skip(settled(String::new())),
            Some(e) if !allow_overwrite => Action::Conflict(settled(format!(
                "already assigned with {} (run {}); this sheet says {}: re-sending would overwrite it, so it was left alone \
                 (--allow-overwrite sends it)",
                e.fingerprint,
                e.run_id,
                fingerprint(a)
            ))),
            _ => Action::Send,
        },
        Change::Unchanged => Action::Skip(settled(String::new())),
        // Set by an earlier run; the balance has moved since (use, accrual): not ours to undo.
        Change::SetBalance if done_same => Action::Skip(settled(String::new())),
        _ => match &diff.loses {
            Some(loses) if !allow_overwrite => {
                let verb = match diff.change {
                    Change::Move => "moving the user would lose",
                    Change::SetBalance => "setting the balance would replace",
                    _ => "this effective date would remove",
                };
                Action::Conflict(settled(format!(
                    "{verb} {loses}: not sent (--allow-overwrite sends it)"
                )))
            }
            _ => Action::Send,
        },
    }
}

/// The line of an assignment before anything is sent: `planned`, or what the account or
/// the journal settles (`skipped`, `conflict`). A dry run's lines; a run starts the same.
pub fn decided_line(a: &Assignment, decision: &Decision) -> AssignmentLine {
    let line = AssignmentLine::of(a).with_diff(&decision.diff);
    let (status, settled) = match &decision.action {
        Action::Send => return line,
        Action::Skip(settled) => (AssignmentStatus::Skipped, settled),
        Action::Conflict(settled) => (AssignmentStatus::Conflict, settled),
    };
    let entry = settled.entry.as_ref();
    AssignmentLine {
        status,
        http_status: entry.and_then(|e| e.http_status),
        request_id: entry.map(|e| e.request_id.clone()).unwrap_or_default(),
        assignment_id: entry.map(|e| e.assignment_id.clone()).unwrap_or_default(),
        finished_at: entry.map(|e| e.updated_at.clone()).unwrap_or_default(),
        error: settled.reason.clone(),
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
    pub options: &'a ExecOptions,
    pub progress: &'a Progress,
}

/// One assignment's result, from a worker to the consumer.
struct Event {
    slot: usize,
    position: usize,
    line: AssignmentLine,
    /// The journal key to record the result under, when a request was begun.
    sent: Option<Key>,
}

/// Runs every row's assignments. Returns one line per row, in the rows' order.
pub async fn execute(
    run: &Run<'_>,
    rows: &[&PlanRow],
    decisions: &[Vec<Decision>],
) -> Vec<UserLine> {
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
    let mut failures = 0usize;
    let workers = rows.iter().zip(decisions).zip(positions).enumerate().map(
        |(slot, ((row, decisions), position))| {
            Box::pin(worker(run, slot, row, decisions, position))
        },
    );
    let mut events =
        futures::stream::iter(workers).flatten_unordered(run.options.concurrency.max(1));
    while let Some(event) = events.next().await {
        if let Some(key) = &event.sent {
            record(run, rows[event.slot], key, &event.line);
        }
        log_unsettled(rows[event.slot], &event.line);
        if event.line.status == AssignmentStatus::Failed {
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

/// A failed, conflicting or deferred assignment, as one log event with its fields.
fn log_unsettled(row: &PlanRow, line: &AssignmentLine) {
    if !matches!(
        line.status,
        AssignmentStatus::Failed | AssignmentStatus::Conflict | AssignmentStatus::Deferred
    ) {
        return;
    }
    tracing::warn!(
        event = "assignment",
        row = row.number,
        user_id = row.user_id,
        kind = line.kind,
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

fn record(run: &Run<'_>, row: &PlanRow, key: &Key, line: &AssignmentLine) {
    let state = match line.status {
        AssignmentStatus::Done => State::Done,
        AssignmentStatus::Deferred => State::Deferred,
        _ => State::Failed,
    };
    let finished = Finished {
        state,
        attempts: line.attempts,
        http_status: line.http_status,
        error: &line.error,
        request_id: &line.request_id,
        assignment_id: &line.assignment_id,
    };
    if let Err(e) = run.journal.finish(key, &finished) {
        tracing::error!(
            "row {}: {} {} was {} but {e}",
            row.number,
            line.kind,
            line.policy_id,
            line.status.as_str()
        );
    }
}

/// Why a user's assignments are not started, if they are not.
type Hold = Option<(AssignmentStatus, String)>;

/// One user's assignments, in order, as a stream of results. Whether the user starts at
/// all is decided when the first one is due, so that the day's budget is claimed then.
fn worker<'r>(
    run: &'r Run<'r>,
    slot: usize,
    row: &'r PlanRow,
    decisions: &'r [Decision],
    position: Option<usize>,
) -> impl futures::Stream<Item = Event> + 'r {
    let start: (usize, Option<Hold>) = (0, None);
    futures::stream::unfold(start, move |(next, hold)| async move {
        let assignment = row.assignments.get(next)?;
        let hold = hold.unwrap_or_else(|| user_hold(run, decisions, position));
        let decision = &decisions[next];
        let (line, sent) = match (&decision.action, &hold) {
            (Action::Send, Some((status, reason))) => {
                (AssignmentLine::unsent(assignment, *status, reason), None)
            }
            (Action::Send, None) => send_recorded(run, row, assignment).await,
            _ => (decided_line(assignment, decision), None),
        };
        let line = line.with_diff(&decision.diff);
        let event = Event {
            slot,
            position: next,
            line,
            sent,
        };
        Some((event, (next + 1, Some(hold))))
    })
}

/// Whether a user starts: not past `--limit`, the run not stopped, and the day's budget
/// covering every call the user needs (claimed here, all at once).
fn user_hold(run: &Run<'_>, decisions: &[Decision], position: Option<usize>) -> Hold {
    let position = position?;
    if run.options.limit.is_some_and(|limit| position >= limit) {
        return Some((
            AssignmentStatus::NotAttempted,
            "left for a later run by --limit".to_owned(),
        ));
    }
    let stop = run.client.stop();
    if let Some(reason) = stop.get() {
        return Some(stop_status(reason, run.client));
    }
    let to_send = decisions.iter().filter(|d| d.sends()).count() as u64;
    if run.client.claim_day(to_send) {
        None
    } else {
        stop.set(StopReason::QuotaExhausted);
        Some(stop_status(StopReason::QuotaExhausted, run.client))
    }
}

/// The status and message of work not started because the run stopped.
fn stop_status(reason: StopReason, client: &Client) -> (AssignmentStatus, String) {
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
        reason @ (StopReason::Interrupted | StopReason::AuthRefused | StopReason::MaxErrors),
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
        let reason = format!("not sent: {e}");
        return (
            AssignmentLine::unsent(assignment, AssignmentStatus::Failed, &reason),
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
            let call = client
                .assign_time_off(policy_id, &body, Budget::Claimed)
                .await;
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
            let call = client
                .assign_pay_rule(policy_id, &body, Budget::Claimed)
                .await;
            Sent::of(call, Some)
        }
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

/// How long to wait before looking again at a write the account does not show yet, in
/// case of read-after-write lag.
const VERIFY_LAG: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads back every assignment answered `done`. One the account does not hold (looked at
/// twice, [`VERIFY_LAG`] apart) is `failed`, and journaled so, so that the next run sends
/// it again. A verification that cannot be made (a refused read, a spent quota) leaves
/// the lines as they are, with a warning.
pub async fn verify(
    run: &Run<'_>,
    directory: &Directory,
    rows: &[&PlanRow],
    lines: Vec<UserLine>,
) -> Vec<UserLine> {
    let mut missing: Vec<(usize, usize)> = lines
        .iter()
        .enumerate()
        .flat_map(|(r, line)| {
            line.assignments
                .iter()
                .enumerate()
                .filter(|(_, a)| a.status == AssignmentStatus::Done)
                .map(move |(a, _)| (r, a))
        })
        .collect();
    for look in 0..2 {
        if missing.is_empty() {
            return lines;
        }
        if look > 0 {
            tokio::time::sleep(VERIFY_LAG).await;
        }
        let sent = missing
            .iter()
            .filter_map(|&(r, a)| Some((rows[r].user_id?, &rows[r].assignments[a])));
        let reads = Reads::verify(sent, directory);
        let holdings = match Holdings::fetch(run.client, directory, &reads).await {
            Ok(holdings) => holdings,
            Err(e) => {
                tracing::warn!("cannot verify what was written: {e}");
                return lines;
            }
        };
        missing.retain(|&(r, a)| {
            let row = rows[r];
            row.user_id
                .is_some_and(|user| holdings.holds(user, &row.assignments[a]) == Some(false))
        });
    }
    let mut lines = lines;
    for (r, a) in missing {
        let row = rows[r];
        let line = &mut lines[r].assignments[a];
        line.status = AssignmentStatus::Failed;
        line.error = "Connecteam answered 200 but does not hold it (checked twice): it will be sent again next run".into();
        if let Some(user) = row.user_id {
            let key = Key::of(run.client.base_url(), user, &row.assignments[a]);
            record(run, row, &key, line);
        }
    }
    lines
        .into_iter()
        .zip(rows)
        .map(|(line, row)| UserLine::new(row, line.assignments))
        .collect()
}
