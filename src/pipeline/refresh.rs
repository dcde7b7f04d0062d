//! Stage 3: the checked plan with what the account holds now (Terraform's refresh), so
//! that every assignment has its change (new, unchanged, move, …) and guarded ones are
//! held back.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::check::api_error;
use super::{Checked, Completion, Context, OnInterrupt};
use crate::api::{ApiError, Client, ErrorClass};
use crate::error::Error;
use crate::holdings::{Diff, Holdings, Names, Reads};
use crate::plan::{Kind, Plan, PlanRow};
use crate::resolve::Directory;

/// Why nothing is known of what users hold, when an interrupt came first.
const INTERRUPTED_BEFORE_READING: &str = "not read: the run was interrupted first";

/// The words logged when an interrupt cuts the account's reads short.
const READS_INTERRUPTED: &str = "interrupted while reading the account: nothing was sent; the report marks what was not planned as not attempted";

/// The checked plan with what the account holds now.
pub struct Refreshed {
    pub checked: Checked,
    pub holdings: Arc<Holdings>,
    /// When the holdings were read: a long run reads them again past `refresh_max_age`.
    pub read_at: tokio::time::Instant,
    /// Requests the refresh took (for the plan's cost).
    pub reads: usize,
    /// The day "today" was (for reads made again later).
    pub today: jiff::civil::Date,
    /// The instant decisions are made at.
    pub now: jiff::Timestamp,
    pub(super) names: Names,
    /// Whether a signal cut the account's reads short (here or in `check`).
    pub completion: Completion,
}

impl Refreshed {
    /// Whether a signal cut the reads short: nothing more is read or sent.
    pub fn interrupted(&self) -> bool {
        self.completion == Completion::Interrupted
    }

    /// Each assignment of a row against the account.
    pub fn diffs(&self, row: &PlanRow) -> Vec<Diff> {
        row.assignments
            .iter()
            .map(|a| self.holdings.diff_for(row, a))
            .collect()
    }
}

/// Reads what the plan's users hold now (online; offline, nothing is known). A read
/// endpoint that is missing or answers what cannot be read stops here (exit 69, naming
/// it), unless `--without-refresh` says to go on without that kind: then those
/// assignments are unknown, and the journal decides. Interrupted
/// ([`OnInterrupt::Report`]), here or in `check`, nothing is known and nothing more is
/// read; with [`OnInterrupt::Fail`] that is an error (exit 130).
pub async fn refresh(
    checked: Checked,
    context: &Context,
    on_interrupt: OnInterrupt,
) -> Result<Refreshed, Error> {
    let names = checked
        .directory
        .as_ref()
        .map(Names::of)
        .unwrap_or_default();
    let Some(client) = checked.client().cloned() else {
        return Ok(Refreshed {
            completion: checked.completion,
            checked,
            holdings: Arc::new(Holdings::offline()),
            read_at: tokio::time::Instant::now(),
            reads: 0,
            today: context.today,
            now: context.now,
            names,
        });
    };
    let before = client.requests_sent();
    // Holdings are as old as their first read: the age counts from before it.
    let read_at = tokio::time::Instant::now();
    let skipped = checked.inputs.settings.without_refresh();
    let fetched = match &checked.directory {
        Some(directory) if checked.completion == Completion::Whole => {
            read_holdings(&client, directory, &checked.plan, context.today, &skipped)
                .await
                .map_err(|e| unreadable_holdings(&client, e))
        }
        _ => Err(Error::Interrupted(
            "interrupted before reading what users hold; nothing was sent".into(),
        )),
    };
    let (holdings, completion) = match fetched {
        Ok(holdings) if !client.interrupted() => (holdings, Completion::Whole),
        Ok(_) | Err(_) if on_interrupt == OnInterrupt::Report && client.interrupted() => {
            tracing::warn!("{READS_INTERRUPTED}");
            (
                Holdings::unread(INTERRUPTED_BEFORE_READING),
                Completion::Interrupted,
            )
        }
        Ok(holdings) => (holdings, Completion::Interrupted),
        Err(e) => return Err(e),
    };
    if completion == Completion::Whole {
        refuse_unreadable(&client, &holdings)?;
    }
    let reads = usize::try_from(client.requests_sent() - before).unwrap_or(usize::MAX);
    Ok(Refreshed {
        checked,
        holdings: Arc::new(holdings),
        read_at,
        reads,
        today: context.today,
        now: context.now,
        names,
        completion,
    })
}

/// A part of the account whose endpoint could not tell stops the command (exit 69),
/// naming it and the flag that goes on without it.
fn refuse_unreadable(client: &Client, holdings: &Holdings) -> Result<(), Error> {
    let failed = holdings.failed();
    if failed.is_empty() {
        return Ok(());
    }
    let parts: Vec<&str> = failed.iter().map(|(_, part)| part.as_str()).collect();
    let kinds: BTreeSet<&str> = failed.iter().map(|(kind, _)| kind.as_str()).collect();
    Err(Error::Unreadable(format!(
        "cannot read what users hold in {}, so nothing can be guarded: {}. Nothing was sent. \
         To go ahead without it, --without-refresh {} leaves those assignments to the journal \
         (any ct-onboard did not itself make is then held back as a conflict).",
        client.base_url(),
        parts.join("; "),
        kinds
            .into_iter()
            .collect::<Vec<_>>()
            .join(" --without-refresh ")
    )))
}

/// A read of what users hold that failed: a refused key, a spent quota or a stop end the
/// command as such; anything else (a server that keeps failing, an answer that cannot be
/// read) is an endpoint that cannot tell, and says how to go on without it.
fn unreadable_holdings(client: &Client, e: ApiError) -> Error {
    match e.class {
        ErrorClass::Auth | ErrorClass::QuotaExhausted | ErrorClass::Stopped => api_error(client)(e),
        ErrorClass::RateLimited | ErrorClass::Retryable | ErrorClass::Permanent => {
            Error::Unreadable(format!(
                "cannot read what users hold in {}: {e}. Nothing was sent. To go ahead without it, \
                 --without-refresh time_off (or pay_rule, for that endpoint) leaves those assignments to the journal",
                client.described()
            ))
        }
    }
}

/// What the plan's users hold, and for each pay rule that looks like a `replace`,
/// whether ours is already in effect on its date.
pub async fn read_holdings(
    client: &Client,
    directory: &Directory,
    plan: &Plan,
    today: jiff::civil::Date,
    skipped: &BTreeSet<Kind>,
) -> Result<Holdings, ApiError> {
    let reads = Reads::refresh(plan, directory, today, skipped);
    let mut holdings = Holdings::fetch(client, directory, &reads).await?;
    let pairs = plan
        .valid_rows()
        .filter_map(|row| Some((row.user_id?, row)))
        .flat_map(|(user, row)| row.assignments.iter().map(move |a| (user, a)));
    holdings.read_replace_candidates(client, pairs).await?;
    Ok(holdings)
}
