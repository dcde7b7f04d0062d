//! `run` and `run --sandbox`: every assignment made; the one-line summary printed.

use std::path::Path;

use super::Session;
use crate::cli::RunArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Context, Report, RunRequest};
use crate::report::{AssignmentStatus, count_statuses};

pub(crate) async fn run(
    args: &RunArgs,
    config: Option<&Path>,
    show_progress: bool,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    if args.dry_run {
        let plan = crate::cli::PlanArgs {
            input: args.input.clone(),
            out: None,
            account: args.account.clone(),
            rehearsal: args.rehearsal.clone(),
        };
        return super::plan::plan(&plan, config, session).await;
    }
    let context = Context::new(
        &args.input,
        args.account.allow_overwrite,
        config,
        session.stop,
    );
    let request = RunRequest {
        against: super::against(&args.rehearsal),
        saved_plan: args.plan.clone(),
        lock_timeout: args.lock_timeout,
        limit: args.limit,
        max_errors: args.max_errors,
        verify: !args.no_verify,
        show_progress,
        color: session.color,
    };
    let ran = pipeline::run(&context, &request, session).await?;
    let mut text = one_line(&ran.report) + "\n";
    if let Some(rehearsal) = &ran.rehearsal {
        let state = rehearsal.sandbox.snapshot();
        text += &format!(
            "Rehearsal against a simulated account seeded from {}: it now holds {} time-off, {} pay-rule \
             and {} onboarding pack assignments. Nothing reached Connecteam.\n",
            rehearsal.seeded_from,
            state.time_off_assignments.len(),
            state.pay_rule_assignments.len(),
            state.pack_assignments.len()
        );
    }
    session.result(&ran.report.summary, &text);
    Ok(ran.report.exit)
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
    let company = summary
        .company()
        .map_or_else(String::new, |c| format!("{c}: "));
    format!(
        "{company}{} users: {}; {} assignments done, {} already done, {} in conflict, {} failed; {} requests, {} rate-limited, {} retries{quota}; {:.1} s. Report: {}",
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
