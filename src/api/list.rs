//! Paging a list endpoint, the one way every batched read does it: by the rows received,
//! until an empty page or `paging.total`, never by "fewer than I asked" (a server may
//! serve fewer rows a page than the limit asks for). What the rows say is checked by the
//! caller; this only makes sure every page was read, and that the paging ends.

use std::future::Future;

use serde_json::Value;

use super::error::{ApiError, ErrorClass};
use super::http::Response;

/// One page of a list endpoint: its rows, and the total the server says matches, if it
/// says.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T = Value> {
    pub rows: Vec<T>,
    pub total: Option<u64>,
}

/// Where a list endpoint keeps its rows in `data`: `data.<collection>`. A list whose shape
/// is not published (the pay-rule assignments) is read tolerantly: `data` itself an
/// array, or `data.data` one, will do as well.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    pub name: &'static str,
    pub tolerant: bool,
}

impl Collection {
    /// The rows of `data`, or `None` when they are not where this collection says.
    pub fn rows(self, data: Value) -> Option<Vec<Value>> {
        match data {
            Value::Object(mut fields) => match fields.remove(self.name) {
                Some(Value::Array(rows)) => Some(rows),
                _ if self.tolerant => match fields.remove("data") {
                    Some(Value::Array(rows)) => Some(rows),
                    _ => None,
                },
                _ => None,
            },
            Value::Array(rows) if self.tolerant => Some(rows),
            _ => None,
        }
    }
}

/// A list's row, as far as paging needs to know it: whose it is.
pub trait Row: PartialEq {
    /// The user the row is for, if it says.
    fn user(&self) -> Option<u64>;
}

impl Row for Value {
    fn user(&self) -> Option<u64> {
        self.get("userId").and_then(id_of)
    }
}

impl Row for super::model::CustomField {
    fn user(&self) -> Option<u64> {
        None
    }
}

impl Row for super::model::User {
    fn user(&self) -> Option<u64> {
        Some(self.user_id)
    }
}

/// Every row of one filtered list, paged by the rows received until an empty page. `limit`
/// is asked for each page (within the endpoint's maximum); `most` is the most rows the
/// filter can account for. The answer is not believed when its paging does not hold
/// together: a page that repeats the one before or rows past `most` (offset ignored), an
/// empty page short of `paging.total` or rows beyond it, or one user on two pages (an
/// order that changes between requests: rows skipped as well as repeated). `stray` looks
/// at each page as it comes and says why it is not believed (a row the filter cannot have
/// let through), if it is not: the read stops at once.
pub async fn read_all<T, F, Fut>(
    endpoint: &str,
    limit: u64,
    most: usize,
    mut fetch: F,
    mut stray: impl FnMut(&[T]) -> Option<String>,
) -> Result<Vec<T>, ApiError>
where
    T: Row,
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Response<Listing<T>>, ApiError>>,
{
    let mut rows: Vec<T> = Vec::new();
    let mut last_page_start = 0;
    let mut said_total: Option<u64> = None;
    let mut users_before: std::collections::HashSet<u64> = std::collections::HashSet::new();
    loop {
        let offset = rows.len() as u64;
        let page = fetch(offset, limit).await?;
        let Listing {
            rows: page_rows,
            total,
        } = page.data;
        let refuse =
            |why: String| not_believed(endpoint, &why, page.status, page.request_id.clone());
        said_total = total.or(said_total);
        if page_rows.is_empty() {
            return match said_total {
                Some(total) if (rows.len() as u64) < total => Err(refuse(format!(
                    "answered an empty page at offset {offset} while saying {total} rows match"
                ))),
                _ => Ok(rows),
            };
        }
        if let Some(why) = stray(&page_rows) {
            return Err(refuse(why));
        }
        if offset > 0 && rows[last_page_start..] == page_rows[..] {
            return Err(refuse(format!(
                "answered the same rows for offset {offset} as for offset {last_page_start}: it ignores offset"
            )));
        }
        if rows.len() + page_rows.len() > most.saturating_add(limit as usize) {
            return Err(refuse(format!(
                "kept answering rows past {} (more than the filter can account for): it ignores the filter or offset",
                rows.len()
            )));
        }
        if let Some(total) = said_total.filter(|t| (rows.len() + page_rows.len()) as u64 > *t) {
            return Err(refuse(format!(
                "answered more rows than the {total} it says match"
            )));
        }
        if let Some(user) = page_rows
            .iter()
            .filter_map(Row::user)
            .find(|u| users_before.contains(u))
        {
            return Err(refuse(format!(
                "answered user {user} on two pages: its order changes between pages, so rows may be skipped"
            )));
        }
        users_before.extend(page_rows.iter().filter_map(Row::user));
        last_page_start = rows.len();
        rows.extend(page_rows);
    }
}

/// A read whose answer does not check out: the endpoint's answer is not believed. It is
/// permanent (no retry would change it); the caller decides what not knowing means.
pub fn not_believed(
    endpoint: &str,
    why: &str,
    status: u16,
    request_id: Option<String>,
) -> ApiError {
    ApiError {
        class: ErrorClass::Permanent,
        status: Some(status),
        message: format!("{endpoint} {why}, so its answer is not believed"),
        request_id,
        limits: super::RateLimits::default(),
        unreached: false,
    }
}

/// A whole positive ID from a JSON number or a string of digits (the unpublished lists
/// send either); anything else is `None`.
pub fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(
        clippy::result_large_err,
        reason = "the gateway's own error type, as it answers"
    )]
    fn page(rows: Vec<Value>, total: Option<u64>) -> Result<Response<Listing>, ApiError> {
        Ok(Response {
            status: 200,
            request_id: None,
            data: Listing { rows, total },
            limits: super::super::RateLimits::default(),
        })
    }

    fn rows(users: impl IntoIterator<Item = u64>) -> Vec<Value> {
        users.into_iter().map(|u| json!({"userId": u})).collect()
    }

    /// A server holding users `1..=n` that serves at most `size` rows a page, whatever is
    /// asked, saying the total when `total`.
    fn read(n: u64, size: u64, total: bool) -> (Result<Vec<Value>, ApiError>, usize) {
        let mut calls = 0;
        let result = futures::executor::block_on(read_all(
            "GET /x",
            100,
            n as usize,
            |offset, limit| {
                calls += 1;
                let page_rows = rows((offset + 1..=n).take(size.min(limit) as usize));
                std::future::ready(page(page_rows, total.then_some(n)))
            },
            |_| None,
        ));
        (result, calls)
    }

    fn refused(
        limit: u64,
        most: usize,
        mut server: impl FnMut(u64) -> (Vec<Value>, Option<u64>),
    ) -> String {
        let result = futures::executor::block_on(read_all(
            "GET /x",
            limit,
            most,
            |offset, _| {
                let (rows, total) = server(offset);
                std::future::ready(page(rows, total))
            },
            |_| None,
        ));
        let error = result.unwrap_err();
        assert_eq!(error.class, ErrorClass::Permanent);
        assert!(error.message.contains("not believed"), "{}", error.message);
        error.message
    }

    #[test]
    fn a_short_page_is_not_the_last_and_the_empty_page_is() {
        for total in [false, true] {
            let (read, calls) = read(25, 10, total);
            assert_eq!(read.unwrap(), rows(1..=25));
            assert_eq!(calls, 4, "three short pages, then the empty one");
        }
        let (read, calls) = read(0, 10, true);
        assert!(read.unwrap().is_empty());
        assert_eq!(calls, 1, "an empty first page is the end");
    }

    #[test]
    fn paging_that_does_not_hold_together_is_not_believed() {
        // Offset ignored: the same page again.
        assert!(refused(2, 10, |_| (rows([1, 2]), None)).contains("ignores offset"));
        // Rows past what the filter accounts for.
        assert!(refused(2, 3, |offset| (rows([offset + 10, offset + 11]), None)).contains("past"));
        // An empty page short of the total said (offset read as a page number).
        let short = refused(5, 100, |offset| match offset {
            0 => (rows(1..=5), Some(26)),
            _ => (vec![], Some(26)),
        });
        assert!(
            short.contains("empty page at offset 5 while saying 26"),
            "{short}"
        );
        // More rows than the total said (a total too small to be true).
        let liar = refused(5, 100, |offset| (rows(offset + 1..=offset + 5), Some(5)));
        assert!(liar.contains("more rows than the 5"), "{liar}");
        // One user on two pages: an order that changes between requests.
        let shuffled = refused(3, 100, |offset| match offset {
            0 => (rows([1, 2, 3]), None),
            _ => (rows([3, 4, 5]), None),
        });
        assert!(shuffled.contains("user 3 on two pages"), "{shuffled}");
    }

    #[test]
    fn a_stray_row_stops_the_read_at_its_page() {
        let mut calls = 0;
        let result = futures::executor::block_on(read_all(
            "GET /x",
            2,
            100,
            |offset, _| {
                calls += 1;
                std::future::ready(page(rows([offset + 1, offset + 2]), None))
            },
            |page| {
                page.contains(&json!({"userId": 3}))
                    .then(|| "answered 3".to_owned())
            },
        ));
        assert!(result.unwrap_err().message.contains("answered 3"));
        assert_eq!(calls, 2);
    }

    #[test]
    fn collections_are_found_where_the_shape_says() {
        let strict = Collection {
            name: "balances",
            tolerant: false,
        };
        assert_eq!(strict.rows(json!({"balances": [1]})), Some(vec![json!(1)]));
        assert_eq!(strict.rows(json!({"data": [1]})), None);
        assert_eq!(strict.rows(json!([1])), None);
        let tolerant = Collection {
            name: "assignments",
            tolerant: true,
        };
        assert_eq!(tolerant.rows(json!({"data": [1]})), Some(vec![json!(1)]));
        assert_eq!(tolerant.rows(json!([1])), Some(vec![json!(1)]));
        assert_eq!(tolerant.rows(json!({"assignments": {}})), None);
    }

    #[test]
    fn ids_come_as_numbers_or_strings_and_must_be_positive() {
        assert_eq!(id_of(&json!(9_170_357)), Some(9_170_357));
        assert_eq!(id_of(&json!("9170357")), Some(9_170_357));
        assert_eq!(id_of(&json!(9_170_357.0)), Some(9_170_357));
        assert_eq!(id_of(&json!(-5)), None);
        assert_eq!(id_of(&json!(0)), None);
        assert_eq!(id_of(&json!(1.5)), None);
        assert_eq!(id_of(&json!(null)), None);
        assert_eq!(id_of(&json!("x")), None);
    }
}
