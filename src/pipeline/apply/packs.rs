//! Onboarding packs, assigned before the worker pool: one
//! `POST /onboarding/v1/packs/{packId}/assignments` per pack per 500 users. A pack
//! assignment cannot be taken back, so nothing here is sent twice by accident:
//!
//! 1. every (user, pack) is journaled `in_flight` before the request that assigns it;
//! 2. the request is all or nothing: a refused one (4xx) is halved until the users at
//!    fault stand alone, each reported with the API's message, and the others are
//!    assigned (about 2·log₂ of the batch in requests per user at fault, never a loop);
//! 3. an answer that is not clear is followed by one read of the pack, and those on it
//!    are done. After a 5xx or a 200 that cannot be read (the server is done with it)
//!    the others are sent again, a bounded number of times (`--max-retries`); after no
//!    answer at all (a timeout, a dropped connection: the server may still be at it)
//!    they are not sent again in this run and stay `in_flight`, so that the next run
//!    reads the pack before it decides. A refusal after an unclear earlier request is
//!    read back first too: it may be about that request's own work.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::pool::{Run, record, stop_status};
use crate::api::endpoint::{AssignPack, PACK_BATCH, PackAssignments};
use crate::api::model::PackAssignment;
use crate::api::{ApiError, Budget, ErrorClass, StopReason};
use crate::journal::{Key, State, fingerprint};
use crate::pipeline::decide::Decision;
use crate::plan::{Assignment, Kind, PlanRow};
use crate::report::{AssignmentLine, AssignmentStatus};

/// The lines of the pack assignments this stage settled, by (row slot, position).
pub type PackLines = HashMap<(usize, usize), AssignmentLine>;

/// One (user, pack) to assign: where its line goes.
#[derive(Debug, Clone, Copy)]
struct Member {
    slot: usize,
    position: usize,
    user: u64,
}

/// Assigns every pack assignment decided `Send`, pack by pack; returns their lines.
/// `within`: a canary's rows (`--limit`), when there is one.
pub async fn assign(
    run: &Run<'_>,
    rows: &[&PlanRow],
    decisions: &[Vec<Decision>],
    within: Option<&HashSet<usize>>,
    max_resends: u32,
) -> PackLines {
    let mut lines = PackLines::new();
    let mut by_pack: BTreeMap<u64, Vec<Member>> = BTreeMap::new();
    // A run stopped before this stage (interrupted while reading, say) leaves every
    // pack assignment as the stop says, the unresolved ones included.
    let stopped = run
        .client
        .stop()
        .get()
        .map(|reason| stop_status(reason, run.client));
    for (slot, (row, decided)) in rows.iter().zip(decisions).enumerate() {
        for (position, (a, decision)) in row.assignments.iter().zip(decided).enumerate() {
            let Assignment::OnboardingPack { pack } = a else {
                continue;
            };
            if !decision.sends() {
                continue;
            }
            let unsent = |status, why: &str| {
                AssignmentLine::unsent(a, status, why).with_diff(&decision.diff)
            };
            let line = match (row.user_id, pack.id) {
                _ if within.is_some_and(|w| !w.contains(&row.index)) => Some(unsent(
                    AssignmentStatus::NotAttempted,
                    "left for a later run by --limit",
                )),
                _ if let Some((status, why)) = &stopped => Some(unsent(*status, why)),
                (None, _) => Some(unsent(
                    AssignmentStatus::Failed,
                    "the user was not resolved to a Connecteam user ID",
                )),
                (_, None) => Some(unsent(
                    AssignmentStatus::Failed,
                    "the pack was not resolved to an ID",
                )),
                (Some(user), Some(id)) => {
                    let members = by_pack.entry(id).or_default();
                    // Validated before sending: one request naming a user twice would
                    // be refused whole.
                    if members.iter().any(|m| m.user == user) {
                        Some(unsent(
                            AssignmentStatus::Failed,
                            "the sheet names this user twice for this pack: assigned once",
                        ))
                    } else {
                        members.push(Member {
                            slot,
                            position,
                            user,
                        });
                        None
                    }
                }
            };
            if let Some(line) = line {
                lines.insert((slot, position), line);
            }
        }
    }
    let packer = Packer {
        run,
        rows,
        decisions,
        max_resends,
        failures: std::cell::Cell::new(0),
        refusals: std::cell::Cell::new((0, 0)),
    };
    for (pack, members) in by_pack {
        packer.refusals.set((0, narrowing_allowance(members.len())));
        // Later halves go last: a stack, first batch on top.
        let mut batches: Vec<Batch> = members
            .chunks(PACK_BATCH)
            .rev()
            .map(|members| Batch {
                members: members.to_vec(),
                sent: 0,
            })
            .collect();
        while let Some(batch) = batches.pop() {
            batches.extend(packer.send(pack, batch, &mut lines).await);
        }
    }
    lines
}

/// One request's members, and how many requests for them had no clear answer before.
struct Batch {
    members: Vec<Member>,
    sent: u32,
}

struct Packer<'a> {
    run: &'a Run<'a>,
    rows: &'a [&'a PlanRow],
    decisions: &'a [Vec<Decision>],
    /// How many times members not on the pack after an unclear answer are sent again.
    max_resends: u32,
    /// Failed so far, for `--max-errors`.
    failures: std::cell::Cell<usize>,
    /// The current pack's refused requests so far, and how many narrowing may take.
    refusals: std::cell::Cell<(usize, usize)>,
}

/// How many people at fault narrowing a pack's batch is sized for: past that many
/// refusals' worth of requests, a refusal is taken as the whole batch's.
const AT_FAULT: usize = 3;

/// How many refused requests narrowing `n` people may take: about 2·log₂ of a batch per
/// person at fault, for [`AT_FAULT`] people in each batch of 500. A refusal that is about
/// the request, not a person (every half refused alike), would otherwise take 2n − 1.
fn narrowing_allowance(n: usize) -> usize {
    let batches = n.div_ceil(PACK_BATCH).max(1);
    let batch = n.clamp(1, PACK_BATCH);
    let depth = usize::BITS - (batch - 1).leading_zeros();
    batches * (1 + 2 * depth as usize * AT_FAULT)
}

impl Packer<'_> {
    fn assignment(&self, m: Member) -> &Assignment {
        &self.rows[m.slot].assignments[m.position]
    }

    fn line(&self, m: Member, line: AssignmentLine) -> AssignmentLine {
        line.with_diff(&self.decisions[m.slot][m.position].diff)
    }

    fn key(&self, m: Member) -> Key {
        Key::of(self.run.client.base_url(), m.user, self.assignment(m))
    }

    /// Sends one batch and settles what came of it; hands back the batches still to
    /// send (halves of a refused one, those an unclear answer did not put on the pack).
    async fn send(&self, pack: u64, batch: Batch, lines: &mut PackLines) -> Vec<Batch> {
        let client = self.run.client;
        let Batch { members, sent } = batch;
        if let Some(reason) = client.stop().get() {
            let (status, why) = stop_status(reason, client);
            for &m in &members {
                let line = AssignmentLine::unsent(self.assignment(m), status, &why);
                lines.insert((m.slot, m.position), self.line(m, line));
            }
            return Vec::new();
        }
        for &m in &members {
            let a = self.assignment(m);
            if let Err(e) = self
                .run
                .journal
                .begin(&self.key(m), &fingerprint(a), self.run.run_id)
            {
                // Unjournaled, a write could be sent twice: nothing more is sent.
                tracing::error!(event = "stop", "{e}: the run stops, nothing more is sent");
                client.stop().set(StopReason::JournalFailed);
                for &m in &members {
                    let why = format!("not sent: {e}");
                    let line = AssignmentLine::unsent(
                        self.assignment(m),
                        AssignmentStatus::NotAttempted,
                        &why,
                    );
                    lines.insert((m.slot, m.position), self.line(m, line));
                }
                return Vec::new();
            }
        }
        let body = PackAssignment {
            user_ids: members.iter().map(|m| m.user).collect(),
        };
        let started_at = jiff::Timestamp::now().to_string();
        let call = client
            .call(Budget::ClaimEach, &AssignPack { pack, body: &body })
            .await;
        let attempts = call.attempts;
        tracing::info!(
            event = "onboarding_pack",
            pack_id = pack,
            users = members.len(),
            outcome = match &call.result {
                Ok(_) => "assigned",
                Err(e) if refused(e) => "refused",
                Err(e) if attempts == 0 => "not sent",
                Err(_) => "unclear",
            },
            "POST /onboarding/v1/packs/{pack}/assignments for {} users",
            members.len()
        );
        let finished = |status: AssignmentStatus, m: Member, e: Answered| AssignmentLine {
            status,
            http_status: e.http,
            request_id: e.request_id,
            error: e.error,
            attempts,
            started_at: started_at.clone(),
            finished_at: jiff::Timestamp::now().to_string(),
            ..AssignmentLine::of(self.assignment(m))
        };
        let error = match call.result {
            Ok(answer) => {
                let state = match self.run.verified.contains(&Kind::OnboardingPack) {
                    true => State::Unverified,
                    false => State::Done,
                };
                for &m in &members {
                    let answered = Answered {
                        http: Some(answer.status),
                        request_id: answer.request_id.clone().unwrap_or_default(),
                        error: String::new(),
                    };
                    let line = finished(AssignmentStatus::Done, m, answered);
                    self.settle(m, line, Some(state), lines);
                }
                return Vec::new();
            }
            Err(e) => e,
        };
        let answered = |why: String| Answered {
            http: error.status,
            request_id: error.request_id.clone().unwrap_or_default(),
            error: why,
        };
        // Every clear refusal of a first request counts towards the narrowing allowance.
        let narrowed_enough = refused(&error) && sent == 0 && self.refused_once();
        match &members[..] {
            // Refused after an earlier unclear request: it may be about that request's
            // own work ("already assigned"). Read before anything else.
            _ if refused(&error) && sent > 0 => {
                let why = format!(
                    "{}; an earlier request for this user had no clear answer and the user is \
                     not on the pack: the next run reads the pack first",
                    error.message
                );
                for m in self
                    .read_back(pack, &members, &finished, &answered, lines)
                    .await
                {
                    let line = finished(AssignmentStatus::Failed, m, answered(why.clone()));
                    self.settle(m, line, None, lines);
                }
                Vec::new()
            }
            [one] if refused(&error) => {
                let line = finished(
                    AssignmentStatus::Failed,
                    *one,
                    answered(error.message.clone()),
                );
                self.settle(*one, line, Some(State::Failed), lines);
                Vec::new()
            }
            // Narrowed past what a few people at fault would take: every half is refused
            // alike, so the refusal is the batch's, not a person's.
            _ if narrowed_enough => {
                let why = format!(
                    "{}; the pack's requests were refused {} times while narrowing who is at \
                     fault, so the rest are not sent in this run: the refusal is taken as the \
                     whole batch's",
                    error.message,
                    self.refusals.get().0
                );
                for &m in &members {
                    let line = finished(AssignmentStatus::Failed, m, answered(why.clone()));
                    self.settle(m, line, Some(State::Failed), lines);
                }
                Vec::new()
            }
            // All or nothing: halved until whoever is at fault stands alone.
            _ if refused(&error) => {
                let (first, second) = members.split_at(members.len() / 2);
                [second, first]
                    .map(|half| Batch {
                        members: half.to_vec(),
                        sent: 0,
                    })
                    .into()
            }
            // Never sent (the quota, a stop, a refused key): nothing to look up.
            _ if attempts == 0 || not_sent(&error) => {
                let (status, state) = match error.class {
                    ErrorClass::QuotaExhausted => (AssignmentStatus::Deferred, State::Deferred),
                    _ => (AssignmentStatus::NotAttempted, State::Failed),
                };
                for &m in &members {
                    let line = finished(status, m, answered(error.message.clone()));
                    self.settle(m, line, Some(state), lines);
                }
                Vec::new()
            }
            // Stopped with the request out (an interrupt in flight): it may have landed.
            _ if error.class == ErrorClass::Stopped => {
                let why = format!(
                    "may have been assigned: the run stopped with the request out ({}); the \
                     next run reads the pack before anything is sent",
                    error.message
                );
                for &m in &members {
                    let line = finished(AssignmentStatus::NotAttempted, m, answered(why.clone()));
                    self.settle(m, line, None, lines);
                }
                Vec::new()
            }
            // No answer at all (a timeout, a dropped connection): the server may still be
            // at it, so who the pack does not show yet is not sent again in this run.
            _ if error.status.is_none() => {
                let why = format!(
                    "may have been assigned: no answer ({}) and not on the pack when read \
                     back; not sent again in this run, the next run reads the pack first",
                    error.message
                );
                for m in self
                    .read_back(pack, &members, &finished, &answered, lines)
                    .await
                {
                    let line = finished(AssignmentStatus::NotAttempted, m, answered(why.clone()));
                    self.settle(m, line, None, lines);
                }
                Vec::new()
            }
            // An answer that says nothing clear (a 5xx, a 200 that cannot be read): the
            // server is done with it, so the pack read back tells.
            _ => {
                let missing = self
                    .read_back(pack, &members, &finished, &answered, lines)
                    .await;
                if missing.is_empty() {
                    return Vec::new();
                }
                if sent >= self.max_resends {
                    let why = format!(
                        "may have been assigned: no clear answer after {} requests ({}), and \
                         not on the pack when read back; not sent again in this run, the next \
                         run reads the pack first",
                        sent + 1,
                        error.message
                    );
                    for m in missing {
                        let line =
                            finished(AssignmentStatus::NotAttempted, m, answered(why.clone()));
                        self.settle(m, line, None, lines);
                    }
                    return Vec::new();
                }
                vec![Batch {
                    members: missing,
                    sent: sent + 1,
                }]
            }
        }
    }

    /// Counts a refused request of the current pack; whether narrowing has now taken
    /// all it may.
    fn refused_once(&self) -> bool {
        let (refused, allowance) = self.refusals.get();
        self.refusals.set((refused + 1, allowance));
        refused + 1 > allowance
    }

    /// Reads the pack after an answer that did not say whether `members` are on it:
    /// those on it are done (seen); returns the others. When the read itself fails,
    /// nobody is known either way: their lines say so, they stay `in_flight` for the
    /// next run to read first, and none is returned.
    async fn read_back(
        &self,
        pack: u64,
        members: &[Member],
        finished: &dyn Fn(AssignmentStatus, Member, Answered) -> AssignmentLine,
        answered: &dyn Fn(String) -> Answered,
        lines: &mut PackLines,
    ) -> Vec<Member> {
        let read = self.run.client.read(&PackAssignments { pack }).await;
        let on: HashSet<u64> = match read {
            Ok(answer) => answer
                .data
                .iter()
                .filter_map(|row| row.get("userId").and_then(crate::api::list::id_of))
                .collect(),
            Err(read) => {
                for &m in members {
                    let why = format!(
                        "whether the user was put on the pack is not known: the pack could not \
                         be read back ({}); not sent again in this run, the next run reads the \
                         pack first",
                        read.message
                    );
                    let line = finished(AssignmentStatus::NotAttempted, m, answered(why));
                    self.settle(m, line, None, lines);
                }
                return Vec::new();
            }
        };
        let mut missing = Vec::new();
        for &m in members {
            match on.contains(&m.user) {
                true => {
                    let line = finished(AssignmentStatus::Done, m, answered(String::new()));
                    self.settle(m, line, Some(State::Done), lines);
                }
                false => missing.push(m),
            }
        }
        missing
    }

    /// A member's line, journaled as `state` (`None`: left `in_flight`).
    fn settle(&self, m: Member, line: AssignmentLine, state: Option<State>, lines: &mut PackLines) {
        if let Some(state) = state {
            record(self.run, self.rows[m.slot], &self.key(m), &line, state, "");
        }
        if line.status == AssignmentStatus::Failed {
            self.failures.set(self.failures.get() + 1);
            if (self.run.options.max_errors).is_some_and(|max| self.failures.get() >= max) {
                self.run.client.stop().set(StopReason::MaxErrors);
            }
        }
        lines.insert((m.slot, m.position), self.line(m, line));
    }
}

/// What a request came to, for its members' lines.
struct Answered {
    http: Option<u16>,
    request_id: String,
    error: String,
}

/// A clear refusal: the API read the request and assigned no one (all or nothing).
fn refused(e: &ApiError) -> bool {
    e.class == ErrorClass::Permanent && e.status.is_some_and(|s| (400..500).contains(&s))
}

/// Never sent: the day's quota, a stop before sending, a refused key.
fn not_sent(e: &ApiError) -> bool {
    matches!(e.class, ErrorClass::QuotaExhausted | ErrorClass::Auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_is_sized_for_three_people_at_fault_a_batch() {
        // ⌈log₂ n⌉ halvings to one person, each refusing both halves: 2 requests a level.
        assert_eq!(narrowing_allowance(1), 1);
        assert_eq!(narrowing_allowance(2), 1 + 2 * 3);
        assert_eq!(narrowing_allowance(40), 1 + 2 * 6 * 3);
        assert_eq!(narrowing_allowance(500), 1 + 2 * 9 * 3);
        assert_eq!(narrowing_allowance(600), 2 * (1 + 2 * 9 * 3));
    }
}
