//! The manifest: which time-off policies (with starting balances) and which pay-rule
//! policy (with an effective date) each employee type gets.
//!
//! YAML and CSV are both turned into the same list of [`Entry`]s first, so that one set
//! of checks, with one set of messages, serves both forms.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::input::{decode_text, normalize_header, values};
use crate::problem::{Place, Problem, Quoted, column_label};

/// The unit of a time-off balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Hours,
    Days,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Hours => "hours",
            Unit::Days => "days",
        }
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hours" => Ok(Unit::Hours),
            "days" => Ok(Unit::Days),
            other => Err(format!("unit {} is not one of: hours, days", Quoted(other))),
        }
    }
}

/// A starting balance: both parts or neither, as the API takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Balance {
    pub amount: Decimal,
    pub unit: Unit,
}

/// A policy named by ID, by name, or both (then both must agree once the API is read).
/// Text is shared (`Arc<str>`): every planned assignment carries its policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRef<Id> {
    pub id: Option<Id>,
    pub name: Option<Arc<str>>,
}

/// Time-off policy IDs are text; pay-rule policy and onboarding pack IDs are integers.
pub type TimeOffPolicy = PolicyRef<Arc<str>>;
pub type PayRulePolicy = PolicyRef<u64>;
pub type PackRef = PolicyRef<u64>;

impl<Id: std::fmt::Display> std::fmt::Display for PolicyRef<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.id, &self.name) {
            (Some(id), Some(name)) => write!(f, "{id} (\"{name}\")"),
            (Some(id), None) => write!(f, "{id}"),
            (None, Some(name)) => write!(f, "\"{name}\""),
            (None, None) => f.write_str("(none)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOffRule {
    pub policy: TimeOffPolicy,
    /// The balance (with a column balance: its default, or 0, and the unit).
    pub balance: Option<Balance>,
    /// Each row's own balance (`balance: {column: …}`, `prorate:`), when not one figure.
    pub per_row: Option<RowBalance>,
    pub place: Place,
}

/// How each row's balance is worked out when the manifest gives no one figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBalance {
    /// The column each row's balance is read from; `None`: the rule's balance.
    pub column: Option<String>,
    /// For an empty cell of that column.
    pub default: Option<Decimal>,
    pub prorate: Option<Prorate>,
}

/// `prorate: start_date`: the balance scaled to the part of the policy year left from
/// the row's date, rounded down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prorate {
    /// The date column (`start_date`, or any other).
    pub column: String,
    /// Month and day the policy year starts on (`01-01` unless `year_starts` says).
    pub year_starts: (i8, i8),
    /// The step the prorated balance is rounded down to (0.5 days, 0.25 hours).
    pub round_down_to: Decimal,
}

/// Where a pay rule's effective date comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectiveDate {
    Fixed(Date),
    /// A column of the sheet, such as `start_date`.
    Column(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRuleRule {
    pub policy: PayRulePolicy,
    pub effective_date: EffectiveDate,
    pub place: Place,
}

/// An onboarding pack a type's hires are assigned (`onboarding_packs:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRule {
    pub pack: PackRef,
    pub place: Place,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeType {
    pub name: String,
    pub time_off: Vec<TimeOffRule>,
    pub pay_rule: Option<PayRuleRule>,
    pub packs: Vec<PackRule>,
    /// This type's custom fields, over the manifest's own (by name).
    pub user_fields: Vec<UserField>,
}

/// A Connecteam custom field set on the people ct-onboard creates (`user_fields:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserField {
    /// The field's name in Connecteam.
    pub name: String,
    pub source: FieldSource,
    pub place: Place,
}

/// Where a custom field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// A column of the sheet.
    Column(String),
    /// The same value for everyone.
    Value(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub file: String,
    pub types: Vec<EmployeeType>,
    /// Custom fields for every type (a type's own override them by name).
    pub user_fields: Vec<UserField>,
    /// The SHA-256 of the file as read; `None` for a manifest parsed from text.
    pub sha256: Option<String>,
}

impl Manifest {
    /// The employee type of that name, ignoring case and surrounding spaces.
    pub fn employee_type(&self, name: &str) -> Option<&EmployeeType> {
        let key = type_key(name);
        self.types.iter().find(|t| type_key(&t.name) == key)
    }

    /// The custom fields a person of this type is created with.
    pub fn fields_for<'a>(&'a self, ty: &'a EmployeeType) -> Vec<&'a UserField> {
        let own = |name: &str| {
            ty.user_fields
                .iter()
                .any(|f| f.name.trim().eq_ignore_ascii_case(name.trim()))
        };
        self.user_fields
            .iter()
            .filter(|f| !own(&f.name))
            .chain(&ty.user_fields)
            .collect()
    }

    /// Whether any type is assigned an onboarding pack.
    pub fn has_packs(&self) -> bool {
        self.types.iter().any(|t| !t.packs.is_empty())
    }

    /// Whether the manifest sets any custom field.
    pub fn has_user_fields(&self) -> bool {
        !self.user_fields.is_empty() || self.types.iter().any(|t| !t.user_fields.is_empty())
    }

    pub fn type_names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.name.as_str()).collect()
    }
}

fn type_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Reads a manifest, YAML unless the file ends in `.csv`.
pub fn read_manifest(path: &Path) -> Result<Manifest, Vec<Problem>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        vec![Problem::new(
            &file,
            Place::File,
            format!("cannot read the manifest: {e}"),
        )]
    })?;
    let sha256 = crate::digest::sha256_hex(&bytes);
    let text = decode_text(bytes);
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let manifest = if is_csv {
        build(&file, csv_entries(&file, &text)?)?
    } else {
        manifest_from_yaml(&file, &text)?
    };
    Ok(Manifest {
        sha256: Some(sha256),
        ..manifest
    })
}

/// Reads a YAML manifest from text; `file` names it in messages.
pub fn manifest_from_yaml(file: &str, text: &str) -> Result<Manifest, Vec<Problem>> {
    let (entries, (top, per_type)) = yaml_entries(file, text)?;
    let mut manifest = build(file, entries)?;
    manifest.user_fields = top;
    for (name, fields) in per_type {
        if let Some(ty) = manifest
            .types
            .iter_mut()
            .find(|t| type_key(&t.name) == type_key(&name))
        {
            ty.user_fields.extend(fields);
        }
    }
    Ok(manifest)
}

/// Reads a CSV manifest from text; `file` names it in messages.
pub fn manifest_from_csv(file: &str, text: &str) -> Result<Manifest, Vec<Problem>> {
    build(file, csv_entries(file, text)?)
}

/// The kinds of assignment: the words appear once, in [`Kind::as_str`].
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    #[value(name = "time_off")]
    TimeOff,
    #[value(name = "pay_rule")]
    PayRule,
    #[value(name = "onboarding_pack")]
    OnboardingPack,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TimeOff => "time_off",
            Kind::PayRule => "pay_rule",
            Kind::OnboardingPack => "onboarding_pack",
        }
    }

    /// The kind its words name, as [`Kind::as_str`] writes them.
    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::TimeOff, Kind::PayRule, Kind::OnboardingPack]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value as written, with where it was written.
#[derive(Debug, Clone)]
struct Value {
    text: String,
    place: Place,
}

/// One assignment line of either manifest form, not yet checked.
#[derive(Debug, Clone)]
struct Entry {
    employee_type: Value,
    /// `None` for an employee type listed with nothing to assign: its hires are then
    /// reported with zero assignments rather than as an unknown type.
    kind: Option<Kind>,
    policy_id: Option<Value>,
    policy_name: Option<Value>,
    balance: Option<Value>,
    /// `balance: {column: …, default: …}`: each row's balance from a column.
    balance_column: Option<Value>,
    balance_default: Option<Value>,
    prorate: Option<Value>,
    year_starts: Option<Value>,
    round_down_to: Option<Value>,
    unit: Option<Value>,
    effective_date: Option<Value>,
    place: Place,
}

// ---- YAML form ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlManifest {
    employee_types: BTreeMap<String, Spanned<Option<YamlType>>>,
    #[serde(default)]
    user_fields: BTreeMap<String, Spanned<YamlField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlType {
    #[serde(default)]
    time_off: Vec<Spanned<YamlRule>>,
    pay_rule: Option<Spanned<YamlRule>>,
    #[serde(default)]
    onboarding_packs: Vec<Spanned<YamlPack>>,
    #[serde(default)]
    user_fields: BTreeMap<String, Spanned<YamlField>>,
}

/// `{pack_id: 12}` or `{pack_name: "New hires"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlPack {
    pack_id: Option<Spanned<ScalarText>>,
    pack_name: Option<Spanned<String>>,
}

/// `balance: 15`, or `balance: {column: "PTO Days", default: 5}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum YamlBalance {
    Amount(ScalarText),
    Column {
        column: ScalarText,
        #[serde(default)]
        default: Option<ScalarText>,
    },
    /// Anything else (`{default: 2}` without a column, a list): refused with its place.
    Other(serde::de::IgnoredAny),
}

/// The plain scalar written at `at` in `text` (up to a space, comment, comma or brace).
fn raw_scalar(text: &str, at: serde_saphyr::Location) -> Option<String> {
    let line_no = usize::try_from(at.line().checked_sub(1)?).ok()?;
    let column = usize::try_from(at.column().checked_sub(1)?).ok()?;
    let line = text.lines().nth(line_no)?;
    let rest: String = line.chars().skip(column).collect();
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '#' | ',' | '}' | ']'))
        .collect();
    let token = token.trim_matches(|c| c == '"' || c == '\'');
    Decimal::from_str(token).ok().map(|_| token.to_owned())
}

/// A YAML scalar (`15`, `12.5`, `"15"`) as its text: inside an untagged enum a number
/// arrives as a number, not as the text that a `String` field would take.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = ScalarText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_str<E>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

/// `Department: {column: Dept}` or `Employment: {value: Full-time}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlField {
    column: Option<String>,
    value: Option<String>,
}

/// The custom fields of a YAML map, or what is wrong with them.
fn user_fields(
    file: &str,
    fields: BTreeMap<String, Spanned<YamlField>>,
    problems: &mut Vec<Problem>,
) -> Vec<UserField> {
    let mut out = Vec::new();
    for (name, field) in fields {
        let place = text_place(field.referenced);
        let source = match (field.value.column, field.value.value) {
            (Some(column), None) if !column.trim().is_empty() => FieldSource::Column(column),
            (None, Some(value)) => FieldSource::Value(value),
            _ => {
                problems.push(Problem::new(
                    file,
                    place,
                    format!(
                        "user field \"{name}\" needs exactly one of column: (a sheet column) or value: (a constant)"
                    ),
                ));
                continue;
            }
        };
        out.push(UserField {
            name,
            source,
            place,
        });
    }
    out
}

/// A YAML manifest's custom fields: the manifest's own, and each type's.
type YamlFields = (Vec<UserField>, Vec<(String, Vec<UserField>)>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlRule {
    policy_id: Option<Spanned<String>>,
    policy_name: Option<Spanned<String>>,
    balance: Option<Spanned<YamlBalance>>,
    prorate: Option<Spanned<String>>,
    year_starts: Option<Spanned<String>>,
    round_down_to: Option<Spanned<String>>,
    unit: Option<Spanned<String>>,
    effective_date: Option<Spanned<String>>,
}

fn text_place(location: serde_saphyr::Location) -> Place {
    Place::Text {
        line: location.line(),
        column: location.column(),
    }
}

fn spanned_value(v: Option<Spanned<String>>) -> Option<Value> {
    v.map(|s| Value {
        place: text_place(s.referenced),
        text: s.value,
    })
}

fn yaml_entries(file: &str, text: &str) -> Result<(Vec<Entry>, YamlFields), Vec<Problem>> {
    let manifest: YamlManifest = serde_saphyr::from_str(text).map_err(|e| {
        let place = e.location().map_or(Place::File, text_place);
        let message = e
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_owned();
        vec![Problem::new(file, place, message)]
    })?;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let top = user_fields(file, manifest.user_fields, &mut problems);
    let mut per_type = Vec::new();
    for (name, spanned) in manifest.employee_types {
        let type_place = text_place(spanned.referenced);
        let employee_type = Value {
            text: name,
            place: type_place.clone(),
        };
        let Some(ty) = spanned.value else {
            entries.push(empty_type_marker(employee_type));
            continue;
        };
        if ty.time_off.is_empty() && ty.pay_rule.is_none() && ty.onboarding_packs.is_empty() {
            entries.push(empty_type_marker(employee_type.clone()));
        }
        per_type.push((
            employee_type.text.clone(),
            user_fields(file, ty.user_fields, &mut problems),
        ));
        let rules = ty
            .time_off
            .into_iter()
            .map(|r| (Kind::TimeOff, r))
            .chain(ty.pay_rule.map(|r| (Kind::PayRule, r)));
        for (kind, rule) in rules {
            let place = text_place(rule.referenced);
            let r = rule.value;
            if let Some(Spanned {
                value: YamlBalance::Other(_),
                referenced,
                ..
            }) = &r.balance
            {
                problems.push(Problem::new(
                    file,
                    text_place(*referenced),
                    "a balance is a number, or {column: COLUMN} with an optional default: N"
                        .to_owned(),
                ));
            }
            entries.push(Entry {
                employee_type: employee_type.clone(),
                kind: Some(kind),
                policy_id: spanned_value(r.policy_id),
                policy_name: spanned_value(r.policy_name),
                balance_column: match &r.balance {
                    Some(Spanned {
                        value: YamlBalance::Column { column, .. },
                        referenced,
                        ..
                    }) => Some(Value {
                        place: text_place(*referenced),
                        text: column.0.clone(),
                    }),
                    _ => None,
                },
                balance_default: match &r.balance {
                    Some(Spanned {
                        value:
                            YamlBalance::Column {
                                default: Some(d), ..
                            },
                        referenced,
                        ..
                    }) => Some(Value {
                        place: text_place(*referenced),
                        text: d.0.clone(),
                    }),
                    _ => None,
                },
                balance: match r.balance {
                    Some(Spanned {
                        value: YamlBalance::Amount(a),
                        referenced,
                        ..
                    }) => Some(Value {
                        place: text_place(referenced),
                        // The number as written (`7.50`), not as a float read it.
                        text: raw_scalar(text, referenced).unwrap_or(a.0),
                    }),
                    _ => None,
                },
                prorate: spanned_value(r.prorate),
                year_starts: spanned_value(r.year_starts),
                round_down_to: spanned_value(r.round_down_to),
                unit: spanned_value(r.unit),
                effective_date: spanned_value(r.effective_date),
                place,
            });
        }
        for pack in ty.onboarding_packs {
            let place = text_place(pack.referenced);
            let p = pack.value;
            entries.push(Entry {
                kind: Some(Kind::OnboardingPack),
                policy_id: p.pack_id.map(|s| Value {
                    place: text_place(s.referenced),
                    text: s.value.0,
                }),
                policy_name: spanned_value(p.pack_name),
                place: place.clone(),
                ..empty_type_marker(employee_type.clone())
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((entries, (top, per_type)))
}

fn empty_type_marker(employee_type: Value) -> Entry {
    Entry {
        place: employee_type.place.clone(),
        employee_type,
        kind: None,
        policy_id: None,
        policy_name: None,
        balance: None,
        balance_column: None,
        balance_default: None,
        prorate: None,
        year_starts: None,
        round_down_to: None,
        unit: None,
        effective_date: None,
    }
}

// ---- CSV form ----

const CSV_COLUMNS: [&str; 12] = [
    "employee_type",
    "kind",
    "policy_id",
    "policy_name",
    "balance",
    "unit",
    "effective_date",
    "balance_column",
    "balance_default",
    "prorate",
    "year_starts",
    "round_down_to",
];

fn csv_entries(file: &str, text: &str) -> Result<Vec<Entry>, Vec<Problem>> {
    let sheet = crate::input::parse_delimited(file, text).map_err(|p| vec![p])?;
    let index = csv_columns(file, &sheet)?;
    let mut problems = Vec::new();
    let entries = sheet
        .rows
        .iter()
        .filter_map(|row| csv_entry(file, &sheet, &index, row, &mut problems))
        .collect();
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Where each column of the CSV form is: every header must be one of its columns, and
/// `employee_type` and `kind` must be there.
fn csv_columns(
    file: &str,
    sheet: &crate::input::Sheet,
) -> Result<BTreeMap<&'static str, usize>, Vec<Problem>> {
    let mut problems = sheet.problems.clone();
    let mut index = BTreeMap::new();
    for (i, header) in sheet.headers.iter().enumerate() {
        let key = normalize_header(header);
        match CSV_COLUMNS.iter().find(|c| normalize_header(c) == key) {
            Some(name) => {
                index.insert(*name, i);
            }
            None => problems.push(Problem::new(
                file,
                Place::Row(1),
                format!(
                    "unknown column {}; the columns are: {}",
                    column_label(header, i),
                    CSV_COLUMNS.join(", ")
                ),
            )),
        }
    }
    for required in ["employee_type", "kind"] {
        if !index.contains_key(required) {
            problems.push(Problem::new(
                file,
                Place::Row(1),
                format!("the manifest has no {required} column"),
            ));
        }
    }
    match problems.is_empty() {
        true => Ok(index),
        false => Err(problems),
    }
}

/// One line of the CSV form as an entry, or its problem.
fn csv_entry(
    file: &str,
    sheet: &crate::input::Sheet,
    index: &BTreeMap<&'static str, usize>,
    row: &crate::input::SheetRow,
    problems: &mut Vec<Problem>,
) -> Option<Entry> {
    {
        let value = |name: &str| -> Option<Value> {
            let i = *index.get(name)?;
            let text = values::text(row.cell(i))?;
            Some(Value {
                text,
                place: Place::Cell {
                    row: row.number,
                    column: column_label(&sheet.headers[i], i),
                },
            })
        };
        let Some(employee_type) = value("employee_type") else {
            problems.push(Problem::new(
                file,
                Place::Row(row.number),
                "employee_type is empty",
            ));
            return None;
        };
        let kind = match value("kind") {
            Some(v) if Kind::parse(&v.text.to_ascii_lowercase()).is_some() => {
                Kind::parse(&v.text.to_ascii_lowercase()).expect("just parsed")
            }
            Some(v) => {
                problems.push(Problem::new(
                    file,
                    v.place,
                    format!(
                        "kind {} is not time_off, pay_rule or onboarding_pack",
                        Quoted(&v.text)
                    ),
                ));
                return None;
            }
            None => {
                problems.push(Problem::new(
                    file,
                    Place::Row(row.number),
                    "kind is empty (time_off, pay_rule or onboarding_pack)",
                ));
                return None;
            }
        };
        Some(Entry {
            employee_type,
            kind: Some(kind),
            policy_id: value("policy_id"),
            policy_name: value("policy_name"),
            balance: value("balance"),
            balance_column: value("balance_column"),
            balance_default: value("balance_default"),
            prorate: value("prorate"),
            year_starts: value("year_starts"),
            round_down_to: value("round_down_to"),
            unit: value("unit"),
            effective_date: value("effective_date"),
            place: Place::Row(row.number),
        })
    }
}

// ---- the checks both forms share ----

fn build(file: &str, entries: Vec<Entry>) -> Result<Manifest, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut types: Vec<EmployeeType> = Vec::new();
    let mut first_place: BTreeMap<String, (String, Place)> = BTreeMap::new();
    for entry in entries {
        let key = type_key(&entry.employee_type.text);
        if let Some((seen_name, seen_place)) = first_place.get(&key) {
            if *seen_name != entry.employee_type.text {
                problems.push(Problem::new(
                    file,
                    entry.employee_type.place.clone(),
                    format!(
                        "employee type \"{}\" differs only in case from \"{seen_name}\" ({}); use one spelling",
                        entry.employee_type.text,
                        describe(seen_place)
                    ),
                ));
                continue;
            }
        } else {
            let first = (
                entry.employee_type.text.clone(),
                entry.employee_type.place.clone(),
            );
            first_place.insert(key.clone(), first);
            types.push(EmployeeType {
                name: entry.employee_type.text.clone(),
                time_off: Vec::new(),
                pay_rule: None,
                packs: Vec::new(),
                user_fields: Vec::new(),
            });
        }
        let ty = types
            .iter_mut()
            .find(|t| type_key(&t.name) == key)
            .expect("inserted above");
        if let Some(kind) = entry.kind {
            add_rule(file, ty, kind, &entry, &mut problems);
        }
    }
    if types.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            file,
            Place::File,
            "the manifest lists no employee types",
        ));
    }
    if problems.is_empty() {
        Ok(Manifest {
            file: file.to_owned(),
            types,
            user_fields: Vec::new(),
            sha256: None,
        })
    } else {
        Err(problems)
    }
}

/// Adds an entry's rule to its employee type: a policy twice, or a second pay rule, is a
/// problem.
fn add_rule(
    file: &str,
    ty: &mut EmployeeType,
    kind: Kind,
    entry: &Entry,
    problems: &mut Vec<Problem>,
) {
    match check_entry(file, kind, entry) {
        Ok(CsvRule::TimeOff(rule)) => {
            let duplicate = ty
                .time_off
                .iter()
                .find(|r| same_policy(&r.policy, &rule.policy));
            if let Some(earlier) = duplicate {
                problems.push(Problem::new(
                    file,
                    rule.place.clone(),
                    format!(
                        "time-off policy {} is listed twice for \"{}\" (first {})",
                        rule.policy,
                        ty.name,
                        describe(&earlier.place)
                    ),
                ));
            } else {
                ty.time_off.push(rule);
            }
        }
        Ok(CsvRule::Pack(rule)) => match ty.packs.iter().find(|r| same_policy(&r.pack, &rule.pack))
        {
            Some(earlier) => problems.push(Problem::new(
                file,
                rule.place.clone(),
                format!(
                    "onboarding pack {} is listed twice for \"{}\" (first {})",
                    rule.pack,
                    ty.name,
                    describe(&earlier.place)
                ),
            )),
            None => ty.packs.push(rule),
        },
        Ok(CsvRule::PayRule(rule)) => {
            if let Some(earlier) = &ty.pay_rule {
                problems.push(Problem::new(
                    file,
                    rule.place.clone(),
                    format!(
                        "\"{}\" already has a pay-rule policy ({}); a user holds one pay-rule policy at a time",
                        ty.name,
                        describe(&earlier.place)
                    ),
                ));
            } else {
                ty.pay_rule = Some(rule);
            }
        }
        Err(mut found) => problems.append(&mut found),
    }
}

pub(crate) fn describe(place: &Place) -> String {
    match place {
        Place::Text { line, .. } => format!("line {line}"),
        Place::Row(row) | Place::Cell { row, .. } => format!("row {row}"),
        Place::File | Place::Setting(_) => "above".to_owned(),
    }
}

fn same_policy<Id: PartialEq>(a: &PolicyRef<Id>, b: &PolicyRef<Id>) -> bool {
    (a.id.is_some() && a.id == b.id)
        || (a.name.is_some()
            && a.name.as_deref().map(str::to_lowercase) == b.name.as_deref().map(str::to_lowercase))
}

/// One row of a CSV manifest, checked.
enum CsvRule {
    TimeOff(TimeOffRule),
    PayRule(PayRuleRule),
    Pack(PackRule),
}

fn check_entry(file: &str, kind: Kind, e: &Entry) -> Result<CsvRule, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut fail =
        |place: &Place, message: String| problems.push(Problem::new(file, place.clone(), message));
    if e.policy_id.is_none() && e.policy_name.is_none() {
        let what = match kind {
            Kind::OnboardingPack => "give a pack_id or a pack_name",
            _ => "give a policy_id or a policy_name",
        };
        fail(&e.place, what.into());
    }
    let rule = match kind {
        Kind::TimeOff => Some(CsvRule::TimeOff(time_off_rule(e, &mut fail))),
        Kind::PayRule => pay_rule(e, &mut fail).map(CsvRule::PayRule),
        Kind::OnboardingPack => pack(e, &mut fail).map(CsvRule::Pack),
    };
    match rule {
        Some(rule) if problems.is_empty() => Ok(rule),
        _ => Err(problems),
    }
}

fn policy_name(e: &Entry) -> Option<Arc<str>> {
    e.policy_name.as_ref().map(|v| Arc::from(v.text.as_str()))
}

/// A time-off entry: a policy, and a balance with its unit or neither.
fn time_off_rule(e: &Entry, fail: &mut impl FnMut(&Place, String)) -> TimeOffRule {
    if let Some(v) = &e.effective_date {
        fail(
            &v.place,
            "effective_date applies to pay_rule only; time-off policies have none".into(),
        );
    }
    let amount = e.balance.as_ref().and_then(|v| {
        match crate::plan::plain_decimal(v.text.trim()).ok_or(()) {
            Ok(d) if d.is_sign_negative() && !d.is_zero() => {
                fail(&v.place, format!("balance {} is negative", Quoted(&v.text)));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                fail(
                    &v.place,
                    format!("balance {} is not a number", Quoted(&v.text)),
                );
                None
            }
        }
    });
    let unit = e.unit.as_ref().and_then(|v| match Unit::from_str(&v.text) {
        Ok(u) => Some(u),
        Err(msg) => {
            fail(&v.place, msg);
            None
        }
    });
    if let (Some(_), Some(v)) = (&e.balance, &e.balance_column) {
        fail(
            &v.place,
            "give a balance or a balance_column, not both".into(),
        );
    }
    if let (None, Some(v)) = (&e.balance_column, &e.balance_default) {
        fail(&v.place, "balance_default goes with balance_column".into());
    }
    let column = e.balance_column.as_ref().map(|v| v.text.trim().to_owned());
    let default = e.balance_default.as_ref().and_then(|v| {
        match crate::plan::plain_decimal(v.text.trim()).ok_or(()) {
            Ok(d) if !d.is_sign_negative() || d.is_zero() => Some(d),
            _ => {
                fail(
                    &v.place,
                    format!(
                        "the balance's default {} is not a number ≥ 0",
                        Quoted(&v.text)
                    ),
                );
                None
            }
        }
    });
    let given = e.balance.as_ref().or(e.balance_column.as_ref());
    let prorate = e.prorate.as_ref().and_then(|v| {
        if given.is_none() {
            fail(&v.place, "prorate needs a balance to scale".into());
        }
        let year_starts = match &e.year_starts {
            None => Some((1, 1)),
            Some(y) => {
                let parsed = y.text.trim().split_once('-').and_then(|(m, d)| {
                    let (m, d) = (m.parse::<i8>().ok()?, d.parse::<i8>().ok()?);
                    Date::new(2001, m, d).ok().map(|_| (m, d))
                });
                if parsed.is_none() {
                    fail(
                        &y.place,
                        format!(
                            "year_starts {} is not a month and day such as 04-01 (and not 02-29)",
                            Quoted(&y.text)
                        ),
                    );
                }
                parsed
            }
        };
        let step = match &e.round_down_to {
            None => Some(match unit {
                Some(Unit::Hours) => Decimal::new(25, 2),
                _ => Decimal::new(5, 1),
            }),
            Some(r) => match Decimal::from_str(r.text.trim()) {
                Ok(d) if d > Decimal::ZERO => Some(d),
                _ => {
                    fail(
                        &r.place,
                        format!("round_down_to {} is not a number above 0", Quoted(&r.text)),
                    );
                    None
                }
            },
        };
        Some(Prorate {
            column: v.text.trim().to_owned(),
            year_starts: year_starts?,
            round_down_to: step?,
        })
    });
    for v in [&e.year_starts, &e.round_down_to].into_iter().flatten() {
        if e.prorate.is_none() {
            fail(
                &v.place,
                "year_starts and round_down_to go with prorate".into(),
            );
        }
    }
    let per_row = (column.is_some() || prorate.is_some()).then_some(RowBalance {
        column,
        default,
        prorate,
    });
    let amount = amount.or_else(|| {
        e.balance_column
            .as_ref()
            .map(|_| default.unwrap_or_default())
    });
    match (given, &e.unit) {
        (Some(v), None) => fail(
            &v.place,
            "balance without unit: add unit: hours or unit: days".into(),
        ),
        (None, Some(v)) => fail(
            &v.place,
            "unit without balance: give both, or neither for the policy's defaults".into(),
        ),
        _ => {}
    }
    TimeOffRule {
        policy: PolicyRef {
            id: e.policy_id.as_ref().map(|v| Arc::from(v.text.trim())),
            name: policy_name(e),
        },
        balance: amount
            .zip(unit)
            .map(|(amount, unit)| Balance { amount, unit }),
        per_row,
        place: e.place.clone(),
    }
}

/// A pay-rule entry: a numeric policy ID or a name, and an effective date.
fn pay_rule(e: &Entry, fail: &mut impl FnMut(&Place, String)) -> Option<PayRuleRule> {
    for v in balance_keys(e) {
        fail(&v.place, "balance and unit apply to time_off only".into());
    }
    let id = e
        .policy_id
        .as_ref()
        .and_then(|v| match v.text.trim().parse::<u64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                fail(
                    &v.place,
                    format!(
                        "pay-rule policy_id {} is not a positive whole number",
                        Quoted(&v.text)
                    ),
                );
                None
            }
        });
    let effective_date = match &e.effective_date {
        None => {
            fail(&e.place, "a pay rule needs effective_date: a YYYY-MM-DD date or a sheet column such as start_date".into());
            None
        }
        Some(v) => effective_date(&v.text).map_err(|m| fail(&v.place, m)).ok(),
    }?;
    Some(PayRuleRule {
        policy: PolicyRef {
            id,
            name: policy_name(e),
        },
        effective_date,
        place: e.place.clone(),
    })
}

/// The balance keys an entry gives (a pay rule or a pack takes none of them).
fn balance_keys(e: &Entry) -> impl Iterator<Item = &Value> {
    [
        &e.balance,
        &e.unit,
        &e.balance_column,
        &e.balance_default,
        &e.prorate,
        &e.year_starts,
        &e.round_down_to,
    ]
    .into_iter()
    .flatten()
}

/// An onboarding pack entry: a numeric pack ID or a name, and nothing else.
fn pack(e: &Entry, fail: &mut impl FnMut(&Place, String)) -> Option<PackRule> {
    for v in balance_keys(e).chain(&e.effective_date) {
        fail(
            &v.place,
            "an onboarding pack takes only a pack_id or a pack_name".into(),
        );
    }
    let id = match &e.policy_id {
        None => None,
        Some(v) => match v.text.trim().parse::<u64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                fail(
                    &v.place,
                    format!("pack_id {} is not a positive whole number", Quoted(&v.text)),
                );
                return None;
            }
        },
    };
    Some(PackRule {
        pack: PolicyRef {
            id,
            name: policy_name(e),
        },
        place: e.place.clone(),
    })
}

/// A date if it looks like one, otherwise the name of a sheet column.
fn effective_date(text: &str) -> Result<EffectiveDate, String> {
    let text = text.trim();
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        values::parse_iso_date(text).map(EffectiveDate::Fixed)
    } else {
        Ok(EffectiveDate::Column(text.to_owned()))
    }
}

#[cfg(test)]
mod tests;
