//! Stage 5: the decisions carried out. [`apply`] sends every valid row's assignments
//! through the worker pool ([`pool`]: one consumer records each result in the journal,
//! the progress and the report lines), reading holdings again when they are too old
//! ([`fresh`]) and reading back what was written ([`verify`]); [`dry_run`] sends
//! nothing and reports what a run would start with.

mod create;
mod fresh;
mod packs;
mod pool;
mod verify;

use std::sync::Arc;

use super::report::{
    Shown, create_report_dir, finish_run, fresh_run_id, log_summary, write_report,
};
use super::{Context, Mode, Refreshed, Report};
use crate::api::Client;
use crate::api::model::Company;
use crate::error::Error;
use crate::exit::Exit;
use crate::journal::{Journal, NewRun};
use crate::plan::{Kind, PlanRow};
use crate::progress::Progress;
use crate::report::{AssignmentLine, Estimate, Summary, UserLine};

pub use pool::decided_lines;

/// What `apply` needs beyond the refreshed plan.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// `run`, or `run --sandbox` (its journal is a scratch file, since the simulator
    /// starts empty every time).
    pub mode: Mode,
    /// Only the first N users with something to send (a canary).
    pub limit: Option<usize>,
    /// Stop after N failed assignments.
    pub max_errors: Option<usize>,
    /// Read back what was written (`--no-verify` turns it off).
    pub verify: bool,
    pub show_progress: bool,
    /// Colour on stderr (the progress bar).
    pub color: bool,
}

/// Every valid row's assignments made through the client, recorded in the journal, and
/// reported.
pub async fn apply(
    mut refreshed: Refreshed,
    context: &Context,
    options: &ApplyOptions,
) -> Result<Report, Error> {
    let started = jiff::Timestamp::now();
    let client = refreshed.checked.client().cloned().ok_or_else(|| {
        Error::Usage(
            "no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE. \
             To review without a key use --dry-run; to rehearse, --sandbox. Nothing was sent."
                .into(),
        )
    })?;
    let scratch = tempfile::tempdir().map_err(|e| Error::Local(e.to_string()))?;
    let journal_path = match options.mode {
        Mode::Sandbox => scratch.path().join("sandbox-journal.db"),
        Mode::Run | Mode::Plan => refreshed.checked.inputs.settings.state(),
    };
    let journal = Journal::open(&journal_path).map_err(Error::journal)?;
    // The report folder is made when the report is written: a killed run leaves none.
    let run_id = fresh_run_id(&journal, &refreshed.checked.inputs.settings.report_dir())?;
    journal
        .start_run(&NewRun {
            id: &run_id,
            mode: options.mode.as_str(),
            base_url: client.base_url(),
            company: refreshed.checked.company(),
            sheet: &refreshed.checked.inputs.sheet.file,
        })
        .map_err(Error::journal)?;

    // Every valid row decided once, before anyone is created: what it costs as the plan
    // would have said just now (summary.json's requests_planned), and who a canary
    // takes. Unless people are created (their holdings are read again), the run sends
    // by these same decisions.
    let decided = decide_all(&refreshed, context, &journal)?;
    let requests_planned = planned_cost(&refreshed, &decided);
    let within = options
        .limit
        .map(|limit| within_limit(&refreshed, &decided, limit));
    let creating = refreshed
        .checked
        .plan
        .valid_rows()
        .any(|r| r.person.is_some());
    create_people(
        &mut refreshed,
        context,
        &client,
        &journal,
        &run_id,
        within.as_ref(),
    )
    .await?;
    let reuse = (!creating).then_some(decided);
    let inputs = &refreshed.checked.inputs;
    // Every sheet row once: executed rows, and rows left out as invalid.
    let users = execute(
        &refreshed,
        context,
        Execution {
            client: &client,
            journal: &journal,
            run_id: &run_id,
            options,
            within: within.as_ref(),
        },
        reuse,
    )
    .await?;
    let summary = Summary {
        requests_planned,
        ..super::report::run_summary(&refreshed.checked, &client, &users, options.mode, started)
    };
    let exit = Exit::of_outcomes(client.stop().get(), &users);
    let timeline = client.timeline();
    let shown = Shown {
        account: Some(client.base_url()),
        estimate: None,
        timeline: Some(&timeline),
    };
    let (summary, dir) = finish_run(&journal, &run_id, inputs, &users, summary, &shown)?;
    Ok(Report {
        users,
        summary,
        dir,
        exit,
    })
}

/// Every valid row's decisions, in plan order.
fn decide_all(
    refreshed: &Refreshed,
    context: &Context,
    journal: &Journal,
) -> Result<Vec<Vec<super::decide::Decision>>, Error> {
    refreshed
        .checked
        .plan
        .valid_rows()
        .map(|row| refreshed.decide(Some(journal), row, context.allow_overwrite))
        .collect()
}

/// With `--limit N`, the rows (sheet indexes) of the first N users with something to
/// send, as the worker pool will count them.
fn within_limit(
    refreshed: &Refreshed,
    decided: &[Vec<super::decide::Decision>],
    limit: usize,
) -> std::collections::HashSet<usize> {
    refreshed
        .checked
        .plan
        .valid_rows()
        .zip(decided)
        .filter(|(_, d)| d.iter().any(super::decide::Decision::sends))
        .take(limit)
        .map(|(row, _)| row.index)
        .collect()
}

/// The requests the plan would say this run costs, by these decisions.
fn planned_cost(refreshed: &Refreshed, decided: &[Vec<super::decide::Decision>]) -> usize {
    let as_planned: Vec<UserLine> = refreshed
        .checked
        .plan
        .valid_rows()
        .zip(decided)
        .map(|(row, d)| UserLine::new(row, decided_lines(row, d)))
        .collect();
    super::report::estimate(refreshed, &as_planned).requests()
}

/// Creates the people not in Connecteam yet (`--create-missing`), each once; when anyone
/// was created, reads what the plan's users hold again, so that a policy Connecteam
/// gives new users by default is seen (a `move` like any other) before the writes.
async fn create_people(
    refreshed: &mut Refreshed,
    context: &Context,
    client: &Client,
    journal: &Journal,
    run_id: &str,
    within: Option<&std::collections::HashSet<usize>>,
) -> Result<(), Error> {
    // A canary (`--limit N`) creates only the people among its first N users.
    if let Some(within) = within {
        for row in &mut refreshed.checked.plan.rows {
            if let Some(person) = row.person.as_mut()
                && person.state == crate::plan::Creation::Planned
                && !within.contains(&row.index)
            {
                person.state = crate::plan::Creation::NotSent(
                    "not created: left for a later run by --limit".into(),
                );
            }
        }
    }
    let settings = &refreshed.checked.inputs.settings;
    let creator = create::Creator {
        client,
        journal,
        run_id,
        send_activation: settings.send_activation(),
        max_resends: settings.max_retries(),
        now: context.now,
    };
    let skipped = settings.without_refresh();
    let created = creator.create(&mut refreshed.checked.plan).await?;
    if created == 0 {
        return Ok(());
    }
    let Some(directory) = refreshed.checked.directory.as_ref() else {
        return Ok(());
    };
    let read_at = tokio::time::Instant::now();
    let holdings = super::refresh::read_holdings(
        client,
        directory,
        &refreshed.checked.plan,
        context.today,
        &skipped,
    )
    .await
    .map_err(super::check::api_error(client))?;
    refreshed.holdings = Arc::new(holdings);
    refreshed.read_at = read_at;
    Ok(())
}

/// Where and how a run's writes go.
struct Execution<'a> {
    client: &'a Client,
    journal: &'a Journal,
    run_id: &'a str,
    options: &'a ApplyOptions,
    /// A canary's rows (`--limit`), as decided before anyone was created.
    within: Option<&'a std::collections::HashSet<usize>>,
}

/// Assigns the onboarding packs, runs the workers over the valid rows with progress,
/// then verifies what they wrote; returns one line per sheet row (invalid rows as they
/// were planned).
async fn execute(
    refreshed: &Refreshed,
    context: &Context,
    execution: Execution<'_>,
    decided: Option<Vec<Vec<super::decide::Decision>>>,
) -> Result<Vec<UserLine>, Error> {
    let Execution {
        client,
        journal,
        run_id,
        options,
        within,
    } = execution;
    let plan = &refreshed.checked.plan;
    let settings = &refreshed.checked.inputs.settings;
    // A person not created has no user to write to.
    let rows: Vec<&PlanRow> = plan
        .valid_rows()
        .filter(|r| {
            r.person
                .as_ref()
                .is_none_or(|p| matches!(p.state, crate::plan::Creation::Created(_)))
        })
        .collect();
    // Decided before, when nobody was created since (then `rows` are the valid rows).
    let decisions = match decided {
        Some(decided) => decided,
        None => rows
            .iter()
            .map(|row| refreshed.decide(Some(journal), row, context.allow_overwrite))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let pool_options = pool::PoolOptions {
        concurrency: settings.concurrency(),
        max_errors: options.max_errors,
        limit: options.limit,
    };
    let progress = progress(client, rows.len(), options);
    log_start(
        client,
        refreshed.checked.company(),
        run_id,
        rows.len(),
        plan.assignment_count(),
    );
    let verified = verified_kinds(settings, options.verify);
    let fresh = refreshed
        .checked
        .directory
        .as_ref()
        .map(|directory| fresh_holdings(refreshed, context, directory, &rows));
    let none = packs::PackStage::default();
    let run = pool::Run {
        client,
        journal,
        run_id,
        options: &pool_options,
        progress: &progress,
        verified: &verified,
        fresh: fresh.as_ref(),
        packs: &none,
        within,
    };
    // Packs first, all together: one request per pack per 500 users.
    let pack_stage = packs::assign(&run, &rows, &decisions, within).await;
    let run = pool::Run {
        packs: &pack_stage,
        ..run
    };
    let executed = pool::execute_with_ticks(&run, &rows, &decisions).await;
    progress.finish();
    // Interrupted, verify only marks what was not seen as unverified.
    let executed = match &refreshed.checked.directory {
        Some(directory) if !verified.is_empty() => {
            verify::verify(&run, directory, &rows, executed, settings.verify_patience()).await
        }
        _ => executed,
    };
    let mut executed = executed.into_iter().peekable();
    let users = plan
        .rows
        .iter()
        .map(|row| {
            executed
                .next_if(|line| line.index == row.index)
                .unwrap_or_else(|| UserLine::planned(row))
        })
        .collect();
    Ok(users)
}

/// The kinds whose writes are read back: none with `--no-verify`; kinds not read before
/// writing (`--without-refresh`) cannot be read back either, and the answer is the word.
fn verified_kinds(
    settings: &crate::config::Settings,
    verify: bool,
) -> std::collections::BTreeSet<Kind> {
    let skipped = settings.without_refresh();
    match verify {
        true => [Kind::TimeOff, Kind::PayRule, Kind::OnboardingPack]
            .into_iter()
            .filter(|k| !skipped.contains(k))
            .collect(),
        false => std::collections::BTreeSet::new(),
    }
}

/// What the rows' users hold, as refreshed, read again when older than allowed.
fn fresh_holdings<'a>(
    refreshed: &Refreshed,
    context: &Context,
    directory: &'a crate::resolve::Directory,
    rows: &'a [&'a PlanRow],
) -> fresh::Fresh<'a> {
    let settings = &refreshed.checked.inputs.settings;
    fresh::Fresh::new(
        directory,
        rows,
        Arc::clone(&refreshed.holdings),
        refreshed.read_at,
        fresh::FreshOptions {
            today: context.today,
            now: context.now,
            skipped: settings.without_refresh(),
            max_age: settings.refresh_max_age(),
            allow_overwrite: context.allow_overwrite,
        },
    )
}

fn progress(client: &Client, users: usize, options: &ApplyOptions) -> Progress {
    let probe = {
        let client = client.clone();
        Box::new(move || client.paused()) as crate::progress::PauseProbe
    };
    Progress::new(
        users as u64,
        options.show_progress,
        options.color,
        Some(probe),
    )
}

fn log_start(
    client: &Client,
    company: Option<&Company>,
    run_id: &str,
    users: usize,
    assignments: usize,
) {
    let against = company.map_or_else(
        || client.base_url().to_owned(),
        |c| format!("{c} at {}", client.base_url()),
    );
    tracing::info!(
        event = "run",
        run_id,
        users,
        assignments,
        base_url = client.base_url(),
        company_id = company.map(|c| c.company_id.as_str()),
        company_name = company.map(|c| c.company_name.as_str()),
        "starting run {run_id}: {users} users, {assignments} assignments, against {against}"
    );
}

/// Each valid row's lines as a run would start them (the journal settles what it already
/// holds), the cost, and a report of `planned` rows. Sends no write. `rehearsal`: the
/// account is the simulator (`plan --sandbox`).
pub fn dry_run(
    refreshed: &Refreshed,
    context: &Context,
    rehearsal: bool,
) -> Result<(Report, Estimate), Error> {
    let started = jiff::Timestamp::now();
    let checked = &refreshed.checked;
    let settings = &checked.inputs.settings;
    // The journal is keyed by base URL: it only speaks for a plan checked online.
    let state = settings.state();
    let journal = match checked.client() {
        Some(_) if state.exists() => Some(Journal::open(&state).map_err(Error::journal)?),
        _ => None,
    };
    let interrupted = refreshed.interrupted();
    let users: Vec<UserLine> = checked
        .plan
        .rows
        .iter()
        .map(|row| {
            let decisions = refreshed.decide(journal.as_ref(), row, context.allow_overwrite)?;
            let mut lines = decided_lines(row, &decisions);
            if interrupted {
                lines.iter_mut().for_each(AssignmentLine::interrupted);
            }
            Ok(UserLine::new(row, lines))
        })
        .collect::<Result<_, Error>>()?;
    let estimate = super::report::estimate(refreshed, &users);
    let client = checked.client();
    let exit = Exit::of_outcomes(client.and_then(|c| c.stop().get()), &users);
    let summary = Summary {
        mode: Mode::Plan.as_str(),
        offline: client.is_none(),
        rehearsal,
        assignments: estimate.assignments,
        requests_planned: estimate.requests(),
        requests_sent: client.map_or(0, Client::requests_sent),
        rate_limited: client.map_or(0, Client::rate_limited_count),
        quota_left: client.and_then(|c| c.day().remaining),
        exit_code: exit.code(),
        ..super::report::summary_of(checked, &users, started)
    };
    let (dir, run_id) = create_report_dir(settings, &crate::report::new_run_id())?;
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
