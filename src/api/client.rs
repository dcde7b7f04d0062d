//! The raw Connecteam HTTP calls: the five requests ct-onboard makes, typed, one try each.
//! Nothing here paces or retries: every caller goes through the gateway ([`super::Client`]).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::redirect;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorClass};
use super::limits::RateLimits;
use super::list::{Collection, Listing};
use super::model::{
    Empty, Envelope, Paging, PayRuleAssigned, PayRuleAssignment, PayRulePoliciesData,
    PayRulePolicyInfo, PolicyType, PolicyTypesData, TimeOffAssignment, User, UsersData,
};

/// How a list goes into a query string. Connecteam's docs do not fix it for every
/// endpoint (FastAPI reads repeated keys; one SDK sends commas), so it is one setting,
/// used in one place: [`Http::list`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryArrays {
    /// `userIds=1&userIds=2`
    #[default]
    Repeat,
    /// `userIds=1,2`
    Comma,
}

/// The API key. Never printed: `Debug` shows `ApiKey(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl ApiKey {
    pub fn new(key: &str) -> Option<ApiKey> {
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_owned()))
    }

    /// The key from `--api-key-file` if given, else `CONNECTEAM_API_KEY`. Warns when the
    /// file can be read by others; refuses an empty one.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Option<ApiKey>, String> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the API key file {}: {e}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0);
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        "the API key file {} can be read by others (mode {:o}); run: chmod 600 {}",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    );
                }
            }
            return ApiKey::new(&text)
                .map(Some)
                .ok_or_else(|| format!("the API key file {} is empty", path.display()));
        }
        Ok(std::env::var("CONNECTEAM_API_KEY")
            .ok()
            .and_then(|k| ApiKey::new(&k)))
    }
}

/// A successful call's data with what came along with it.
#[derive(Debug, Clone)]
pub struct Response<T> {
    pub status: u16,
    pub request_id: Option<String>,
    pub data: T,
    pub limits: RateLimits,
}

/// Checks a base URL: https anywhere, plain http only to loopback (the sandbox).
pub fn check_base_url(base_url: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(base_url).map_err(|e| {
        format!(
            "base URL \"{base_url}\" is not a URL ({e}): write it whole, such as https://api.connecteam.com"
        )
    })?;
    if url.host().is_none() || url.cannot_be_a_base() {
        return Err(format!(
            "base URL \"{base_url}\" has no host: write it whole, such as https://api.connecteam.com"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        let origin = url.origin().ascii_serialization();
        return Err(format!(
            "base URL \"{base_url}\" has a path or query: ct-onboard adds the API's paths itself; use {origin}"
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(format!(
                    "base URL \"{base_url}\" is plain http to another host: the API key would travel in clear; use https"
                ))
            }
        }
        other => Err(format!(
            "base URL \"{base_url}\" has scheme \"{other}\"; use https"
        )),
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

/// One HTTP connection pool to one base URL, with the key on every request.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
    base: String,
    arrays: QueryArrays,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(base_url: &str, key: &ApiKey, timeout: Duration) -> Result<Http, String> {
        let base = check_base_url(base_url)?;
        let mut value = HeaderValue::from_str(&key.0)
            .map_err(|_| "the API key has characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", value);
        let origin = base.origin();
        // Follow a redirect only within the API's own origin: the key is a header of
        // every request, and must never reach another host.
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 || attempt.url().origin() != origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(policy)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("ct-onboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(Http {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            arrays: QueryArrays::default(),
        })
    }

    /// Sends lists in query strings in this form.
    #[must_use]
    pub fn with_query_arrays(self, arrays: QueryArrays) -> Http {
        Http { arrays, ..self }
    }

    /// A list parameter as query pairs, in the configured form.
    fn list<'a>(&self, name: &'a str, values: Vec<String>) -> Vec<(&'a str, String)> {
        match self.arrays {
            QueryArrays::Repeat => values.into_iter().map(|v| (name, v)).collect(),
            QueryArrays::Comma if values.is_empty() => Vec::new(),
            QueryArrays::Comma => vec![(name, values.join(","))],
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /time-off/v1/policy-types`: every policy type with its policies.
    pub async fn policy_types(&self) -> Result<Response<Vec<PolicyType>>, ApiError> {
        let (r, paging) = self
            .call_paged::<PolicyTypesData>(self.http.get(self.url("/time-off/v1/policy-types")))
            .await?;
        if let Some(e) = not_whole(
            "GET /time-off/v1/policy-types",
            r.data.policy_types.len(),
            paging.as_ref(),
            &r,
        ) {
            return Err(e);
        }
        Ok(Response {
            data: r.data.policy_types,
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    /// `GET /company-policies/v1/pay-rule-policies`: every enabled pay-rule policy.
    pub async fn pay_rule_policies(&self) -> Result<Response<Vec<PayRulePolicyInfo>>, ApiError> {
        let (r, paging) = self
            .call_paged::<PayRulePoliciesData>(
                self.http
                    .get(self.url("/company-policies/v1/pay-rule-policies")),
            )
            .await?;
        if let Some(e) = not_whole(
            "GET /company-policies/v1/pay-rule-policies",
            r.data.pay_rules_policies.len(),
            paging.as_ref(),
            &r,
        ) {
            return Err(e);
        }
        Ok(Response {
            data: r.data.pay_rules_policies,
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    /// `GET /users/v1/users` for some emails and user IDs, archived users included,
    /// one page of up to `limit` (≤ 500) from `offset`.
    pub async fn users(
        &self,
        emails: &[String],
        user_ids: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing<User>>, ApiError> {
        let mut query: Vec<(&str, String)> = vec![
            ("userStatus", "all".into()),
            ("limit", limit.min(500).to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(self.list("emailAddresses", emails.to_vec()));
        query.extend(self.list("userIds", user_ids.iter().map(u64::to_string).collect()));
        let (r, paging) = self
            .call_paged::<UsersData>(self.http.get(self.url("/users/v1/users")).query(&query))
            .await?;
        Ok(Response {
            data: Listing {
                rows: r.data.users,
                total: paging.and_then(|p| p.total),
            },
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    /// `GET /time-off/v1/policy-types/{id}/balances` for some users: what each holds in
    /// that type (a user with no row holds none of it). One page, its rows unread.
    pub async fn balances(
        &self,
        policy_type_id: &str,
        user_ids: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing>, ApiError> {
        let url = self.url(&format!(
            "/time-off/v1/policy-types/{}/balances",
            path_segment(policy_type_id)
        ));
        let mut query: Vec<(&str, String)> = vec![
            ("limit", limit.min(100).to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(self.list("userIds", user_ids.iter().map(u64::to_string).collect()));
        let collection = Collection {
            name: "balances",
            tolerant: false,
        };
        self.listing(self.http.get(url).query(&query), collection)
            .await
    }

    /// `GET /company-policies/v1/pay-rule-policies/{id}/assignments`: the assignments of
    /// this policy in effect on `date` for some users. One page, its rows unread (the
    /// shape is unpublished).
    pub async fn pay_rule_assignments(
        &self,
        policy_id: u64,
        user_ids: &[u64],
        date: jiff::civil::Date,
        offset: u64,
        limit: u64,
    ) -> Result<Response<Listing>, ApiError> {
        let url = self.url(&format!(
            "/company-policies/v1/pay-rule-policies/{policy_id}/assignments"
        ));
        let mut query: Vec<(&str, String)> = vec![
            ("date", date.to_string()),
            ("limit", limit.min(500).to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(self.list("userIds", user_ids.iter().map(u64::to_string).collect()));
        let collection = Collection {
            name: "assignments",
            tolerant: true,
        };
        self.listing(self.http.get(url).query(&query), collection)
            .await
    }

    /// `PUT /time-off/v1/time-off-policies/{id}/assignments`.
    pub async fn assign_time_off(
        &self,
        policy_id: &str,
        body: &TimeOffAssignment,
    ) -> Result<Response<()>, ApiError> {
        let url = self.url(&format!(
            "/time-off/v1/time-off-policies/{}/assignments",
            path_segment(policy_id)
        ));
        let r: Response<Empty> = self.call(self.http.put(url).json(body)).await?;
        Ok(Response {
            data: (),
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    /// `PUT /company-policies/v1/pay-rule-policies/{id}/assignments`; returns the assignment ID.
    pub async fn assign_pay_rule(
        &self,
        policy_id: u64,
        body: &PayRuleAssignment,
    ) -> Result<Response<u64>, ApiError> {
        let url = self.url(&format!(
            "/company-policies/v1/pay-rule-policies/{policy_id}/assignments"
        ));
        let r: Response<PayRuleAssigned> = self.call(self.http.put(url).json(body)).await?;
        Ok(Response {
            data: r.data.assignment_id,
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Response<T>, ApiError> {
        Ok(self.call_paged(request).await?.0)
    }

    /// A list's page: its rows as JSON, each read by the caller, so that one row that
    /// does not parse is one row's doubt. Rows not where `collection` says are an
    /// unreadable answer.
    async fn listing(
        &self,
        request: reqwest::RequestBuilder,
        collection: Collection,
    ) -> Result<Response<Listing>, ApiError> {
        let (r, paging) = self.call_paged::<serde_json::Value>(request).await?;
        let Some(rows) = collection.rows(r.data) else {
            return Err(ApiError {
                class: ErrorClass::Permanent,
                status: Some(r.status),
                message: format!(
                    "unexpected response from Connecteam: no `{}` list in its data",
                    collection.name
                ),
                request_id: r.request_id,
                limits: r.limits,
                unreached: false,
            });
        };
        Ok(Response {
            data: Listing {
                rows,
                total: paging.and_then(|p| p.total),
            },
            status: r.status,
            request_id: r.request_id,
            limits: r.limits,
        })
    }

    /// Sends a request; its data with the paging that came with it, or why not.
    async fn call_paged<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(Response<T>, Option<Paging>), ApiError> {
        let response = request.send().await.map_err(|e| {
            let message = describe_transport(&e);
            if e.is_connect() {
                ApiError::unreached(message)
            } else {
                ApiError::transport(message)
            }
        })?;
        let status = response.status().as_u16();
        let limits = RateLimits::from_headers(response.headers());
        if response.status().is_redirection() {
            let to = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or("?")
                .to_owned();
            return Err(ApiError {
                class: ErrorClass::Permanent,
                status: Some(status),
                message: format!(
                    "redirected to {to}, another origin: not followed, so the API key stays with {}",
                    self.base
                ),
                request_id: None,
                limits,
                unreached: false,
            });
        }
        let body = response.bytes().await.map_err(|e| ApiError {
            limits,
            ..ApiError::transport(format!(
                "connection dropped while reading the response: {}",
                describe_transport(&e)
            ))
        })?;
        if let Some(error) = ApiError::from_response(status, &body, limits) {
            return Err(error);
        }
        let envelope: Envelope<T> = serde_json::from_slice(&body).map_err(|e| ApiError {
            class: ErrorClass::Permanent,
            status: Some(status),
            message: format!("unexpected response from Connecteam: {e}"),
            request_id: None,
            limits,
            unreached: false,
        })?;
        let Some(data) = envelope.data else {
            return Err(ApiError {
                class: ErrorClass::Permanent,
                status: Some(status),
                message: format!(
                    "unexpected response from Connecteam: no data in {}",
                    super::error::snippet(&body)
                ),
                request_id: envelope.request_id,
                limits,
                unreached: false,
            });
        };
        Ok((
            Response {
                status,
                request_id: envelope.request_id,
                data,
                limits,
            },
            envelope.paging,
        ))
    }
}

/// A listing documented as unpaged must be whole: a `paging.total` past what came means
/// some of it is missing (a policy a user holds would be invisible). Why not, if not.
fn not_whole<T>(
    endpoint: &str,
    rows: usize,
    paging: Option<&Paging>,
    r: &Response<T>,
) -> Option<ApiError> {
    let total = paging.and_then(|p| p.total).filter(|t| *t > rows as u64)?;
    Some(super::list::not_believed(
        endpoint,
        &format!("answered {rows} of the {total} it says there are (it is documented as unpaged)"),
        r.status,
        r.request_id.clone(),
    ))
}

fn describe_transport(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "connection failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_show_in_debug_output() {
        let key = ApiKey::new(" s3cret-key\n").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(redacted)");
        assert!(ApiKey::new("  ").is_none());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_base_url("https://api.connecteam.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://[::1]:8080").is_ok());
        assert!(check_base_url("http://localhost:9").is_ok());
        assert!(
            check_base_url("http://api.connecteam.com")
                .unwrap_err()
                .contains("in clear")
        );
        assert!(check_base_url("http://10.0.0.5").is_err());
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("not a url").is_err());
        assert!(
            check_base_url("https://api.connecteam.com/v1")
                .unwrap_err()
                .contains("use https://api.connecteam.com"),
        );
        assert!(check_base_url("https://api.connecteam.com/?x=1").is_err());
        assert!(check_base_url("https://api.connecteam.com/").is_ok());
        assert!(
            check_base_url("127.0.0.1:8080")
                .unwrap_err()
                .contains("write it whole"),
        );
    }

    #[test]
    fn policy_ids_are_one_path_segment() {
        assert_eq!(path_segment("pol-vac-ft-001"), "pol-vac-ft-001");
        assert_eq!(path_segment("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
