//! The stages every command that reads a sheet goes through, as values:
//!
//! ```text
//! Inputs::load ─▶ check (online when there is a key) ─▶ Checked ─▶ dry_run ─▶ Report
//!   (settings,      (policies and users resolved,          │
//!    manifest,       plan made, invalid rows gated)        └──────▶ apply ───▶ Report
//!    sheet)                                          (journal, workers, report files)
//! ```
//!
//! Each stage takes the previous one's value and returns a new one; none edits an
//! earlier one. Nothing here prints: commands render what comes back.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::api::{ApiKey, Client, Stop, StopReason};
use crate::cli::InputArgs;
use crate::config::Settings;
use crate::decide::{Decision, decide_row};
use crate::digest::sha256_hex;
use crate::error::Error;
use crate::exec::{self, ExecOptions};
use crate::exit::Exit;
use crate::holdings::{Diff, Holdings, Names, Reads};
use crate::input::{Columns, Sheet, header_hint, read_sheet};
use crate::journal::{Journal, LockError, StateLock};
use crate::manifest::{Manifest, read_manifest};
use crate::plan::{Assignment, Plan, PlanOptions, PlanRow, plan};
use crate::problem::Problem;
use crate::progress::Progress;
use crate::report::{self, AssignmentLine, Estimate, Summary, UserLine};
use crate::resolve::{Directory, UserDirectory, resolve_manifest, resolve_users};
use crate::saved_plan::{Fingerprints, SavedAssignment, SavedPlan};

/// The settings file merged under the flags, and checked.
pub fn settings(flags: &Settings, config: Option<&Path>) -> Result<Settings, Error> {
    let file = Settings::load(config).map_err(|p| Error::invalid(vec![p]))?;
    let settings = flags.clone().or(file);
    let problems = settings.check();
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(Error::invalid(problems))
    }
}

/// Stage 1: settings, manifest and sheet, read and checked for shape (not yet planned).
pub struct Inputs {
    pub settings: Settings,
    pub manifest: Manifest,
    pub sheet: Sheet,
    pub columns: Columns,
}

impl Inputs {
    /// Reads everything, collecting every problem before giving up.
    pub fn load(args: &InputArgs, config: Option<&Path>) -> Result<Inputs, Error> {
        let file_settings = Settings::load(config).map_err(|p| Error::invalid(vec![p]))?;
        let settings = args.settings.clone().or(file_settings);
        let mut problems = settings.check();
        let manifest = read_manifest(&settings.manifest())
            .map_err(|mut p| problems.append(&mut p))
            .ok();
        let mapping = settings.columns();
        let fits = |headers: &[String]| Columns::find("", headers, &mapping).is_ok();
        let sheet = read_sheet(&args.hires, args.sheet.as_deref())
            .map_err(|p| {
                let hint = header_hint(&args.hires, &p.file, args.sheet.as_deref(), fits);
                problems.push(p);
                problems.extend(hint);
            })
            .ok();
        let columns = sheet.as_ref().and_then(|s| {
            Columns::find(&s.file, &s.headers, &settings.columns())
                .map_err(|mut p| {
                    problems.append(&mut p);
                    problems.extend(header_hint(
                        &args.hires,
                        &s.file,
                        args.sheet.as_deref(),
                        fits,
                    ));
                })
                .ok()
        });
        match (manifest, sheet, columns) {
            (Some(manifest), Some(sheet), Some(columns)) if problems.is_empty() => Ok(Inputs {
                settings,
                manifest,
                sheet,
                columns,
            }),
            _ => Err(Error::invalid(problems)),
        }
    }

    /// The pure plan of these inputs: sheet × manifest.
    pub fn plan(&self, args: &InputArgs) -> Plan {
        let options = PlanOptions {
            today: today(args),
            allow_retroactive: args.allow_retroactive,
            date_format: self.settings.date_format.clone(),
        };
        plan(&self.sheet, &self.columns, &self.manifest, &options)
    }
}

/// The day plans are made for: `--today` (tests, rehearsals), else the machine's date.
pub fn today(args: &InputArgs) -> jiff::civil::Date {
    args.today.unwrap_or_else(|| jiff::Zoned::now().date())
}

/// Where requests go: the settings' account, or the in-process sandbox at a URL.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Settings,
    Sandbox(&'a str),
}

/// The client for the target: `None` when the settings have no key (offline). It stops
/// on `stop`, which the signal handler sets.
pub fn connect(
    settings: &Settings,
    target: Target<'_>,
    stop: &Arc<Stop>,
) -> Result<Option<Client>, Error> {
    let client = connect_to(settings, target)?;
    let origin = match target {
        Target::Settings => settings.base_url_origin(),
        Target::Sandbox(_) => "the rehearsal",
    };
    Ok(client.map(|c| c.with_stop(Arc::clone(stop)).with_origin(origin)))
}

fn connect_to(settings: &Settings, target: Target<'_>) -> Result<Option<Client>, Error> {
    let options = settings.client_options();
    match target {
        Target::Settings => {
            let Some(key) =
                ApiKey::from_file_or_env(settings.api_key_file.as_deref()).map_err(Error::Usage)?
            else {
                return Ok(None);
            };
            let base_url = settings.base_url().map_err(|p| Error::invalid(vec![p]))?;
            Client::new(&base_url, &key, &options)
                .map(Some)
                .map_err(Error::Usage)
        }
        Target::Sandbox(url) => {
            let key = ApiKey::new("sandbox").expect("a non-empty key");
            Client::new(url, &key, &options)
                .map(Some)
                .map_err(Error::Usage)
        }
    }
}

/// Stage 2: inputs checked against the account (when there is a client) and planned.
pub struct Checked {
    pub inputs: Inputs,
    pub plan: Plan,
    pub client: Option<Client>,
    /// The account's policies, when read.
    pub directory: Option<Directory>,
    /// Worth a look, not fatal (a balance unit other than the policy's).
    pub warnings: Vec<Problem>,
}

impl Checked {
    pub fn invalid_rows(&self) -> usize {
        self.plan.rows.iter().filter(|r| !r.is_valid()).count()
    }

    /// The problems of rows left out by `--skip-invalid`.
    pub fn skipped(&self) -> impl Iterator<Item = &Problem> {
        self.plan.rows.iter().flat_map(|r| &r.problems)
    }
}

fn api_error(client: &Client) -> impl Fn(crate::api::ApiError) -> Error + '_ {
    |source| Error::api(&client.described(), source)
}

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

/// Whether a signal has stopped this client's work.
fn interrupted(client: &Client) -> bool {
    client.stop().get() == Some(StopReason::Interrupted)
}

/// Why nothing is known of what users hold, when an interrupt came first.
const INTERRUPTED_BEFORE_READING: &str = "not read: the run was interrupted first";

/// The words logged when an interrupt cuts the account's reads short.
const READS_INTERRUPTED: &str = "interrupted while reading the account: nothing was sent; the report marks what was not planned as not attempted";

/// Resolves the manifest's policies and the sheet's users against the account (when
/// there is a client), plans, and stops on any problem `--skip-invalid` does not cover.
/// Interrupted part-way with [`OnInterrupt::Report`], it hands back the plan as far as
/// it got (policies or users unresolved, and the client stopped) for [`refresh`] to say
/// so and the report to show.
pub async fn check(
    inputs: Inputs,
    args: &InputArgs,
    client: Option<Client>,
    on_interrupt: OnInterrupt,
) -> Result<Checked, Error> {
    let reporting = |client: &Client| on_interrupt == OnInterrupt::Report && interrupted(client);
    let mut warnings = Vec::new();
    let directory = match &client {
        Some(client) => match Directory::fetch(client).await {
            Ok(directory) => Some(directory),
            Err(_) if reporting(client) => {
                return Ok(Checked {
                    plan: inputs.plan(args),
                    inputs,
                    client: Some(client.clone()),
                    directory: None,
                    warnings,
                });
            }
            Err(e) => return Err(api_error(client)(e)),
        },
        None => None,
    };
    let inputs = match &directory {
        Some(directory) => {
            let resolved = resolve_manifest(&inputs.manifest, directory);
            if !resolved.errors.is_empty() {
                return Err(Error::invalid(resolved.errors));
            }
            warnings = resolved.warnings;
            Inputs {
                manifest: resolved.manifest,
                ..inputs
            }
        }
        None => inputs,
    };
    let planned = inputs.plan(args);
    let plan = match &client {
        Some(client) => match UserDirectory::fetch(client, &planned).await {
            Ok(users) => resolve_users(planned, &users, &inputs.columns, &inputs.sheet.file),
            // Users part-read are not resolved: a row's user may be in the unread part.
            Err(_) if reporting(client) => planned,
            Err(e) => return Err(api_error(client)(e)),
        },
        None => planned,
    };
    if !client.as_ref().is_some_and(interrupted) {
        gate(&plan, args.skip_invalid)?;
    }
    Ok(Checked {
        inputs,
        plan,
        client,
        directory,
        warnings,
    })
}

/// Stage 3: the checked plan with what the account holds now, so that every assignment
/// has its change (new, unchanged, move, …) and guarded ones are held back.
pub struct Refreshed {
    pub checked: Checked,
    pub holdings: Arc<Holdings>,
    /// When the holdings were read: a long run reads them again past `refresh_max_age`.
    pub read_at: tokio::time::Instant,
    /// Requests the refresh took (for the plan's cost).
    pub reads: usize,
    names: Names,
}

impl Refreshed {
    /// Whether a signal cut the work short: nothing more is read or sent.
    pub fn interrupted(&self) -> bool {
        self.checked.client.as_ref().is_some_and(interrupted)
    }

    /// Each assignment of a row against the account.
    pub fn diffs(&self, row: &PlanRow) -> Vec<Diff> {
        row.assignments
            .iter()
            .map(|a| self.holdings.diff(row.user_id, a))
            .collect()
    }

    /// The decisions for a valid row: the account's diff first, then what the journal
    /// says ct-onboard itself did.
    fn decide(
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
                    action: crate::decide::Action::Send,
                    diff: self.holdings.diff(row.user_id, a),
                })
                .collect());
        }
        let own = match (journal, &self.checked.client, row.user_id) {
            (Some(journal), Some(client), Some(user)) => {
                journal.own(client.base_url(), user).map_err(Error::Local)?
            }
            _ => Vec::new(),
        };
        Ok(decide_row(
            row,
            &self.holdings,
            &own,
            &self.names,
            allow_overwrite,
        ))
    }
}

/// Reads what the plan's users hold now (with a client; offline, nothing is known).
/// A read endpoint that is missing or answers what cannot be read stops here (exit 69,
/// naming it), unless `--without-refresh` says to go on without that kind: then those
/// assignments are unknown, and the journal decides. Interrupted
/// ([`OnInterrupt::Report`]), here or in [`check`], nothing is known and nothing more is
/// read; with [`OnInterrupt::Fail`] that is an error (exit 130).
pub async fn refresh(
    checked: Checked,
    args: &InputArgs,
    on_interrupt: OnInterrupt,
) -> Result<Refreshed, Error> {
    let names = checked
        .directory
        .as_ref()
        .map(Names::of)
        .unwrap_or_default();
    let Some(client) = checked.client.clone() else {
        return Ok(Refreshed {
            checked,
            holdings: Arc::new(Holdings::offline()),
            read_at: tokio::time::Instant::now(),
            reads: 0,
            names,
        });
    };
    let before = client.requests_sent();
    // Holdings are as old as their first read: the age counts from before it.
    let read_at = tokio::time::Instant::now();
    let skipped = checked.inputs.settings.without_refresh();
    // Without a directory, `check` was interrupted part-way.
    let fetched = match &checked.directory {
        Some(directory) if !interrupted(&client) => {
            read_holdings(&client, directory, &checked.plan, today(args), &skipped)
                .await
                .map_err(|e| unreadable_holdings(&client, e))
        }
        _ => Err(Error::Interrupted(
            "interrupted before reading what users hold; nothing was sent".into(),
        )),
    };
    let holdings = match fetched {
        Ok(holdings) => holdings,
        Err(_) if on_interrupt == OnInterrupt::Report && interrupted(&client) => {
            tracing::warn!("{READS_INTERRUPTED}");
            Holdings::unread(INTERRUPTED_BEFORE_READING)
        }
        Err(e) => return Err(e),
    };
    let failed = holdings.failed();
    if !failed.is_empty() && !interrupted(&client) {
        return Err(Error::Unreadable(format!(
            "cannot read what users hold in {}, so nothing can be guarded: {}. Nothing was sent. \
             To go ahead without it, --without-refresh {} leaves those assignments to the journal \
             (any ct-onboard did not itself make is then held back as a conflict).",
            client.base_url(),
            failed
                .iter()
                .map(|(_, part)| part.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            failed
                .iter()
                .map(|(kind, _)| kind.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(" --without-refresh ")
        )));
    }
    let reads = usize::try_from(client.requests_sent() - before).unwrap_or(usize::MAX);
    Ok(Refreshed {
        checked,
        holdings: Arc::new(holdings),
        read_at,
        reads,
        names,
    })
}

/// A read of what users hold that failed: a refused key, a spent quota or a stop end the
/// command as such; anything else (a server that keeps failing, an answer that cannot be
/// read) is an endpoint that cannot tell, and says how to go on without it.
fn unreadable_holdings(client: &Client, e: crate::api::ApiError) -> Error {
    use crate::api::ErrorClass;
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
pub(crate) async fn read_holdings(
    client: &Client,
    directory: &Directory,
    plan: &Plan,
    today: jiff::civil::Date,
    skipped: &std::collections::BTreeSet<crate::plan::Kind>,
) -> Result<Holdings, crate::api::ApiError> {
    let reads = Reads::refresh(plan, directory, today, skipped);
    let mut holdings = Holdings::fetch(client, directory, &reads).await?;
    let pairs = plan
        .valid_rows()
        .filter_map(|row| Some((row.user_id?, row)))
        .flat_map(|(user, row)| row.assignments.iter().map(move |a| (user, a)));
    holdings.read_replace_candidates(client, pairs).await?;
    Ok(holdings)
}

/// Any problem not about one row stops the run; so do invalid rows, unless
/// `--skip-invalid` and some row is valid.
pub fn gate(plan: &Plan, skip_invalid: bool) -> Result<(), Error> {
    let invalid_rows = plan.rows.iter().filter(|r| !r.is_valid()).count();
    let nothing_valid = invalid_rows == plan.rows.len();
    let global = !plan.problems.is_empty();
    if !global && (invalid_rows == 0 || (skip_invalid && !nothing_valid)) {
        return Ok(());
    }
    let hint = (!global && !nothing_valid && !skip_invalid).then(|| {
        format!(
            "(--skip-invalid would go ahead with the {} valid rows)",
            plan.rows.len() - invalid_rows
        )
    });
    Err(Error::Invalid {
        problems: plan.all_problems().cloned().collect(),
        hint,
    })
}

/// What a finished plan or run hands back to be rendered.
pub struct Report {
    pub users: Vec<UserLine>,
    pub summary: Summary,
    pub dir: PathBuf,
    pub exit: Exit,
}

/// Stage 3, dry: each valid row's lines as a run would start them (the journal settles
/// what it already holds), the cost, and a report of `planned` rows. Sends no write.
/// `rehearsal`: the account is the simulator (`plan --sandbox`).
pub fn dry_run(
    refreshed: &Refreshed,
    allow_overwrite: bool,
    rehearsal: bool,
) -> Result<(Report, Estimate), Error> {
    let started = jiff::Timestamp::now();
    let checked = &refreshed.checked;
    let settings = &checked.inputs.settings;
    // The journal is keyed by base URL: it only speaks for a plan checked online.
    let state = settings.state();
    let journal = match &checked.client {
        Some(_) if state.exists() => Some(Journal::open(&state).map_err(Error::Local)?),
        _ => None,
    };
    let interrupted = refreshed.interrupted();
    let users: Vec<UserLine> = checked
        .plan
        .rows
        .iter()
        .map(|row| {
            let decisions = refreshed.decide(journal.as_ref(), row, allow_overwrite)?;
            let mut lines = exec::decided_lines(row, &decisions);
            if interrupted {
                lines.iter_mut().for_each(AssignmentLine::interrupted);
            }
            Ok(UserLine::new(row, lines))
        })
        .collect::<Result<_, Error>>()?;
    let estimate = estimate(refreshed, &users);
    let client = checked.client.as_ref();
    let exit = Exit::of_outcomes(client.and_then(|c| c.stop().get()), &users);
    let summary = Summary {
        mode: "plan",
        offline: client.is_none(),
        rehearsal,
        assignments: estimate.assignments,
        requests_planned: estimate.requests(),
        requests_sent: client.map_or(0, Client::requests_sent),
        rate_limited: client.map_or(0, Client::rate_limited_count),
        quota_left: client.and_then(|c| c.day().remaining),
        exit_code: exit.code(),
        ..Summary::new(&checked.inputs, &users, started)
    };
    let (dir, run_id) = create_report_dir(settings)?;
    let shown = Shown {
        account: client.map(Client::base_url),
        estimate: Some(&estimate),
        timeline: None,
    };
    let summary = write_report(&dir, &run_id, &checked.inputs, &users, summary, &shown)?;
    log_summary(&summary);
    Ok((
        Report {
            users,
            summary,
            dir,
            exit,
        },
        estimate,
    ))
}

/// What the plan will cost: its writes, and the reads before and after them.
fn estimate(refreshed: &Refreshed, users: &[UserLine]) -> Estimate {
    let checked = &refreshed.checked;
    let mut estimate = Estimate::of(&checked.plan, users);
    if let Some(directory) = &checked.directory {
        estimate.refresh_reads = refreshed.reads;
        let planned = checked.plan.valid_rows().zip(
            users
                .iter()
                .filter(|u| u.outcome != report::Outcome::Invalid),
        );
        let to_send: Vec<(u64, &Assignment)> = planned
            .flat_map(|(row, line)| {
                row.assignments
                    .iter()
                    .zip(&line.assignments)
                    .filter(|(_, l)| l.status == report::AssignmentStatus::Planned)
                    .filter_map(|(a, _)| Some((row.user_id?, a)))
            })
            .collect();
        if !to_send.is_empty() {
            estimate.verify_reads = Reads::verify(to_send, directory).requests();
        }
    }
    estimate
}

/// What `apply` needs beyond the checked plan.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// A rehearsal against the sandbox: its journal is a scratch file, since the
    /// simulator starts empty every time.
    pub sandbox: bool,
    pub limit: Option<usize>,
    pub max_errors: Option<usize>,
    /// Send guarded changes and journal conflicts too.
    pub allow_overwrite: bool,
    /// Read back what was written (`--no-verify` turns it off).
    pub verify: bool,
    pub show_progress: bool,
    /// Colour on stderr (the progress bar).
    pub color: bool,
    /// The day the plan was made for (what users hold is read again on it).
    pub today: jiff::civil::Date,
}

/// Takes the journal's one-run lock: first, so that a second cron run stops at once, or
/// after waiting up to `wait` for the other run to end (a signal ends the wait).
pub async fn lock(
    flags: &Settings,
    config: Option<&Path>,
    wait: std::time::Duration,
    stop: &Stop,
) -> Result<StateLock, Error> {
    let state = match Settings::load(config) {
        Ok(file) => flags.clone().or(file).state(),
        Err(_) => flags.state(), // the settings problem is reported when inputs load
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        match StateLock::acquire(&state) {
            Ok(lock) => return Ok(lock),
            Err(LockError::Io(message)) => return Err(Error::Local(message)),
            Err(LockError::Held(holder)) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Locked {
                    path: state,
                    holder,
                });
            }
            Err(LockError::Held(holder)) => {
                if !std::mem::replace(&mut told, true) {
                    tracing::info!(
                        "{} is in use by {holder}; waiting up to {} s for it",
                        state.display(),
                        wait.as_secs()
                    );
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            () = stop.halted() => return Err(Error::Interrupted(
                "interrupted while waiting for the lock; nothing was sent".into(),
            )),
        }
    }
}

/// Stage 3, for real: every valid row's assignments made through the client, recorded
/// in the journal, and reported.
pub async fn apply(refreshed: Refreshed, options: &ApplyOptions) -> Result<Report, Error> {
    let started = jiff::Timestamp::now();
    let client = refreshed.checked.client.clone().ok_or_else(|| {
        Error::Usage(
            "no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE. \
             To review without a key use --dry-run; to rehearse, --sandbox. Nothing was sent."
                .into(),
        )
    })?;
    let inputs = &refreshed.checked.inputs;
    let plan = &refreshed.checked.plan;
    let settings = &inputs.settings;
    let scratch = tempfile::tempdir().map_err(|e| Error::Local(e.to_string()))?;
    let journal_path = if options.sandbox {
        scratch.path().join("sandbox-journal.db")
    } else {
        settings.state()
    };
    let journal = Journal::open(&journal_path).map_err(Error::Local)?;
    // The report folder is made when the report is written: a killed run leaves none.
    let run_id = fresh_run_id(&journal, &settings.report_dir())?;
    let mode = if options.sandbox { "sandbox" } else { "run" };
    journal
        .start_run(&run_id, mode, client.base_url(), &inputs.sheet.file)
        .map_err(Error::Local)?;

    // Every sheet row once: executed rows, and rows left out as invalid.
    let users = execute(&refreshed, &client, &journal, &run_id, options).await?;
    let summary = run_summary(inputs, plan, &client, &users, mode, started);
    let exit = Exit::of_outcomes(client.stop().get(), &users);
    // summary.json is written last, and the journal records the run's end only after it:
    // `history` never claims a run whose report is not there.
    let written = create_report_dir_as(settings, &run_id).and_then(|(dir, id)| {
        let timeline = client.timeline();
        let shown = Shown {
            account: Some(client.base_url()),
            estimate: None,
            timeline: Some(&timeline),
        };
        Ok((
            write_report(&dir, &id, inputs, &users, summary, &shown)?,
            dir,
        ))
    });
    let (summary, dir) = match written {
        Ok(written) => written,
        Err(e) => {
            let note = format!("the report could not be written: {e}");
            if let Err(message) = journal.finish_run(&run_id, Exit::CannotWrite.code(), &note) {
                tracing::error!("{message}");
            }
            return Err(e);
        }
    };
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(o, n)| format!("{}: {n}", o.as_str()))
        .collect();
    if let Err(message) = journal.finish_run(&run_id, summary.exit_code, &outcomes.join(", ")) {
        tracing::error!("{message}");
    }
    log_summary(&summary);
    Ok(Report {
        users,
        summary,
        dir,
        exit,
    })
}

/// A run's summary: what it did, what it cost, and how it ends.
fn run_summary(
    inputs: &Inputs,
    plan: &Plan,
    client: &Client,
    users: &[UserLine],
    mode: &'static str,
    started: jiff::Timestamp,
) -> Summary {
    let exit = Exit::of_outcomes(client.stop().get(), users);
    let deferred = users.iter().any(|u| u.outcome == report::Outcome::Deferred);
    let day = client.day();
    Summary {
        mode,
        rehearsal: mode == "sandbox",
        assignments: plan.assignment_count(),
        requests_sent: client.requests_sent(),
        rate_limited: client.rate_limited_count(),
        retries: client.retries(),
        quota_left: day.remaining,
        quota_resets_at: deferred
            .then(|| {
                day.reset
                    .and_then(|r| jiff::Timestamp::from_second(r.cast_signed()).ok())
                    .map(|t| t.to_string())
            })
            .flatten(),
        exit_code: exit.code(),
        ..Summary::new(inputs, users, started)
    }
}

/// Runs the workers over the valid rows with progress and signal handling; returns one
/// line per sheet row (invalid rows as they were planned).
async fn execute(
    refreshed: &Refreshed,
    client: &Client,
    journal: &Journal,
    run_id: &str,
    options: &ApplyOptions,
) -> Result<Vec<UserLine>, Error> {
    let plan = &refreshed.checked.plan;
    let settings = &refreshed.checked.inputs.settings;
    let rows: Vec<&PlanRow> = plan.valid_rows().collect();
    let decisions = rows
        .iter()
        .map(|row| refreshed.decide(Some(journal), row, options.allow_overwrite))
        .collect::<Result<Vec<_>, _>>()?;
    let exec_options = ExecOptions {
        concurrency: settings.concurrency(),
        max_errors: options.max_errors,
        limit: options.limit,
    };
    let probe = {
        let client = client.clone();
        Box::new(move || client.paused()) as crate::progress::PauseProbe
    };
    let progress = Progress::new(
        rows.len() as u64,
        options.show_progress,
        options.color,
        Some(probe),
    );
    tracing::info!(
        event = "run",
        run_id,
        users = rows.len(),
        assignments = plan.assignment_count(),
        base_url = client.base_url(),
        "starting run {run_id}: {} users, {} assignments, against {}",
        rows.len(),
        plan.assignment_count(),
        client.base_url()
    );
    let skipped = settings.without_refresh();
    // Kinds not read before writing cannot be read back either: the answer is the word.
    let verified: std::collections::BTreeSet<crate::plan::Kind> = match options.verify {
        true => [crate::plan::Kind::TimeOff, crate::plan::Kind::PayRule]
            .into_iter()
            .filter(|k| !skipped.contains(k))
            .collect(),
        false => std::collections::BTreeSet::new(),
    };
    let fresh = refreshed.checked.directory.as_ref().map(|directory| {
        exec::Fresh::new(
            directory,
            &rows,
            Arc::clone(&refreshed.holdings),
            refreshed.read_at,
            exec::FreshOptions {
                today: options.today,
                skipped,
                max_age: settings.refresh_max_age(),
                allow_overwrite: options.allow_overwrite,
            },
        )
    });
    let run = exec::Run {
        client,
        journal,
        run_id,
        options: &exec_options,
        progress: &progress,
        verified: &verified,
        fresh: fresh.as_ref(),
    };
    // The bar's words change during a pause, when no user finishes.
    let ticking = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            progress.tick();
        }
    };
    let executed = tokio::select! {
        lines = exec::execute(&run, &rows, &decisions) => lines,
        () = ticking => unreachable!("the ticker never ends"),
    };
    progress.finish();
    // Interrupted, verify only marks what was not seen as unverified.
    let executed = match &refreshed.checked.directory {
        Some(directory) if !verified.is_empty() => {
            exec::verify(&run, directory, &rows, executed, settings.verify_patience()).await
        }
        _ => executed,
    };
    let mut executed = executed.into_iter().peekable();
    Ok(plan
        .rows
        .iter()
        .map(|row| {
            executed
                .next_if(|line| line.index == row.index)
                .unwrap_or_else(|| UserLine::planned(row))
        })
        .collect())
}

/// A run ID from the clock that neither the journal nor the report folder has yet
/// (`-2`, `-3`… when runs share a second).
fn fresh_run_id(journal: &Journal, report_dir: &Path) -> Result<String, Error> {
    let base = report::new_run_id();
    for n in 1u32.. {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if !journal.has_run(&id).map_err(Error::Local)? && !report_dir.join(&id).exists() {
            return Ok(id);
        }
    }
    unreachable!("some suffix is free")
}

fn create_report_dir(settings: &Settings) -> Result<(PathBuf, String), Error> {
    create_report_dir_as(settings, &report::new_run_id())
}

/// The run's report folder, named for its run ID (with a suffix if that is taken).
fn create_report_dir_as(settings: &Settings, run_id: &str) -> Result<(PathBuf, String), Error> {
    let report_dir = settings.report_dir();
    report::create_run_dir(&report_dir, run_id).map_err(|e| {
        Error::Local(format!(
            "cannot create a report folder under {}: {e}",
            report_dir.display()
        ))
    })
}

/// Writes the report files, with run ID, finish time and duration filled in.
/// What the report page shows beyond the lines: where, what it costs, how it went.
struct Shown<'a> {
    account: Option<&'a str>,
    estimate: Option<&'a Estimate>,
    timeline: Option<&'a crate::api::Timeline>,
}

fn write_report(
    dir: &Path,
    run_id: &str,
    inputs: &Inputs,
    users: &[UserLine],
    summary: Summary,
    shown: &Shown<'_>,
) -> Result<Summary, Error> {
    let finished = jiff::Timestamp::now();
    let duration_secs = summary
        .started_at
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|started| (finished - started).total(jiff::Unit::Second).ok())
        .unwrap_or(0.0);
    let summary = Summary {
        run_id: run_id.to_owned(),
        finished_at: finished.to_string(),
        duration_secs,
        ..summary
    };
    let settings = &inputs.settings;
    let page = report::PageContext {
        account: shown.account,
        sheet_sha256: inputs.sheet.sha256.as_deref(),
        manifest_sha256: inputs.manifest.sha256.as_deref(),
        rate_per_minute: settings.rate_per_minute(),
        reserve_percent: settings.quota_reserve_percent(),
        daily_quota: settings.daily_quota(),
        estimate: shown.estimate,
        timeline: shown.timeline,
        email_column: inputs.columns.index(crate::input::Field::Email),
    };
    report::write_report(dir, &inputs.sheet, users, &summary, &page)
        .map_err(|e| Error::Local(format!("cannot write the report in {}: {e}", dir.display())))?;
    Ok(summary)
}

impl Summary {
    /// The parts every report's summary shares; the caller fills in the rest.
    fn new(inputs: &Inputs, users: &[UserLine], started: jiff::Timestamp) -> Summary {
        Summary {
            run_id: String::new(),
            mode: "",
            offline: false,
            rehearsal: false,
            sheet: inputs.sheet.file.clone(),
            manifest: inputs.manifest.file.clone(),
            started_at: started.to_string(),
            finished_at: String::new(),
            duration_secs: 0.0,
            users: users.len(),
            outcomes: report::count_outcomes(users),
            changes: report::count_changes(users),
            assignments: 0,
            requests_planned: 0,
            requests_sent: 0,
            rate_limited: 0,
            retries: 0,
            quota_left: None,
            quota_resets_at: None,
            without_refresh: inputs
                .settings
                .without_refresh()
                .into_iter()
                .map(crate::plan::Kind::as_str)
                .collect(),
            exit_code: 0,
        }
    }
}

/// Sets `stop` on the first SIGINT or SIGTERM (no request starts after it, waits end,
/// requests in flight get a short grace, the report is written); exits at once, 130,
/// on the second.
pub async fn interrupt_on_signals(stop: Arc<Stop>) {
    wait_for_stop_signal().await;
    tracing::warn!(
        "interrupted: starting no new request, finishing those in flight, writing the report… (again to quit at once)"
    );
    stop.set(StopReason::Interrupted);
    wait_for_stop_signal().await;
    std::process::exit(i32::from(Exit::Interrupted.code()));
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return drop(interrupt.await),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The summary as one log event: every count of `summary.json`.
fn log_summary(summary: &Summary) {
    tracing::info!(
        event = "summary",
        run_id = %summary.run_id,
        mode = summary.mode,
        users = summary.users,
        assignments = summary.assignments,
        requests_planned = summary.requests_planned,
        requests_sent = summary.requests_sent,
        rate_limited = summary.rate_limited,
        retries = summary.retries,
        quota_left = summary.quota_left,
        duration_secs = summary.duration_secs,
        exit_code = summary.exit_code,
        outcomes = %compact(&summary.outcomes),
        changes = %compact(&summary.changes),
        "{} {}: {} users, exit {}",
        summary.mode,
        summary.run_id,
        summary.users,
        summary.exit_code
    );
}

/// A value as compact JSON, for a log field.
fn compact<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// What a saved plan is checked against when it is applied: the sheet and manifest as
/// they were read for this plan, and the settings that shape it.
fn fingerprints(args: &InputArgs, inputs: &Inputs) -> Result<Fingerprints, String> {
    if args.hires.as_os_str() == crate::input::STDIN {
        return Err(
            "a saved plan needs the sheet as a file, not standard input: it is checked again when applied"
                .into(),
        );
    }
    let settings = &inputs.settings;
    let manifest = settings.manifest();
    let as_read = |sha: &Option<String>, what: &str| {
        sha.clone()
            .ok_or_else(|| format!("the {what} was not read from a file"))
    };
    let shaping = format!(
        "base_url={}\nsheet={:?}\ndate_format={:?}\ncolumns={:?}\nallow_retroactive={}\nskip_invalid={}",
        settings.base_url().map_err(|p| p.message)?,
        args.sheet,
        settings.date_format,
        settings.columns(),
        args.allow_retroactive,
        args.skip_invalid
    );
    Ok(Fingerprints {
        sheet: args.hires.display().to_string(),
        sheet_sha256: as_read(&inputs.sheet.sha256, "sheet")?,
        manifest: manifest.display().to_string(),
        manifest_sha256: as_read(&inputs.manifest.sha256, "manifest")?,
        settings_sha256: sha256_hex(shaping.as_bytes()),
    })
}

/// Saves a checked plan for `run --plan` (Terraform's `plan -out`).
pub fn save_plan(out: &Path, args: &InputArgs, checked: &Checked) -> Result<(), Error> {
    let Some(client) = &checked.client else {
        return Err(Error::Usage(
            "--out needs a plan checked against Connecteam (set CONNECTEAM_API_KEY): \
             an offline plan has no resolved user or policy IDs to apply"
                .into(),
        ));
    };
    let fingerprints = fingerprints(args, &checked.inputs).map_err(Error::Usage)?;
    let saved =
        SavedPlan::new(&checked.plan, client.base_url(), fingerprints).map_err(Error::Local)?;
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|e| Error::Local(e.to_string()))?;
    json.push(b'\n');
    report::write_atomic_path(out, &json)
        .map_err(|e| Error::Local(format!("cannot write {}: {e}", out.display())))
}

/// `run --plan`: the saved plan as a checked one, if the sheet, manifest and settings are
/// still the ones it was made from, the base URL is the same, and no effective date has
/// passed since.
pub async fn from_saved_plan(
    path: &Path,
    args: &InputArgs,
    config: Option<&Path>,
    stop: &Arc<Stop>,
) -> Result<Checked, Error> {
    let inputs = Inputs::load(args, config)?;
    let saved = SavedPlan::read(path).map_err(Error::Usage)?;
    let now = fingerprints(args, &inputs).map_err(Error::Usage)?;
    let mut stale = saved.stale_because(&now);
    let client = connect(&inputs.settings, Target::Settings, stop)?.ok_or_else(|| {
        Error::Usage(
            "no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE. Nothing was sent."
                .into(),
        )
    })?;
    if client.base_url() != saved.base_url {
        stale.push(format!(
            "it was made for {}, and this run is against {}",
            saved.base_url,
            client.base_url()
        ));
    }
    let today = today(args);
    let past = saved
        .users
        .iter()
        .flat_map(|u| &u.assignments)
        .find_map(|a| match a {
            SavedAssignment::PayRule { effective_date, .. }
                if *effective_date < today && !args.allow_retroactive =>
            {
                Some(*effective_date)
            }
            _ => None,
        });
    if let Some(date) = past {
        stale.push(format!(
            "effective date {date} is now in the past: applying it would rewrite past payroll"
        ));
    }
    if !stale.is_empty() {
        let problems = stale
            .into_iter()
            .map(|reason| {
                Problem::new(
                    path.display().to_string(),
                    crate::problem::Place::File,
                    format!("the plan is stale: {reason}"),
                )
            })
            .collect();
        return Err(Error::Invalid {
            problems,
            hint: Some(format!(
                "Make a new one with `ct-onboard plan {} --out {}`.",
                args.hires.display(),
                path.display()
            )),
        });
    }
    let numbers: Vec<u64> = inputs.sheet.rows.iter().map(|r| r.number).collect();
    let plan = saved.to_plan(&inputs.sheet.file, &numbers);
    // Interrupted, the run goes on to report that nothing was sent.
    let directory = match Directory::fetch(&client).await {
        Ok(directory) => Some(directory),
        Err(_) if interrupted(&client) => None,
        Err(e) => return Err(api_error(&client)(e)),
    };
    Ok(Checked {
        inputs,
        plan,
        client: Some(client),
        directory,
        warnings: Vec::new(),
    })
}
