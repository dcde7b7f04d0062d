//! Rehearsals: the in-process simulator a `--sandbox` plan or run talks to instead of
//! Connecteam, seeded from `--seed` or else from the batch itself.

use super::{Against, Context, Inputs, Target};
use crate::error::Error;
use crate::sandbox::{Limits, Sandbox, Seed};

/// A simulator for one rehearsal, and what it was seeded from.
pub struct Rehearsal {
    pub sandbox: Sandbox,
    pub seeded_from: String,
}

impl Rehearsal {
    pub fn target(&self) -> Target<'_> {
        Target::Sandbox(self.sandbox.url_str())
    }
}

/// Starts the simulator for a rehearsal (`None` against the account): seeded from
/// `--seed`, or else from this batch (every user of the sheet and policy of the manifest
/// exists). Its limits are the settings' unless the seed sets its own.
pub async fn start(
    against: &Against,
    context: &Context,
    inputs: &Inputs,
) -> Result<Option<Rehearsal>, Error> {
    let Against::Rehearsal { seed } = against else {
        return Ok(None);
    };
    let settings = &inputs.settings;
    let limits = Limits {
        per_minute: Some(u64::from(settings.rate_per_minute())),
        per_day: Some(u64::from(settings.daily_quota())),
        ..Limits::default()
    };
    let (seed, seeded_from) = match seed {
        Some(path) => {
            let seed = Seed::from_file(path).map_err(|p| Error::invalid(vec![p]))?;
            let seed = match seed.limits_set {
                true => seed,
                false => Seed { limits, ..seed },
            };
            (seed, path.display().to_string())
        }
        None => (
            Seed::for_batch(
                &inputs.manifest,
                &inputs.plan(context),
                limits,
                inputs.settings.create_missing(),
            ),
            format!("{} and {}", inputs.sheet.file, inputs.manifest.file),
        ),
    };
    let sandbox = Sandbox::start(seed, "127.0.0.1:0".parse().expect("a literal address"))
        .await
        .map_err(|e| Error::Local(format!("cannot start the simulator: {e}")))?;
    tracing::info!(
        "rehearsal: a simulated Connecteam account at {} seeded from {seeded_from}",
        sandbox.url()
    );
    Ok(Some(Rehearsal {
        sandbox,
        seeded_from,
    }))
}
