//! After writing: every write answered with a success is read back where it was sent
//! (the policy, the balance and unit sent; the pay rule in effect on the date sent), a
//! few times, backing off, up to the verify patience (read-after-write lag). One seen is
//! journaled `done`; one not seen by then stays `unverified` (journaled as sent and
//! answered): the next run reads the account again before deciding.

use std::time::Duration;

use super::pool::{Run, kind_of, record};
use crate::api::StopReason;
use crate::holdings::{Holdings, Reads, Seen};
use crate::journal::{Key, State};
use crate::plan::PlanRow;
use crate::report::{AssignmentStatus, UserLine};
use crate::resolve::Directory;

/// When to look, as fractions of the patience: at once, then backing off.
const LOOKS: [f64; 6] = [0.0, 1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, 1.0 / 2.0, 1.0];

/// Reads back what was sent and answered; returns the lines with each unseen write
/// `unverified`.
pub async fn verify(
    run: &Run<'_>,
    directory: &Directory,
    rows: &[&PlanRow],
    lines: Vec<UserLine>,
    patience: Duration,
) -> Vec<UserLine> {
    // Written by this run and answered with a success (a confirmed one was just seen).
    // Each unseen write, with what the account was last seen to hold instead (and
    // whether that is a holding, to journal, or a reason it could not be read).
    let mut unseen: Vec<(usize, usize, Seen)> = lines
        .iter()
        .enumerate()
        .flat_map(|(r, line)| {
            line.assignments
                .iter()
                .enumerate()
                .filter(|(_, a)| {
                    a.status == AssignmentStatus::Done
                        && a.attempts > 0
                        && run.verified.contains(&kind_of(a))
                })
                .map(move |(a, _)| (r, a, Seen::Unknown(String::new())))
        })
        .collect();
    let started = tokio::time::Instant::now();
    let mut cut_short: Option<String> = None;
    for look in LOOKS {
        if unseen.is_empty() {
            break;
        }
        let stop = run.client.stop();
        let at = started + patience.mul_f64(look);
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = stop.halted() => {}
        }
        if stop.get() == Some(StopReason::Interrupted) {
            cut_short = Some("the run was interrupted while verifying".into());
            break;
        }
        let sent = unseen
            .iter()
            .filter_map(|&(r, a, _)| Some((rows[r].user_id?, &rows[r].assignments[a])));
        let reads = Reads::verify(sent, directory);
        let holdings = match Holdings::fetch(run.client, directory, &reads).await {
            Ok(holdings) => holdings,
            Err(e) => {
                tracing::warn!("cannot verify what was written: {e}");
                cut_short = Some(format!("it could not be read back: {e}"));
                break;
            }
        };
        unseen.retain_mut(|(r, a, last)| {
            let row = rows[*r];
            let Some(user) = row.user_id else {
                return true;
            };
            let assignment = &row.assignments[*a];
            match holdings.seen(user, assignment) {
                Seen::Held => {
                    let key = Key::of(run.client.base_url(), user, assignment);
                    record(run, row, &key, &lines[*r].assignments[*a], State::Done, "");
                    false
                }
                other => {
                    *last = other;
                    true
                }
            }
        });
    }
    let mut lines = lines;
    let looked = format!("after {patience:?} of looking");
    for (r, a, last) in unseen {
        let row = rows[r];
        let line = &mut lines[r].assignments[a];
        line.status = AssignmentStatus::Unverified;
        let why = cut_short.clone().unwrap_or_else(|| looked.clone());
        let (held, seen) = match &last {
            Seen::Not { holds, held } => (format!(" (the account holds {holds})"), held.as_str()),
            Seen::Unknown(why) if !why.is_empty() => (format!(" ({why})"), ""),
            _ => (String::new(), ""),
        };
        line.error = format!(
            "Connecteam answered {} but it is not seen held as sent: {why}{held}; unverified, \
             so the next run reads the account before deciding",
            line.http_status
                .map_or_else(|| "with a success".into(), |s| s.to_string()),
        );
        if let Some(user) = row.user_id {
            let key = Key::of(run.client.base_url(), user, &row.assignments[a]);
            record(run, row, &key, line, State::Unverified, seen);
        }
    }
    lines
        .into_iter()
        .zip(rows)
        .map(|(line, row)| UserLine::new(row, line.assignments))
        .collect()
}
