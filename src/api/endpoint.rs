//! The one table of the Connecteam endpoints ct-onboard calls: method, path, paging
//! limits, and (as [`Request`]s) what each sends and what its data is. The raw client
//! builds its requests from it, the gateway sends them, and the sandbox routes by it.
//! Adding an endpoint is one entry here and its handler in the sandbox.

use serde_json::Value;

use super::list::{Collection, Listing};
use super::model::{
    Company, CreatedUsersData, CustomField, CustomFieldsData, NewUser, PackAssignment, PackInfo,
    PacksData, Paging, PayRuleAssigned, PayRuleAssignment, PayRulePoliciesData, PayRulePolicyInfo,
    PolicyType, PolicyTypesData, TimeOffAssignment, User, UsersData,
};

/// Every endpoint ct-onboard calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Me,
    PolicyTypes,
    PayRulePolicies,
    Users,
    Balances,
    PayRuleAssignments,
    AssignTimeOff,
    AssignPayRule,
    CreateUsers,
    CustomFields,
    Packs,
    PackAssignments,
    AssignPack,
}

/// One endpoint's row of the table.
struct Entry {
    method: &'static str,
    /// The path, `{id}` standing for its one path parameter.
    template: &'static str,
    /// `limit`'s default and official maximum, for a paged list.
    limits: Option<(u64, u64)>,
}

impl Endpoint {
    pub const ALL: [Endpoint; 13] = [
        Endpoint::Me,
        Endpoint::PolicyTypes,
        Endpoint::PayRulePolicies,
        Endpoint::Users,
        Endpoint::Balances,
        Endpoint::PayRuleAssignments,
        Endpoint::AssignTimeOff,
        Endpoint::AssignPayRule,
        Endpoint::CreateUsers,
        Endpoint::CustomFields,
        Endpoint::Packs,
        Endpoint::PackAssignments,
        Endpoint::AssignPack,
    ];

    const fn entry(self) -> Entry {
        let (method, template, limits) = match self {
            Endpoint::Me => ("GET", "/me", None),
            Endpoint::PolicyTypes => ("GET", "/time-off/v1/policy-types", None),
            Endpoint::PayRulePolicies => ("GET", "/company-policies/v1/pay-rule-policies", None),
            Endpoint::Users => ("GET", "/users/v1/users", Some((10, 500))),
            Endpoint::Balances => (
                "GET",
                "/time-off/v1/policy-types/{id}/balances",
                Some((10, 100)),
            ),
            Endpoint::PayRuleAssignments => (
                "GET",
                "/company-policies/v1/pay-rule-policies/{id}/assignments",
                Some((100, 500)),
            ),
            Endpoint::AssignTimeOff => (
                "PUT",
                "/time-off/v1/time-off-policies/{id}/assignments",
                None,
            ),
            Endpoint::AssignPayRule => (
                "PUT",
                "/company-policies/v1/pay-rule-policies/{id}/assignments",
                None,
            ),
            Endpoint::CreateUsers => ("POST", "/users/v1/users", None),
            Endpoint::CustomFields => ("GET", "/users/v1/custom-fields", Some((10, 500))),
            Endpoint::Packs => ("GET", "/onboarding/v1/packs", None),
            Endpoint::PackAssignments => ("GET", "/onboarding/v1/packs/{id}/assignments", None),
            Endpoint::AssignPack => ("POST", "/onboarding/v1/packs/{id}/assignments", None),
        };
        Entry {
            method,
            template,
            limits,
        }
    }

    pub fn method(self) -> &'static str {
        self.entry().method
    }

    /// `GET /time-off/v1/policy-types/{id}/balances`: how messages and counts name it.
    pub fn name(self) -> String {
        format!("{} {}", self.method(), self.entry().template)
    }

    pub fn is_write(self) -> bool {
        self.method() != "GET"
    }

    /// `limit`'s default and official maximum, for a paged list.
    pub fn limits(self) -> Option<(u64, u64)> {
        self.entry().limits
    }

    /// The path with its parameter percent-encoded as one segment.
    pub fn path(self, id: Option<&str>) -> String {
        let template = self.entry().template;
        match id {
            Some(id) => template.replace("{id}", &path_segment(id)),
            None => template.to_owned(),
        }
    }

    /// The endpoint a method and path are, with the path parameter decoded.
    pub fn parse(method: &str, path: &str) -> Option<(Endpoint, Option<String>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Endpoint::ALL.into_iter().find_map(|endpoint| {
            let entry = endpoint.entry();
            if entry.method != method {
                return None;
            }
            let template: Vec<&str> = entry.template.trim_start_matches('/').split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut id = None;
            for (want, got) in template.iter().zip(&segments) {
                match *want {
                    "{id}" => id = Some(percent_decode(got)),
                    literal if literal == *got => {}
                    _ => return None,
                }
            }
            Some((endpoint, id))
        })
    }
}

/// Percent-encodes text as exactly one URL path segment: only unreserved characters stay
/// as they are, so `/`, `?`, `#`, `%` and even `.`/`..` cannot change the path.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request of one endpoint: what it sends, and what its answer's `data` becomes.
/// Array query parameters are repeated keys (`userIds=1&userIds=2`), as the official
/// document's defaults say.
pub trait Request {
    const ENDPOINT: Endpoint;
    type Data;

    /// The path parameter, if the endpoint has one.
    fn id(&self) -> Option<String> {
        None
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn body(&self) -> Option<Value> {
        None
    }

    /// Whether sending it twice does no harm, so that an unclear answer (a timeout, a
    /// dropped connection, a 5xx) may be retried blindly. A creation is not: it is looked
    /// up instead.
    const REPLAY_SAFE: bool = true;

    /// The answer's `data` (with its `paging`), or why it cannot be read, in words that
    /// follow the endpoint's name (`answered …`).
    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String>;
}

fn parse<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, String> {
    serde_json::from_value(data).map_err(|e| format!("answered what cannot be read: {e}"))
}

/// A listing documented as unpaged must be whole: a `paging.total` past what came means
/// some of it is missing (a policy a user holds would be invisible).
fn whole<T>(rows: Vec<T>, paging: Option<Paging>) -> Result<Vec<T>, String> {
    match paging.and_then(|p| p.total) {
        Some(total) if total > rows.len() as u64 => Err(format!(
            "answered {} of the {total} it says there are (it is documented as unpaged): not believed",
            rows.len()
        )),
        _ => Ok(rows),
    }
}

/// The paging parameters of one page.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

impl Page {
    /// `limit` and `offset`, the limit within the endpoint's official maximum.
    fn query(self, endpoint: Endpoint) -> [(&'static str, String); 2] {
        let most = endpoint.limits().map_or(self.limit, |(_, most)| most);
        [
            ("limit", self.limit.clamp(1, most).to_string()),
            ("offset", self.offset.to_string()),
        ]
    }
}

fn repeated<'a>(
    name: &'static str,
    values: impl IntoIterator<Item = String> + 'a,
) -> impl Iterator<Item = (&'static str, String)> + 'a {
    values.into_iter().map(move |v| (name, v))
}

/// `GET /me`: which company the key is for.
pub struct Me;

impl Request for Me {
    const ENDPOINT: Endpoint = Endpoint::Me;
    type Data = Company;

    fn data(data: Value, _: Option<Paging>) -> Result<Self::Data, String> {
        let company = parse::<Company>(data)?;
        if company.company_id.trim().is_empty() {
            return Err("answered a company without an ID: not believed".into());
        }
        Ok(company)
    }
}

/// `GET /time-off/v1/policy-types`: every policy type with its policies.
pub struct PolicyTypes;

impl Request for PolicyTypes {
    const ENDPOINT: Endpoint = Endpoint::PolicyTypes;
    type Data = Vec<PolicyType>;

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        whole(parse::<PolicyTypesData>(data)?.policy_types, paging)
    }
}

/// `GET /company-policies/v1/pay-rule-policies`: every enabled pay-rule policy.
pub struct PayRulePolicies;

impl Request for PayRulePolicies {
    const ENDPOINT: Endpoint = Endpoint::PayRulePolicies;
    type Data = Vec<PayRulePolicyInfo>;

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        whole(
            parse::<PayRulePoliciesData>(data)?.pay_rules_policies,
            paging,
        )
    }
}

/// `GET /users/v1/users` for some emails, phones and user IDs, archived users included.
pub struct Users<'a> {
    pub emails: &'a [String],
    /// E.164, as the document's `phoneNumbers` says.
    pub phones: &'a [String],
    pub ids: &'a [u64],
    pub page: Page,
}

impl Request for Users<'_> {
    const ENDPOINT: Endpoint = Endpoint::Users;
    type Data = Listing<User>;

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("userStatus", "all".to_owned())];
        query.extend(self.page.query(Self::ENDPOINT));
        query.extend(repeated("emailAddresses", self.emails.iter().cloned()));
        query.extend(repeated("phoneNumbers", self.phones.iter().cloned()));
        query.extend(repeated("userIds", self.ids.iter().map(u64::to_string)));
        query
    }

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        Ok(Listing {
            rows: parse::<UsersData>(data)?.users,
            total: paging.and_then(|p| p.total),
        })
    }
}

/// `GET /time-off/v1/policy-types/{id}/balances` for some users: what each holds in the
/// type (a user with no row holds none of it). Its rows are read by the caller, one by
/// one, so that one that does not parse is one user's doubt.
pub struct Balances<'a> {
    pub policy_type: &'a str,
    pub users: &'a [u64],
    pub page: Page,
}

impl Request for Balances<'_> {
    const ENDPOINT: Endpoint = Endpoint::Balances;
    type Data = Listing;

    fn id(&self) -> Option<String> {
        Some(self.policy_type.to_owned())
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query: Vec<_> = self.page.query(Self::ENDPOINT).into();
        query.extend(repeated("userIds", self.users.iter().map(u64::to_string)));
        query
    }

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        listing(data, paging, "balances", false)
    }
}

/// `GET /company-policies/v1/pay-rule-policies/{id}/assignments`: the assignments of
/// this policy in effect on `date` for some users. The shape is unpublished: read
/// tolerantly, row by row, by the caller.
pub struct PayRuleAssignments<'a> {
    pub policy: u64,
    pub users: &'a [u64],
    pub date: jiff::civil::Date,
    pub page: Page,
}

impl Request for PayRuleAssignments<'_> {
    const ENDPOINT: Endpoint = Endpoint::PayRuleAssignments;
    type Data = Listing;

    fn id(&self) -> Option<String> {
        Some(self.policy.to_string())
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("date", self.date.to_string())];
        query.extend(self.page.query(Self::ENDPOINT));
        query.extend(repeated("userIds", self.users.iter().map(u64::to_string)));
        query
    }

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        listing(data, paging, "assignments", true)
    }
}

fn listing(
    data: Value,
    paging: Option<Paging>,
    name: &'static str,
    tolerant: bool,
) -> Result<Listing, String> {
    let rows = Collection { name, tolerant }
        .rows(data)
        .ok_or_else(|| format!("answered no `{name}` list in its data"))?;
    Ok(Listing {
        rows,
        total: paging.and_then(|p| p.total),
    })
}

/// `PUT /time-off/v1/time-off-policies/{id}/assignments`.
pub struct AssignTimeOff<'a> {
    pub policy: &'a str,
    pub body: &'a TimeOffAssignment,
}

impl Request for AssignTimeOff<'_> {
    const ENDPOINT: Endpoint = Endpoint::AssignTimeOff;
    type Data = ();

    fn id(&self) -> Option<String> {
        Some(self.policy.to_owned())
    }

    fn body(&self) -> Option<Value> {
        serde_json::to_value(self.body).ok()
    }

    fn data(_: Value, _: Option<Paging>) -> Result<Self::Data, String> {
        Ok(())
    }
}

/// `GET /users/v1/custom-fields`: the account's custom fields, a page of them.
pub struct CustomFields {
    pub page: Page,
}

impl Request for CustomFields {
    const ENDPOINT: Endpoint = Endpoint::CustomFields;
    type Data = Listing<CustomField>;

    fn query(&self) -> Vec<(&'static str, String)> {
        self.page.query(Self::ENDPOINT).to_vec()
    }

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        Ok(Listing {
            rows: parse::<CustomFieldsData>(data)?.custom_fields,
            total: paging.and_then(|p| p.total),
        })
    }
}

/// `POST /users/v1/users`: up to [`CREATE_BATCH`] people created, all or nothing; the
/// answer lists the users made. Never retried blindly ([`Request::REPLAY_SAFE`]).
pub struct CreateUsers<'a> {
    pub people: &'a [NewUser],
    pub send_activation: bool,
}

/// People a `POST /users/v1/users` takes ("the current limitation on batch actions for
/// the users API is 25 users per request").
pub const CREATE_BATCH: usize = 25;

impl Request for CreateUsers<'_> {
    const ENDPOINT: Endpoint = Endpoint::CreateUsers;
    const REPLAY_SAFE: bool = false;
    type Data = Vec<User>;

    fn query(&self) -> Vec<(&'static str, String)> {
        vec![("sendActivation", self.send_activation.to_string())]
    }

    fn body(&self) -> Option<Value> {
        serde_json::to_value(self.people).ok()
    }

    fn data(data: Value, _: Option<Paging>) -> Result<Self::Data, String> {
        Ok(parse::<CreatedUsersData>(data)?.results)
    }
}

/// `GET /onboarding/v1/packs`: every onboarding pack of the account (unpaged).
pub struct Packs;

impl Request for Packs {
    const ENDPOINT: Endpoint = Endpoint::Packs;
    type Data = Vec<PackInfo>;

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        whole(parse::<PacksData>(data)?.packs, paging)
    }
}

/// `GET /onboarding/v1/packs/{packId}/assignments`: everyone on the pack, any status
/// (unpaged, unfiltered). Its rows are read by the caller, one by one.
pub struct PackAssignments {
    pub pack: u64,
}

impl Request for PackAssignments {
    const ENDPOINT: Endpoint = Endpoint::PackAssignments;
    type Data = Vec<Value>;

    fn id(&self) -> Option<String> {
        Some(self.pack.to_string())
    }

    fn data(data: Value, paging: Option<Paging>) -> Result<Self::Data, String> {
        let total = paging.as_ref().and_then(|p| p.total);
        let rows = listing(data, paging, "assignments", false)?.rows;
        whole(
            rows,
            total.map(|total| Paging {
                offset: 0,
                total: Some(total),
            }),
        )
    }
}

/// Users a `POST /onboarding/v1/packs/{packId}/assignments` takes ("max: 500").
pub const PACK_BATCH: usize = 500;

/// `POST /onboarding/v1/packs/{packId}/assignments`: up to [`PACK_BATCH`] users put on
/// the pack, all or nothing. Not retried blindly: an unclear answer is looked up.
pub struct AssignPack<'a> {
    pub pack: u64,
    pub body: &'a PackAssignment,
}

impl Request for AssignPack<'_> {
    const ENDPOINT: Endpoint = Endpoint::AssignPack;
    const REPLAY_SAFE: bool = false;
    type Data = ();

    fn id(&self) -> Option<String> {
        Some(self.pack.to_string())
    }

    fn body(&self) -> Option<Value> {
        serde_json::to_value(self.body).ok()
    }

    fn data(_: Value, _: Option<Paging>) -> Result<Self::Data, String> {
        Ok(())
    }
}

/// `PUT /company-policies/v1/pay-rule-policies/{id}/assignments`: the assignment's ID.
pub struct AssignPayRule<'a> {
    pub policy: u64,
    pub body: &'a PayRuleAssignment,
}

impl Request for AssignPayRule<'_> {
    const ENDPOINT: Endpoint = Endpoint::AssignPayRule;
    type Data = u64;

    fn id(&self) -> Option<String> {
        Some(self.policy.to_string())
    }

    fn body(&self) -> Option<Value> {
        serde_json::to_value(self.body).ok()
    }

    fn data(data: Value, _: Option<Paging>) -> Result<Self::Data, String> {
        Ok(parse::<PayRuleAssigned>(data)?.assignment_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_decoded_ids_and_build_their_paths() {
        assert_eq!(
            Endpoint::parse(
                "PUT",
                "/time-off/v1/time-off-policies/a%2Fb%20c/assignments"
            ),
            Some((Endpoint::AssignTimeOff, Some("a/b c".into())))
        );
        assert_eq!(
            Endpoint::parse("GET", "/users/v1/users"),
            Some((Endpoint::Users, None))
        );
        assert_eq!(
            Endpoint::parse("POST", "/users/v1/users"),
            Some((Endpoint::CreateUsers, None))
        );
        assert_eq!(Endpoint::parse("DELETE", "/users/v1/users"), None);
        assert_eq!(Endpoint::parse("GET", "/users/v1/users/7"), None);
        assert_eq!(percent_decode("%E9%"), "\u{fffd}%");
        for endpoint in Endpoint::ALL {
            let path = endpoint.path(Some("x/../y"));
            assert_eq!(
                Endpoint::parse(endpoint.method(), &path).map(|(e, _)| e),
                Some(endpoint),
                "{path}"
            );
        }
    }

    #[test]
    fn policy_ids_are_one_path_segment() {
        assert_eq!(path_segment("pol-vac-ft-001"), "pol-vac-ft-001");
        assert_eq!(path_segment("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn lists_are_repeated_keys_and_limits_stay_within_the_maximum() {
        let balances = Balances {
            policy_type: "t",
            users: &[1, 2],
            page: Page {
                offset: 0,
                limit: 250,
            },
        };
        assert_eq!(
            balances.query(),
            [
                ("limit", "100".to_owned()),
                ("offset", "0".to_owned()),
                ("userIds", "1".to_owned()),
                ("userIds", "2".to_owned())
            ]
        );
    }

    #[test]
    fn a_listing_documented_as_unpaged_must_be_whole() {
        let data = serde_json::json!({"payRulesPolicies": [{"id": 1, "name": "A"}]});
        let paging = Paging {
            offset: 0,
            total: Some(2),
        };
        let error = PayRulePolicies::data(data, Some(paging)).unwrap_err();
        assert!(error.contains("1 of the 2"), "{error}");
    }
}
