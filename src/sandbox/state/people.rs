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
        for user in &made {
            self.users.insert(user.user_id, user.clone());
        }
        self.snapshot_counts.users_created += made.len() as u64;
        if send_activation {
            self.snapshot_counts.activation_sms += made.len() as u64;
        }
        ok(json!({ "results": made }))
    }
}

/// `+` and 8 to 15 digits: what the simulator takes as a phone.
fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}
