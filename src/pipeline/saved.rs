//! Saved plans (Terraform's `plan -out`): a checked plan written for `run --plan`, and
//! read back as a checked one if nothing it was made from has changed.

use std::path::Path;

use super::check::{api_error, check_with};
use super::{Account, Checked, Completion, Context, Inputs, OnInterrupt, Target, connect, online};
use crate::digest::sha256_hex;
use crate::error::Error;
use crate::problem::Problem;
use crate::report;
use crate::resolve::Directory;
use crate::saved_plan::{Fingerprints, SavedAssignment, SavedPlan};

/// What a saved plan is checked against when it is applied: the sheet and manifest as
/// they were read for this plan, and the settings that shape it.
fn fingerprints(context: &Context, inputs: &Inputs) -> Result<Fingerprints, String> {
    if context.hires.as_os_str() == crate::input::STDIN {
        return Err(
            "a saved plan needs the sheet as a file, not standard input: it is checked again when applied"
                .into(),
        );
    }
    let settings = &inputs.settings;
    let manifest = settings.manifest();
    let as_read = |sha: &Option<String>, what: &str| {
        sha.clone()
            .ok_or_else(|| format!("the {what} was not read from a file"))
    };
    let shaping = format!(
        "base_url={}\nsheet={:?}\ndate_format={:?}\ncolumns={:?}\nallow_retroactive={}\nskip_invalid={}",
        settings.base_url().map_err(|p| p.message)?,
        context.sheet,
        settings.date_format,
        settings.columns(),
        context.allow_retroactive,
        context.skip_invalid
    );
    Ok(Fingerprints {
        sheet: context.hires.display().to_string(),
        sheet_sha256: as_read(&inputs.sheet.sha256, "sheet")?,
        manifest: manifest.display().to_string(),
        manifest_sha256: as_read(&inputs.manifest.sha256, "manifest")?,
        settings_sha256: sha256_hex(shaping.as_bytes()),
    })
}

/// Saves a checked plan for `run --plan` (Terraform's `plan -out`).
pub fn save_plan(out: &Path, context: &Context, checked: &Checked) -> Result<(), Error> {
    let Some(client) = checked.client() else {
        return Err(Error::Usage(
            "--out needs a plan checked against Connecteam (set CONNECTEAM_API_KEY): \
             an offline plan has no resolved user or policy IDs to apply"
                .into(),
        ));
    };
    let creating = checked
        .plan
        .valid_rows()
        .filter(|r| r.person.is_some())
        .count();
    if creating > 0 {
        return Err(Error::Usage(format!(
            "--out cannot save a plan that creates people yet ({creating} here): a saved plan \
             names each user by ID, and theirs are made by the run; run the sheet with \
             --create-missing instead"
        )));
    }
    let fingerprints = fingerprints(context, &checked.inputs).map_err(Error::Usage)?;
    let company = checked
        .company()
        .ok_or_else(|| Error::Local("the account's company was not read".into()))?;
    let saved = SavedPlan::new(&checked.plan, client.base_url(), company, fingerprints)
        .map_err(Error::Local)?;
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|e| Error::Local(e.to_string()))?;
    json.push(b'\n');
    report::write_atomic_path(out, &json)
        .map_err(|e| Error::Local(format!("cannot write {}: {e}", out.display())))
}

/// `run --plan`: the saved plan as a checked one, if the sheet, manifest and settings are
/// still the ones it was made from, the base URL and company are the same, no effective
/// date has passed since, and its body is what they give: made again against the
/// account, the plan must send exactly what the file says (a hand-edited balance, or a
/// user ID swapped for someone not on the sheet, is refused).
pub async fn from_saved_plan(path: &Path, context: &Context) -> Result<Checked, Error> {
    let inputs = Inputs::load(context)?;
    let saved = SavedPlan::read(path).map_err(Error::Usage)?;
    let now = fingerprints(context, &inputs).map_err(Error::Usage)?;
    let mut stale = saved.stale_because(&now);
    let account = connect(&inputs.settings, Target::Settings, &context.stop)?;
    let client = online(
        account,
        "a saved plan is applied to the account (nothing was sent)",
    )?;
    if client.base_url() != saved.base_url {
        stale.push(format!(
            "it was made for {}, and this run is against {}",
            saved.base_url,
            client.base_url()
        ));
    }
    if let Some(date) = passed_date(&saved, context) {
        stale.push(format!(
            "effective date {date} is now in the past: applying it would rewrite past payroll"
        ));
    }
    refuse(path, context, stale, "the plan is stale")?;
    // Interrupted, the run goes on to report that nothing was sent.
    let directory = match Directory::fetch(&client, inputs.manifest.has_packs()).await {
        Ok(directory) => directory,
        Err(_) if client.interrupted() => return Ok(interrupted(&saved, inputs, client)),
        Err(e) => return Err(api_error(&client)(e)),
    };
    if directory.company.company_id != saved.company.company_id {
        let other = format!(
            "it was made for {}, and this key is for {}",
            saved.company, directory.company
        );
        refuse(
            path,
            context,
            vec![other],
            "the plan is for another company",
        )?;
    }
    let company = directory.company.clone();
    let checked = check_with(
        inputs,
        context,
        Account::Online(client),
        Some(directory),
        OnInterrupt::Report,
    )
    .await?;
    if checked.completion == Completion::Interrupted {
        return Ok(checked);
    }
    let made =
        SavedPlan::new(&checked.plan, &saved.base_url, &company, now).map_err(Error::Local)?;
    if let Some(difference) = saved.first_difference(&made) {
        let says =
            format!("{difference} (the sheet and manifest give another plan than this file says)");
        refuse(
            path,
            context,
            vec![says],
            "the plan was changed, or the account has",
        )?;
    }
    Ok(checked)
}

/// A pay rule's effective date in the saved plan that is now before today.
fn passed_date(saved: &SavedPlan, context: &Context) -> Option<jiff::civil::Date> {
    saved
        .users
        .iter()
        .flat_map(|u| &u.assignments)
        .find_map(|a| match a {
            SavedAssignment::PayRule { effective_date, .. }
                if *effective_date < context.today && !context.allow_retroactive =>
            {
                Some(*effective_date)
            }
            _ => None,
        })
}

/// Refuses the plan at `path` (exit 2, nothing sent) for these reasons, if any.
fn refuse(path: &Path, context: &Context, reasons: Vec<String>, what: &str) -> Result<(), Error> {
    if reasons.is_empty() {
        return Ok(());
    }
    let problems = reasons
        .into_iter()
        .map(|reason| {
            Problem::new(
                path.display().to_string(),
                crate::problem::Place::File,
                format!("{what}: {reason}"),
            )
        })
        .collect();
    Err(Error::Invalid {
        problems,
        hint: Some(format!(
            "Make a new plan with `ct-onboard plan {} --out {}`.",
            context.hires.display(),
            path.display()
        )),
    })
}

/// The saved plan, interrupted before the account was read: nothing will be sent, and
/// the report shows every row as the file planned it.
fn interrupted(saved: &SavedPlan, inputs: Inputs, client: crate::api::Client) -> Checked {
    let numbers: Vec<u64> = inputs.sheet.rows.iter().map(|r| r.number).collect();
    let plan = saved.to_plan(&inputs.sheet.file, &numbers);
    Checked {
        inputs,
        plan,
        account: Account::Online(client),
        directory: None,
        warnings: Vec::new(),
        completion: Completion::Interrupted,
        users: None,
    }
}
