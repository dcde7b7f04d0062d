//! The subcommands: each parses what it needs, calls the pipeline, and renders what
//! comes back. The one place an error becomes a message and an exit code is [`dispatch`].

mod account;
mod history;
mod plan;
mod run;
mod snapshot;
mod verify;

use std::sync::Arc;

use crate::api::Stop;
use crate::cli::{Cli, Command, InputArgs};
use crate::console::Console;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{Checked, Context, Inputs, Observer, Refreshed};

/// What every command that talks to Connecteam shares: the printer, and the stop flag
/// the signal handler sets.
pub(crate) struct Session<'a> {
    pub console: &'a Console,
    pub stop: &'a Arc<Stop>,
    pub output: crate::cli::OutputFormat,
    pub color: bool,
}

impl Session<'_> {
    /// A plan's or run's result: the text for people, or with `--output json` the
    /// summary.json object alone on stdout (the text then goes to stderr).
    fn result(&self, summary: &crate::report::Summary, text: &str) {
        match self.output {
            crate::cli::OutputFormat::Text => self.console.out(text),
            crate::cli::OutputFormat::Json => {
                let json = serde_json::to_string_pretty(summary).unwrap_or_default();
                self.console.line(&json);
                self.console.out_err(text);
            }
        }
    }
}

/// Runs one command and decides the exit code.
pub async fn dispatch(cli: Cli, console: &Console) -> Exit {
    let config = cli.config.as_deref();
    let show_progress = !cli.no_progress && cli.quiet == 0;
    let stop = Arc::new(Stop::default());
    let signals = match &cli.command {
        Command::Sandbox(_) => None, // it serves until the signal, and then ends
        _ => Some(tokio::spawn(
            crate::signal::Signals::listen().interrupt(Arc::clone(&stop)),
        )),
    };
    let session = Session {
        console,
        stop: &stop,
        output: cli.output,
        color: cli.color.on_stderr(),
    };
    let result = match cli.command {
        Command::Check(args) => check(&args, config, &stop, console),
        Command::Plan(args) => plan::plan(&args, config, &session).await,
        Command::Verify(args) => verify::verify(&args.input, config, &session).await,
        Command::Snapshot(args) => snapshot::snapshot(&args, config, &session).await,
        Command::Run(args) => run::run(&args, config, show_progress, &session).await,
        Command::Policies(args) => account::policies(&args, config, &session).await,
        Command::History(args) => history::history(&args, config, console),
        Command::Sandbox(args) => account::sandbox(&args, console).await,
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut crate::cli::command(), "ct-onboard", &mut text);
            console.out(&String::from_utf8_lossy(&text));
            Ok(Exit::Success)
        }
        Command::Man { dir: Some(dir) } => std::fs::create_dir_all(&dir)
            .and_then(|()| clap_mangen::generate_to(crate::cli::command(), &dir))
            .map_err(|e| Error::Local(format!("cannot write man pages in {}: {e}", dir.display())))
            .map(|()| {
                console.line(&format!("Man pages written to {}", dir.display()));
                Exit::Success
            }),
        Command::Man { dir: None } => {
            let mut text = Vec::new();
            clap_mangen::Man::new(crate::cli::command())
                .render(&mut text)
                .map_err(|e| Error::Local(format!("cannot render the man page: {e}")))
                .map(|()| {
                    console.out(&String::from_utf8_lossy(&text));
                    Exit::Success
                })
        }
    };
    if let Some(signals) = signals {
        signals.abort();
    }
    // A signal heard while the report was written: it is whole, and the run says 130.
    let result = match result {
        Ok(exit)
            if exit != Exit::AuthRefused
                && stop.get() == Some(crate::api::StopReason::Interrupted) =>
        {
            Ok(Exit::Interrupted)
        }
        other => other,
    };
    result.unwrap_or_else(|error| {
        console.fail(&error);
        error.exit()
    })
}

/// `check`: offline validation only. Exit 0 or 2.
fn check(
    args: &InputArgs,
    config: Option<&std::path::Path>,
    stop: &Arc<Stop>,
    console: &Console,
) -> Result<Exit, Error> {
    let context = Context::new(args, false, config, stop);
    let inputs = Inputs::load(&context)?;
    let plan = inputs.plan(&context);
    let problems: Vec<_> = plan.all_problems().cloned().collect();
    if !problems.is_empty() {
        return Err(Error::invalid(problems));
    }
    console.line(&format!(
        "{}: {} rows valid, {} assignments for {} employee types. (Offline check: policies and users are checked by `plan` with an API key.)",
        inputs.sheet.file,
        plan.rows.len(),
        plan.assignment_count(),
        inputs.manifest.types.len()
    ));
    Ok(Exit::Success)
}

impl Observer for Session<'_> {
    /// Shows what checking found but did not stop for.
    fn checked(&self, checked: &Checked) {
        for warning in &checked.warnings {
            self.console.warn(warning);
        }
        for problem in checked.skipped() {
            self.console.note(&format!("skipped: {problem}"));
        }
    }

    /// Says which parts of the account were not read, and which users could not be.
    fn refreshed(&self, refreshed: &Refreshed) {
        // Offline, the plan's heading says so; interrupted, it was said as the signal came.
        if refreshed.checked.client().is_none() || refreshed.interrupted() {
            return;
        }
        for kind in refreshed.holdings.skipped() {
            self.console.warn(format!(
                "--without-refresh {}: what users hold of it is not read, so those assignments are decided by the journal alone (any ct-onboard did not itself make is held back)",
                kind.as_str()
            ));
        }
        let doubts = refreshed.holdings.doubts();
        if !doubts.is_empty() {
            self.console.warn(format!(
                "what {} users hold could not be read (rows that did not check out): their assignments are held back as conflicts (see assignments.csv)",
                doubts.len()
            ));
        }
    }
}

/// Where a plan or run goes: the account, or a rehearsal seeded from `--seed`.
fn against(rehearsal: &crate::cli::RehearsalArgs) -> crate::pipeline::Against {
    match rehearsal.sandbox {
        true => crate::pipeline::Against::Rehearsal {
            seed: rehearsal.seed.clone(),
        },
        false => crate::pipeline::Against::Account,
    }
}
