//! The API's JSON, as far as ct-onboard reads it. Unknown fields are ignored: the API
//! adds fields over time. Time-off policy IDs are strings; pay-rule policy IDs,
//! assignment IDs and user IDs are integers.

use serde::{Deserialize, Serialize};

/// Every success body: `{"requestId": "...", "data": {...}, "paging"?: {...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    #[serde(default)]
    pub request_id: Option<String>,
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Paging {
    #[serde(default)]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTypesData {
    pub policy_types: Vec<PolicyType>,
}

/// A time-off policy type (Vacation, Sick Leave…) and its policies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PolicyType {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub policies: Vec<TimeOffPolicyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeOffPolicyInfo {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accrual_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRulePoliciesData {
    /// Note the API's spelling: "payRulesPolicies".
    pub pay_rules_policies: Vec<PayRulePolicyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PayRulePolicyInfo {
    pub id: u64,
    pub name: String,
}

/// `data` of `GET /onboarding/v1/packs`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PacksData {
    pub packs: Vec<PackInfo>,
}

/// An onboarding pack (`PackResponse`: `id`, `name`, `isDefault` required).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackInfo {
    pub id: u64,
    pub name: String,
    #[serde(alias = "is_default")]
    pub is_default: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `POST /onboarding/v1/packs/{packId}/assignments` (`AssignmentsCreateRequest`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackAssignment {
    pub user_ids: Vec<u64>,
}

/// `data` of `GET /me`: the company behind the API key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub company_id: String,
    pub company_name: String,
}

impl std::fmt::Display for Company {
    /// `Northwind Foods (company 8c1f…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (company {})", self.company_name, self.company_id)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UsersData {
    pub users: Vec<User>,
}

/// `POST /users/v1/users`'s answer: the users created.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedUsersData {
    pub results: Vec<User>,
}

/// One person to create (`UserCreateRequest`): a user-type user with a name and a phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    /// E.164.
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub user_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<FieldValue>,
}

/// A custom field's value on a person created (`BaseCustomField`): a dropdown's is
/// `[{"id": N}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldValue {
    pub custom_field_id: u64,
    pub value: serde_json::Value,
}

/// `GET /users/v1/custom-fields`: one custom field and, for a dropdown, its options.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomField {
    pub id: u64,
    pub name: String,
    /// `str`, `number`, `date`, `email`, `phone`, `dropdown`, … (a dropdown may leave it out).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub dropdown_options: Option<Vec<DropdownOption>>,
    #[serde(default)]
    pub is_multi_select: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DropdownOption {
    pub id: u64,
    pub value: String,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub is_disabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFieldsData {
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: u64,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Required by the official schema; read leniently (ct-onboard does not need it yet).
    #[serde(default)]
    pub phone_number: String,
    /// `user`, `manager` or `owner`.
    #[serde(default = "user_type")]
    pub user_type: String,
    #[serde(default)]
    pub is_archived: bool,
}

fn user_type() -> String {
    "user".into()
}

/// The body of a time-off assignment: balance and unit together, or neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeOffAssignment {
    pub user_id: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::float_option"
    )]
    pub balance: Option<rust_decimal::Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The body of a pay-rule assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRuleAssignment {
    pub user_id: u64,
    pub effective_date: jiff::civil::Date,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRuleAssigned {
    pub assignment_id: u64,
}

/// `data` of `GET /time-off/v1/policy-types/{id}/balances`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BalancesData {
    pub balances: Vec<Balance>,
}

/// What one user holds in one time-off type: the policy and its balance.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    pub user_id: u64,
    #[serde(default)]
    pub units: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    pub balance: rust_decimal::Decimal,
    /// Documented since 2026-07; a server without it cannot say which policy is held.
    pub policy_id: String,
}

/// `data` of `GET /company-policies/v1/pay-rule-policies/{id}/assignments`. The shape
/// is unpublished: read tolerantly, and anything else is "holdings unknown".
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PayRuleAssignmentsData {
    pub assignments: Vec<PayRuleHeld>,
}

/// One pay-rule assignment in effect on the date asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRuleHeld {
    #[serde(default)]
    pub assignment_id: Option<u64>,
    pub user_id: u64,
    pub pay_rule_policy_id: u64,
    pub effective_date: jiff::civil::Date,
}

/// `data` of a response ct-onboard does not read (`{}`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_go_out_as_json_numbers_and_absent_ones_not_at_all() {
        let with = TimeOffAssignment {
            user_id: 9_170_357,
            balance: Some("12.50".parse().unwrap()),
            unit: Some("days".into()),
        };
        assert_eq!(
            serde_json::to_string(&with).unwrap(),
            r#"{"userId":9170357,"balance":12.5,"unit":"days"}"#
        );
        let without = TimeOffAssignment {
            user_id: 1,
            balance: None,
            unit: None,
        };
        assert_eq!(serde_json::to_string(&without).unwrap(), r#"{"userId":1}"#);
        let date = PayRuleAssignment {
            user_id: 1,
            effective_date: jiff::civil::date(2027, 1, 4),
        };
        assert_eq!(
            serde_json::to_string(&date).unwrap(),
            r#"{"userId":1,"effectiveDate":"2027-01-04"}"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let body = r#"{"requestId":"r","data":{"payRulesPolicies":[{"id":12345,"name":"Standard Hourly","isDefaultForNewUsers":true,"payRules":[]}]},"extra":1}"#;
        let e: Envelope<PayRulePoliciesData> = serde_json::from_str(body).unwrap();
        assert_eq!(e.data.unwrap().pay_rules_policies[0].id, 12345);
    }
}
