//! `plan` and `run --dry-run`: validate, show the plan, write a report of `planned` rows.

use std::path::Path;

use super::Session;
use crate::cli::PlanArgs;
use crate::config::Settings;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Inputs, OnInterrupt, Target};
use crate::report::Estimate;

pub(crate) async fn plan(
    plan: &PlanArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let (args, account, out) = (&plan.input, &plan.account, plan.out.as_deref());
    let console = session.console;
    if out.is_some() && plan.rehearsal.sandbox {
        return Err(Error::Usage(
            "--out and --sandbox do not go together: a saved plan belongs to the account it was made for"
                .into(),
        ));
    }
    let inputs = Inputs::load(args, config)?;
    let rehearsal = match plan.rehearsal.sandbox {
        true => Some(super::rehearsal(&plan.rehearsal, &inputs, args).await?),
        false => None,
    };
    let target = rehearsal
        .as_ref()
        .map_or(Target::Settings, |r| Target::Sandbox(r.sandbox.url_str()));
    let client = pipeline::connect(&inputs.settings, target, session.stop)?;
    let checked = pipeline::check(inputs, args, client, OnInterrupt::Report).await?;
    super::show_checked(&checked, console);
    let refreshed = pipeline::refresh(checked, args, OnInterrupt::Report).await?;
    super::show_unknown(&refreshed, console);
    let (report, estimate) =
        pipeline::dry_run(&refreshed, account.allow_overwrite, rehearsal.is_some())?;
    let checked = &refreshed.checked;
    let checked_at = checked.client.as_ref().map(|c| c.base_url());
    let mut text = render(
        &estimate,
        &checked.inputs.settings,
        checked.invalid_rows(),
        checked_at,
    );
    text += &format!("Report: {}\n", report.dir.display());
    if let Some(rehearsal) = &rehearsal {
        text += &format!(
            "Rehearsal against a simulated account seeded from {}. Nothing reached Connecteam.\n",
            rehearsal.seeded_from
        );
    }
    if refreshed.interrupted() {
        text += "Interrupted before the plan was complete: rows not planned are `not_attempted`. Nothing was sent.\n";
        if out.is_some() {
            text += "The plan was not saved: an interrupted plan is not one to apply.\n";
        }
    }
    session.result(&report.summary, &text);
    if let Some(out) = out.filter(|_| !refreshed.interrupted()) {
        pipeline::save_plan(out, args, checked)?;
        console.line(&format!(
            "Plan saved to {}: apply exactly it with `ct-onboard run {} --plan {}`",
            out.display(),
            args.hires.display(),
            out.display()
        ));
    }
    Ok(report.exit)
}

/// The plan as printed; `checked_at` is the base URL when it was checked online.
fn render(
    estimate: &Estimate,
    settings: &Settings,
    invalid_rows: usize,
    checked_at: Option<&str>,
) -> String {
    let rate = settings.effective_rate_per_minute();
    #[expect(
        clippy::cast_precision_loss,
        reason = "request counts are far below 2^52"
    )]
    let (minutes, share) = (
        estimate.requests() as f64 / f64::from(rate),
        estimate.requests() as f64 * 100.0 / f64::from(settings.daily_quota()),
    );
    let mut out = match checked_at {
        Some(url) if !settings.without_refresh().is_empty() => format!(
            "Plan (policies and users checked against {url}; not read before writing: {} (--without-refresh), decided by the journal)\n",
            settings
                .without_refresh()
                .into_iter()
                .map(crate::plan::Kind::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(url) => format!("Plan (policies and users checked against {url})\n"),
        None => "Plan (offline: no API key, so policies, users and emails are not checked against Connecteam)\n"
            .to_owned(),
    };
    let invalid = if invalid_rows > 0 {
        format!(" ({invalid_rows} invalid rows skipped)")
    } else {
        String::new()
    };
    out += &format!("  users:        {}{invalid}\n", estimate.users);
    out += &format!(
        "  assignments:  {} ({} time-off, {} pay-rule)\n",
        estimate.assignments, estimate.time_off, estimate.pay_rule
    );
    if estimate.already_done + estimate.conflicts > 0 {
        out += &format!(
            "  settled:      {} already held (not sent again), {} in conflict (left alone; --allow-overwrite sends them)\n",
            estimate.already_done, estimate.conflicts
        );
    }
    if checked_at.is_some() {
        out += &render_changes(estimate);
    }
    let holdings_reads = match checked_at {
        Some(_) => format!(
            " + {} reads of what users hold + {} to verify",
            estimate.refresh_reads, estimate.verify_reads
        ),
        None => String::new(),
    };
    out += &format!(
        "  requests:     {} ({} assignments + {} policy reads + {} user lookups{holdings_reads})\n",
        estimate.requests(),
        estimate.assignments,
        estimate.policy_reads,
        estimate.user_lookups,
    );
    out += &format!(
        "  time:         about {} at {rate} requests/min ({}/min less {}% reserve)\n",
        human_minutes(minutes),
        settings.rate_per_minute(),
        settings.quota_reserve_percent()
    );
    out += &format!(
        "  daily quota:  {share:.1}% of {}\n",
        settings.daily_quota()
    );
    out
}

/// The changes line: how many of each, guarded ones called out.
fn render_changes(estimate: &Estimate) -> String {
    let counts: Vec<String> = estimate
        .changes
        .iter()
        .map(|(change, n)| format!("{n} {}", change.as_str()))
        .collect();
    let mut out = format!("  changes:      {}\n", counts.join(", "));
    if estimate.guarded > 0 {
        out += &format!(
            "  guarded:      {} would lose what users hold: not sent (see assignments.csv; --allow-overwrite sends them)\n",
            estimate.guarded
        );
    }
    if estimate.guarded_unknown > 0 {
        out += &format!(
            "  in doubt:     {} where what the user holds could not be read: not sent (see assignments.csv; --allow-overwrite sends them)\n",
            estimate.guarded_unknown
        );
    }
    out
}

fn human_minutes(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.0} s", (minutes * 60.0).ceil())
    } else if minutes < 120.0 {
        format!("{:.0} min", minutes.ceil())
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}
