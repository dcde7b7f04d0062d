//! `plan` and `run --dry-run`: validate, show the plan, write a report of `planned` rows.

use std::path::Path;

use super::Session;
use crate::cli::PlanArgs;
use crate::config::Settings;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Context};
use crate::report::Estimate;

pub(crate) async fn plan(
    plan: &PlanArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let args = &plan.input;
    let context = Context::new(args, plan.account.allow_overwrite, config, session.stop);
    let against = super::against(&plan.rehearsal);
    let planned = pipeline::plan(&context, &against, plan.out.as_deref(), session).await?;
    let mut text = render(
        &planned.estimate,
        &context.settings,
        planned.invalid_rows,
        planned.checked_at.as_deref(),
        planned.report.summary.company().as_deref(),
    );
    text = insert_after_heading(
        &text,
        &format!(
            "  today:        {} in {}\n",
            context.today,
            context.settings.time_zone_name()
        ),
    );
    text += &format!("Report: {}\n", planned.report.dir.display());
    if let Some(rehearsal) = &planned.rehearsal {
        text += &format!(
            "Rehearsal against a simulated account seeded from {}. Nothing reached Connecteam.\n",
            rehearsal.seeded_from
        );
    }
    if planned.interrupted {
        text += "Interrupted before the plan was complete: rows not planned are `not_attempted`. Nothing was sent.\n";
        if plan.out.is_some() {
            text += "The plan was not saved: an interrupted plan is not one to apply.\n";
        }
    }
    session.result(&planned.report.summary, &text);
    if let Some(out) = &planned.saved {
        session.console.line(&format!(
            "Plan saved to {}: apply exactly it with `ct-onboard run {} --plan {}`",
            out.display(),
            args.hires.display(),
            out.display()
        ));
    }
    Ok(planned.report.exit)
}

/// The text with a line put right after its first (the heading).
fn insert_after_heading(text: &str, line: &str) -> String {
    match text.split_once('\n') {
        Some((heading, rest)) => format!("{heading}\n{line}{rest}"),
        None => format!("{text}\n{line}"),
    }
}

/// The plan as printed; `checked_at` is the base URL when it was checked online.
fn render(
    estimate: &Estimate,
    settings: &Settings,
    invalid_rows: usize,
    checked_at: Option<&str>,
    company: Option<&str>,
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
    let checked = |url: &str| match company {
        Some(company) => format!("Plan for {company}: policies and users checked against {url}"),
        None => format!("Plan (policies and users checked against {url})"),
    };
    let mut out = match checked_at {
        Some(url) if !settings.without_refresh().is_empty() => format!(
            "{}; not read before writing: {} (--without-refresh), decided by the journal\n",
            checked(url),
            settings
                .without_refresh()
                .into_iter()
                .map(crate::plan::Kind::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(url) => format!("{}\n", checked(url)),
        None => "Plan (offline: no API key, so policies, users and emails are not checked against Connecteam)\n"
            .to_owned(),
    };
    let invalid = if invalid_rows > 0 {
        format!(" ({invalid_rows} invalid rows skipped)")
    } else {
        String::new()
    };
    out += &format!("  users:        {}{invalid}\n", estimate.users);
    if estimate.people_to_create > 0 {
        out += &format!(
            "  new people:   {} to create in Connecteam ({} of up to 25), activation SMS {}\n",
            estimate.people_to_create,
            match estimate.creations {
                1 => "1 request".to_owned(),
                n => format!("{n} requests"),
            },
            match settings.send_activation() {
                true => "sent (--send-activation)",
                false => "not sent",
            }
        );
    }
    // Time off and pay rules always (the two kinds every manifest knows), packs when any.
    let mut kinds = vec![
        format!("{} time-off", estimate.time_off),
        format!("{} pay-rule", estimate.pay_rule),
    ];
    if estimate.onboarding_pack > 0 {
        if estimate.time_off + estimate.pay_rule == 0 {
            kinds.clear();
        }
        kinds.push(format!("{} onboarding pack", estimate.onboarding_pack));
    }
    out += &format!(
        "  assignments:  {} ({})\n",
        estimate.assignments,
        kinds.join(", ")
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
        "  requests:     {} ({}{}{}{} account and policy reads + {} user lookups{holdings_reads})\n",
        estimate.requests(),
        match (
            estimate.assignments - estimate.onboarding_pack,
            estimate.pack_writes
        ) {
            (0, 1..) => String::new(),
            (n, _) => format!("{n} assignments + "),
        },
        match estimate.pack_writes {
            0 => String::new(),
            1 => "1 to assign packs (up to 500 users a request) + ".to_owned(),
            n => format!("{n} to assign packs (up to 500 users a request) + "),
        },
        match estimate.creations {
            0 => String::new(),
            n => format!("{n} to create people + "),
        },
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
