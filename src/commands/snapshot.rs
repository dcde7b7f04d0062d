//! `snapshot`: the account as a sandbox seed, to rehearse a batch against a copy of it.
//! Read-only, paced and batched like every other read.

use std::path::Path;

use super::Session;
use crate::cli::{InputArgs, SnapshotArgs};
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Context};

pub(crate) async fn snapshot(
    args: &SnapshotArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let settings = pipeline::settings(&args.settings, config)?;
    // The sheet's users, archived ones and namesakes included, whatever their rows say.
    let context = args.hires.as_ref().map(|hires| {
        let input = InputArgs {
            hires: hires.clone(),
            sheet: args.sheet.clone(),
            allow_retroactive: true,
            skip_invalid: true,
            today: args.today,
            now: args.now,
            settings: args.settings.clone(),
        };
        Context::new(&input, false, config, session.stop)
    });
    let snapshot = pipeline::snapshot(&settings, context.as_ref(), &args.out, session.stop).await?;
    let (out, seed) = (&snapshot.out, &snapshot.seed);
    session.console.line(&format!(
        "Wrote {}: {} users, {} time-off and {} pay-rule policies, {} onboarding packs, {} holdings. It holds personal data, \
         so it is readable by you only (0600); keep it that way. Rehearse with: \
         ct-onboard run HIRES --sandbox --seed {}",
        out.display(),
        seed.users.len(),
        seed.policy_types.iter().map(|t| t.policies.len()).sum::<usize>(),
        seed.pay_rule_policies.len(),
        seed.packs.len(),
        seed.holdings.time_off.len() + seed.holdings.pay_rules.len() + seed.holdings.packs.len(),
        out.display()
    ));
    Ok(Exit::Success)
}
