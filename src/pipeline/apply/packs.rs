//! Onboarding packs, assigned before the worker pool: one
//! `POST /onboarding/v1/packs/{packId}/assignments` per pack per 500 users. A pack
//! assignment cannot be taken back, so nothing here is sent twice by accident:
//!
//! 1. every (user, pack) is journaled `in_flight` before the request that assigns it;
//! 2. the request is all or nothing: a refused one (4xx) is halved until the users at
//!    fault stand alone, each reported with the API's message, and the others are
//!    assigned (about 2·log₂ of the batch in requests per user at fault, never a loop;
//!    narrowing is sized for [`AT_FAULT`] users a batch, past which the refusal is the
//!    batch's). A refused request assigned no one: its users are journaled `failed`
//!    until their half is sent;
//! 3. an answer that is not clear (no answer, a 5xx, a 200 that cannot be read) is
//!    followed by one read of the pack, believed as a plan's read is: those on it are
//!    done; the others are not sent again in this run (the write may yet show): reported
//!    `unverified` and journaled `in_flight` as of now, so that the next run reads the
//!    pack before it decides, and gives the write an hour to show (`decide::PACK_SETTLE`).
//!    One answered 200 and never seen (`unverified` in the journal) is not sent again by
//!    any run without `--allow-overwrite`: a success was claimed.
//!
//! What to do with an answer is decided by [`next`], apart from its effects.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::pool::{Run, record, stop_status};
use crate::api::endpoint::{AssignPack, PACK_BATCH};
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

/// What the pack stage did: every pack assignment's line, and how many failed (for
/// `--max-errors`, which the pool goes on counting from).
#[derive(Debug, Default)]
pub struct PackStage {
    pub lines: PackLines,
    pub failures: usize,
}

/// Assigns every pack assignment decided `Send`, pack by pack.
/// `within`: a canary's rows (`--limit`), when there is one.
pub async fn assign(
    run: &Run<'_>,
    rows: &[&PlanRow],
    decisions: &[Vec<Decision>],
    within: Option<&HashSet<usize>>,
) -> PackStage {
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
        failures: Cell::new(0),
        refusals: Cell::new((0, 0)),
    };
    for (pack, members) in by_pack {
        // Later halves go last: a stack, first batch on top.
        let mut batches: Vec<Batch> = members
            .chunks(PACK_BATCH)
            .rev()
            .map(|members| Batch {
                members: members.to_vec(),
                first: true,
            })
            .collect();
        let mut gone: Option<String> = None;
        while let Some(batch) = batches.pop() {
            if batch.first {
                packer
                    .refusals
                    .set((0, narrowing_allowance(batch.members.len())));
            }
            if let Some(why) = &gone {
                packer.fail_unsent(&batch.members, why, &mut lines);
                continue;
            }
            let sent = packer.send(pack, batch, &mut lines).await;
            gone = sent.gone;
            batches.extend(sent.halves);
        }
    }
    PackStage {
        lines,
        failures: packer.failures.get(),
    }
}

/// One request's members; `first`: a batch of up to 500, not a half of a refused one.
struct Batch {
    members: Vec<Member>,
    first: bool,
}

/// What came of sending a batch that the stage goes on with.
#[derive(Default)]
struct Sent {
    /// The halves of a refused batch, still to send.
    halves: Vec<Batch>,
    /// Why the pack itself is refused (it is not there): the rest are not sent.
    gone: Option<String>,
}

/// What to do with a request's answer (an error), decided apart from its effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Nothing was sent (the quota, a stop before sending, a refused key).
    NotSent,
    /// Refused: the pack is not there. Nobody of this pack is sent.
    PackGone,
    /// Refused, one user: that user is at fault.
    AtFault,
    /// Refused, several users, narrowing not yet spent: halve it.
    Halve,
    /// Refused, narrowing spent: the refusal is the batch's.
    RefusedWhole,
    /// The run stopped with the request out: it may have landed.
    StoppedInFlight,
    /// No clear answer: read the pack back.
    ReadBack,
}

/// How a pack request's error is taken, for a batch of `users` after `attempts`, with
/// narrowing `spent` or not.
fn next(error: &ApiError, attempts: u32, users: usize, spent: bool) -> Next {
    if refused(error) {
        // The document's only 404 here: "Onboarding pack not found".
        let gone = error.status == Some(404) && error.message.to_lowercase().contains("pack");
        return match (gone, users, spent) {
            (true, _, _) => Next::PackGone,
            (false, 1, _) => Next::AtFault,
            (false, _, true) => Next::RefusedWhole,
            (false, _, false) => Next::Halve,
        };
    }
    match error.class {
        _ if attempts == 0 => Next::NotSent,
        ErrorClass::QuotaExhausted | ErrorClass::Auth => Next::NotSent,
        ErrorClass::Stopped => Next::StoppedInFlight,
        _ => Next::ReadBack,
    }
}

struct Packer<'a> {
    run: &'a Run<'a>,
    rows: &'a [&'a PlanRow],
    decisions: &'a [Vec<Decision>],
    /// Failed so far, for `--max-errors`.
    failures: Cell<usize>,
    /// The current batch's refused requests so far, and how many narrowing may take.
    refusals: Cell<(usize, usize)>,
}

/// How many people at fault narrowing a batch is sized for: past that many refusals'
/// worth of requests, a refusal is taken as the whole batch's.
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

    /// Counts a refused request of the current batch; whether narrowing has now taken
    /// all it may.
    fn refused_once(&self) -> bool {
        let (refused, allowance) = self.refusals.get();
        self.refusals.set((refused + 1, allowance));
        refused + 1 > allowance
    }

    /// Members not sent because their pack is not there: failed, with why.
    fn fail_unsent(&self, members: &[Member], why: &str, lines: &mut PackLines) {
        for &m in members {
            let line = AssignmentLine::unsent(self.assignment(m), AssignmentStatus::Failed, why);
            self.settle(m, line, Some(State::Failed), lines);
        }
    }

    /// Sends one batch and settles what came of it.
    async fn send(&self, pack: u64, batch: Batch, lines: &mut PackLines) -> Sent {
        let client = self.run.client;
        let members = batch.members;
        if let Some(reason) = client.stop().get() {
            // Halves of a refused batch are journaled `failed` already: nothing landed.
            let (status, why) = stop_status(reason, client);
            for &m in &members {
                let line = AssignmentLine::unsent(self.assignment(m), status, &why);
                lines.insert((m.slot, m.position), self.line(m, line));
            }
            return Sent::default();
        }
        // Journaled, and durable through a power cut, before the request.
        let journaled = members
            .iter()
            .try_for_each(|&m| {
                let a = self.assignment(m);
                self.run
                    .journal
                    .begin(&self.key(m), &fingerprint(a), self.run.run_id)
            })
            .and_then(|()| self.run.journal.sync());
        if let Err(e) = journaled {
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
            return Sent::default();
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
                return Sent::default();
            }
            Err(e) => e,
        };
        let answered = |why: String| Answered {
            http: error.status,
            request_id: error.request_id.clone().unwrap_or_default(),
            error: why,
        };
        // Every clear refusal counts towards the batch's narrowing allowance.
        let spent = refused(&error) && self.refused_once();
        let settle_all = |status, why: &str, state, lines: &mut PackLines| {
            for &m in &members {
                let line = finished(status, m, answered(why.to_owned()));
                self.settle(m, line, state, lines);
            }
        };
        match next(&error, attempts, members.len(), spent) {
            Next::PackGone => {
                let why = format!("{}: the pack is not in this account", error.message);
                settle_all(AssignmentStatus::Failed, &why, Some(State::Failed), lines);
                return Sent {
                    halves: Vec::new(),
                    gone: Some(why),
                };
            }
            Next::AtFault => {
                settle_all(
                    AssignmentStatus::Failed,
                    &error.message,
                    Some(State::Failed),
                    lines,
                );
            }
            Next::RefusedWhole => {
                let why = format!(
                    "{}; the pack's requests were refused {} times while narrowing who is at \
                     fault, so the rest are not sent in this run: the refusal is taken as the \
                     whole batch's",
                    error.message,
                    self.refusals.get().0
                );
                settle_all(AssignmentStatus::Failed, &why, Some(State::Failed), lines);
            }
            Next::Halve => {
                // Nobody was assigned: journaled `failed` until their half is sent, so a
                // stop before then leaves nothing `in_flight` that never went.
                for &m in &members {
                    let line =
                        finished(AssignmentStatus::Failed, m, answered(error.message.clone()));
                    record(
                        self.run,
                        self.rows[m.slot],
                        &self.key(m),
                        &line,
                        State::Failed,
                        "",
                    );
                }
                let (first, second) = members.split_at(members.len() / 2);
                let halves = [second, first].map(|half| Batch {
                    members: half.to_vec(),
                    first: false,
                });
                return Sent {
                    halves: halves.into(),
                    gone: None,
                };
            }
            Next::NotSent => {
                let (status, state) = match error.class {
                    ErrorClass::QuotaExhausted => (AssignmentStatus::Deferred, State::Deferred),
                    _ => (AssignmentStatus::NotAttempted, State::Failed),
                };
                settle_all(status, &error.message, Some(state), lines);
            }
            Next::StoppedInFlight => {
                let why = format!(
                    "may have been assigned: the run stopped with the request out ({}); the \
                     next run reads the pack first, and sends it again only once it has had an \
                     hour to show",
                    error.message
                );
                // Journaled in flight as of now: the hour it is given to show counts from
                // when it was last looked for, not from before the request's waits.
                settle_all(
                    AssignmentStatus::Unverified,
                    &why,
                    Some(State::InFlight),
                    lines,
                );
            }
            Next::ReadBack => {
                let doubt = self
                    .read_back(pack, &members, &finished, &answered, lines)
                    .await;
                for (m, seen) in doubt {
                    let why = format!(
                        "may have been assigned: no clear answer ({}), and {seen}; not sent \
                         again in this run (the write may yet show): the next run reads the \
                         pack first, and sends it again only once it has had an hour to show",
                        error.message
                    );
                    let line = finished(AssignmentStatus::Unverified, m, answered(why));
                    self.settle(m, line, Some(State::InFlight), lines);
                }
            }
        }
        Sent::default()
    }

    /// Reads the pack after an answer that did not say whether `members` are on it,
    /// believed as a plan's read is: those on it are done (seen); returns the others,
    /// each with what the read said of them.
    async fn read_back(
        &self,
        pack: u64,
        members: &[Member],
        finished: &dyn Fn(AssignmentStatus, Member, Answered) -> AssignmentLine,
        answered: &dyn Fn(String) -> Answered,
        lines: &mut PackLines,
    ) -> Vec<(Member, String)> {
        let users: HashSet<u64> = members.iter().map(|m| m.user).collect();
        let (on, doubt) = match crate::holdings::who_is_on_pack(self.run.client, pack, &users).await
        {
            Ok(read) => read,
            Err(e) => {
                let why = format!("the pack could not be read back ({})", e.message);
                return members.iter().map(|&m| (m, why.clone())).collect();
            }
        };
        let seen = members.iter().filter(|m| on.contains(&m.user)).count();
        tracing::info!(
            event = "onboarding_pack_read_back",
            pack_id = pack,
            users = members.len(),
            on_pack = seen,
            in_doubt = members
                .iter()
                .filter(|m| doubt.contains_key(&m.user))
                .count(),
            "after an unclear answer, {seen} of {} users are seen on pack {pack}",
            members.len()
        );
        let mut unseen = Vec::new();
        for &m in members {
            if on.contains(&m.user) {
                let line = finished(AssignmentStatus::Done, m, answered(String::new()));
                self.settle(m, line, Some(State::Done), lines);
            } else {
                let seen = match doubt.get(&m.user) {
                    Some(why) => format!("the pack read back is in doubt ({why})"),
                    None => "not on the pack when read back".to_owned(),
                };
                unseen.push((m, seen));
            }
        }
        unseen
    }

    /// A member's line, journaled as `state` (`None`: as it is).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(class: ErrorClass, status: Option<u16>, message: &str) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            ..ApiError::unsent(class, String::new())
        }
    }

    #[test]
    fn an_answer_is_taken_as_a_refusal_only_when_it_is_one() {
        let refusal = error(ErrorClass::Permanent, Some(400), "User 7 is archived");
        assert_eq!(next(&refusal, 1, 1, false), Next::AtFault);
        assert_eq!(next(&refusal, 1, 40, false), Next::Halve);
        assert_eq!(next(&refusal, 1, 40, true), Next::RefusedWhole);
        let gone = error(
            ErrorClass::Permanent,
            Some(404),
            "Onboarding pack not found",
        );
        assert_eq!(next(&gone, 1, 40, false), Next::PackGone);
        let user_404 = error(ErrorClass::Permanent, Some(404), "User 7 not found");
        assert_eq!(next(&user_404, 1, 40, false), Next::Halve);
        // Not a refusal: nothing says whether anyone was put on the pack.
        for unclear in [
            error(ErrorClass::Retryable, Some(503), "unavailable"),
            error(ErrorClass::Retryable, None, "connection closed"),
            error(ErrorClass::RateLimited, Some(200), "Too many requests"),
            error(
                ErrorClass::Permanent,
                Some(200),
                "an answer that makes no sense",
            ),
        ] {
            assert_eq!(next(&unclear, 1, 40, false), Next::ReadBack, "{unclear:?}");
        }
        let stopped = error(ErrorClass::Stopped, None, "interrupted");
        assert_eq!(next(&stopped, 1, 40, false), Next::StoppedInFlight);
        assert_eq!(next(&stopped, 0, 40, false), Next::NotSent);
        let quota = error(ErrorClass::QuotaExhausted, None, "quota");
        assert_eq!(next(&quota, 0, 40, false), Next::NotSent);
        let key = error(ErrorClass::Auth, Some(403), "missing write scope");
        assert_eq!(next(&key, 1, 40, false), Next::NotSent);
    }

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
