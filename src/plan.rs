//! Planning: sheet × manifest → for each sheet row, the assignments to make.
//!
//! A pure function: no files, no network, no clock (today's date is passed in), so that
//! every rule here is tested directly.

use std::collections::HashMap;

use std::str::FromStr;

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::input::{Columns, Field, Sheet, SheetRow, values};
pub use crate::manifest::Kind;
use crate::manifest::{Balance, EffectiveDate, Manifest, PackRef, PayRulePolicy, TimeOffPolicy};
use crate::problem::Problem;

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub today: Date,
    pub allow_retroactive: bool,
    /// strftime format for text dates in the sheet; ISO `YYYY-MM-DD` when unset.
    pub date_format: Option<String>,
    /// The country of phones written without a country code.
    pub default_country: Option<phonenumber::country::Id>,
}

/// How a row names its Connecteam user: a user ID, else an email, else a phone (E.164).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    UserId(u64),
    Email(String),
    Phone(String),
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::UserId(id) => write!(f, "{id}"),
            Identity::Email(email) | Identity::Phone(email) => f.write_str(email),
        }
    }
}

/// One assignment to make for one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Assignment {
    TimeOff {
        policy: TimeOffPolicy,
        balance: Option<Balance>,
    },
    PayRule {
        policy: PayRulePolicy,
        effective_date: Date,
    },
    /// An onboarding pack: assigned with others, up to 500 users a request.
    OnboardingPack { pack: PackRef },
}

impl Assignment {
    pub fn kind(&self) -> Kind {
        match self {
            Assignment::TimeOff { .. } => Kind::TimeOff,
            Assignment::PayRule { .. } => Kind::PayRule,
            Assignment::OnboardingPack { .. } => Kind::OnboardingPack,
        }
    }

    /// The policy ID as text (empty until resolved) and its name, if known.
    pub fn policy_id_and_name(&self) -> (String, String) {
        let (id, name) = match self {
            Assignment::TimeOff { policy, .. } => {
                (policy.id.as_deref().map(str::to_owned), &policy.name)
            }
            Assignment::PayRule { policy, .. } => (policy.id.map(|i| i.to_string()), &policy.name),
            Assignment::OnboardingPack { pack } => (pack.id.map(|i| i.to_string()), &pack.name),
        };
        (
            id.unwrap_or_default(),
            name.as_deref().unwrap_or_default().to_owned(),
        )
    }
}

/// Someone the sheet names who is not in Connecteam yet, to be created
/// (`--create-missing`): `POST /users/v1/users` takes these, 25 a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub first_name: String,
    pub last_name: String,
    /// E.164: Connecteam's key for users, and how an unclear creation is looked up.
    pub phone: String,
    pub email: Option<String>,
    /// Custom fields (`user_fields:`), as the API takes them.
    pub custom_fields: Vec<crate::api::model::FieldValue>,
    pub state: Creation,
}

/// Where a person's creation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// Planned: not sent (a plan, or a run before it gets there).
    Planned,
    /// Created (or found created after an unclear answer) as this user.
    Created(u64),
    /// Refused, or not known to be created: the API's message, or why.
    Failed(String),
    /// Not sent: the run stopped first (a signal, the day's quota, a refused key).
    NotSent(String),
    /// Sent without a clear answer, and not found yet: the person may have been
    /// created. The next run looks the phone up first; until then it is not a success.
    InDoubt(String),
}

/// What a row does about its person, as `users.csv`'s `user_action` says it.
pub fn user_action(person: Option<&NewPerson>) -> &'static str {
    match person.map(|p| &p.state) {
        None => "existing",
        Some(Creation::Planned | Creation::NotSent(_) | Creation::InDoubt(_)) => "create",
        Some(Creation::Created(_)) => "created",
        Some(Creation::Failed(_)) => "failed",
    }
}

/// One sheet row: who, what to assign, and anything wrong with it.
#[derive(Debug, Clone)]
pub struct PlanRow {
    /// Index into `Sheet::rows`.
    pub index: usize,
    /// The spreadsheet row number.
    pub number: u64,
    pub identity: Option<Identity>,
    /// Known from the sheet, or once an email is resolved.
    pub user_id: Option<u64>,
    /// The row's email when it also gives a user ID: both must name the same user.
    pub also_email: Option<String>,
    /// The row's phone as E.164, whatever identifies it.
    pub phone: Option<String>,
    /// Set when the person is not in Connecteam yet and is to be created.
    pub person: Option<Box<NewPerson>>,
    /// How each row-worked balance came about, by assignment position
    /// (`15 days × 184/365 = 7.5`).
    pub bases: Vec<(usize, String)>,
    pub employee_type: String,
    pub assignments: Vec<Assignment>,
    pub problems: Vec<Problem>,
}

impl PlanRow {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The whole plan: every sheet row once, in sheet order, plus problems that are not about
/// one row (a manifest date in the past, a column the manifest names but the sheet lacks).
#[derive(Debug, Clone)]
pub struct Plan {
    pub rows: Vec<PlanRow>,
    pub problems: Vec<Problem>,
}

impl Plan {
    pub fn valid_rows(&self) -> impl Iterator<Item = &PlanRow> {
        self.rows.iter().filter(|r| r.is_valid())
    }

    /// Every problem, global ones first, then row by row.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.rows.iter().flat_map(|r| r.problems.iter()))
    }

    pub fn assignment_count(&self) -> usize {
        self.valid_rows().map(|r| r.assignments.len()).sum()
    }
}

/// Days from `date` to the end of its policy year (inclusive), and the days in that year,
/// for a policy year starting on `starts` (month, day).
pub fn policy_year_left(date: Date, starts: (i8, i8)) -> (i64, i64) {
    let on = |year: i16| Date::new(year, starts.0, starts.1).unwrap_or(date);
    let this = on(date.year());
    let start = if date >= this {
        this
    } else {
        on(date.year() - 1)
    };
    let next = on(start.year() + 1);
    let days = |from: Date, to: Date| i64::from(from.until(to).map_or(0, |s| s.get_days()));
    (days(date, next), days(start, next).max(1))
}

pub fn plan(sheet: &Sheet, columns: &Columns, manifest: &Manifest, options: &PlanOptions) -> Plan {
    let mut problems = Vec::new();
    let date_columns = effective_date_columns(columns, manifest, options, &mut problems);
    let mut planner = RowPlanner {
        file: sheet.file.as_str(),
        columns,
        manifest,
        options,
        date_columns,
        first_seen: HashMap::new(),
        missing_reported: std::collections::HashSet::new(),
        problems,
    };
    let rows = sheet
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| planner.row(sheet, index, row))
        .collect();
    Plan {
        rows,
        problems: planner.problems,
    }
}

/// What planning carries from row to row: the first row of each user, and problems
/// reported once for the sheet.
struct RowPlanner<'a> {
    file: &'a str,
    columns: &'a Columns,
    manifest: &'a Manifest,
    options: &'a PlanOptions,
    date_columns: HashMap<&'a str, Option<usize>>,
    first_seen: HashMap<Identity, u64>,
    missing_reported: std::collections::HashSet<String>,
    /// Problems not about one row.
    problems: Vec<Problem>,
}

/// One row's problems as they are found.
struct RowProblems<'a> {
    file: &'a str,
    columns: &'a Columns,
    number: u64,
    found: Vec<Problem>,
}

impl RowProblems<'_> {
    fn add(&mut self, column: Option<usize>, message: String) {
        self.found.push(Problem::in_row(
            self.file,
            self.number,
            column.map(|c| self.columns.label(c)),
            message,
        ));
    }
}

impl<'a> RowPlanner<'a> {
    fn row(&mut self, sheet: &Sheet, index: usize, row: &SheetRow) -> PlanRow {
        let mut problems = RowProblems {
            file: self.file,
            columns: self.columns,
            number: row.number,
            found: sheet
                .problems
                .iter()
                .filter(|p| p.sheet_row == Some(row.number))
                .cloned()
                .collect(),
        };
        let (identity, user_id, also_email, phone) = self.identity(row, &mut problems);
        let type_column = self.columns.index(Field::EmployeeType);
        let employee_type = type_column
            .and_then(|c| values::text(row.cell(c)))
            .unwrap_or_default();
        let mut assignments = Vec::new();
        let mut bases = Vec::new();
        if employee_type.is_empty() {
            problems.add(type_column, "employee_type is empty".into());
        } else if let Some(ty) = self.manifest.employee_type(&employee_type) {
            (assignments, bases) = self.assignments(ty, row, &mut problems);
        } else {
            problems.add(
                type_column,
                format!(
                    "unknown employee type {}; the manifest has: {}",
                    crate::problem::Quoted(&employee_type),
                    self.manifest.type_names().join(", ")
                ),
            );
        }
        PlanRow {
            index,
            number: row.number,
            identity,
            user_id,
            also_email,
            phone,
            person: None,
            bases,
            employee_type,
            assignments,
            problems: problems.found,
        }
    }

    /// Who the row names: a user ID, else an email; each user once in the sheet. The
    /// third value is the email of a row that gives both.
    fn identity(
        &mut self,
        row: &SheetRow,
        problems: &mut RowProblems<'_>,
    ) -> (
        Option<Identity>,
        Option<u64>,
        Option<String>,
        Option<String>,
    ) {
        let columns = self.columns;
        let read = |field: Field| columns.index(field).map(|c| (c, row.cell(c)));
        let user_id = read(Field::UserId).and_then(|(c, cell)| {
            values::user_id(cell).unwrap_or_else(|m| {
                problems.add(Some(c), m);
                None
            })
        });
        let email = read(Field::Email).and_then(|(c, cell)| {
            values::email(cell).unwrap_or_else(|m| {
                problems.add(Some(c), m);
                None
            })
        });
        let country = self.options.default_country;
        let phone = read(Field::Phone).and_then(|(c, cell)| {
            values::phone(cell, country).unwrap_or_else(|m| {
                problems.add(Some(c), m);
                None
            })
        });
        let (identity, also_email) = match (user_id, email, phone.clone()) {
            (Some(id), email, _) => (Identity::UserId(id), email),
            (None, Some(email), _) => (Identity::Email(email), None),
            (None, None, Some(phone)) => (Identity::Phone(phone), None),
            (None, None, None) => {
                let something_bad = [Field::UserId, Field::Email, Field::Phone]
                    .into_iter()
                    .any(|f| read(f).is_some_and(|(_, c)| !c.is_blank()));
                if !something_bad {
                    problems.add(
                        None,
                        "no user_id, email or phone: the row does not say who to onboard".into(),
                    );
                }
                return (None, user_id, None, phone);
            }
        };
        if let Some(first) = self.first_seen.get(&identity) {
            let column = match identity {
                Identity::UserId(_) => columns.index(Field::UserId),
                Identity::Email(_) => columns.index(Field::Email),
                Identity::Phone(_) => columns.index(Field::Phone),
            };
            problems.add(
                column,
                format!("{identity} is already on row {first}: each user may appear once"),
            );
        } else {
            self.first_seen.insert(identity.clone(), row.number);
        }
        (Some(identity), user_id, also_email, phone)
    }

    /// The employee type's assignments for this row.
    fn assignments(
        &mut self,
        ty: &crate::manifest::EmployeeType,
        row: &SheetRow,
        problems: &mut RowProblems<'_>,
    ) -> (Vec<Assignment>, Vec<(usize, String)>) {
        // Sized exactly: a sheet of 100,000 rows holds 100,000 of these.
        let mut assignments = Vec::with_capacity(
            ty.time_off.len() + usize::from(ty.pay_rule.is_some()) + ty.packs.len(),
        );
        let mut bases = Vec::new();
        for rule in &ty.time_off {
            let balance = match &rule.per_row {
                None => rule.balance,
                Some(per_row) => match self.row_balance(rule, per_row, row, problems) {
                    Some((balance, basis)) => {
                        bases.push((assignments.len(), basis));
                        Some(balance)
                    }
                    None => rule.balance,
                },
            };
            assignments.push(Assignment::TimeOff {
                policy: rule.policy.clone(),
                balance,
            });
        }
        if let Some(rule) = &ty.pay_rule
            && let Some(effective_date) = self.effective_date(ty, rule, row, problems)
        {
            assignments.push(Assignment::PayRule {
                policy: rule.policy.clone(),
                effective_date,
            });
        }
        assignments.extend(ty.packs.iter().map(|rule| Assignment::OnboardingPack {
            pack: rule.pack.clone(),
        }));
        (assignments, bases)
    }

    /// A row's own balance (from a column, prorated to its date) and how it was worked
    /// out (`15 days × 184/365 = 7.5`), or `None` with the row's problem added.
    fn row_balance(
        &mut self,
        rule: &crate::manifest::TimeOffRule,
        per_row: &crate::manifest::RowBalance,
        row: &SheetRow,
        problems: &mut RowProblems<'_>,
    ) -> Option<(Balance, String)> {
        let fixed = rule.balance?;
        let base = match &per_row.column {
            None => fixed.amount,
            Some(column) => {
                let c = self.column_for(column, "balance", &rule.place)?;
                let cell = row.cell(c);
                if cell.is_blank() {
                    let Some(default) = per_row.default else {
                        problems.add(
                            Some(c),
                            "the balance is empty and the manifest gives no default".into(),
                        );
                        return None;
                    };
                    default
                } else {
                    let read = match cell {
                        crate::input::Cell::Number(n) => Decimal::try_from(n).ok(),
                        // Plain digits and one point: no exponent, no `_`, no sign but `-`.
                        other => plain_decimal(other.display().trim()),
                    };
                    match read {
                        Some(d) if !d.is_sign_negative() || d.is_zero() => d,
                        _ => {
                            problems.add(
                                Some(c),
                                format!(
                                    "{} is not a balance (a number of at least 0)",
                                    crate::problem::Quoted(&cell.display())
                                ),
                            );
                            return None;
                        }
                    }
                }
            }
        };
        let unit = fixed.unit;
        let written = format!("{} {}", base.normalize(), unit.as_str());
        let Some(prorate) = &per_row.prorate else {
            return Some((Balance { amount: base, unit }, written));
        };
        let c = self.column_for(&prorate.column, "prorated balance", &rule.place)?;
        let date = match values::date(row.cell(c), self.options.date_format.as_deref()) {
            Ok(Some(date)) => date,
            Ok(None) => {
                problems.add(Some(c), "no date to prorate the balance by".into());
                return None;
            }
            Err(message) => {
                problems.add(Some(c), message);
                return None;
            }
        };
        let (left, days) = policy_year_left(date, prorate.year_starts);
        let step = prorate.round_down_to;
        let amount = (base * Decimal::from(left) / Decimal::from(days) / step).floor() * step;
        let mut basis = format!("{written} × {left}/{days} = {}", amount.normalize());
        // Said where HR reads it: a date whose policy year is over before today (a start
        // date years back, a typo) is prorated all the same, to that year.
        let year_ends = date
            .checked_add(jiff::Span::new().days(left - 1))
            .unwrap_or(date);
        if year_ends < self.options.today {
            basis += &format!(" (the policy year of {date}, over before today)");
        }
        Some((Balance { amount, unit }, basis))
    }

    /// The sheet column a manifest rule reads; missing, reported once for the sheet.
    fn column_for(
        &mut self,
        name: &str,
        what: &str,
        place: &crate::problem::Place,
    ) -> Option<usize> {
        if let Some(c) = self.columns.by_name(name) {
            return Some(c);
        }
        if self.missing_reported.insert(name.to_owned()) {
            self.problems.push(Problem::new(
                &self.manifest.file,
                place.clone(),
                format!(
                    "the {what} is taken from column \"{name}\", which {} does not have",
                    self.file
                ),
            ));
        }
        None
    }

    /// A pay rule's effective date: fixed in the manifest, or from a column of the row.
    fn effective_date(
        &mut self,
        ty: &crate::manifest::EmployeeType,
        rule: &crate::manifest::PayRuleRule,
        row: &SheetRow,
        problems: &mut RowProblems<'_>,
    ) -> Option<Date> {
        let name = match &rule.effective_date {
            EffectiveDate::Fixed(date) => return Some(*date),
            EffectiveDate::Column(name) => name.as_str(),
        };
        let Some(c) = self.date_columns.get(name).copied().flatten() else {
            // Reported once for the sheet, and only if a row needs it.
            if self.missing_reported.insert(name.to_owned()) {
                self.problems.push(Problem::new(
                    &self.manifest.file,
                    rule.place.clone(),
                    format!(
                        "the pay rule for \"{}\" takes its effective date from column \"{name}\", which {} does not have",
                        ty.name, self.file
                    ),
                ));
            }
            return None;
        };
        let options = self.options;
        match values::date(row.cell(c), options.date_format.as_deref()) {
            Ok(Some(date)) if date < options.today && !options.allow_retroactive => {
                problems.add(Some(c), retroactive_message(date, options.today));
                None
            }
            Ok(Some(date)) if date > LATEST_READABLE => {
                problems.add(Some(c), too_far_message(date));
                None
            }
            Ok(Some(date)) => Some(date),
            Ok(None) => {
                problems.add(
                    Some(c),
                    format!(
                        "empty, but the pay rule for \"{}\" takes its effective date from this column",
                        ty.name
                    ),
                );
                None
            }
            Err(m) => {
                problems.add(Some(c), m);
                None
            }
        }
    }
}

/// Finds the sheet column of each effective-date column the manifest names (`None` when
/// the sheet lacks it), and checks fixed dates once rather than on every row.
fn effective_date_columns<'m>(
    columns: &Columns,
    manifest: &'m Manifest,
    options: &PlanOptions,
    problems: &mut Vec<Problem>,
) -> HashMap<&'m str, Option<usize>> {
    let mut found = HashMap::new();
    for ty in &manifest.types {
        let Some(rule) = &ty.pay_rule else { continue };
        match &rule.effective_date {
            EffectiveDate::Fixed(date) => {
                let problem = match *date {
                    d if d < options.today && !options.allow_retroactive => {
                        Some(retroactive_message(d, options.today))
                    }
                    d if d > LATEST_READABLE => Some(too_far_message(d)),
                    _ => None,
                };
                if let Some(message) = problem {
                    problems.push(Problem::new(&manifest.file, rule.place.clone(), message));
                }
            }
            EffectiveDate::Column(name) => {
                found
                    .entry(name.as_str())
                    .or_insert_with(|| columns.by_name(name));
            }
        }
    }
    found
}

/// The latest effective date ct-onboard can read back: what users hold is read "far
/// ahead" on this day, so a later pay rule would never be seen held.
pub const LATEST_READABLE: Date = jiff::civil::date(2999, 12, 31);

fn too_far_message(date: Date) -> String {
    format!(
        "effective date {date} is after {LATEST_READABLE}, the furthest ahead ct-onboard reads what users hold: \
         it could never be seen held, so it would be sent again every run"
    )
}

fn retroactive_message(date: Date, today: Date) -> String {
    format!(
        "effective date {date} is before today ({today}): a retroactive pay rule rewrites past payroll; \
         pass --allow-retroactive if that is really meant"
    )
}

/// `12`, `7.5`, `.5`, `-1` (refused later as negative) as a number: what a person
/// writes as a number of days, not `1e2` or `1_000`, which a parser would take as 100
/// and 1000.
pub(crate) fn plain_decimal(text: &str) -> Option<Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| Decimal::from_str(text).ok()).flatten()
}

#[cfg(test)]
mod tests;
