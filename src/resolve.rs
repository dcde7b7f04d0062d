//! Online checks: the manifest's policies and the sheet's users, resolved against what
//! the account really has. Fetching is async and batched; resolving is pure.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::endpoint::{Me, Packs, PayRulePolicies, PolicyTypes, Users};
use crate::api::model::{Company, PackInfo, PayRulePolicyInfo, PolicyType, User};
use crate::api::{ApiError, Client, Page};
use crate::input::{Columns, Field, Sheet};
use crate::manifest::{Manifest, PolicyRef};
use crate::plan::{Identity, NewPerson, Plan};
use crate::problem::Problem;

/// The account (which company) and its policies, read once per run.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Which company the key is for (`GET /me`).
    pub company: Company,
    pub policy_types: Vec<PolicyType>,
    pub pay_rule_policies: Vec<PayRulePolicyInfo>,
    /// The onboarding packs, read when the manifest names any.
    pub packs: Vec<PackInfo>,
}

impl Directory {
    /// Reads which company the key is for, then both listings (and the onboarding packs,
    /// when `packs`). One that names a policy twice (in two types, or twice among the pay
    /// rules) is not believed: which type a policy is in decides what a write would
    /// replace; nor is a pack listing that names a pack twice.
    pub async fn fetch(client: &Client, packs: bool) -> Result<Directory, ApiError> {
        let company = client.read(&Me).await?.data;
        let policy_types = client.read(&PolicyTypes).await?;
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for ty in &policy_types.data {
            for p in &ty.policies {
                if let Some(other) = seen.insert(&p.id, &ty.name) {
                    return Err(crate::api::list::not_believed(
                        "GET /time-off/v1/policy-types",
                        &format!(
                            "lists time-off policy {} in two types (\"{other}\" and \"{}\")",
                            p.id, ty.name
                        ),
                        policy_types.status,
                        policy_types.request_id.clone(),
                    ));
                }
            }
        }
        let pay_rule_policies = client.read(&PayRulePolicies).await?;
        let mut ids = std::collections::HashSet::new();
        if let Some(p) = pay_rule_policies.data.iter().find(|p| !ids.insert(p.id)) {
            return Err(crate::api::list::not_believed(
                "GET /company-policies/v1/pay-rule-policies",
                &format!("lists pay-rule policy {} twice", p.id),
                pay_rule_policies.status,
                pay_rule_policies.request_id.clone(),
            ));
        }
        let packs = match packs {
            true => Directory::read_packs(client).await?,
            false => Vec::new(),
        };
        Ok(Directory {
            company,
            policy_types: policy_types.data,
            pay_rule_policies: pay_rule_policies.data,
            packs,
        })
    }

    /// `GET /onboarding/v1/packs`, believed only when no pack comes twice.
    pub async fn read_packs(client: &Client) -> Result<Vec<PackInfo>, ApiError> {
        let packs = client.read(&Packs).await?;
        let mut ids = std::collections::HashSet::new();
        if let Some(p) = packs.data.iter().find(|p| !ids.insert(p.id)) {
            return Err(crate::api::list::not_believed(
                "GET /onboarding/v1/packs",
                &format!("lists onboarding pack {} twice", p.id),
                packs.status,
                packs.request_id.clone(),
            ));
        }
        Ok(packs.data)
    }
}

/// The manifest with every policy's ID and name filled in from the account, and what
/// was wrong (errors stop the run; warnings are shown).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub manifest: Manifest,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

pub fn resolve_manifest(manifest: &Manifest, directory: &Directory) -> Resolved {
    let file = manifest.file.as_str();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut resolved = manifest.clone();
    for ty in &mut resolved.types {
        let mut types_used: HashMap<&str, String> = HashMap::new();
        for rule in &mut ty.time_off {
            let found = find_time_off(&rule.policy, directory);
            let (policy_type, policy) = match found {
                Ok(found) => found,
                Err(message) => {
                    errors.push(Problem::new(file, rule.place.clone(), message));
                    continue;
                }
            };
            rule.policy = PolicyRef {
                id: Some(Arc::from(policy.id.as_str())),
                name: Some(Arc::from(policy.name.as_str())),
            };
            if let Some(earlier) = types_used.get(policy_type.id.as_str()) {
                errors.push(Problem::new(
                    file,
                    rule.place.clone(),
                    format!(
                        "\"{}\" gets both \"{earlier}\" and \"{}\", two policies of the time-off type \"{}\": \
                         a user holds one policy per type, so the second would silently unassign the first",
                        ty.name, policy.name, policy_type.name
                    ),
                ));
            } else {
                types_used.insert(policy_type.id.as_str(), policy.name.clone());
            }
            if let (Some(balance), Some(unit)) = (&rule.balance, &policy.unit)
                && !balance.unit.as_str().eq_ignore_ascii_case(unit)
            {
                warnings.push(Problem::new(
                    file,
                    rule.place.clone(),
                    format!(
                        "the balance is in {} but \"{}\" counts {unit}: check that {} {} is what you mean",
                        balance.unit.as_str(),
                        policy.name,
                        balance.amount,
                        balance.unit.as_str()
                    ),
                ));
            }
        }
        // The same pack by name on one line and by id on another is one pack twice:
        // found once it is resolved.
        let mut resolved_packs: Vec<(u64, crate::problem::Place)> = Vec::new();
        for rule in &mut ty.packs {
            match find_pack(&rule.pack, directory) {
                Ok(pack) => {
                    if let Some((_, first)) = resolved_packs.iter().find(|(id, _)| *id == pack.id) {
                        errors.push(Problem::new(
                            file,
                            rule.place.clone(),
                            format!(
                                "onboarding pack {} (\"{}\") is listed twice for \"{}\" (first {})",
                                pack.id,
                                pack.name,
                                ty.name,
                                crate::manifest::describe(first)
                            ),
                        ));
                    }
                    resolved_packs.push((pack.id, rule.place.clone()));
                    rule.pack = PolicyRef {
                        id: Some(pack.id),
                        name: Some(Arc::from(pack.name.as_str())),
                    }
                }
                Err(message) => errors.push(Problem::new(file, rule.place.clone(), message)),
            }
        }
        if let Some(rule) = &mut ty.pay_rule {
            match find_pay_rule(&rule.policy, directory) {
                Ok(policy) => {
                    rule.policy = PolicyRef {
                        id: Some(policy.id),
                        name: Some(Arc::from(policy.name.as_str())),
                    }
                }
                Err(message) => errors.push(Problem::new(file, rule.place.clone(), message)),
            }
        }
    }
    Resolved {
        manifest: resolved,
        errors,
        warnings,
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn find_time_off<'d>(
    wanted: &PolicyRef<Arc<str>>,
    directory: &'d Directory,
) -> Result<(&'d PolicyType, &'d crate::api::model::TimeOffPolicyInfo), String> {
    let all = directory
        .policy_types
        .iter()
        .flat_map(|t| t.policies.iter().map(move |p| (t, p)));
    let found = match (&wanted.id, &wanted.name) {
        (Some(id), name) => {
            let found = all.clone().find(|(_, p)| p.id == **id).ok_or_else(|| {
                format!("time-off policy \"{id}\" does not exist in this account (`ct-onboard policies` lists them)")
            })?;
            if let Some(name) = name
                && !same_name(&found.1.name, name)
            {
                return Err(format!(
                    "time-off policy \"{id}\" is named \"{}\", not \"{name}\"",
                    found.1.name
                ));
            }
            found
        }
        (None, Some(name)) => {
            let matches: Vec<_> = all.filter(|(_, p)| same_name(&p.name, name)).collect();
            match matches.as_slice() {
                [one] => *one,
                [] => {
                    return Err(format!(
                        "no time-off policy is named \"{name}\" (`ct-onboard policies` lists them)"
                    ));
                }
                several => {
                    let ids: Vec<&str> = several.iter().map(|(_, p)| p.id.as_str()).collect();
                    return Err(format!(
                        "{} time-off policies are named \"{name}\" ({}): use policy_id",
                        several.len(),
                        ids.join(", ")
                    ));
                }
            }
        }
        (None, None) => return Err("give a policy_id or a policy_name".into()),
    };
    Ok(found)
}

fn find_pay_rule<'d>(
    wanted: &PolicyRef<u64>,
    directory: &'d Directory,
) -> Result<&'d PayRulePolicyInfo, String> {
    let words = Words {
        one: "pay-rule policy",
        several: "pay-rule policies",
        absent: "does not exist or is not enabled in this account",
        key: "policy",
    };
    find_numbered(
        &directory.pay_rule_policies,
        |p| (p.id, &p.name),
        wanted,
        &words,
    )
}

fn find_pack<'d>(
    wanted: &PolicyRef<u64>,
    directory: &'d Directory,
) -> Result<&'d PackInfo, String> {
    let words = Words {
        one: "onboarding pack",
        several: "onboarding packs",
        absent: "does not exist in this account",
        key: "pack",
    };
    find_numbered(&directory.packs, |p| (p.id, &p.name), wanted, &words)
}

/// How a listing with numeric IDs is spoken of in its messages.
struct Words {
    one: &'static str,
    several: &'static str,
    /// What an ID not in the listing is (`does not exist in this account`).
    absent: &'static str,
    /// The manifest's keys: `{key}_id`, `{key}_name`.
    key: &'static str,
}

/// The one entry of `all` that `wanted` names: by ID (its name, when given too, must
/// agree), or by a name exactly one entry has (case aside).
fn find_numbered<'d, T>(
    all: &'d [T],
    id_and_name: impl Fn(&T) -> (u64, &String),
    wanted: &PolicyRef<u64>,
    words: &Words,
) -> Result<&'d T, String> {
    let Words {
        one,
        several,
        absent,
        key,
    } = words;
    match (&wanted.id, &wanted.name) {
        (Some(id), name) => {
            let found = all
                .iter()
                .find(|p| id_and_name(p).0 == *id)
                .ok_or_else(|| format!("{one} {id} {absent} (`ct-onboard policies` lists them)"))?;
            match name {
                Some(name) if !same_name(id_and_name(found).1, name) => Err(format!(
                    "{one} {id} is named \"{}\", not \"{name}\"",
                    id_and_name(found).1
                )),
                _ => Ok(found),
            }
        }
        (None, Some(name)) => {
            let matches: Vec<&T> = all
                .iter()
                .filter(|p| same_name(id_and_name(p).1, name))
                .collect();
            match matches.as_slice() {
                [found] => Ok(found),
                [] => Err(format!(
                    "no {one} is named \"{name}\" (`ct-onboard policies` lists them)"
                )),
                many => Err(format!(
                    "{} {several} are named \"{name}\" ({}): use {key}_id",
                    many.len(),
                    many.iter()
                        .map(|p| id_and_name(p).0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        (None, None) => Err(format!("give a {key}_id or a {key}_name")),
    }
}

/// Identifiers looked up per `GET /users/v1/users` call. The API takes up to 500 results a
/// page, but a query string of 500 emails would outgrow common URL limits.
pub const LOOKUP_BATCH: usize = 100;
const PAGE: u64 = 500;

/// The users the sheet names, as the account knows them (archived ones included).
#[derive(Debug, Clone, Default)]
pub struct UserDirectory {
    by_email: HashMap<String, Vec<User>>,
    /// By phone as E.164: archived users may share an active user's phone.
    by_phone: HashMap<String, Vec<User>>,
    by_id: HashMap<u64, User>,
    /// Users the account answered twice, differently (active and archived, two emails):
    /// neither answer is believed.
    contradicted: std::collections::HashSet<u64>,
}

impl UserDirectory {
    /// Looks up every email, phone and user ID of the plan's valid rows, in batches.
    /// Creating people (`create_missing`), the phones of rows identified by email are
    /// looked up too: a person is not created with a phone someone already has.
    pub async fn fetch(
        client: &Client,
        plan: &Plan,
        create_missing: bool,
    ) -> Result<UserDirectory, ApiError> {
        let mut emails = Vec::new();
        let mut phones = Vec::new();
        let mut ids = Vec::new();
        for row in plan.valid_rows() {
            match &row.identity {
                Some(Identity::Email(email)) => {
                    emails.push(email.clone());
                    if create_missing {
                        phones.extend(row.phone.clone());
                    }
                }
                Some(Identity::Phone(phone)) => phones.push(phone.clone()),
                Some(Identity::UserId(id)) => ids.push(*id),
                None => {}
            }
            emails.extend(row.also_email.clone());
        }
        let mut directory = UserDirectory::default();
        directory.look_up(client, &Lookup::Emails(&emails)).await?;
        directory.look_up(client, &Lookup::Phones(&phones)).await?;
        directory.look_up(client, &Lookup::Ids(&ids)).await?;
        Ok(directory)
    }

    /// Looks up one kind of identifier, [`LOOKUP_BATCH`] a request, adding what is found.
    pub async fn look_up(&mut self, client: &Client, lookup: &Lookup<'_>) -> Result<(), ApiError> {
        for batch in lookup.batches() {
            for user in fetch_all(client, &batch).await? {
                self.add(user);
            }
        }
        Ok(())
    }

    /// Whether the row's email or phone matched no one at all (not even archived users):
    /// someone not in Connecteam yet.
    fn knows_nobody(&self, row: &crate::plan::PlanRow) -> bool {
        let none = |list: Option<&Vec<User>>| list.is_none_or(Vec::is_empty);
        match &row.identity {
            Some(Identity::Email(email)) => none(self.by_email.get(email)),
            Some(Identity::Phone(phone)) => none(self.by_phone.get(phone)),
            _ => false,
        }
    }

    /// Whether any user (archived, or one of several) has this phone.
    pub fn holds_phone(&self, phone: &str) -> bool {
        self.by_phone.get(phone).is_some_and(|u| !u.is_empty())
    }

    /// The user of this ID, as the account answered.
    pub fn user(&self, id: u64) -> Option<&User> {
        self.by_id.get(&id)
    }

    /// The one active user with this phone (E.164), if exactly one has it.
    pub fn active_by_phone(&self, phone: &str) -> Option<u64> {
        let active: Vec<&User> = self
            .by_phone
            .get(phone)?
            .iter()
            .filter(|u| !u.is_archived && !self.contradicted.contains(&u.user_id))
            .collect();
        match active.as_slice() {
            [one] => Some(one.user_id),
            _ => None,
        }
    }

    /// Every user found, once.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.by_id.values()
    }

    pub fn add(&mut self, user: User) {
        if self
            .by_id
            .get(&user.user_id)
            .is_some_and(|known| *known != user)
        {
            self.contradicted.insert(user.user_id);
        }
        if let Some(email) = &user.email {
            let list = self
                .by_email
                .entry(email.trim().to_lowercase())
                .or_default();
            if !list.iter().any(|u| u.user_id == user.user_id) {
                list.push(user.clone());
            }
        }
        if let Some(phone) = phone_key(&user.phone_number) {
            let list = self.by_phone.entry(phone).or_default();
            if !list.iter().any(|u| u.user_id == user.user_id) {
                list.push(user.clone());
            }
        }
        self.by_id.insert(user.user_id, user);
    }
}

/// Every page of one filtered lookup, paged by the shared rules
/// ([`crate::api::list::read_all`]): a server that ignores the filter (a user matching no
/// identifier asked for) is stopped at its first page, and one that ignores the offset
/// at the page that repeats.
async fn fetch_all(client: &Client, lookup: &Lookup<'_>) -> Result<Vec<User>, ApiError> {
    let (emails, phones, ids) = lookup.parts();
    let asked = emails.len() + phones.len() + ids.len();
    let endpoint = "GET /users/v1/users";
    // An email or phone may name a few users (archived ones, namesakes); an ID names one.
    let most = (emails.len() + phones.len()) * 4 + ids.len();
    let rows = crate::api::list::read_all(
        endpoint,
        PAGE,
        most,
        |offset, limit| {
            let request = Users {
                emails,
                phones,
                ids,
                page: Page { offset, limit },
            };
            async move { client.read(&request).await }
        },
        |page| {
            // The journal keeps user IDs as SQLite integers: one past i64 would share rows.
            if let Some(huge) = page.iter().find(|u| i64::try_from(u.user_id).is_err()) {
                return Some(format!(
                    "answered user ID {}, past what a user ID can be (at most {})",
                    huge.user_id,
                    i64::MAX
                ));
            }
            page.iter()
                .find(|u| !asked_for(u, emails, phones, ids))
                .map(|stray| {
                    format!(
                        "answered user {} to a lookup of {asked} users, none of them that one: \
                     it ignored the filter, so ct-onboard stops rather than read the whole account",
                        stray.user_id
                    )
                })
        },
    )
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|u| seen.insert(u.user_id))
        .collect())
}

fn asked_for(user: &User, emails: &[String], phones: &[String], ids: &[u64]) -> bool {
    ids.contains(&user.user_id)
        || user
            .email
            .as_ref()
            .is_some_and(|e| emails.contains(&e.trim().to_lowercase()))
        || phone_key(&user.phone_number).is_some_and(|p| phones.contains(&p))
}

/// One kind of identifier to look users up by.
pub enum Lookup<'a> {
    Emails(&'a [String]),
    /// E.164.
    Phones(&'a [String]),
    Ids(&'a [u64]),
}

impl Lookup<'_> {
    /// `(emails, phones, ids)`, two of them empty.
    fn parts(&self) -> (&[String], &[String], &[u64]) {
        match self {
            Lookup::Emails(e) => (e, &[], &[]),
            Lookup::Phones(p) => (&[], p, &[]),
            Lookup::Ids(i) => (&[], &[], i),
        }
    }

    fn batches(&self) -> Vec<Lookup<'_>> {
        match self {
            Lookup::Emails(e) => e.chunks(LOOKUP_BATCH).map(Lookup::Emails).collect(),
            Lookup::Phones(p) => p.chunks(LOOKUP_BATCH).map(Lookup::Phones).collect(),
            Lookup::Ids(i) => i.chunks(LOOKUP_BATCH).map(Lookup::Ids).collect(),
        }
    }
}

/// A phone as the account wrote it, as E.164 for matching: `+`, then its digits (the
/// document's `+<country code><phone number>`; spaces or dashes dropped). `None` when it
/// has no digits.
pub fn phone_key(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("+{digits}"))
}

/// The plan with each valid row given its Connecteam user ID, or a problem: an email must
/// match exactly one active user; a user ID must exist and be active; two rows may not
/// name one user.
///
/// With `creating` (the sheet, under `--create-missing`), a row whose email or phone
/// matches no one is to be created instead, when it has what creating needs.
#[must_use]
pub fn resolve_users(
    plan: Plan,
    users: &UserDirectory,
    columns: &Columns,
    file: &str,
    creating: Option<&Creating<'_>>,
) -> Plan {
    let mut plan = plan;
    let mut first_row_of: HashMap<u64, u64> = HashMap::new();
    let mut phones_created: HashMap<String, u64> = HashMap::new();
    for row in plan.rows.iter_mut().filter(|r| r.is_valid()) {
        let (field, outcome) = match &row.identity {
            Some(Identity::Email(email)) => (Field::Email, match_email(email, users)),
            Some(Identity::Phone(phone)) => (Field::Phone, match_phone(phone, users)),
            Some(Identity::UserId(id)) => (Field::UserId, match_id(*id, users)),
            None => continue,
        };
        let column = columns.index(field).map(|c| columns.label(c));
        let outcome = outcome.and_then(|user_id| match &row.also_email {
            Some(email) => same_user(user_id, email, users),
            None => Ok(user_id),
        });
        match outcome {
            Ok(user_id) => {
                row.user_id = Some(user_id);
                if let Some(first) = first_row_of.get(&user_id) {
                    row.problems.push(Problem::in_row(
                        file,
                        row.number,
                        column,
                        format!("this is Connecteam user {user_id}, already on row {first}: each user may appear once"),
                    ));
                } else {
                    first_row_of.insert(user_id, row.number);
                }
            }
            Err(message) if users.knows_nobody(row) => {
                // Someone ct-onboard began creating (a run killed, an answer lost) whom
                // the account shows by phone only: that person, made by us.
                let ours = creating.and_then(|c| {
                    let phone = row.phone.as_ref()?;
                    let id = c
                        .begun
                        .contains(phone)
                        .then(|| users.active_by_phone(phone))??;
                    // The same person, not a phone typed again for someone else.
                    let user = users.user(id)?;
                    let cells = &c.sheet.rows[row.index];
                    let same = |field: Field, theirs: &str| {
                        columns
                            .index(field)
                            .and_then(|col| crate::input::values::text(cells.cell(col)))
                            .is_none_or(|ours| ours.trim().eq_ignore_ascii_case(theirs.trim()))
                    };
                    (same(Field::FirstName, &user.first_name)
                        && same(Field::LastName, &user.last_name))
                    .then_some(id)
                });
                if let Some(user_id) = ours {
                    row.user_id = Some(user_id);
                    continue;
                }
                let created = match creating {
                    None => Err(format!(
                        "{message} (--create-missing creates people who are not in Connecteam yet)"
                    )),
                    Some(c) => new_person(row, c.sheet, columns, users, &message),
                };
                match created {
                    Ok(person) => match phones_created.get(&person.phone) {
                        Some(first) => row.problems.push(Problem::in_row(
                            file,
                            row.number,
                            columns.index(Field::Phone).map(|c| columns.label(c)),
                            format!(
                                "the phone {} is also on row {first}, to be created: a phone is one person",
                                person.phone
                            ),
                        )),
                        None => {
                            phones_created.insert(person.phone.clone(), row.number);
                            row.person = Some(Box::new(person));
                        }
                    },
                    Err(message) => {
                        row.problems
                            .push(Problem::in_row(file, row.number, column, message));
                    }
                }
            }
            Err(message) => row
                .problems
                .push(Problem::in_row(file, row.number, column, message)),
        }
    }
    plan
}

/// What creating people (`--create-missing`) resolves with: the sheet (names), and the
/// phones of people the journal shows ct-onboard began creating on this account.
pub struct Creating<'a> {
    pub sheet: &'a Sheet,
    pub begun: std::collections::HashSet<String>,
}

/// The longest first or last name Connecteam takes.
const NAME_MAX: usize = 100;

/// The person a row that matches no one would create: its first and last name, its
/// phone (not anyone's already) and its email.
fn new_person(
    row: &crate::plan::PlanRow,
    sheet: &Sheet,
    columns: &Columns,
    users: &UserDirectory,
    not_found: &str,
) -> Result<NewPerson, String> {
    let cells = &sheet.rows[row.index];
    let text = |field: Field| {
        columns
            .index(field)
            .and_then(|c| crate::input::values::text(cells.cell(c)))
    };
    let (first_name, last_name) = (text(Field::FirstName), text(Field::LastName));
    let missing: Vec<&str> = [
        ("first_name", first_name.is_none()),
        ("last_name", last_name.is_none()),
        ("phone", row.phone.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, gone)| gone.then_some(name))
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{not_found}, and creating the person needs a first_name, last_name and phone: the row has no {}",
            missing.join(", no ")
        ));
    }
    let (first_name, last_name) = (
        first_name.unwrap_or_default(),
        last_name.unwrap_or_default(),
    );
    for (name, value) in [("first_name", &first_name), ("last_name", &last_name)] {
        if value.chars().count() > NAME_MAX {
            return Err(format!(
                "{not_found}, and its {name} is longer than the {NAME_MAX} characters Connecteam takes"
            ));
        }
    }
    let phone = row.phone.clone().unwrap_or_default();
    if let Some(holders) = users.by_phone.get(&phone).filter(|h| !h.is_empty()) {
        let ids: Vec<String> = holders.iter().map(|u| u.user_id.to_string()).collect();
        return Err(format!(
            "{not_found}, but the phone {phone} is user {}'s{}: a phone is one person in Connecteam, \
             so put that user's email or user_id on the row",
            ids.join(", "),
            if holders.iter().all(|u| u.is_archived) {
                " (archived)"
            } else {
                ""
            }
        ));
    }
    let email = match &row.identity {
        Some(Identity::Email(email)) => Some(email.clone()),
        _ => None,
    };
    Ok(NewPerson {
        first_name,
        last_name,
        phone,
        email,
        custom_fields: Vec::new(),
        state: crate::plan::Creation::Planned,
    })
}

/// Why a user the account answered twice, differently, is not believed.
fn contradicted(id: u64) -> String {
    format!(
        "the account answered user {id} twice, differently (active and archived, or two emails): \
         neither answer is believed"
    )
}

fn match_email(email: &str, users: &UserDirectory) -> Result<u64, String> {
    let matches = users
        .by_email
        .get(email)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match_one(matches, "email", email, users)
}

fn match_phone(phone: &str, users: &UserDirectory) -> Result<u64, String> {
    let matches = users
        .by_phone
        .get(phone)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match_one(matches, "phone", phone, users)
}

/// The one active user among those an email or a phone matched.
fn match_one(
    matches: &[User],
    what: &str,
    value: &str,
    users: &UserDirectory,
) -> Result<u64, String> {
    if let Some(u) = matches
        .iter()
        .find(|u| users.contradicted.contains(&u.user_id))
    {
        return Err(contradicted(u.user_id));
    }
    let active: Vec<&User> = matches.iter().filter(|u| !u.is_archived).collect();
    match active.as_slice() {
        [one] => Ok(one.user_id),
        [] if matches.is_empty() => Err(format!("no Connecteam user has the {what} {value}")),
        [] => Err(format!(
            "only archived users have the {what} {value} (IDs {}): restore the user, or give an active user's user_id",
            matches
                .iter()
                .map(|u| u.user_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        several => Err(format!(
            "{} active Connecteam users have the {what} {value} (IDs {}): put the right user_id in the sheet",
            several.len(),
            several
                .iter()
                .map(|u| u.user_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A row that gives both a user ID and an email: they must be one person.
fn same_user(user_id: u64, email: &str, users: &UserDirectory) -> Result<u64, String> {
    match match_email(email, users) {
        Ok(other) if other == user_id => Ok(user_id),
        Ok(other) => Err(format!(
            "user_id {user_id} and email {email} are two different Connecteam users (the email is user {other}): \
             fix one of them"
        )),
        Err(why) => Err(format!(
            "the row gives user_id {user_id} and email {email}, which do not match: {why}"
        )),
    }
}

fn match_id(id: u64, users: &UserDirectory) -> Result<u64, String> {
    if users.contradicted.contains(&id) {
        return Err(contradicted(id));
    }
    match users.by_id.get(&id) {
        Some(user) if user.is_archived => Err(format!("Connecteam user {id} is archived")),
        Some(_) => Ok(id),
        None => Err(format!("no Connecteam user has the ID {id}")),
    }
}

pub mod fields;

/// Every custom field of the account, paged to the empty page.
pub async fn custom_fields(
    client: &Client,
) -> Result<Vec<crate::api::model::CustomField>, ApiError> {
    crate::api::list::read_all(
        "GET /users/v1/custom-fields",
        500,
        10_000,
        |offset, limit| {
            let request = crate::api::endpoint::CustomFields {
                page: Page { offset, limit },
            };
            async move { client.read(&request).await }
        },
        |_| None,
    )
    .await
}

#[cfg(test)]
mod tests;
