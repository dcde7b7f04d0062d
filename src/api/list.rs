//! Paging a list endpoint, the one way every batched read does it: by the rows received,
//! until an empty page or `paging.total`, never by "fewer than I asked" (a server may
//! serve fewer rows a page than the limit asks for). What the rows say is checked by the
//! caller; this only makes sure every page was read, and that the paging ends.

use std::future::Future;

use serde_json::Value;

use super::client::Response;
use super::error::{ApiError, ErrorClass};

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

/// Every row of one filtered list. `limit` is asked for each page (within the endpoint's
/// maximum); `most` is the most rows the filter can account for, so that a server that
/// ignores `offset` cannot keep the read going: past it, or on a page that repeats the
/// one before, the read is not believed. `stray` looks at each page as it comes and says
/// why it is not believed (a row the filter cannot have let through), if it is not: the
/// read stops at once.
pub async fn read_all<T, F, Fut>(
    endpoint: &str,
    limit: u64,
    most: usize,
    mut fetch: F,
    mut stray: impl FnMut(&[T]) -> Option<String>,
) -> Result<Vec<T>, ApiError>
where
    T: PartialEq,
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Response<Listing<T>>, ApiError>>,
{
    let mut rows: Vec<T> = Vec::new();
    let mut last_page_start = 0;
    loop {
        let offset = rows.len() as u64;
        let page = fetch(offset, limit).await?;
        let Listing {
            rows: page_rows,
            total,
        } = page.data;
        if page_rows.is_empty() {
            return Ok(rows);
        }
        if let Some(why) = stray(&page_rows) {
            return Err(not_believed(endpoint, &why, page.status, page.request_id));
        }
        let repeats = offset > 0 && rows[last_page_start..] == page_rows[..];
        if repeats || rows.len() + page_rows.len() > most.saturating_add(limit as usize) {
            let why = if repeats {
                format!(
                    "answered the same rows for offset {offset} as for offset {last_page_start}: it ignores offset"
                )
            } else {
                format!(
                    "kept answering rows past {} (more than the filter can account for): it ignores the filter or offset",
                    rows.len()
                )
            };
            return Err(not_believed(endpoint, &why, page.status, page.request_id));
        }
        last_page_start = rows.len();
        rows.extend(page_rows);
        if total.is_some_and(|total| rows.len() as u64 >= total) {
            return Ok(rows);
        }
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
    fn page(rows: Vec<u64>, total: Option<u64>) -> Result<Response<Listing<u64>>, ApiError> {
        Ok(Response {
            status: 200,
            request_id: None,
            data: Listing { rows, total },
            limits: super::super::RateLimits::default(),
        })
    }

    /// A server holding `0..n` that serves at most `size` rows a page, whatever is asked.
    fn server(
        n: u64,
        size: u64,
        total: bool,
    ) -> impl FnMut(u64, u64) -> std::future::Ready<Result<Response<Listing<u64>>, ApiError>> {
        move |offset, limit| {
            let rows: Vec<u64> = (offset..n).take(size.min(limit) as usize).collect();
            std::future::ready(page(rows, total.then_some(n)))
        }
    }

    fn read(n: u64, size: u64, total: bool) -> (Result<Vec<u64>, ApiError>, usize) {
        let mut calls = 0;
        let mut inner = server(n, size, total);
        let result = futures::executor::block_on(read_all(
            "GET /x",
            100,
            n as usize,
            |o, l| {
                calls += 1;
                inner(o, l)
            },
            |_| None,
        ));
        (result, calls)
    }

    #[test]
    fn a_short_page_is_not_the_last() {
        let (rows, calls) = read(25, 10, false);
        assert_eq!(rows.unwrap(), (0..25).collect::<Vec<_>>());
        assert_eq!(calls, 4, "three short pages, then the empty one");
    }

    #[test]
    fn the_total_ends_the_paging_without_an_empty_page() {
        let (rows, calls) = read(25, 10, true);
        assert_eq!(rows.unwrap().len(), 25);
        assert_eq!(calls, 3);
        let (rows, calls) = read(0, 10, true);
        assert!(rows.unwrap().is_empty());
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_server_that_ignores_offset_is_not_believed() {
        let result = futures::executor::block_on(read_all(
            "GET /x",
            2,
            10,
            |_, _| std::future::ready(page(vec![1, 2], None)),
            |_| None,
        ));
        let error = result.unwrap_err();
        assert_eq!(error.class, ErrorClass::Permanent);
        assert!(
            error.message.contains("ignores offset"),
            "{}",
            error.message
        );
    }

    #[test]
    fn paging_ends_past_what_the_filter_accounts_for() {
        let mut next = 0;
        let result = futures::executor::block_on(read_all(
            "GET /x",
            2,
            3,
            |_, _| {
                next += 2;
                std::future::ready(page(vec![next, next + 1], None))
            },
            |_| None,
        ));
        assert!(result.unwrap_err().message.contains("not believed"));
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
                std::future::ready(page(vec![offset + 1, offset + 2], None))
            },
            |rows| rows.contains(&3).then(|| "answered 3".to_owned()),
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
