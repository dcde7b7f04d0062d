//! `verify`'s verdict: every valid row's assignments against what the account holds.
//! A balance moves with use and accrual: holding the policy is what counts.

use super::Refreshed;
use crate::error::Error;
use crate::holdings::Change;
use crate::input::{Field, values};
use crate::journal::{Journal, PersonState};
use crate::resolve::phone_key;

/// One assignment the account does not hold as the sheet says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub row: u64,
    pub user_id: Option<u64>,
    pub kind: crate::plan::Kind,
    pub policy_id: String,
    pub policy_name: String,
    /// What the account holds instead, in words (empty: nothing of it).
    pub holds: String,
}

/// A person ct-onboard created whom the account shows otherwise than the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonDifference {
    pub row: u64,
    pub user_id: u64,
    /// What differs, in words.
    pub what: String,
}

/// The comparison of a sheet with the account.
#[derive(Debug, Clone)]
pub struct Verified {
    pub base_url: String,
    pub sheet: String,
    pub assignments: usize,
    pub differences: Vec<Difference>,
    /// People the journal says ct-onboard created, checked by name and phone.
    pub people_checked: usize,
    pub people: Vec<PersonDifference>,
}

/// Compares every valid row's assignments with what the account holds, and the people
/// the journal says ct-onboard created with their names and phones in the sheet.
pub fn compare(refreshed: &Refreshed, journal: Option<&Journal>) -> Result<Verified, Error> {
    let mut differences = Vec::new();
    let mut assignments = 0usize;
    for row in refreshed.checked.plan.valid_rows() {
        for (a, diff) in row.assignments.iter().zip(refreshed.diffs(row)) {
            assignments += 1;
            if matches!(diff.change, Change::Unchanged | Change::SetBalance) {
                continue;
            }
            let (policy_id, policy_name) = a.policy_id_and_name();
            differences.push(Difference {
                row: row.number,
                user_id: row.user_id,
                kind: a.kind(),
                policy_id,
                policy_name,
                holds: diff.holds_in_words(),
            });
        }
    }
    let (people_checked, people) = match journal {
        Some(journal) => created_people(refreshed, journal)?,
        None => (0, Vec::new()),
    };
    Ok(Verified {
        base_url: refreshed
            .checked
            .client()
            .map_or_else(String::new, |c| c.base_url().to_owned()),
        sheet: refreshed.checked.inputs.sheet.file.clone(),
        assignments,
        differences,
        people_checked,
        people,
    })
}

/// The rows whose person the journal says ct-onboard created (as the user the row is
/// now): the account must show them with the sheet's first name, last name and phone.
fn created_people(
    refreshed: &Refreshed,
    journal: &Journal,
) -> Result<(usize, Vec<PersonDifference>), Error> {
    let checked = &refreshed.checked;
    let (Some(users), Some(client)) = (&checked.users, checked.client()) else {
        return Ok((0, Vec::new()));
    };
    let inputs = &checked.inputs;
    let text = |index: usize, field: Field| {
        inputs
            .columns
            .index(field)
            .and_then(|c| values::text(inputs.sheet.rows[index].cell(c)))
    };
    let mut count = 0;
    let mut differences = Vec::new();
    for row in checked.plan.valid_rows() {
        let (Some(user_id), Some(phone)) = (row.user_id, &row.phone) else {
            continue;
        };
        let ours = journal
            .person(client.base_url(), phone)
            .map_err(Error::journal)?;
        if ours != Some(PersonState::Created(user_id)) {
            continue;
        }
        count += 1;
        let Some(user) = users.user(user_id) else {
            continue;
        };
        let mut differs = Vec::new();
        for (what, sheet, account) in [
            (
                "first name",
                text(row.index, Field::FirstName),
                &user.first_name,
            ),
            (
                "last name",
                text(row.index, Field::LastName),
                &user.last_name,
            ),
        ] {
            if let Some(sheet) = sheet
                && !sheet.trim().eq_ignore_ascii_case(account.trim())
            {
                differs.push(format!("{what} \"{account}\" (the sheet: \"{sheet}\")"));
            }
        }
        if phone_key(&user.phone_number).as_deref() != Some(phone.as_str()) {
            differs.push(format!(
                "phone \"{}\" (the sheet: {phone})",
                user.phone_number
            ));
        }
        if !differs.is_empty() {
            differences.push(PersonDifference {
                row: row.number,
                user_id,
                what: format!(
                    "created by ct-onboard, the account shows {}",
                    differs.join(", ")
                ),
            });
        }
    }
    Ok((count, differences))
}
