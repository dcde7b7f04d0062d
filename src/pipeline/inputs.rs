//! Stage 1: the settings, the manifest and the sheet, read and checked for shape.

use super::Context;
use crate::config::Settings;
use crate::error::Error;
use crate::input::{Columns, Sheet, header_hint, read_sheet};
use crate::manifest::{Manifest, read_manifest};
use crate::plan::{Plan, PlanOptions, plan};

/// Settings, manifest and sheet, read and checked for shape (not yet planned).
pub struct Inputs {
    pub settings: Settings,
    pub manifest: Manifest,
    pub sheet: Sheet,
    pub columns: Columns,
}

impl Inputs {
    /// Reads the manifest and the sheet, collecting every problem (the settings' too)
    /// before giving up.
    pub fn load(context: &Context) -> Result<Inputs, Error> {
        let settings = context.settings.clone();
        let mut problems = context.settings_problems.clone();
        let (hires, sheet_name) = (&context.hires, context.sheet.as_deref());
        let manifest = read_manifest(&settings.manifest())
            .map_err(|mut p| problems.append(&mut p))
            .ok();
        let mapping = settings.columns();
        let fits = |headers: &[String]| Columns::find("", headers, &mapping).is_ok();
        let sheet = read_sheet(hires, sheet_name)
            .map_err(|p| {
                let hint = header_hint(hires, &p.file, sheet_name, fits);
                problems.push(p);
                problems.extend(hint);
            })
            .ok();
        let columns = sheet.as_ref().and_then(|s| {
            Columns::find(&s.file, &s.headers, &settings.columns())
                .map_err(|mut p| {
                    problems.append(&mut p);
                    problems.extend(header_hint(hires, &s.file, sheet_name, fits));
                })
                .ok()
        });
        match (manifest, sheet, columns) {
            (Some(manifest), Some(sheet), Some(columns)) if problems.is_empty() => Ok(Inputs {
                settings,
                manifest,
                sheet,
                columns,
            }),
            _ => Err(Error::invalid(problems)),
        }
    }

    /// The pure plan of these inputs: sheet × manifest.
    pub fn plan(&self, context: &Context) -> Plan {
        let options = PlanOptions {
            today: context.today,
            allow_retroactive: context.allow_retroactive,
            date_format: self.settings.date_format.clone(),
            default_country: self.settings.country().ok().flatten(),
        };
        plan(&self.sheet, &self.columns, &self.manifest, &options)
    }
}
