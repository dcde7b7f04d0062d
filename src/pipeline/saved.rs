//! Saved plans (Terraform's `plan -out`): a checked plan written for `run --plan`, and
//! read back as a checked one if nothing it was made from has changed.

use std::path::Path;

use super::check::api_error;
use super::{Account, Checked, Completion, Context, Inputs, Target, connect, online};
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
    let fingerprints = fingerprints(context, &checked.inputs).map_err(Error::Usage)?;
    let saved =
        SavedPlan::new(&checked.plan, client.base_url(), fingerprints).map_err(Error::Local)?;
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|e| Error::Local(e.to_string()))?;
    json.push(b'\n');
    report::write_atomic_path(out, &json)
        .map_err(|e| Error::Local(format!("cannot write {}: {e}", out.display())))
}

/// `run --plan`: the saved plan as a checked one, if the sheet, manifest and settings are
/// still the ones it was made from, the base URL is the same, and no effective date has
/// passed since.
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
    let today = context.today;
    let past = saved
        .users
        .iter()
        .flat_map(|u| &u.assignments)
        .find_map(|a| match a {
            SavedAssignment::PayRule { effective_date, .. }
                if *effective_date < today && !context.allow_retroactive =>
            {
                Some(*effective_date)
            }
            _ => None,
        });
    if let Some(date) = past {
        stale.push(format!(
            "effective date {date} is now in the past: applying it would rewrite past payroll"
        ));
    }
    if !stale.is_empty() {
        let problems = stale
            .into_iter()
            .map(|reason| {
                Problem::new(
                    path.display().to_string(),
                    crate::problem::Place::File,
                    format!("the plan is stale: {reason}"),
                )
            })
            .collect();
        return Err(Error::Invalid {
            problems,
            hint: Some(format!(
                "Make a new one with `ct-onboard plan {} --out {}`.",
                context.hires.display(),
                path.display()
            )),
        });
    }
    let numbers: Vec<u64> = inputs.sheet.rows.iter().map(|r| r.number).collect();
    let plan = saved.to_plan(&inputs.sheet.file, &numbers);
    // Interrupted, the run goes on to report that nothing was sent.
    let (directory, completion) = match Directory::fetch(&client).await {
        Ok(directory) => (Some(directory), Completion::Whole),
        Err(_) if client.interrupted() => (None, Completion::Interrupted),
        Err(e) => return Err(api_error(&client)(e)),
    };
    Ok(Checked {
        inputs,
        plan,
        account: Account::Online(client),
        directory,
        warnings: Vec::new(),
        completion,
    })
}
