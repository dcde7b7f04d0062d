//! `run` and `run --sandbox`: every assignment made; the one-line summary printed.

use std::path::Path;

use super::Session;
use crate::cli::RunArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, ApplyOptions, Inputs, OnInterrupt, Report, Target};
use crate::report::{AssignmentStatus, count_statuses};

pub(crate) async fn run(
    args: &RunArgs,
    config: Option<&Path>,
    show_progress: bool,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let console = session.console;
    if args.dry_run {
        let plan = crate::cli::PlanArgs {
            input: args.input.clone(),
            out: None,
            account: args.account.clone(),
            rehearsal: args.rehearsal.clone(),
        };
        return super::plan::plan(&plan, config, session).await;
    }
    let rehearsing = args.rehearsal.sandbox;
    if args.plan.is_some() && rehearsing {
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
            pipeline::lock(
                &args.input.settings,
                config,
                args.lock_timeout,
                session.stop,
            )
            .await?,
        ),
    };
    let (checked, rehearsal) = match &args.plan {
        Some(saved) => (
            pipeline::from_saved_plan(saved, &args.input, config, session.stop).await?,
            None,
        ),
        None => {
            let inputs = Inputs::load(&args.input, config)?;
            let rehearsal = match rehearsing {
                true => Some(super::rehearsal(&args.rehearsal, &inputs, &args.input).await?),
                false => None,
            };
            let target = rehearsal
                .as_ref()
                .map_or(Target::Settings, |r| Target::Sandbox(r.sandbox.url_str()));
            let client = pipeline::connect(&inputs.settings, target, session.stop)?;
            (
                pipeline::check(inputs, &args.input, client, OnInterrupt::Report).await?,
                rehearsal,
            )
        }
    };
    super::show_checked(&checked, console);
    let refreshed = pipeline::refresh(checked, &args.input, OnInterrupt::Report).await?;
    super::show_unknown(&refreshed, console);
    let options = ApplyOptions {
        sandbox: rehearsal.is_some(),
        limit: args.limit,
        max_errors: args.max_errors,
        allow_overwrite: args.account.allow_overwrite,
        verify: !args.no_verify,
        show_progress,
        color: session.color,
        today: pipeline::today(&args.input),
    };
    let report = pipeline::apply(refreshed, &options).await?;
    let mut text = one_line(&report) + "\n";
    if let Some(rehearsal) = &rehearsal {
        let state = rehearsal.sandbox.snapshot();
        text += &format!(
            "Rehearsal against a simulated account seeded from {}: it now holds {} time-off and {} pay-rule \
             assignments. Nothing reached Connecteam.\n",
            rehearsal.seeded_from,
            state.time_off_assignments.len(),
            state.pay_rule_assignments.len()
        );
    }
    session.result(&report.summary, &text);
    Ok(report.exit)
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
