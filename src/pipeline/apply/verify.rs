//! After writing: every write answered with a success is read back where it was sent
//! (the policy, the balance and unit sent; the pay rule in effect on the date sent), a
//! few times, backing off, up to the verify patience (read-after-write lag). One seen is
//! journaled `done`; one not seen by then stays `unverified` (journaled as sent and
//! answered): the next run reads the account again before deciding.

use std::time::Duration;

use super::pool::{Run, record};
use crate::api::StopReason;
use crate::holdings::{Holdings, Reads, Seen};
use crate::journal::{Key, State};
use crate::plan::PlanRow;
use crate::report::{AssignmentStatus, UserLine};
use crate::resolve::Directory;

/// When to look, as fractions of the patience: at once, then backing off.
const LOOKS: [f64; 6] = [0.0, 1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, 1.0 / 2.0, 1.0];

/// One write not seen yet: its row and assignment, and what the account was last seen to
/// hold instead (a holding, journaled; or why it could not be read).
struct Unseen {
    row: usize,
    assignment: usize,
    last: Seen,
}

/// Reads back what was sent and answered; returns the lines with each unseen write
/// `unverified`.
pub async fn verify(
    run: &Run<'_>,
    directory: &Directory,
    rows: &[&PlanRow],
    lines: Vec<UserLine>,
    patience: Duration,
) -> Vec<UserLine> {
    let mut unseen = sent_and_answered(run, &lines);
    let started = tokio::time::Instant::now();
    let mut cut_short: Option<String> = None;
    for look in LOOKS {
        if unseen.is_empty() {
            break;
        }
        let stop = run.client.stop();
        tokio::select! {
            () = tokio::time::sleep_until(started + patience.mul_f64(look)) => {}
            () = stop.halted() => {}
        }
        if stop.get() == Some(StopReason::Interrupted) {
            cut_short = Some("the run was interrupted while verifying".into());
            break;
        }
        if let Err(why) = look_again(run, directory, rows, &lines, &mut unseen).await {
            cut_short = Some(why);
            break;
        }
    }
    let why = cut_short.unwrap_or_else(|| format!("after {patience:?} of looking"));
    let mut lines = lines;
    for write in unseen {
        mark_unverified(run, rows[write.row], &mut lines[write.row], &write, &why);
    }
    lines
        .into_iter()
        .zip(rows)
        .map(|(line, row)| UserLine::new(row, line.assignments))
        .collect()
}

/// The writes this run made and had answered with a success (one confirmed without a
/// request was just seen).
fn sent_and_answered(run: &Run<'_>, lines: &[UserLine]) -> Vec<Unseen> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(r, line)| {
            line.assignments
                .iter()
                .enumerate()
                .filter(|(_, a)| {
                    a.status == AssignmentStatus::Done
                        && a.attempts > 0
                        && run.verified.contains(&a.kind)
                })
                .map(move |(a, _)| Unseen {
                    row: r,
                    assignment: a,
                    last: Seen::Unknown(String::new()),
                })
        })
        .collect()
}

/// One look at what is still unseen: each write now held is journaled `done` and
/// dropped. `Err` says why the account could not be read back.
async fn look_again(
    run: &Run<'_>,
    directory: &Directory,
    rows: &[&PlanRow],
    lines: &[UserLine],
    unseen: &mut Vec<Unseen>,
) -> Result<(), String> {
    let sent = unseen
        .iter()
        .filter_map(|w| Some((rows[w.row].user_id?, &rows[w.row].assignments[w.assignment])));
    let reads = Reads::verify(sent, directory);
    let holdings = Holdings::fetch(run.client, directory, &reads)
        .await
        .map_err(|e| {
            tracing::warn!("cannot verify what was written: {e}");
            format!("it could not be read back: {e}")
        })?;
    unseen.retain_mut(|write| {
        let row = rows[write.row];
        let Some(user) = row.user_id else {
            return true;
        };
        let assignment = &row.assignments[write.assignment];
        match holdings.seen(user, assignment) {
            Seen::Held => {
                let key = Key::of(run.client.base_url(), user, assignment);
                let line = &lines[write.row].assignments[write.assignment];
                record(run, row, &key, line, State::Done, "");
                false
            }
            other => {
                write.last = other;
                true
            }
        }
    });
    Ok(())
}

/// A write not seen in time: its line `unverified`, saying why, and the journal's entry
/// with what the account held instead.
fn mark_unverified(run: &Run<'_>, row: &PlanRow, line: &mut UserLine, write: &Unseen, why: &str) {
    let assignment = &mut line.assignments[write.assignment];
    assignment.status = AssignmentStatus::Unverified;
    let (held, seen) = match &write.last {
        Seen::Not { holds, held } if holds == crate::holdings::NOT_ON_PACK => {
            (" (the user is not on the pack)".to_owned(), held.as_str())
        }
        Seen::Not { holds, held } => (format!(" (the account holds {holds})"), held.as_str()),
        Seen::Unknown(why) if !why.is_empty() => (format!(" ({why})"), ""),
        _ => (String::new(), ""),
    };
    assignment.error = format!(
        "Connecteam answered {} but it is not seen held as sent: {why}{held}; unverified, \
         so the next run reads the account before deciding",
        assignment
            .http_status
            .map_or_else(|| "with a success".into(), |s| s.to_string()),
    );
    if let Some(user) = row.user_id {
        let key = Key::of(
            run.client.base_url(),
            user,
            &row.assignments[write.assignment],
        );
        record(run, row, &key, assignment, State::Unverified, seen);
    }
}
