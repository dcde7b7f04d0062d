//! Stage 6: the report of a plan or run written (users.csv, assignments.csv, failed.csv,
//! report.html, then summary.json), its summary logged, and the run's end journaled.

use std::path::{Path, PathBuf};

use super::{Checked, Inputs, Mode, Refreshed};
use crate::api::Client;
use crate::config::Settings;
use crate::error::Error;
use crate::exit::Exit;
use crate::holdings::Reads;
use crate::journal::Journal;
use crate::plan::Assignment;
use crate::report::{self, Estimate, Summary, UserLine};

/// Writes a run's report and journals its end: `summary.json` is written last, and the
/// journal records the run's end only after it, so `history` never claims a run whose
/// report is not there (74 when it cannot be written).
pub(super) fn finish_run(
    journal: &Journal,
    run_id: &str,
    inputs: &Inputs,
    users: &[UserLine],
    summary: Summary,
    shown: &Shown<'_>,
) -> Result<(Summary, PathBuf), Error> {
    let written = create_report_dir(&inputs.settings, run_id)
        .and_then(|(dir, id)| Ok((write_report(&dir, &id, inputs, users, summary, shown)?, dir)));
    let (summary, dir) = match written {
        Ok(written) => written,
        Err(e) => {
            let note = format!("the report could not be written: {e}");
            if let Err(message) = journal.finish_run(run_id, Exit::CannotWrite.code(), &note) {
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
    if let Err(message) = journal.finish_run(run_id, summary.exit_code, &outcomes.join(", ")) {
        tracing::error!("{message}");
    }
    log_summary(&summary);
    Ok((summary, dir))
}

/// A run's summary: what it did, what it cost, and how it ends.
pub(super) fn run_summary(
    checked: &Checked,
    client: &Client,
    users: &[UserLine],
    mode: Mode,
    started: jiff::Timestamp,
) -> Summary {
    let exit = Exit::of_outcomes(client.stop().get(), users);
    // Any assignment left for the quota's reset (its user's outcome may say unverified,
    // for an earlier write not read back).
    let deferred = users.iter().any(|u| {
        u.outcome == report::Outcome::Deferred
            || u.assignments
                .iter()
                .any(|a| a.status == report::AssignmentStatus::Deferred)
    });
    let day = client.day();
    Summary {
        mode: mode.as_str(),
        rehearsal: mode == Mode::Sandbox,
        assignments: checked.plan.assignment_count(),
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
        ..summary_of(checked, users, started)
    }
}

/// A run ID from the clock that neither the journal nor the report folder has yet
/// (`-2`, `-3`… when runs share a second).
pub(super) fn fresh_run_id(journal: &Journal, report_dir: &Path) -> Result<String, Error> {
    let base = report::new_run_id();
    for n in 1u32.. {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if !journal.has_run(&id).map_err(Error::journal)? && !report_dir.join(&id).exists() {
            return Ok(id);
        }
    }
    unreachable!("some suffix is free")
}

/// The run's report folder, named for its run ID (with a suffix if that is taken).
pub(super) fn create_report_dir(
    settings: &Settings,
    run_id: &str,
) -> Result<(PathBuf, String), Error> {
    let report_dir = settings.report_dir();
    report::create_run_dir(&report_dir, run_id).map_err(|e| {
        Error::Local(format!(
            "cannot create a report folder under {}: {e}",
            report_dir.display()
        ))
    })
}

/// What the report page shows beyond the lines: where, what it costs, how it went.
pub(super) struct Shown<'a> {
    pub account: Option<&'a str>,
    pub estimate: Option<&'a Estimate>,
    pub timeline: Option<&'a crate::api::Timeline>,
}

/// Writes the report files, with run ID, finish time and duration filled in.
pub(super) fn write_report(
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

/// The parts every report's summary shares; the caller fills in the rest.
pub(super) fn summary_of(
    checked: &Checked,
    users: &[UserLine],
    started: jiff::Timestamp,
) -> Summary {
    let inputs = &checked.inputs;
    let company = checked.company();
    Summary {
        run_id: String::new(),
        mode: "",
        offline: false,
        rehearsal: false,
        company_id: company.map(|c| c.company_id.clone()),
        company_name: company.map(|c| c.company_name.clone()),
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
        users_created: users.iter().filter(|u| u.user_action == "created").count(),
        users_to_create: users.iter().filter(|u| u.user_action == "create").count(),
        exit_code: 0,
    }
}

/// The summary as one log event: every count of `summary.json`.
pub(super) fn log_summary(summary: &Summary) {
    tracing::info!(
        event = "summary",
        run_id = %summary.run_id,
        mode = summary.mode,
        company_id = summary.company_id.as_deref(),
        company_name = summary.company_name.as_deref(),
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

/// What the plan will cost: its writes, and the reads before and after them.
pub(super) fn estimate(refreshed: &Refreshed, users: &[UserLine]) -> Estimate {
    let checked = &refreshed.checked;
    let mut estimate = Estimate::of(&checked.plan, users);
    if let Some(directory) = &checked.directory {
        estimate.refresh_reads = refreshed.reads;
        // People still to create get user IDs in the run, which then reads what everyone
        // holds again: counted with stand-in IDs, as many reads as the run will make.
        let stand_in = |row: &crate::plan::PlanRow| {
            row.user_id
                .or_else(|| row.person.as_ref().map(|_| u64::MAX / 2 - row.index as u64))
        };
        if estimate.people_to_create > 0 {
            let mut after = checked.plan.clone();
            for row in &mut after.rows {
                row.user_id = stand_in(row);
            }
            let skipped = checked.inputs.settings.without_refresh();
            estimate.refresh_reads +=
                Reads::refresh(&after, directory, refreshed.today, &skipped).requests();
        }
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
                    .filter_map(|(a, _)| Some((stand_in(row)?, a)))
            })
            .collect();
        if !to_send.is_empty() {
            estimate.verify_reads = Reads::verify(to_send, directory).requests();
        }
    }
    estimate
}
