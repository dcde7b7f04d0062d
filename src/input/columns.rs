//! Finding the columns ct-onboard needs, whatever the HR system called them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::problem::{Place, Problem, column_label};

/// A column ct-onboard reads; every other column is carried through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    UserId,
    Email,
    EmployeeType,
    StartDate,
    FirstName,
    LastName,
    Phone,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::UserId,
        Field::Email,
        Field::EmployeeType,
        Field::StartDate,
        Field::FirstName,
        Field::LastName,
        Field::Phone,
    ];

    /// The canonical name, as used in the settings file's `[columns]` table.
    pub fn name(self) -> &'static str {
        match self {
            Field::UserId => "user_id",
            Field::Email => "email",
            Field::EmployeeType => "employee_type",
            Field::StartDate => "start_date",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Phone => "phone",
        }
    }

    /// Header spellings accepted without configuration, already normalised.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::UserId => &["userid", "connecteamid", "connecteamuserid", "ctuserid"],
            Field::Email => &[
                "email",
                "emailaddress",
                "workemail",
                "workemailaddress",
                "e-mail",
            ],
            Field::EmployeeType => &["employeetype", "employmenttype", "workertype", "emptype"],
            Field::StartDate => &[
                "startdate",
                "hiredate",
                "firstday",
                "firstdayofwork",
                "dateofhire",
            ],
            Field::FirstName => &["firstname", "givenname", "forename"],
            Field::LastName => &["lastname", "surname", "familyname"],
            Field::Phone => &[
                "phone",
                "phonenumber",
                "mobile",
                "mobilephone",
                "mobilenumber",
                "cell",
                "cellphone",
            ],
        }
    }
}

/// Explicit header names from the settings file, for sheets whose headers no alias matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub employee_type: Option<String>,
    pub start_date: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

impl ColumnMapping {
    fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::UserId => self.user_id.as_deref(),
            Field::Email => self.email.as_deref(),
            Field::EmployeeType => self.employee_type.as_deref(),
            Field::StartDate => self.start_date.as_deref(),
            Field::FirstName => self.first_name.as_deref(),
            Field::LastName => self.last_name.as_deref(),
            Field::Phone => self.phone.as_deref(),
        }
    }
}

/// Lower-cases and drops spaces, underscores, hyphens and invisible characters, so that
/// `User ID`, `userId`, `user_id` and `\u{feff}USER-ID` all read as `userid`.
pub fn normalize_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.' | '\u{feff}' | '\u{200b}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where the needed fields are in one sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    found: BTreeMap<Field, usize>,
    headers: Vec<String>,
}

impl Columns {
    /// Matches the sheet's headers against the mapping, then the aliases. Reports a missing
    /// `employee_type`, a sheet with neither `user_id` nor `email`, a mapped header that is
    /// not there, and two headers that both claim one field.
    pub fn find(
        file: &str,
        headers: &[String],
        mapping: &ColumnMapping,
    ) -> Result<Columns, Vec<Problem>> {
        let normalized: Vec<String> = headers.iter().map(|h| normalize_header(h)).collect();
        let mut found = BTreeMap::new();
        let mut problems = Vec::new();
        for field in Field::ALL {
            if let Some(wanted) = mapping.get(field) {
                let key = normalize_header(wanted);
                match normalized.iter().position(|h| *h == key) {
                    Some(index) => {
                        found.insert(field, index);
                    }
                    None => problems.push(Problem::new(
                        file,
                        Place::Row(1),
                        format!(
                            "the settings map {} to a column \"{wanted}\", but the header row has no such column",
                            field.name()
                        ),
                    )),
                }
                continue;
            }
            let matches: Vec<usize> = normalized
                .iter()
                .enumerate()
                .filter(|(_, h)| field.aliases().contains(&h.as_str()))
                .map(|(i, _)| i)
                .collect();
            match matches.as_slice() {
                [] => {}
                [index] => {
                    found.insert(field, *index);
                }
                several => problems.push(Problem::new(
                    file,
                    Place::Row(1),
                    format!(
                        "columns {} all look like {}; name the one to use under [columns] in the settings file",
                        several.iter().map(|&i| column_label(&headers[i], i)).collect::<Vec<_>>().join(", "),
                        field.name()
                    ),
                )),
            }
        }
        if !found.contains_key(&Field::EmployeeType) && mapping.employee_type.is_none() {
            problems.push(Problem::new(
                file,
                Place::Row(1),
                "no employee_type column (accepted headers: Employee Type, employee_type, Employment Type…)",
            ));
        }
        if !found.contains_key(&Field::UserId)
            && !found.contains_key(&Field::Email)
            && !found.contains_key(&Field::Phone)
            && problems.is_empty()
        {
            problems.push(Problem::new(
                file,
                Place::Row(1),
                "no user_id, email or phone column: each row needs a Connecteam user ID, an email or a phone to find the user",
            ));
        }
        if problems.is_empty() {
            Ok(Columns {
                found,
                headers: headers.to_vec(),
            })
        } else {
            Err(problems)
        }
    }

    pub fn index(&self, field: Field) -> Option<usize> {
        self.found.get(&field).copied()
    }

    /// Any column by header (normalised), such as the one a manifest takes effective dates from.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        let key = normalize_header(name);
        if let Some(field) = Field::ALL
            .into_iter()
            .find(|f| normalize_header(f.name()) == key)
            && let Some(index) = self.index(field)
        {
            return Some(index);
        }
        self.headers.iter().position(|h| normalize_header(h) == key)
    }

    /// `"User ID" (B)` for messages.
    pub fn label(&self, index: usize) -> String {
        column_label(self.headers.get(index).map_or("", String::as_str), index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn aliases_match_whatever_the_case_spacing_or_bom() {
        let h = headers(&[
            "\u{feff}User ID",
            "Work Email",
            "Employee_Type",
            "Hire Date",
            "Department",
        ]);
        let c = Columns::find("h.csv", &h, &ColumnMapping::default()).unwrap();
        assert_eq!(c.index(Field::UserId), Some(0));
        assert_eq!(c.index(Field::Email), Some(1));
        assert_eq!(c.index(Field::EmployeeType), Some(2));
        assert_eq!(c.index(Field::StartDate), Some(3));
        assert_eq!(c.by_name("department"), Some(4));
        assert_eq!(c.by_name("start_date"), Some(3));
    }

    #[test]
    fn mapping_wins_over_aliases() {
        let h = headers(&["Connecteam #", "Contract", "email"]);
        let mapping = ColumnMapping {
            user_id: Some("connecteam #".into()),
            employee_type: Some("Contract".into()),
            ..ColumnMapping::default()
        };
        let c = Columns::find("h.csv", &h, &mapping).unwrap();
        assert_eq!(c.index(Field::UserId), Some(0));
        assert_eq!(c.index(Field::EmployeeType), Some(1));
    }

    #[test]
    fn missing_and_ambiguous_columns_are_reported_together() {
        let h = headers(&["userId", "user_id", "name"]);
        let problems = Columns::find("h.csv", &h, &ColumnMapping::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("\"userId\" (A), \"user_id\" (B)")
        );
        assert!(problems[1].message.contains("employee_type"));
    }
}
