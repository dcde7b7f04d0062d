//! The simulator's onboarding packs, as the official document describes them: the packs
//! listed (`GET /onboarding/v1/packs`), everyone on a pack listed whole
//! (`GET …/packs/{packId}/assignments`), and users put on a pack up to 500 a request,
//! all or nothing (`POST …/packs/{packId}/assignments`).

use serde_json::{Value, json};

use super::{Pending, Reply, State, invalid, not_found, ok, request_id};

/// One user on one pack, as the account keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackHolding {
    pub assignment_id: u64,
    pub pack_id: u64,
    pub user_id: u64,
    /// `in_progress` or `completed`.
    pub status: String,
    /// How many requests put the user on it (a second would be a second onboarding).
    pub times_set: u32,
}

/// Users a `POST` takes ("max: 500").
const MOST: usize = 500;

impl State {
    /// `GET /onboarding/v1/packs`.
    pub fn packs(&self) -> Reply {
        let packs: Vec<Value> = self
            .packs
            .iter()
            .map(|p| {
                json!({"id": p.id, "name": p.name, "isDefault": p.is_default,
                       "description": p.description.clone().unwrap_or_default()})
            })
            .collect();
        ok(json!({ "packs": packs }))
    }

    fn pack_id(&self, id: &str, path: &str) -> Result<u64, Reply> {
        let Ok(id) = id.parse::<u64>() else {
            return Err(invalid(
                &["path", "packId"],
                "value is not a valid integer",
                "type_error.integer",
            ));
        };
        match self.packs.iter().any(|p| p.id == id) {
            true => Ok(id),
            false => Err(not_found("Onboarding pack not found".into(), path)),
        }
    }

    /// `GET /onboarding/v1/packs/{packId}/assignments`: everyone on the pack, any status.
    pub fn pack_assignments(&mut self, id: &str, path: &str) -> Reply {
        if self.missing_reads {
            return (404, json!({"detail": "Not Found"}));
        }
        let pack = match self.pack_id(id, path) {
            Ok(pack) => pack,
            Err(reply) => return reply,
        };
        let mut rows: Vec<Value> = self
            .pack_holdings
            .iter()
            .filter(|h| h.pack_id == pack)
            .map(|h| {
                json!({"id": h.assignment_id, "userId": h.user_id, "status": h.status,
                       "isWaitingApproval": false})
            })
            .collect();
        rows.extend(self.extra_rows("pack_assignments", id, &|_| true));
        self.served_a_read();
        ok(json!({ "assignments": rows }))
    }

    /// `POST /onboarding/v1/packs/{packId}/assignments`: every user put on the pack, or
    /// (one unknown, listed twice, archived, or refused) none: "if any user ID is
    /// invalid, no assignments are created". Whether the real API refuses a user already
    /// on the pack is not documented: here it is taken, and counted (`times_set`), so
    /// that a test sees any second send.
    pub fn assign_pack(&mut self, id: &str, body: &[u8], path: &str) -> Reply {
        let pack = match self.pack_id(id, path) {
            Ok(pack) => pack,
            Err(reply) => return reply,
        };
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return invalid(&["body"], "value is not a valid dict", "type_error.dict");
        };
        let Some(items) = body.get("userIds").and_then(Value::as_array) else {
            return invalid(
                &["body", "userIds"],
                "field required",
                "value_error.missing",
            );
        };
        if items.len() > MOST {
            return invalid(
                &["body", "userIds"],
                "ensure this value has at most 500 items",
                "value_error.list.max_items",
            );
        }
        let mut users = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_u64() {
                Some(user) if user >= 1 => users.push(user),
                _ => {
                    return invalid(
                        &["body", "userIds", &i.to_string()],
                        "ensure this value is greater than or equal to 1",
                        "value_error.number.not_ge",
                    );
                }
            }
        }
        let refuse = |message: String, code: &str| {
            (
                400,
                json!({"details": {"error_message": message, "error_code": code},
                       "error": "The users could not be assigned to the pack", "path": path,
                       "request_id": request_id()}),
            )
        };
        for (i, &user) in users.iter().enumerate() {
            let at = ["body".to_owned(), "userIds".to_owned(), i.to_string()];
            let at: Vec<&str> = at.iter().map(String::as_str).collect();
            match self.users.get(&user) {
                None => return invalid(&at, &format!("user {user} not found"), "value_error"),
                Some(u) if u.is_archived => {
                    return refuse(format!("User {user} is archived"), "USER_ARCHIVED");
                }
                Some(_) => {}
            }
            if users[..i].contains(&user) {
                return invalid(&at, &format!("user {user} is listed twice"), "value_error");
            }
            if self.faults.refuse_pack_users.contains(&user) {
                return refuse(
                    format!("User {user} cannot be assigned onboarding packs"),
                    "USER_NOT_ELIGIBLE",
                );
            }
        }
        for user in users {
            if self.assigned_again(pack, user) {
                continue;
            }
            self.next_assignment_id += 1;
            let holding = PackHolding {
                assignment_id: self.next_assignment_id,
                pack_id: pack,
                user_id: user,
                status: "in_progress".into(),
                times_set: 1,
            };
            self.write(Pending::Pack(holding));
        }
        ok(json!({}))
    }

    /// Counts one more request for a user already on the pack (a write still hidden by
    /// lag included); whether they were.
    fn assigned_again(&mut self, pack: u64, user: u64) -> bool {
        let on = |h: &PackHolding| h.pack_id == pack && h.user_id == user;
        let held = self.pack_holdings.iter_mut().find(|h| on(h));
        let pending = self.pending.iter_mut().find_map(|(_, w)| match w {
            Pending::Pack(h) if on(h) => Some(h),
            _ => None,
        });
        match held.or(pending) {
            Some(h) => {
                h.times_set += 1;
                true
            }
            None => false,
        }
    }
}
