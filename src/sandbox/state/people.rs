//! The simulator's `POST /users/v1/users`, as the official document and guides describe
//! it: up to 25 people a request, all or nothing, every phone unique among all users
//! (archived ones included), `sendActivation` recorded.

use serde_json::{Value, json};

use super::{Reply, State, invalid, ok, request_id};
use crate::api::model::User;

/// The first ID the simulator gives a person it creates.
const FIRST_CREATED_ID: u64 = 20_000_000;

impl State {
    pub fn create_users(&mut self, query: &[(String, String)], body: &[u8], path: &str) -> Reply {
        let send_activation = match query.iter().find(|(k, _)| k == "sendActivation") {
            None => false,
            Some((_, v)) if v == "true" => true,
            Some((_, v)) if v == "false" => false,
            Some(_) => {
                return invalid(
                    &["query", "sendActivation"],
                    "value could not be parsed to a boolean",
                    "type_error.bool",
                );
            }
        };
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
            return invalid(&["body"], "value is not a valid list", "type_error.list");
        };
        if items.is_empty() || items.len() > 25 {
            return invalid(
                &["body"],
                "ensure this value has at least 1 and at most 25 items",
                "value_error.list",
            );
        }
        let mut made = Vec::with_capacity(items.len());
        let mut values = Vec::with_capacity(items.len());
        let first = self
            .users
            .keys()
            .next_back()
            .map_or(FIRST_CREATED_ID, |last| (last + 1).max(FIRST_CREATED_ID));
        for (i, item) in items.iter().enumerate() {
            let text = |field: &str| item.get(field).and_then(Value::as_str).map(str::trim);
            for field in ["firstName", "lastName", "phoneNumber", "userType"] {
                if text(field).is_none_or(str::is_empty) {
                    return invalid(
                        &["body", &i.to_string(), field],
                        "field required",
                        "value_error.missing",
                    );
                }
            }
            for field in ["firstName", "lastName"] {
                if text(field).is_some_and(|v| v.chars().count() > 100) {
                    return invalid(
                        &["body", &i.to_string(), field],
                        "ensure this value has at most 100 characters",
                        "value_error.any_str.max_length",
                    );
                }
            }
            if !matches!(text("userType"), Some("user" | "manager" | "owner")) {
                return invalid(
                    &["body", &i.to_string(), "userType"],
                    "value is not a valid enumeration member; permitted: 'user', 'manager', 'owner'",
                    "type_error.enum",
                );
            }
            let phone = text("phoneNumber").unwrap_or_default().to_owned();
            let taken = self.users.values().any(|u| u.phone_number == phone)
                || made.iter().any(|u: &User| u.phone_number == phone);
            let refused = self.faults.refuse_phones.contains(&phone);
            if taken || refused || !is_e164(&phone) {
                let message = match (taken, refused) {
                    (true, _) => format!("A user with the phone number {phone} already exists"),
                    (false, true) => format!("The phone number {phone} is not supported"),
                    (false, false) => format!("{phone} is not a valid phone number"),
                };
                return (
                    400,
                    json!({
                        "details": {"error_message": message, "error_code": "INVALID_PHONE_NUMBER", "index": i},
                        "error": message,
                        "path": path,
                        "request_id": request_id(),
                    }),
                );
            }
            let fields = match self.fields_of(item, i, path) {
                Ok(fields) => fields,
                Err(reply) => return reply,
            };
            values.push(fields);
            made.push(User {
                user_id: first + i as u64,
                first_name: text("firstName").unwrap_or_default().to_owned(),
                last_name: text("lastName").unwrap_or_default().to_owned(),
                email: text("email").filter(|e| !e.is_empty()).map(str::to_owned),
                phone_number: phone,
                user_type: text("userType").unwrap_or("user").to_owned(),
                is_archived: false,
            });
        }
        // All or nothing: only a request without a fault in it creates anyone.
        for (user, fields) in made.iter().zip(values) {
            self.users.insert(user.user_id, user.clone());
            if !fields.is_empty() {
                self.field_values.insert(user.user_id, fields);
            }
        }
        self.snapshot_counts.users_created += made.len() as u64;
        if send_activation {
            self.snapshot_counts.activation_sms += made.len() as u64;
        }
        ok(json!({ "results": made }))
    }
}

impl State {
    /// `GET /users/v1/custom-fields`: every field, with what the document requires of it.
    pub fn custom_fields(&self, query: &[(String, String)]) -> Reply {
        let (mut limit, mut offset) = (10usize, 0usize);
        for (key, value) in query {
            let number = value.parse::<usize>();
            match (key.as_str(), number) {
                ("limit", Ok(n)) if (1..=500).contains(&n) => limit = n,
                ("offset", Ok(n)) => offset = n,
                ("limit" | "offset", _) => {
                    return invalid(
                        &["query", key],
                        "ensure this value is a whole number within the limits",
                        "value_error.number",
                    );
                }
                _ => {}
            }
        }
        let rows: Vec<Value> = self
            .custom_fields
            .iter()
            .skip(offset)
            .take(limit)
            .map(|f| {
                let mut row = json!({
                    "id": f.id, "name": f.name, "categoryId": 1, "isRequired": false,
                    "isVisibleToAllAdmins": true, "isEditableForAllAdmins": true,
                    "isVisibleToUsers": true, "isEditableForUsers": false,
                    "type": f.kind.clone().unwrap_or_else(|| "str".into()),
                });
                if let Some(options) = &f.dropdown_options {
                    row["type"] = json!("dropdown");
                    row["isMultiSelect"] = json!(f.is_multi_select);
                    row["dropdownOptions"] = json!(options);
                }
                row
            })
            .collect();
        let next = offset + rows.len();
        (
            200,
            json!({"requestId": request_id(), "data": {"customFields": rows},
                   "paging": {"offset": next, "total": self.custom_fields.len()}}),
        )
    }

    /// A person's `customFields` as the account keeps them, or the refusal of a field it
    /// does not have or a dropdown value that is not one of its options.
    fn fields_of(&self, item: &Value, i: usize, path: &str) -> Result<Vec<Value>, Reply> {
        let Some(fields) = item.get("customFields").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        let refuse = |message: String| {
            (
                400,
                json!({"details": {"error_message": message, "error_code": "INVALID_CUSTOM_FIELD", "index": i},
                       "error": message, "path": path, "request_id": request_id()}),
            )
        };
        let mut kept = Vec::new();
        for field in fields {
            let id = field
                .get("customFieldId")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let Some(known) = self.custom_fields.iter().find(|f| f.id == id) else {
                return Err(refuse(format!("Custom field {id} does not exist")));
            };
            let value = field.get("value").cloned().unwrap_or(Value::Null);
            if let Some(options) = &known.dropdown_options {
                let ids: Option<Vec<u64>> = value.as_array().and_then(|a| {
                    a.iter()
                        .map(|o| o.get("id").and_then(Value::as_u64))
                        .collect()
                });
                let fits = ids.is_some_and(|ids| {
                    !ids.is_empty()
                        && (known.is_multi_select || ids.len() == 1)
                        && ids.iter().all(|id| options.iter().any(|o| o.id == *id))
                });
                if !fits {
                    return Err(refuse(format!(
                        "The value of dropdown field {id} must be [{{\"id\": N}}] with one of its options"
                    )));
                }
            }
            kept.push(json!({"customFieldId": id, "value": value,
                             "type": known.kind.clone().unwrap_or_else(|| "dropdown".into()),
                             "name": known.name}));
        }
        Ok(kept)
    }
}

/// `+` and 8 to 15 digits: what the simulator takes as a phone.
fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}
