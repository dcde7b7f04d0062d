//! Custom fields (`user_fields:` in the manifest) for the people ct-onboard creates: each
//! field found by name among the account's (`GET /users/v1/custom-fields`), and each
//! row's value checked against its field's type and written as the API takes it (a
//! dropdown's as `[{"id": N}]`). Every problem is found at once, with file, row and column.

use serde_json::{Value, json};

use crate::api::model::{CustomField, FieldValue};
use crate::input::{Cell, Columns, Sheet, values};
use crate::manifest::{FieldSource, Manifest};
use crate::plan::Plan;
use crate::problem::{Problem, Quoted};

/// How sheet values are read: the date format and the phones' default country.
pub struct Reading<'a> {
    pub date_format: Option<&'a str>,
    pub country: Option<phonenumber::country::Id>,
}

/// Sets each person's custom fields (rows ct-onboard creates); returns the problems not
/// about one row (a field the account does not have, a column the sheet does not have),
/// and adds each row's own to the row.
pub fn set_fields(
    plan: &mut Plan,
    manifest: &Manifest,
    sheet: &Sheet,
    columns: &Columns,
    account: &[CustomField],
    reading: &Reading<'_>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut checked = std::collections::HashSet::new();
    let all = manifest
        .user_fields
        .iter()
        .chain(manifest.types.iter().flat_map(|t| &t.user_fields));
    for field in all {
        if !checked.insert((field.name.clone(), format!("{:?}", field.place))) {
            continue;
        }
        let named = account
            .iter()
            .filter(|f| f.name.trim().eq_ignore_ascii_case(field.name.trim()))
            .count();
        if named > 1 {
            problems.push(Problem::new(
                &manifest.file,
                field.place.clone(),
                format!(
                    "this account has {named} custom fields named \"{}\": ct-onboard cannot tell which to set",
                    field.name
                ),
            ));
        } else if named == 0 {
            let names: Vec<&str> = account.iter().map(|f| f.name.as_str()).collect();
            problems.push(Problem::new(
                &manifest.file,
                field.place.clone(),
                format!(
                    "this account has no custom field \"{}\"; it has: {}",
                    field.name,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        if let FieldSource::Column(column) = &field.source
            && columns.by_name(column).is_none()
        {
            problems.push(Problem::new(
                &manifest.file,
                field.place.clone(),
                format!(
                    "user field \"{}\" takes the column \"{column}\", which the sheet does not have",
                    field.name
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    for row in plan.rows.iter_mut().filter(|r| r.is_valid()) {
        let Some(person) = row.person.as_mut() else {
            continue;
        };
        let Some(ty) = manifest.employee_type(&row.employee_type) else {
            continue;
        };
        for field in manifest.fields_for(ty) {
            let Some(found) = find(account, &field.name) else {
                continue;
            };
            let (cell, column) = match &field.source {
                FieldSource::Value(text) => (Cell::Text(text), None),
                FieldSource::Column(name) => {
                    let c = columns.by_name(name).expect("checked above");
                    (sheet.rows[row.index].cell(c), Some(c))
                }
            };
            if cell.is_blank() {
                continue;
            }
            match value_of(found, cell, reading) {
                Ok(value) => person.custom_fields.push(FieldValue {
                    custom_field_id: found.id,
                    value,
                }),
                Err(message) => {
                    let message = format!("custom field \"{}\": {message}", found.name);
                    row.problems.push(match column {
                        Some(c) => Problem::in_row(
                            &sheet.file,
                            row.number,
                            Some(columns.label(c)),
                            message,
                        ),
                        None => Problem::new(&manifest.file, field.place.clone(), message),
                    });
                }
            }
        }
    }
    problems
}

fn find<'a>(account: &'a [CustomField], name: &str) -> Option<&'a CustomField> {
    account
        .iter()
        .find(|f| f.name.trim().eq_ignore_ascii_case(name.trim()))
}

/// One value as its field takes it, or why it cannot be.
fn value_of(field: &CustomField, cell: Cell<'_>, reading: &Reading<'_>) -> Result<Value, String> {
    let text = || values::text(cell).unwrap_or_default();
    if let Some(options) = &field.dropdown_options {
        let wanted: Vec<String> = match field.is_multi_select {
            true => text()
                .split(';')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            false => vec![text()],
        };
        let usable: Vec<_> = options
            .iter()
            .filter(|o| !o.is_deleted && !o.is_disabled)
            .collect();
        let mut ids = Vec::new();
        for want in &wanted {
            let matching: Vec<_> = usable
                .iter()
                .filter(|o| o.value.trim().eq_ignore_ascii_case(want))
                .collect();
            match matching.as_slice() {
                [option] => ids.push(json!({ "id": option.id })),
                [_, _, ..] => {
                    return Err(format!(
                        "{} is {} of its options: ct-onboard cannot tell which",
                        Quoted(want),
                        matching.len()
                    ));
                }
                [] => {
                    let choices: Vec<&str> = usable.iter().map(|o| o.value.as_str()).collect();
                    return Err(format!(
                        "{} is not one of its options ({})",
                        Quoted(want),
                        choices.join(", ")
                    ));
                }
            }
        }
        return Ok(Value::Array(ids));
    }
    match field.kind.as_deref().unwrap_or("str") {
        "number" => match cell {
            Cell::Number(n) => Ok(json!(n)),
            _ => text()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| json!(n))
                .ok_or_else(|| format!("{} is not a number", Quoted(&text()))),
        },
        "date" | "birthday" => values::date(cell, reading.date_format)?
            .map(|d| json!(d.to_string()))
            .ok_or_else(|| "no date".to_owned()),
        "email" => values::email(cell)?
            .map(Value::String)
            .ok_or_else(|| "no email".to_owned()),
        "phone" => values::phone(cell, reading.country)?
            .map(Value::String)
            .ok_or_else(|| "no phone".to_owned()),
        "str" | "link" | "location" => Ok(Value::String(text())),
        other => Err(format!(
            "a field of type \"{other}\" cannot be set from a sheet"
        )),
    }
}
