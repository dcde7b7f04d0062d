//! `verify`: does the account hold what the sheet and manifest say? Writes nothing.

use std::path::Path;

use super::Session;
use crate::cli::InputArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::pipeline::{self, Context};

pub(crate) async fn verify(
    args: &InputArgs,
    config: Option<&Path>,
    session: &Session<'_>,
) -> Result<Exit, Error> {
    let context = Context::new(args, false, config, session.stop);
    let verified = pipeline::verify(&context, session).await?;
    for d in &verified.differences {
        let holds = match d.holds.as_str() {
            "" => "the account holds nothing of it".to_owned(),
            crate::holdings::NOT_ON_PACK => "the user is not on the pack".to_owned(),
            holds => format!("the account holds {holds}"),
        };
        session.console.line(&format!(
            "row {} (user {}): {} {} \"{}\" is not held; {holds}",
            d.row,
            d.user_id.map_or_else(|| "?".into(), |u| u.to_string()),
            d.kind,
            d.policy_id,
            d.policy_name,
        ));
    }
    for p in &verified.people {
        session
            .console
            .line(&format!("row {} (user {}): {}", p.row, p.user_id, p.what));
    }
    if verified.people_checked > 0 && verified.people.is_empty() {
        session.console.line(&format!(
            "{} people ct-onboard created are in the account with the sheet's names and phones.",
            verified.people_checked
        ));
    }
    if !verified.people.is_empty() && verified.differences.is_empty() {
        session.console.line(&format!(
            "{} of {} people ct-onboard created differ in {}.",
            verified.people.len(),
            verified.people_checked,
            verified.base_url
        ));
        Ok(Exit::SomeFailed)
    } else if verified.differences.is_empty() {
        session.console.line(&format!(
            "{} holds all {} assignments of {}.",
            verified.base_url, verified.assignments, verified.sheet
        ));
        Ok(Exit::Success)
    } else {
        session.console.line(&format!(
            "{} of {} assignments are not held in {}.",
            verified.differences.len(),
            verified.assignments,
            verified.base_url
        ));
        Ok(Exit::SomeFailed)
    }
}
