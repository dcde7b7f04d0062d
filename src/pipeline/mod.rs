//! The stages every command that reads a sheet goes through, as values, each in a file
//! of its own, each a function from one value to the next:
//!
//! ```text
//! context ─▶ inputs ─▶ check ─▶ refresh ─▶ decide ─▶ apply ─────▶ report
//! Context    Inputs    Checked  Refreshed  Decision  (or dry_run)  Report
//! (flags +   (manifest,(policies, (what users (per        (workers, journal, (files,
//!  settings   sheet)    users,    hold)      assignment)  verify)            summary)
//!  once)                plan)
//! ```
//!
//! The commands' flows ([`plan`], [`run`], [`verify`], [`snapshot`]) are here too, so
//! that a command only renders what comes back; nothing here prints, beyond the log.
//! [`Observer`] lets a command say what checking found before the work goes on.

mod apply;
mod check;
mod context;
mod decide;
mod inputs;
mod refresh;
mod rehearsal;
mod report;
mod saved;
mod snapshot;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::exit::Exit;
use crate::report::{Estimate, Summary, UserLine};

pub use apply::ApplyOptions;
pub use check::Checked;
pub use context::{Account, Context, Mode, Target, connect, online, settings};
pub use inputs::Inputs;
pub use refresh::{Refreshed, read_holdings};
pub use rehearsal::Rehearsal;
pub use snapshot::snapshot;
pub use verify::Verified;

/// What `check` and `refresh` do when a signal stops their reads of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// Stop with exit 130: what the command prints or writes needs every read (`verify`,
    /// `snapshot`).
    Fail,
    /// Go on with what was read and nothing more, so that the report is written and
    /// says that nothing was sent (`plan`, `run`; exit 130 all the same).
    Report,
}

/// Whether the account's reads were all made, or a signal cut them short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Whole,
    Interrupted,
}

/// What a finished plan or run hands back to be rendered.
pub struct Report {
    pub users: Vec<UserLine>,
    pub summary: Summary,
    pub dir: PathBuf,
    pub exit: Exit,
}

/// Hears what checking and refreshing found, as it is found (before the work goes on):
/// the command shows it.
pub trait Observer {
    fn checked(&self, checked: &Checked);
    fn refreshed(&self, refreshed: &Refreshed);
}

/// Where a command's account is: the settings', or a rehearsal against the simulator,
/// seeded from `seed` or else from the batch itself.
#[derive(Debug, Clone)]
pub enum Against {
    Account,
    Rehearsal { seed: Option<PathBuf> },
}

/// Inputs read, checked against the account and refreshed, each stage shown to
/// `observer` as it ends.
async fn prepare(
    context: &Context,
    inputs: Inputs,
    target: Target<'_>,
    on_interrupt: OnInterrupt,
    observer: &dyn Observer,
) -> Result<Refreshed, Error> {
    let account = connect(&inputs.settings, target, &context.stop)?;
    let checked = check::check(inputs, context, account, on_interrupt).await?;
    observer.checked(&checked);
    let refreshed = refresh::refresh(checked, context, on_interrupt).await?;
    observer.refreshed(&refreshed);
    Ok(refreshed)
}

/// A plan, as a command shows it.
pub struct Planned {
    pub report: Report,
    pub estimate: Estimate,
    /// Where it was checked: the account's URL, when online.
    pub checked_at: Option<String>,
    pub invalid_rows: usize,
    pub rehearsal: Option<Rehearsal>,
    pub interrupted: bool,
    /// Where the plan was saved (`--out`), unless interrupted.
    pub saved: Option<PathBuf>,
}

/// `plan` (and `run --dry-run`): every stage but the sending, and the plan's report;
/// with `out`, the plan saved for `run --plan`.
pub async fn plan(
    context: &Context,
    against: &Against,
    out: Option<&Path>,
    observer: &dyn Observer,
) -> Result<Planned, Error> {
    if out.is_some() && matches!(against, Against::Rehearsal { .. }) {
        return Err(Error::Usage(
            "--out and --sandbox do not go together: a saved plan belongs to the account it was made for"
                .into(),
        ));
    }
    let inputs = Inputs::load(context)?;
    let rehearsal = rehearsal::start(against, context, &inputs).await?;
    let target = rehearsal
        .as_ref()
        .map_or(Target::Settings, Rehearsal::target);
    let refreshed = prepare(context, inputs, target, OnInterrupt::Report, observer).await?;
    let (report, estimate) = apply::dry_run(&refreshed, context, rehearsal.is_some())?;
    let interrupted = refreshed.interrupted();
    let saved = match out.filter(|_| !interrupted) {
        Some(out) => {
            saved::save_plan(out, context, &refreshed.checked)?;
            Some(out.to_path_buf())
        }
        None => None,
    };
    Ok(Planned {
        report,
        estimate,
        checked_at: refreshed.checked.client().map(|c| c.base_url().to_owned()),
        invalid_rows: refreshed.checked.invalid_rows(),
        rehearsal,
        interrupted,
        saved,
    })
}

/// What `run` is asked beyond its context.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub against: Against,
    /// Apply exactly this saved plan.
    pub saved_plan: Option<PathBuf>,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
    pub limit: Option<usize>,
    pub max_errors: Option<usize>,
    pub verify: bool,
    pub show_progress: bool,
    pub color: bool,
}

/// A run, as a command shows it.
pub struct Ran {
    pub report: Report,
    pub rehearsal: Option<Rehearsal>,
}

/// `run`: the one-run lock, then every stage, the sending included, and the run's report.
pub async fn run(
    context: &Context,
    request: &RunRequest,
    observer: &dyn Observer,
) -> Result<Ran, Error> {
    let rehearsing = matches!(request.against, Against::Rehearsal { .. });
    if request.saved_plan.is_some() && rehearsing {
        return Err(Error::Usage(
            "--plan and --sandbox do not go together: a saved plan belongs to the account it was made for"
                .into(),
        ));
    }
    // One run at a time per journal: taken first, so a second cron run stops at once. A
    // rehearsal journals to a scratch file, and needs no lock.
    let _lock = match rehearsing {
        true => None,
        false => Some(
            crate::journal::lock(
                &context.settings.state(),
                request.lock_timeout,
                &context.stop,
            )
            .await?,
        ),
    };
    let (refreshed, rehearsal) = match &request.saved_plan {
        Some(saved) => {
            let checked = saved::from_saved_plan(saved, context).await?;
            observer.checked(&checked);
            let refreshed = refresh::refresh(checked, context, OnInterrupt::Report).await?;
            observer.refreshed(&refreshed);
            (refreshed, None)
        }
        None => {
            let inputs = Inputs::load(context)?;
            let rehearsal = rehearsal::start(&request.against, context, &inputs).await?;
            let target = rehearsal
                .as_ref()
                .map_or(Target::Settings, Rehearsal::target);
            let refreshed = prepare(context, inputs, target, OnInterrupt::Report, observer).await?;
            (refreshed, rehearsal)
        }
    };
    let options = ApplyOptions {
        mode: match rehearsal {
            Some(_) => Mode::Sandbox,
            None => Mode::Run,
        },
        limit: request.limit,
        max_errors: request.max_errors,
        verify: request.verify,
        show_progress: request.show_progress,
        color: request.color,
    };
    let report = apply::apply(refreshed, context, &options).await?;
    Ok(Ran { report, rehearsal })
}

/// `verify`: does the account hold what the sheet and manifest say? Writes nothing.
pub async fn verify(context: &Context, observer: &dyn Observer) -> Result<Verified, Error> {
    let inputs = Inputs::load(context)?;
    let account = connect(&inputs.settings, Target::Settings, &context.stop)?;
    let client = online(account, "verify reads the account")?;
    let checked = check::check(inputs, context, Account::Online(client), OnInterrupt::Fail).await?;
    observer.checked(&checked);
    let refreshed = refresh::refresh(checked, context, OnInterrupt::Fail).await?;
    observer.refreshed(&refreshed);
    // The journal says whom ct-onboard created; verify only reads it, and makes none.
    let state = refreshed.checked.inputs.settings.state();
    let journal = match state.exists() {
        true => Some(crate::journal::Journal::open(&state).map_err(Error::journal)?),
        false => None,
    };
    verify::compare(&refreshed, journal.as_ref())
}
