//! Stage 4: what to do with each planned assignment, from what the account holds (its
//! diff) and what the journal says ct-onboard itself did. [`decide`] is a pure function;
//! [`Refreshed::decide`] gives it a row's journal entries.
//!
//! The account is the truth where it could be read. Where it could not (`unknown`), the
//! journal speaks only for what ct-onboard itself made, per time-off *type* (a user holds
//! one policy per type, so any policy of the type may be what a write would replace) and
//! per user for pay rules; everything else in doubt is held back as a conflict.

use super::Refreshed;
use crate::error::Error;
use crate::holdings::{Change, Diff, Names};
use crate::journal::{Entry, Journal, State, fingerprint};
use crate::plan::{Assignment, Kind, PlanRow};

/// What to do with one planned assignment, and what it changes in the account.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    pub diff: Diff,
}

#[derive(Debug, Clone)]
pub enum Action {
    Send,
    /// Nothing to send: the account already holds it, or (when the account could not be
    /// read) the journal has it done by ct-onboard with the same parameters.
    Skip(Settled),
    /// Nothing to send: ct-onboard's own earlier write (journaled as sent, not yet seen)
    /// is held exactly as sent. It is done.
    Confirm(Settled),
    /// Not sent: it would lose what the user holds (a guarded change), or what the user
    /// holds could not be read. `--allow-overwrite` sends it.
    Conflict(Settled),
}

/// Why an assignment is settled without a request, with the journal's record if any.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    pub entry: Option<Entry>,
    pub reason: String,
    /// The journal should record it `done`: it is ct-onboard's own write, now seen.
    pub record_done: bool,
}

impl Decision {
    pub fn sends(&self) -> bool {
        matches!(self.action, Action::Send)
    }
}

impl Refreshed {
    /// The decisions for a valid row: the account's diff first, then what the journal
    /// says ct-onboard itself did.
    pub fn decide(
        &self,
        journal: Option<&Journal>,
        row: &PlanRow,
        allow_overwrite: bool,
    ) -> Result<Vec<Decision>, Error> {
        // Offline or interrupted before reading, nothing is sent: the lines show what
        // would be planned, with the change unknown.
        if self.holdings.read_nothing() {
            return Ok(row
                .assignments
                .iter()
                .map(|a| Decision {
                    action: Action::Send,
                    diff: self.holdings.diff_for(row, a),
                })
                .collect());
        }
        let own = match (journal, self.checked.client(), row.user_id) {
            (Some(journal), Some(client), Some(user)) => journal
                .own(client.base_url(), user)
                .map_err(|e| Error::Local(e.to_string()))?,
            _ => Vec::new(),
        };
        Ok(decide_row(
            row,
            &self.holdings,
            &own,
            &self.names,
            allow_overwrite,
            self.now,
        ))
    }
}

/// Decides every assignment of a row from what the account holds and `own`, this user's
/// journal entries on this account.
pub fn decide_row(
    row: &PlanRow,
    holdings: &crate::holdings::Holdings,
    own: &[Entry],
    names: &Names,
    allow_overwrite: bool,
    now: jiff::Timestamp,
) -> Vec<Decision> {
    row.assignments
        .iter()
        .map(|a| {
            let diff = holdings.diff_for(row, a);
            decide(a, &diff, own, names, allow_overwrite, now)
        })
        .collect()
}

/// How long a write that cannot be taken back (a pack assignment, a person created),
/// sent without being seen land, may take to show: until then, the account's "not
/// there" is not believed. Read-after-write lag is seconds; this is generous.
pub const PACK_SETTLE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Decides one assignment. `own` is every journal entry of this user on this account
/// (any kind, any policy); `names` gives each time-off policy's type.
pub fn decide(
    a: &Assignment,
    diff: &Diff,
    own: &[Entry],
    names: &Names,
    allow_overwrite: bool,
    now: jiff::Timestamp,
) -> Decision {
    let (policy_id, _) = a.policy_id_and_name();
    let entry = own
        .iter()
        .find(|e| e.key.kind == a.kind() && e.key.policy_id == policy_id);
    let same = entry.filter(|e| e.fingerprint == fingerprint(a));
    let settled = |reason: String, record_done: bool| Settled {
        entry: entry.cloned(),
        reason,
        record_done,
    };
    // ct-onboard's own write, sent and answered (or cut off) but never seen held.
    let own_unseen = same.is_some_and(|e| matches!(e.state, State::Unverified | State::InFlight));
    let own_done = same.is_some_and(|e| e.state == State::Done);
    // An unverified balance whose holding has changed since verify last saw it: it was
    // applied, and use or accrual has moved it. One that holds what verify saw then was
    // never applied, and one verify saw nothing definite of is in doubt: each is an
    // ordinary balance change.
    let moved_since = same
        .is_some_and(|e| e.state == State::Unverified && !e.seen.is_empty() && e.seen != diff.held);
    let action = match diff.change {
        Change::Unknown => unknown(a, diff, own, names, allow_overwrite, now),
        Change::New if a.kind() == Kind::OnboardingPack && !allow_overwrite => {
            match entry.and_then(|e| not_on_our_pack(e, now)) {
                Some(reason) => Action::Conflict(settled(reason, false)),
                None => Action::Send,
            }
        }
        Change::Unchanged if own_unseen => Action::Confirm(settled(
            "held as sent: ct-onboard's own write, seen now".into(),
            true,
        )),
        Change::Unchanged => Action::Skip(settled(String::new(), false)),
        // Set by ct-onboard; the balance has moved since (use, accrual): not ours to undo.
        Change::SetBalance if own_done || moved_since => Action::Skip(settled(
            "held; ct-onboard set this balance, and use or accrual has moved it since".into(),
            moved_since,
        )),
        _ => match &diff.loses {
            Some(loses) if !allow_overwrite => {
                let verb = match diff.change {
                    Change::Move => "moving the user would lose",
                    Change::SetBalance => "setting the balance would replace",
                    _ => "this effective date would remove",
                };
                Action::Conflict(settled(
                    format!("{verb} {loses}: not sent (--allow-overwrite sends it)"),
                    false,
                ))
            }
            _ => Action::Send,
        },
    };
    Decision {
        action,
        diff: diff.clone(),
    }
}

/// Why "not on the pack" is not believed for a pack assignment the journal shows ct-onboard
/// sent (`None`: it is). A second assignment cannot be taken back, so: one sent without
/// being seen land is given [`PACK_SETTLE`] to show (read-after-write lag), and one seen
/// done and now gone was taken off in the app, not ours to redo.
fn not_on_our_pack(e: &Entry, now: jiff::Timestamp) -> Option<String> {
    let flag = "--allow-overwrite sends it, once you have checked the pack in Connecteam";
    match e.state {
        State::Done => {
            return Some(format!(
                "the journal shows ct-onboard put the user on this pack (run {}), and the pack \
                 no longer shows them: taken off in Connecteam? Not sent again ({flag})",
                e.run_id
            ));
        }
        // Answered with a success, never seen since: the account's lag, or taken off.
        State::Unverified => {
            return Some(format!(
                "Connecteam answered ct-onboard's request for this with a success (run {}), \
                 but the pack has not shown the user since: the account's lag, or taken off in \
                 Connecteam? Not sent again ({flag})",
                e.run_id
            ));
        }
        State::InFlight => {}
        _ => return None,
    }
    let since = settling(&e.updated_at, now)?;
    Some(format!(
        "ct-onboard sent this {since} (run {}) without seeing it land, and the pack does not \
         show the user yet: a write can take a while to show, and a second assignment cannot \
         be taken back, so it is not sent again until an hour has passed ({flag})",
        e.run_id
    ))
}

/// When a write recorded at `at` (the journal's RFC 3339 time) was, if it was less than
/// [`PACK_SETTLE`] before `now` (`12 min ago`), or cannot be told (a time that does not
/// read, or one after now): a write that cannot be taken back is not sent again then.
/// `None`: long enough ago to believe what the account shows.
pub fn settling(at: &str, now: jiff::Timestamp) -> Option<String> {
    match at.parse::<jiff::Timestamp>() {
        Err(_) => Some(format!(
            "at a time the journal cannot say ({})",
            crate::problem::Quoted(at)
        )),
        Ok(at) if at > now => Some(format!("at {at}, after now ({now}): the clocks disagree")),
        Ok(at) if now.duration_since(at) < PACK_SETTLE => {
            Some(format!("{} ago", human_ago(now.duration_since(at))))
        }
        Ok(_) => None,
    }
}

/// `42 s`, `12 min`: how long ago, for a message.
fn human_ago(ago: jiff::SignedDuration) -> String {
    match ago.as_secs() {
        s if s < 120 => format!("{} s", s.max(0)),
        s => format!("{} min", s / 60),
    }
}

/// What the account holds is not known. Skipped when the journal shows ct-onboard itself
/// made exactly this assignment and nothing of its own since in the same type; otherwise
/// held back (a conflict naming why), unless overwriting is allowed.
fn unknown(
    a: &Assignment,
    diff: &Diff,
    own: &[Entry],
    names: &Names,
    allow_overwrite: bool,
    now: jiff::Timestamp,
) -> Action {
    let why = diff
        .unknown
        .clone()
        .unwrap_or_else(|| "what the user holds could not be read".into());
    let (policy_id, _) = a.policy_id_and_name();
    let done = own.iter().filter(|e| e.state == State::Done);
    // What ct-onboard last made that this write would replace: its latest done entry in
    // the policy's time-off type, or among the user's pay rules.
    let ty = names.type_of(&policy_id);
    let last_own: Option<&Entry> = done
        .filter(|e| e.key.kind == a.kind())
        .filter(|e| match a.kind() {
            Kind::TimeOff => ty.is_some() && names.type_of(&e.key.policy_id) == ty,
            Kind::PayRule => true,
            Kind::OnboardingPack => e.key.policy_id == policy_id,
        })
        .max_by(|x, y| x.updated_at.cmp(&y.updated_at));
    let settled = |reason: String| Settled {
        entry: last_own.cloned(),
        reason,
        record_done: false,
    };
    // A pack assignment cannot be taken back: one of ours whose answer was not clear
    // (in flight, or answered and not yet seen) may be there already, and sending it
    // again could put the user on twice. Blind, no flag sends it within the hour it is
    // given to show; after that, --allow-overwrite does.
    let pack_in_doubt = own.iter().find(|e| {
        a.kind() == Kind::OnboardingPack
            && e.key.policy_id == policy_id
            && matches!(e.state, State::InFlight | State::Unverified)
            && (!allow_overwrite || not_on_our_pack(e, now).is_some())
    });
    match last_own {
        Some(e) if e.key.policy_id == policy_id && e.fingerprint == fingerprint(a) => {
            Action::Skip(settled(format!(
                "{why}; the journal shows ct-onboard made exactly this assignment (run {})",
                e.run_id
            )))
        }
        _ if let Some(e) = pack_in_doubt => Action::Conflict(Settled {
            entry: Some(e.clone()),
            reason: format!(
                "{why}; the journal shows ct-onboard sent this pack assignment in run {} without \
                 seeing it land: not sent again until the pack can be read (or, an hour on, \
                 --allow-overwrite)",
                e.run_id
            ),
            record_done: false,
        }),
        _ if allow_overwrite => Action::Send,
        Some(e) => {
            let name = match a.kind() {
                Kind::TimeOff => names.time_off(&e.key.policy_id).to_owned(),
                Kind::OnboardingPack => e
                    .key
                    .policy_id
                    .parse()
                    .map_or_else(|_| e.key.policy_id.clone(), |id| names.pack(id)),
                Kind::PayRule => e
                    .key
                    .policy_id
                    .parse()
                    .map_or_else(|_| e.key.policy_id.clone(), |id| names.pay_rule(id)),
            };
            Action::Conflict(settled(format!(
                "{why}; the journal shows ct-onboard last assigned {name} ({}) in run {}, which this would replace: \
                 not sent (--allow-overwrite sends it)",
                e.fingerprint, e.run_id
            )))
        }
        None => Action::Conflict(settled(format!(
            "{why}: not sent (--allow-overwrite sends it)"
        ))),
    }
}

#[cfg(test)]
mod tests;
