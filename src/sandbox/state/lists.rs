//! The simulator's list reads: users, balances, pay-rule assignments on a date, with the
//! official paging (`limit` within each endpoint's maximum, `offset`, `paging.total`)
//! and the faults a real server's lists show (short pages, an ignored filter, extra rows,
//! datetimes, a missing list).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{PayRuleHolding, Reply, State, invalid, not_found, request_id};
use crate::api::model::User;
use crate::sandbox::Faults;

/// A list endpoint's `userIds` filter and `limit`/`offset` paging.
struct Page {
    user_ids: Vec<u64>,
    limit: u64,
    offset: u64,
}

impl Page {
    /// The filter and paging of a query; `limit` defaults to `default_limit` and may not
    /// pass `max_limit` (each endpoint's official maximum).
    fn read(query: &[(String, String)], default_limit: u64, max_limit: u64) -> Result<Page, Reply> {
        let mut page = Page {
            user_ids: Vec::new(),
            limit: default_limit,
            offset: 0,
        };
        for (key, value) in query {
            let number = |loc: &str| {
                value.parse::<u64>().map_err(|_| {
                    invalid(
                        &["query", loc],
                        "value is not a valid integer",
                        "type_error.integer",
                    )
                })
            };
            match key.as_str() {
                "userIds" => page.user_ids.push(user_id(value)?),
                "limit" => page.limit = number("limit")?,
                "offset" => page.offset = number("offset")?,
                _ => {}
            }
        }
        if page.limit == 0 || page.limit > max_limit {
            return Err(invalid(
                &["query", "limit"],
                &format!("ensure this value is between 1 and {max_limit}"),
                "value_error.number",
            ));
        }
        Ok(page)
    }

    fn wants(&self, user_id: u64) -> bool {
        self.user_ids.is_empty() || self.user_ids.contains(&user_id)
    }

    /// One page of `rows`; at most `page_size` of them when the server ignores `limit`,
    /// and `paging.total` unless the server leaves it out.
    fn reply(&self, collection: &str, rows: Vec<Value>, faults: &Faults) -> Reply {
        let page_size = faults.page_size;
        let total = rows.len() as u64;
        let size = page_size.map_or(self.limit, |size| size.min(self.limit));
        let page: Vec<Value> = rows
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(size).unwrap_or(500))
            .collect();
        let next = self.offset + page.len() as u64;
        let paging = match faults.no_paging_total {
            true => json!({"offset": next}),
            false => json!({"offset": next, "total": total}),
        };
        (
            200,
            json!({"requestId": request_id(), "data": {collection: page}, "paging": paging}),
        )
    }
}

/// One `userIds` value: an array parameter comes as repeated keys, each a whole number
/// of at least 1 (the official schema), so `1,2` and `0` are refused as the API would.
fn user_id(value: &str) -> Result<u64, Reply> {
    match value.parse::<u64>() {
        Ok(id) if id >= 1 => Ok(id),
        Ok(_) => Err(invalid(
            &["query", "userIds"],
            "ensure this value is greater than or equal to 1",
            "value_error.number.not_ge",
        )),
        Err(_) => Err(invalid(
            &["query", "userIds"],
            "value is not a valid integer",
            "type_error.integer",
        )),
    }
}

impl State {
    /// `GET /time-off/v1/policy-types/{id}/balances`: what each asked-for user holds in
    /// the type, one row per user who holds a policy of it.
    pub fn balances(&mut self, type_id: &str, query: &[(String, String)], path: &str) -> Reply {
        if self.missing_reads {
            return (404, json!({"detail": "Not Found"}));
        }
        let Some(policy_type) = self.policy_types.iter().find(|t| t.id == type_id) else {
            return not_found(format!("Policy type {type_id} not found"), path);
        };
        let unit_of = |policy_id: &str| {
            policy_type
                .policies
                .iter()
                .find(|p| p.id == policy_id)
                .and_then(|p| p.unit.clone())
                .unwrap_or_else(|| "days".into())
        };
        let page = match Page::read(query, 10, 100) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let ignored = self
            .faults
            .ignore_user_filter
            .iter()
            .any(|l| l == "balances");
        let wants = |user| ignored || page.wants(user);
        let mut rows: Vec<Value> = self
            .time_off
            .values()
            .filter(|h| h.policy_type_id == type_id && wants(h.user_id))
            .map(|h| {
                // The official schema: every field required, `units` the policy's.
                json!({"userId": h.user_id, "units": h.unit.clone().unwrap_or_else(|| unit_of(&h.policy_id)),
                       "balance": h.balance.unwrap_or(0.0), "policyId": h.policy_id})
            })
            .collect();
        rows.extend(self.extra_rows("balances", type_id, &wants));
        let reply = page.reply("balances", rows, &self.faults);
        self.served_a_read();
        reply
    }

    /// The seed's extra rows for this list, as far as the filter lets them through.
    pub(super) fn extra_rows(
        &self,
        list: &str,
        id: &str,
        wants: &dyn Fn(u64) -> bool,
    ) -> Vec<Value> {
        self.faults
            .extra_rows
            .iter()
            .filter(|extra| extra.list == list && extra.id == id)
            .filter(|extra| {
                extra
                    .row
                    .get("userId")
                    .and_then(Value::as_u64)
                    .is_none_or(wants)
            })
            .map(|extra| extra.row.clone())
            .collect()
    }

    /// `GET /company-policies/v1/pay-rule-policies/{id}/assignments`: the asked-for users'
    /// assignments of this policy in effect on `date` (today when absent).
    pub fn pay_rule_assignments(
        &mut self,
        policy_id: &str,
        query: &[(String, String)],
        path: &str,
    ) -> Reply {
        if self.missing_reads {
            return (404, json!({"detail": "Not Found"}));
        }
        if let Some(status) = self.faults.pay_rule_list_status {
            let detail = if status == 405 {
                "Method Not Allowed"
            } else {
                "Not Found"
            };
            return (status, json!({ "detail": detail }));
        }
        let Some(policy_id) = policy_id
            .parse::<u64>()
            .ok()
            .filter(|id| self.pay_rule_policies.iter().any(|p| p.id == *id))
        else {
            return not_found(format!("Pay rule policy {policy_id} not found"), path);
        };
        let page = match Page::read(query, 100, 500) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let date = match query.iter().find(|(k, _)| k == "date") {
            None => jiff::Zoned::now().date().to_string(),
            Some((_, v)) if v.parse::<jiff::civil::Date>().is_ok() => v.clone(),
            Some(_) => {
                return invalid(
                    &["query", "date"],
                    "invalid date format",
                    "value_error.date",
                );
            }
        };
        // In effect on a date: each user's latest assignment dated on or before it.
        let mut in_effect: BTreeMap<u64, &PayRuleHolding> = BTreeMap::new();
        for h in self.pay_rules.iter().filter(|h| h.effective_date <= date) {
            let later = in_effect
                .get(&h.user_id)
                .is_none_or(|held| held.effective_date <= h.effective_date);
            if later {
                in_effect.insert(h.user_id, h);
            }
        }
        let ignored = self
            .faults
            .ignore_user_filter
            .iter()
            .any(|l| l == "pay_rule_assignments");
        let wants = |user| ignored || page.wants(user);
        let datetimes = self.faults.pay_rule_datetimes;
        let mut rows: Vec<Value> = in_effect
            .values()
            .filter(|h| h.policy_id == policy_id && wants(h.user_id))
            .map(|h| {
                let date = match datetimes {
                    true => format!("{}T00:00:00Z", h.effective_date),
                    false => h.effective_date.clone(),
                };
                json!({"assignmentId": h.assignment_id, "userId": h.user_id,
                       "payRulePolicyId": h.policy_id, "effectiveDate": date})
            })
            .collect();
        rows.extend(self.extra_rows("pay_rule_assignments", &policy_id.to_string(), &wants));
        let reply = page.reply("assignments", rows, &self.faults);
        self.served_a_read();
        reply
    }

    /// `GET /users/v1/users` with its filters; `query` is the raw query's pairs.
    pub fn users(&self, query: &[(String, String)]) -> Reply {
        let mut emails: Vec<String> = Vec::new();
        let mut phones: Vec<String> = Vec::new();
        let mut ids: Vec<u64> = Vec::new();
        let (mut status, mut limit, mut offset) = ("active".to_owned(), 10u64, 0u64);
        for (key, value) in query {
            match key.as_str() {
                "emailAddresses" => emails.push(value.trim().to_lowercase()),
                // `+<country code><phone number>`, as the document says.
                "phoneNumbers" => match value.strip_prefix('+') {
                    Some(digits)
                        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        phones.push(value.clone());
                    }
                    _ => {
                        return invalid(
                            &["query", "phoneNumbers"],
                            "phone numbers are in the format +<country code><phone number>",
                            "value_error",
                        );
                    }
                },
                "userIds" => match user_id(value) {
                    Ok(id) => ids.push(id),
                    Err(reply) => return reply,
                },
                "userStatus" => status.clone_from(value),
                "limit" => match value.parse() {
                    Ok(n) if (1..=500).contains(&n) => limit = n,
                    _ => {
                        return invalid(
                            &["query", "limit"],
                            "ensure this value is between 1 and 500",
                            "value_error.number",
                        );
                    }
                },
                "offset" => match value.parse() {
                    Ok(n) => offset = n,
                    Err(_) => {
                        return invalid(
                            &["query", "offset"],
                            "value is not a valid integer",
                            "type_error.integer",
                        );
                    }
                },
                _ => {}
            }
        }
        if !["active", "archived", "all"].contains(&status.as_str()) {
            return invalid(
                &["query", "userStatus"],
                "value is not a valid enumeration member",
                "type_error.enum",
            );
        }
        let matching: Vec<&User> = self
            .users
            .values()
            .filter(|u| match status.as_str() {
                "active" => !u.is_archived,
                "archived" => u.is_archived,
                _ => true,
            })
            .filter(|u| ids.is_empty() || ids.contains(&u.user_id))
            .filter(|u| {
                emails.is_empty()
                    || u.email
                        .as_ref()
                        .is_some_and(|e| emails.contains(&e.to_lowercase()))
            })
            .filter(|u| phones.is_empty() || phones.contains(&u.phone_number))
            .collect();
        let total = matching.len() as u64;
        let size = self.faults.page_size.map_or(limit, |size| size.min(limit));
        let page: Vec<&User> = matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(size).unwrap_or(500))
            .collect();
        let next = offset + page.len() as u64;
        (
            200,
            match self.faults.no_paging_total {
                true => {
                    json!({"requestId": request_id(), "data": {"users": page}, "paging": {"offset": next}})
                }
                false => {
                    json!({"requestId": request_id(), "data": {"users": page}, "paging": {"offset": next, "total": total}})
                }
            },
        )
    }
}
