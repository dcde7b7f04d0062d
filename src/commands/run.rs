//! `run` and `run --sandbox`: every assignment made; the one-line summary printed.

use std::path::Path;

use super::Session;
use crate::cli::RunArgs;
use crate::console::Console;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, ApplyOptions, Inputs, Report, Target};
use crate::report::{AssignmentStatus, count_statuses};
use crate::sandbox::{Sandbox, Seed};

/// The seed `run --sandbox` uses, relative to the working directory.
pub const SANDBOX_SEED: &str = "samples/sandbox.yaml";

pub(crate) async fn run(
    args: &RunArgs,
    config: Option<&Path>,
    show_progress: bool,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let console = session.console;
    if args.dry_run {
        return super::plan::plan(&args.input, &args.account, config, None, session).await;
    }
    if args.plan.is_some() && args.sandbox {
        return Err(Error::Usage(
            "--plan and --sandbox do not go together: a saved plan belongs to the account it was made for"
                .into(),
        ));
    }
    let _lock = match args.sandbox {
        true => None,
        false => Some(pipeline::lock(&args.input.settings, config)?),
    };
    let sandbox = match args.sandbox {
        true => Some(start_sandbox(console).await?),
        false => None,
    };
    let checked = match &args.plan {
        Some(saved) => pipeline::from_saved_plan(saved, &args.input, config, session.stop).await?,
        None => {
            let inputs = Inputs::load(&args.input, config)?;
            let target = sandbox
                .as_ref()
                .map_or(Target::Settings, |s| Target::Sandbox(s.url_str()));
            let client = pipeline::connect(&inputs.settings, target, session.stop)?;
            pipeline::check(inputs, &args.input, client).await?
        }
    };
    super::show_checked(&checked, console);
    let refreshed = pipeline::refresh(checked, &args.input, args.account.require_refresh).await?;
    super::show_unknown(&refreshed, console);
    let options = ApplyOptions {
        sandbox: sandbox.is_some(),
        limit: args.limit,
        max_errors: args.max_errors,
        allow_overwrite: args.account.allow_overwrite,
        verify: !args.no_verify,
        show_progress,
    };
    let report = pipeline::apply(refreshed, &options).await?;
    console.line(&one_line(&report));
    if let Some(sandbox) = &sandbox {
        let state = sandbox.snapshot();
        console.line(&format!(
            "The sandbox now holds {} time-off and {} pay-rule assignments; nothing left this machine.",
            state.time_off_assignments.len(),
            state.pay_rule_assignments.len()
        ));
    }
    Ok(report.exit)
}

async fn start_sandbox(console: &Console) -> Result<Sandbox, Error> {
    let seed = Seed::from_file(Path::new(SANDBOX_SEED)).map_err(|p| Error::Invalid {
        problems: vec![p],
        hint: Some(format!(
            "(run --sandbox is seeded from {SANDBOX_SEED}, relative to the current folder)"
        )),
    })?;
    let sandbox = Sandbox::start(seed, "127.0.0.1:0".parse().expect("a literal address"))
        .await
        .map_err(|e| Error::Local(format!("cannot start the sandbox: {e}")))?;
    console.note(&format!(
        "Sandbox: an in-process Connecteam simulator at {} (seeded from {SANDBOX_SEED})",
        sandbox.url()
    ));
    Ok(sandbox)
}

fn one_line(report: &Report) -> String {
    let summary = &report.summary;
    let outcomes: Vec<String> = summary
        .outcomes
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let statuses = count_statuses(&report.users);
    let count = |status| statuses.get(&status).copied().unwrap_or(0);
    let quota = summary
        .quota_left
        .map_or_else(String::new, |q| format!(", {q} requests left today"));
    format!(
        "{} users: {}; {} assignments done, {} already done, {} in conflict, {} failed; {} requests, {} rate-limited, {} retries{quota}; {:.1} s. Report: {}",
        report.users.len(),
        outcomes.join(", "),
        count(AssignmentStatus::Done),
        count(AssignmentStatus::Skipped),
        count(AssignmentStatus::Conflict),
        count(AssignmentStatus::Failed),
        summary.requests_sent,
        summary.rate_limited,
        summary.retries,
        summary.duration_secs,
        report.dir.display()
    )
}
