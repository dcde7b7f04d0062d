//! `verify`: does the account hold what the sheet and manifest say? Writes nothing.

use std::path::Path;

use super::Session;
use crate::cli::InputArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::holdings::Change;
use crate::pipeline::{self, Inputs, OnInterrupt, Target};

pub(crate) async fn verify(
    args: &InputArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let console = session.console;
    let inputs = Inputs::load(args, config)?;
    let client =
        pipeline::connect(&inputs.settings, Target::Settings, session.stop)?.ok_or_else(|| {
            Error::Usage(
                "verify reads the account: set CONNECTEAM_API_KEY or pass --api-key-file FILE"
                    .into(),
            )
        })?;
    let checked = pipeline::check(inputs, args, Some(client), OnInterrupt::Fail).await?;
    super::show_checked(&checked, console);
    let refreshed = pipeline::refresh(checked, args, OnInterrupt::Fail).await?;
    let mut differing = 0usize;
    let mut assignments = 0usize;
    for row in refreshed.checked.plan.valid_rows() {
        for (a, diff) in row.assignments.iter().zip(refreshed.diffs(row)) {
            assignments += 1;
            // A balance moves with use and accrual: holding the policy is what counts.
            if matches!(diff.change, Change::Unchanged | Change::SetBalance) {
                continue;
            }
            differing += 1;
            let (id, name) = a.policy_id_and_name();
            let holds = if diff.holds.is_empty() {
                "nothing of it".to_owned()
            } else {
                diff.holds
            };
            console.line(&format!(
                "row {} (user {}): {} {} \"{name}\" is not held; the account holds {holds}",
                row.number,
                row.user_id.map_or_else(|| "?".into(), |u| u.to_string()),
                a.kind(),
                id,
            ));
        }
    }
    let base_url = refreshed
        .checked
        .client
        .as_ref()
        .map_or("", |c| c.base_url());
    if differing == 0 {
        console.line(&format!(
            "{base_url} holds all {assignments} assignments of {}.",
            refreshed.checked.inputs.sheet.file
        ));
        Ok(Exit::Success)
    } else {
        console.line(&format!(
            "{differing} of {assignments} assignments are not held in {base_url}."
        ));
        Ok(Exit::SomeFailed)
    }
}
