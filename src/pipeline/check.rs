//! Stage 2: the inputs checked against the account (when there is one) and planned: the
//! manifest's policies and the sheet's users resolved, invalid rows gated.

use super::{Account, Completion, Context, Inputs, OnInterrupt};
use crate::api::{ApiError, Client};
use crate::error::Error;
use crate::plan::Plan;
use crate::problem::Problem;
use crate::resolve::{Directory, UserDirectory, resolve_manifest, resolve_users};

/// The inputs checked against the account and planned.
pub struct Checked {
    pub inputs: Inputs,
    pub plan: Plan,
    pub account: Account,
    /// The account's policies, when read.
    pub directory: Option<Directory>,
    /// Worth a look, not fatal (a balance unit other than the policy's).
    pub warnings: Vec<Problem>,
    /// Whether a signal cut the account's reads short.
    pub completion: Completion,
    /// The users the sheet names, as the account knows them, when they were read.
    pub users: Option<UserDirectory>,
}

impl Checked {
    pub fn invalid_rows(&self) -> usize {
        self.plan.rows.iter().filter(|r| !r.is_valid()).count()
    }

    /// The problems of rows left out by `--skip-invalid`.
    pub fn skipped(&self) -> impl Iterator<Item = &Problem> {
        self.plan.rows.iter().flat_map(|r| &r.problems)
    }

    pub fn client(&self) -> Option<&Client> {
        self.account.client()
    }

    /// Which company the key is for, when the account was read.
    pub fn company(&self) -> Option<&crate::api::model::Company> {
        self.directory.as_ref().map(|d| &d.company)
    }
}

/// A failed read of the account, as the error that ends the command.
pub(super) fn api_error(client: &Client) -> impl Fn(ApiError) -> Error + '_ {
    |source| Error::api(&client.described(), source)
}

/// Resolves the manifest's policies and the sheet's users against the account (when
/// there is one), plans, and stops on any problem `--skip-invalid` does not cover.
/// Interrupted part-way with [`OnInterrupt::Report`], it hands back the plan as far as
/// it got (policies or users unresolved), marked interrupted, for the report to show.
pub async fn check(
    inputs: Inputs,
    context: &Context,
    account: Account,
    on_interrupt: OnInterrupt,
) -> Result<Checked, Error> {
    check_with(inputs, context, account, None, on_interrupt).await
}

/// [`check`], the account's directory already read (`read`) or read here (`None`).
pub async fn check_with(
    inputs: Inputs,
    context: &Context,
    account: Account,
    read: Option<Directory>,
    on_interrupt: OnInterrupt,
) -> Result<Checked, Error> {
    let Some(client) = account.client().cloned() else {
        let plan = inputs.plan(context);
        gate(&plan, context.skip_invalid)?;
        return Ok(Checked {
            inputs,
            plan,
            account,
            directory: None,
            warnings: Vec::new(),
            completion: Completion::Whole,
            users: None,
        });
    };
    let resolved = resolve(inputs, context, &client, read, on_interrupt).await?;
    if resolved.completion == Completion::Whole {
        gate(&resolved.plan, context.skip_invalid)?;
    }
    Ok(Checked {
        inputs: resolved.inputs,
        plan: resolved.plan,
        account,
        directory: resolved.directory,
        warnings: resolved.warnings,
        completion: resolved.completion,
        users: Some(resolved.users),
    })
}

/// The inputs resolved against the account, not yet gated.
pub struct Resolution {
    pub inputs: Inputs,
    pub plan: Plan,
    pub directory: Option<Directory>,
    pub warnings: Vec<Problem>,
    /// The users the sheet names, as the account knows them (archived ones included).
    pub users: UserDirectory,
    pub completion: Completion,
}

/// Reads the account's company and policies (unless `read` already holds them) and
/// resolves the manifest by them (an unknown policy stops here), plans, and resolves the
/// plan's users.
pub async fn resolve(
    inputs: Inputs,
    context: &Context,
    client: &Client,
    read: Option<Directory>,
    on_interrupt: OnInterrupt,
) -> Result<Resolution, Error> {
    let reporting = || on_interrupt == OnInterrupt::Report && client.interrupted();
    let cut_short = |inputs: Inputs, plan, directory, warnings| Resolution {
        inputs,
        plan,
        directory,
        warnings,
        users: UserDirectory::default(),
        completion: Completion::Interrupted,
    };
    let fetched = match read {
        Some(directory) => Ok(directory),
        None => Directory::fetch(client, inputs.manifest.has_packs()).await,
    };
    let directory = match fetched {
        Ok(directory) => directory,
        Err(_) if reporting() => {
            let plan = inputs.plan(context);
            return Ok(cut_short(inputs, plan, None, Vec::new()));
        }
        Err(e) => return Err(api_error(client)(e)),
    };
    let resolved = resolve_manifest(&inputs.manifest, &directory);
    if !resolved.errors.is_empty() {
        return Err(Error::invalid(resolved.errors));
    }
    let inputs = Inputs {
        manifest: resolved.manifest,
        ..inputs
    };
    let planned = inputs.plan(context);
    let create_missing = inputs.settings.create_missing();
    let users = match UserDirectory::fetch(client, &planned, create_missing).await {
        Ok(users) => users,
        // Users part-read are not resolved: a row's user may be in the unread part.
        Err(_) if reporting() => {
            return Ok(cut_short(
                inputs,
                planned,
                Some(directory),
                resolved.warnings,
            ));
        }
        Err(e) => return Err(api_error(client)(e)),
    };
    let creating = match create_missing {
        true => Some(crate::resolve::Creating {
            sheet: &inputs.sheet,
            begun: people_begun(&inputs.settings, client)?,
        }),
        false => None,
    };
    let mut plan = resolve_users(
        planned,
        &users,
        &inputs.columns,
        &inputs.sheet.file,
        creating.as_ref(),
    );
    let creating = plan.valid_rows().any(|r| r.person.is_some());
    if creating && inputs.manifest.has_user_fields() {
        let account = match crate::resolve::custom_fields(client).await {
            Ok(fields) => fields,
            Err(_) if reporting() => {
                return Ok(cut_short(inputs, plan, Some(directory), resolved.warnings));
            }
            Err(e) => return Err(api_error(client)(e)),
        };
        let reading = crate::resolve::fields::Reading {
            date_format: inputs.settings.date_format.as_deref(),
            country: inputs.settings.country().ok().flatten(),
        };
        let problems = crate::resolve::fields::set_fields(
            &mut plan,
            &inputs.manifest,
            &inputs.sheet,
            &inputs.columns,
            &account,
            &reading,
        );
        if !problems.is_empty() {
            return Err(Error::invalid(problems));
        }
    }
    Ok(Resolution {
        inputs,
        plan,
        directory: Some(directory),
        warnings: resolved.warnings,
        users,
        completion: match reporting() {
            true => Completion::Interrupted,
            false => Completion::Whole,
        },
    })
}

/// The phones of the people the journal (when there is one) shows ct-onboard began
/// creating on this account.
fn people_begun(
    settings: &crate::config::Settings,
    client: &Client,
) -> Result<std::collections::HashSet<String>, Error> {
    let state = settings.state();
    if !state.exists() {
        return Ok(std::collections::HashSet::new());
    }
    let journal = crate::journal::Journal::open(&state).map_err(Error::journal)?;
    let phones = journal
        .people_begun(client.base_url())
        .map_err(Error::journal)?;
    Ok(phones.into_iter().collect())
}

/// Any problem not about one row stops the run; so do invalid rows, unless
/// `--skip-invalid` and some row is valid.
pub fn gate(plan: &Plan, skip_invalid: bool) -> Result<(), Error> {
    let invalid_rows = plan.rows.iter().filter(|r| !r.is_valid()).count();
    let nothing_valid = invalid_rows == plan.rows.len();
    let global = !plan.problems.is_empty();
    if !global && (invalid_rows == 0 || (skip_invalid && !nothing_valid)) {
        return Ok(());
    }
    let hint = (!global && !nothing_valid && !skip_invalid).then(|| {
        format!(
            "(--skip-invalid would go ahead with the {} valid rows)",
            plan.rows.len() - invalid_rows
        )
    });
    Err(Error::Invalid {
        problems: plan.all_problems().cloned().collect(),
        hint,
    })
}
