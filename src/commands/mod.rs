//! What each subcommand does, from parsed arguments to an exit code.

mod account;
mod history;
mod plan;
mod run;

use std::path::Path;

use jiff::civil::Date;

use crate::api::{ApiError, ApiKey, Client, ErrorClass};
use crate::cli::{Cli, Command, InputArgs};
use crate::config::Settings;
use crate::exit::Exit;
use crate::input::{Columns, Sheet, read_sheet};
use crate::manifest::{Manifest, read_manifest};
use crate::plan::{Plan, PlanOptions, plan};
use crate::problem::Problem;
use crate::report::{self, Summary, UserLine};

pub use plan::Estimate;

/// Runs one command and decides the exit code.
pub async fn run(cli: Cli) -> Exit {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Check(args) => check(&args, config),
        Command::Plan(args) => plan::dry_run(&args.input, config, args.out.as_deref()).await,
        Command::Run(args) => {
            run::run_command(&args, config, !cli.no_progress && cli.quiet == 0).await
        }
        Command::Policies(args) => account::policies(&args, config).await,
        Command::History(args) => history::history(&args, config),
        Command::Sandbox(args) => account::sandbox(&args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "ct-onboard",
                &mut std::io::stdout(),
            );
            Exit::Success
        }
        Command::Man => match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
        {
            Ok(()) => Exit::Success,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success,
            Err(e) => {
                eprintln!("error: cannot write the man page: {e}");
                Exit::SomeFailed
            }
        },
    }
}

/// The inputs of a run, read and checked for shape (not yet planned).
pub struct Inputs {
    pub settings: Settings,
    pub manifest: Manifest,
    pub sheet: Sheet,
    pub columns: Columns,
}

/// Reads settings, manifest and sheet, collecting every problem before giving up.
pub fn load_inputs(args: &InputArgs, config: Option<&Path>) -> Result<Inputs, Vec<Problem>> {
    let file_settings = Settings::load(config).map_err(|p| vec![p])?;
    let settings = args.settings.clone().or(file_settings);
    let mut problems = settings.check();
    let manifest = read_manifest(&settings.manifest())
        .map_err(|mut p| problems.append(&mut p))
        .ok();
    let sheet = read_sheet(&args.hires, args.sheet.as_deref())
        .map_err(|p| problems.push(p))
        .ok();
    let columns = sheet.as_ref().and_then(|s| {
        Columns::find(&s.file, &s.headers, &settings.columns())
            .map_err(|mut p| problems.append(&mut p))
            .ok()
    });
    match (manifest, sheet, columns) {
        (Some(manifest), Some(sheet), Some(columns)) if problems.is_empty() => Ok(Inputs {
            settings,
            manifest,
            sheet,
            columns,
        }),
        _ => Err(problems),
    }
}

pub(crate) fn today(args: &InputArgs) -> Date {
    args.today.unwrap_or_else(|| jiff::Zoned::now().date())
}

pub fn plan_inputs(inputs: &Inputs, args: &InputArgs) -> Plan {
    let options = PlanOptions {
        today: today(args),
        allow_retroactive: args.allow_retroactive,
        date_format: inputs.settings.date_format.clone(),
    };
    plan(&inputs.sheet, &inputs.columns, &inputs.manifest, &options)
}

pub(crate) fn print_problems<'a>(problems: impl IntoIterator<Item = &'a Problem>) -> usize {
    let mut count = 0;
    for problem in problems {
        eprintln!("error: {problem}");
        count += 1;
    }
    count
}

pub(crate) fn stop_invalid(count: usize) -> Exit {
    eprintln!(
        "{count} problem{} found; nothing was sent.",
        if count == 1 { "" } else { "s" }
    );
    Exit::Invalid
}

/// `check`: offline validation only. Exit 0 or 2.
fn check(args: &InputArgs, config: Option<&Path>) -> Exit {
    let inputs = match load_inputs(args, config) {
        Ok(inputs) => inputs,
        Err(problems) => return stop_invalid(print_problems(&problems)),
    };
    let plan = plan_inputs(&inputs, args);
    let count = print_problems(plan.all_problems());
    if count > 0 {
        return stop_invalid(count);
    }
    println!(
        "{}: {} rows valid, {} assignments for {} employee types. (Offline check: policies and users are checked by `plan` with an API key.)",
        inputs.sheet.file,
        plan.rows.len(),
        plan.assignment_count(),
        inputs.manifest.types.len()
    );
    Exit::Success
}

/// The client for the configured base URL, if a key is set (`Ok(None)` if not).
pub(crate) fn connect(settings: &Settings) -> Result<Option<Client>, String> {
    let Some(key) = ApiKey::from_file_or_env(settings.api_key_file.as_deref())? else {
        return Ok(None);
    };
    let base_url = settings.base_url().map_err(|p| p.message)?;
    let timeout = std::time::Duration::from_secs(settings.request_timeout_secs());
    Client::new(&base_url, &key, timeout).map(Some)
}

/// Reports a failed read from Connecteam and picks the exit code.
pub(crate) fn api_failure(e: &ApiError) -> Exit {
    let status = e
        .status
        .map_or_else(String::new, |s| format!(" (HTTP {s})"));
    if e.class == ErrorClass::Auth {
        eprintln!(
            "error: Connecteam refused the API key{status}: {e}. Check the key and its permissions; nothing was sent."
        );
        return Exit::AuthRefused;
    }
    eprintln!("error: cannot read from Connecteam{status}: {e}. Nothing was sent.");
    Exit::SomeFailed
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

/// Creates the report folder and writes the report into it.
pub(crate) fn write_run_report(
    inputs: &Inputs,
    users: &[UserLine],
    summary: &mut Summary,
) -> std::io::Result<std::path::PathBuf> {
    let (dir, run_id) =
        report::create_run_dir(&inputs.settings.report_dir(), &report::new_run_id())?;
    write_report_in(&dir, &run_id, inputs, users, summary)?;
    Ok(dir)
}

/// Writes the report into a folder made earlier; fills in run ID, finish time, duration.
pub(crate) fn write_report_in(
    dir: &Path,
    run_id: &str,
    inputs: &Inputs,
    users: &[UserLine],
    summary: &mut Summary,
) -> std::io::Result<()> {
    let finished = jiff::Timestamp::now();
    run_id.clone_into(&mut summary.run_id);
    summary.finished_at = finished.to_string();
    summary.duration_secs = summary
        .started_at
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|started| (finished - started).total(jiff::Unit::Second).ok())
        .unwrap_or(0.0);
    report::write_report(dir, &inputs.sheet, users, summary)
}

impl Summary {
    /// The parts every report's summary shares; the caller fills in the rest.
    pub(crate) fn new(inputs: &Inputs, users: &[UserLine], started: jiff::Timestamp) -> Summary {
        Summary {
            run_id: String::new(),
            mode: "",
            offline: false,
            sheet: inputs.sheet.file.clone(),
            manifest: inputs.manifest.file.clone(),
            started_at: started.to_string(),
            finished_at: String::new(),
            duration_secs: 0.0,
            users: users.len(),
            outcomes: report::count_outcomes(users),
            assignments: 0,
            requests_planned: 0,
            requests_sent: 0,
            rate_limited: 0,
            retries: 0,
            quota_left: None,
            quota_resets_at: None,
            exit_code: 0,
        }
    }
}
