//! One error type for every API failure, classified in one place.

use serde_json::Value;

use super::limits::RateLimits;

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 429, or a 200 whose body says "Too many requests": wait for the window, retry,
    /// and do not count it as a failure.
    RateLimited,
    /// 5xx, 408, timeouts, dropped connections: retry with backoff.
    Retryable,
    /// 401/403: every call would fail; stop the run.
    Auth,
    /// Any other 4xx, or a body that makes no sense: keep the API's message, no retry.
    Permanent,
    /// Not sent by the gateway: today's budget (less the reserve) is spent.
    QuotaExhausted,
    /// Not sent (or not sent again) by the gateway: the run was stopped.
    Stopped,
}

/// A failed API call: its class, HTTP status (none for transport errors), the API's
/// message, its request ID, and the rate-limit headers that came with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub message: String,
    pub request_id: Option<String>,
    pub limits: RateLimits,
    /// The server was never reached (DNS, refused, TLS): with nothing ever answered, a
    /// wrong URL, not a blip, so it gets one retry rather than the policy's.
    pub unreached: bool,
}

impl ApiError {
    /// The error, its message naming the endpoint that failed (once).
    #[must_use]
    pub fn at(self, endpoint: &str) -> ApiError {
        if self.message.starts_with(endpoint) {
            return self;
        }
        ApiError {
            message: format!("{endpoint}: {}", self.message),
            ..self
        }
    }

    /// A failure before any HTTP status was seen (connect, timeout, dropped body).
    pub fn transport(message: String) -> ApiError {
        ApiError::unsent(ErrorClass::Retryable, message)
    }

    /// A connection never made: DNS, refused, TLS.
    pub fn unreached(message: String) -> ApiError {
        ApiError {
            unreached: true,
            ..ApiError::transport(message)
        }
    }

    /// A request the gateway did not send, or did not send again.
    pub fn unsent(class: ErrorClass, message: String) -> ApiError {
        ApiError {
            class,
            status: None,
            message,
            request_id: None,
            limits: RateLimits::default(),
            unreached: false,
        }
    }

    /// Classifies a response. `None` means success: a 2xx that is not the rate-limit quirk.
    pub fn from_response(status: u16, body: &[u8], limits: RateLimits) -> Option<ApiError> {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let rate_limited = status == 429 || json.as_ref().is_some_and(is_too_many_requests);
        let class = if rate_limited {
            ErrorClass::RateLimited
        } else if (200..300).contains(&status) {
            return None;
        } else if status == 401 || status == 403 {
            ErrorClass::Auth
        } else if status == 408 || status >= 500 {
            ErrorClass::Retryable
        } else {
            ErrorClass::Permanent
        };
        let (message, request_id) = match &json {
            Some(value) => (
                describe(value).unwrap_or_else(|| snippet(body)),
                request_id(value),
            ),
            None => (snippet(body), None),
        };
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        Some(ApiError {
            class,
            status: Some(status),
            message,
            request_id,
            limits,
            unreached: false,
        })
    }
}

/// The quirk: `{"detail": "Too many requests"}`, whatever the status.
fn is_too_many_requests(body: &Value) -> bool {
    body.get("detail")
        .and_then(Value::as_str)
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("too many requests"))
}

fn request_id(body: &Value) -> Option<String> {
    ["requestId", "request_id"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The message of any of the three error shapes Connecteam uses:
/// `{"detail": "..."}`, `{"detail": [{loc, msg, type}]}` and `{"error", "details", ...}`.
fn describe(body: &Value) -> Option<String> {
    match body.get("detail") {
        Some(Value::String(detail)) => return Some(detail.clone()),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| {
                    let loc = item
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                    if loc.is_empty() {
                        msg.to_owned()
                    } else {
                        format!("{loc}: {msg}")
                    }
                })
                .collect();
            return Some(parts.join("; "));
        }
        _ => {}
    }
    let details = body.get("details");
    let summary = details
        .and_then(|d| d.get("error_message"))
        .and_then(Value::as_str);
    let code = details
        .and_then(|d| d.get("error_code"))
        .filter(|c| !c.is_null())
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    let error = body.get("error").filter(|e| !e.is_null()).map(|e| match e {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let mut message = String::new();
    if let Some(summary) = summary {
        message.push_str(summary);
    }
    if let Some(code) = code {
        message.push_str(&format!(" [{code}]"));
    }
    if let Some(error) = error {
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&error);
    }
    (!message.is_empty()).then(|| message.trim().to_owned())
}

pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> Option<ApiError> {
        ApiError::from_response(status, body.as_bytes(), RateLimits::default())
    }

    #[test]
    fn success_and_the_rate_limit_quirk() {
        assert!(classify(200, r#"{"requestId":"r","data":{}}"#).is_none());
        let quirk = classify(200, r#"{"detail":"Too many requests"}"#).unwrap();
        assert_eq!(quirk.class, ErrorClass::RateLimited);
        assert_eq!(classify(429, "").unwrap().class, ErrorClass::RateLimited);
    }

    #[test]
    fn classes_by_status() {
        assert_eq!(
            classify(401, r#"{"detail":"Invalid API key"}"#)
                .unwrap()
                .class,
            ErrorClass::Auth
        );
        assert_eq!(classify(403, "").unwrap().class, ErrorClass::Auth);
        assert_eq!(classify(503, "").unwrap().class, ErrorClass::Retryable);
        assert_eq!(classify(408, "").unwrap().class, ErrorClass::Retryable);
        assert_eq!(classify(404, "").unwrap().class, ErrorClass::Permanent);
        assert_eq!(classify(503, "").unwrap().message, "HTTP 503");
    }

    #[test]
    fn all_three_body_shapes() {
        let detail_array = classify(
            422,
            r#"{"detail":[{"loc":["body","userId"],"msg":"field required","type":"value_error.missing"},{"loc":["query","limit",0],"msg":"too big","type":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            detail_array.message,
            "body.userId: field required; query.limit.0: too big"
        );
        let domain = classify(
            409,
            r#"{"details":{"error_message":"Cannot modify pay rate","error_code":"HAS_LOCKED_DAYS"},"error":"Cannot modify pay rate that affects locked days","path":"/x","request_id":"abc"}"#,
        )
        .unwrap();
        assert_eq!(
            domain.message,
            "Cannot modify pay rate [HAS_LOCKED_DAYS]: Cannot modify pay rate that affects locked days"
        );
        assert_eq!(domain.request_id.as_deref(), Some("abc"));
        let nested = classify(
            400,
            r#"{"details":{"error_message":"Request body is invalid","error_code":1002},"error":{"__root__":{"message":"dates must be unique"}},"requestId":"r2"}"#,
        )
        .unwrap();
        assert!(
            nested
                .message
                .starts_with("Request body is invalid [1002]: {"),
            "{}",
            nested.message
        );
        assert_eq!(nested.request_id.as_deref(), Some("r2"));
        let plain = classify(
            404,
            r#"{"error":"User with ID 12345 not found","path":"/p","request_id":"q"}"#,
        )
        .unwrap();
        assert_eq!(plain.message, "User with ID 12345 not found");
        assert_eq!(
            classify(502, "<html>Bad gateway</html>").unwrap().message,
            "<html>Bad gateway</html>"
        );
    }
}
