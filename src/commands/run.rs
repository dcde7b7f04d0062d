//! `run` and `run --sandbox`: every assignment made, through the throttle and workers.

use std::path::Path;
use std::sync::Arc;

use super::plan::{Prepared, Target, planned_line, prepare};
use super::write_report_in;
use crate::cli::RunArgs;
use crate::config::Settings;
use crate::exec::{ExecOptions, ExecStats, Run, Stop, StopReason, execute};
use crate::exit::Exit;
use crate::journal::{Journal, LockError, StateLock};
use crate::plan::PlanRow;
use crate::progress::Progress;
use crate::report;
use crate::report::{Outcome, Summary, UserLine};
use crate::sandbox::{Sandbox, Seed};
use crate::throttle::Throttle;

/// The seed `run --sandbox` uses, relative to the working directory.
pub const SANDBOX_SEED: &str = "samples/sandbox.yaml";

pub(crate) async fn run_command(
    args: &RunArgs,
    config: Option<&Path>,
    show_progress: bool,
) -> Exit {
    if args.dry_run {
        return super::plan::dry_run(&args.input, config, None).await;
    }
    if args.plan.is_some() && args.sandbox {
        eprintln!(
            "error: --plan and --sandbox do not go together: a saved plan belongs to the account it was made for"
        );
        return Exit::Invalid;
    }
    let started = jiff::Timestamp::now();
    // One run at a time per journal: taken first, so a second cron run stops at once.
    let state = match Settings::load(config) {
        Ok(file) => args.input.settings.clone().or(file).state(),
        Err(_) => args.input.settings.state(), // the settings problem is reported below
    };
    let _lock = if args.sandbox {
        None
    } else {
        match StateLock::acquire(&state) {
            Ok(lock) => Some(lock),
            Err(LockError::Held(holder)) => {
                eprintln!(
                    "error: {} is in use by {holder}; this run stops without doing anything.",
                    state.display()
                );
                return Exit::Locked;
            }
            Err(LockError::Io(message)) => {
                eprintln!("error: {message}");
                return Exit::Invalid;
            }
        }
    };
    let sandbox = if args.sandbox {
        match start_sandbox().await {
            Ok(sandbox) => Some(sandbox),
            Err(exit) => return exit,
        }
    } else {
        None
    };
    let target = sandbox
        .as_ref()
        .map_or(Target::Settings, |s| Target::Sandbox(s.url_str()));
    let prepared = match &args.plan {
        Some(saved) => super::plan::load_saved_plan(saved, &args.input, config),
        None => prepare(&args.input, config, target).await,
    };
    let Prepared {
        inputs,
        plan,
        client,
        ..
    } = match prepared {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    let Some(client) = client else {
        eprintln!(
            "error: no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE. \
             To review without a key use --dry-run; to rehearse, --sandbox. Nothing was sent."
        );
        return Exit::Invalid;
    };

    let settings = &inputs.settings;
    // The sandbox is new each time, so its journal is too: the pipeline is the same,
    // and the real journal is not filled with a simulator's assignments.
    let scratch = tempfile::tempdir();
    let journal_path = match (&sandbox, &scratch) {
        (Some(_), Ok(dir)) => dir.path().join("sandbox-journal.db"),
        _ => settings.state(),
    };
    let journal = match Journal::open(&journal_path) {
        Ok(journal) => journal,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let (dir, run_id) = match report::create_run_dir(&settings.report_dir(), &report::new_run_id())
    {
        Ok(made) => made,
        Err(e) => {
            eprintln!(
                "error: cannot create a report folder under {}: {e}",
                settings.report_dir().display()
            );
            return Exit::Invalid;
        }
    };
    let mode = if sandbox.is_some() { "sandbox" } else { "run" };
    if let Err(message) = journal.start_run(&run_id, mode, client.base_url(), &inputs.sheet.file) {
        eprintln!("error: {message}");
        return Exit::Invalid;
    }
    let throttle = Throttle::new(
        settings.rate_per_minute(),
        settings.quota_reserve_percent(),
        settings.daily_quota(),
    );
    throttle.observe(&client.last_limits());
    let rows: Vec<&PlanRow> = plan.valid_rows().collect();
    let options = ExecOptions {
        concurrency: settings.concurrency(),
        max_retries: settings.max_retries(),
        max_errors: args.max_errors,
        limit: args.limit,
        backoff_base: settings.retry_backoff(),
        reapply: args.reapply,
    };
    let stop = Arc::new(Stop::default());
    let stats = ExecStats::default();
    let progress = Progress::new(rows.len() as u64, show_progress);
    let signals = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            super::wait_for_stop_signal().await;
            eprintln!("interrupted: finishing the requests in flight, starting no new ones…");
            stop.set(StopReason::Interrupted);
        }
    });
    tracing::info!(
        "starting: {} users, {} assignments, against {}",
        rows.len(),
        plan.assignment_count(),
        client.base_url()
    );
    let run = Run {
        client: &client,
        throttle: &throttle,
        journal: &journal,
        run_id: &run_id,
        options: &options,
        stop: &stop,
        stats: &stats,
    };
    let executed = execute(&run, &rows, &progress).await;
    signals.abort();
    progress.finish();
    let mut executed = match executed {
        Ok(lines) => lines.into_iter().peekable(),
        Err(message) => {
            eprintln!("error: {message}; nothing was sent");
            return Exit::Invalid;
        }
    };

    // Every sheet row once: executed rows, and rows left out as invalid.
    let users: Vec<UserLine> = plan
        .rows
        .iter()
        .map(
            |row| match executed.next_if(|line| line.index == row.index) {
                Some(line) => line,
                None => planned_line(row),
            },
        )
        .collect();
    let exit = exit_code(stop.get(), &users);
    let day = throttle.day();
    let mut summary = Summary {
        mode: if sandbox.is_some() { "sandbox" } else { "run" },
        assignments: plan.assignment_count(),
        requests_sent: client.requests_sent(),
        rate_limited: client.rate_limited_count(),
        retries: stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        quota_left: day.remaining,
        quota_resets_at: users
            .iter()
            .any(|u| u.outcome == Outcome::Deferred)
            .then(|| {
                day.reset
                    .and_then(|r| jiff::Timestamp::from_second(r.cast_signed()).ok())
                    .map(|t| t.to_string())
            })
            .flatten(),
        exit_code: exit.code(),
        ..Summary::new(&inputs, &users, started)
    };
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(o, n)| format!("{}: {n}", o.as_str()))
        .collect();
    if let Err(message) = journal.finish_run(&run_id, exit.code(), &outcomes.join(", ")) {
        eprintln!("error: {message}");
    }
    if let Err(e) = write_report_in(&dir, &run_id, &inputs, &users, &mut summary) {
        eprintln!("error: cannot write the report in {}: {e}", dir.display());
        return if exit == Exit::Success {
            Exit::SomeFailed
        } else {
            exit
        };
    }
    println!("{}", one_line(&summary, &users, &dir));
    if let Some(sandbox) = &sandbox {
        let state = sandbox.snapshot();
        println!(
            "The sandbox now holds {} time-off and {} pay-rule assignments; nothing left this machine.",
            state.time_off_assignments.len(),
            state.pay_rule_assignments.len()
        );
    }
    exit
}

async fn start_sandbox() -> Result<Sandbox, Exit> {
    let seed = Seed::from_file(Path::new(SANDBOX_SEED)).map_err(|p| {
        eprintln!("error: {p} (run --sandbox is seeded from {SANDBOX_SEED}, relative to the current folder)");
        Exit::Invalid
    })?;
    let sandbox = Sandbox::start(seed, "127.0.0.1:0".parse().expect("a literal address"))
        .await
        .map_err(|e| {
            eprintln!("error: cannot start the sandbox: {e}");
            Exit::SomeFailed
        })?;
    eprintln!(
        "Sandbox: an in-process Connecteam simulator at {} (seeded from {SANDBOX_SEED})",
        sandbox.url()
    );
    Ok(sandbox)
}

/// The exit code of a run: a refused key, then an interruption, then the quota, then
/// failures, decide it in that order.
pub fn exit_code(stop: Option<StopReason>, users: &[UserLine]) -> Exit {
    match stop {
        Some(StopReason::AuthRefused) => return Exit::AuthRefused,
        Some(StopReason::Interrupted) => return Exit::Interrupted,
        _ => {}
    }
    if users.iter().any(|u| u.outcome == Outcome::Deferred) {
        Exit::QuotaExhausted
    } else if users.iter().any(|u| {
        matches!(
            u.outcome,
            Outcome::Failed | Outcome::Partial | Outcome::Invalid | Outcome::Conflict
        )
    }) {
        Exit::SomeFailed
    } else {
        Exit::Success
    }
}

fn one_line(summary: &Summary, users: &[UserLine], dir: &Path) -> String {
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let count = |status: &str| {
        users
            .iter()
            .flat_map(|u| &u.assignments)
            .filter(|a| a.status == status)
            .count()
    };
    let quota = summary
        .quota_left
        .map_or_else(String::new, |q| format!(", {q} requests left today"));
    format!(
        "{} users: {}; {} assignments done, {} already done, {} in conflict, {} failed; {} requests, {} rate-limited, {} retries{quota}; {:.1} s. Report: {}",
        users.len(),
        outcomes.join(", "),
        count("done"),
        count("skipped"),
        count("conflict"),
        count("failed"),
        summary.requests_sent,
        summary.rate_limited,
        summary.retries,
        summary.duration_secs,
        dir.display()
    )
}
