//! The raw Connecteam HTTP layer: one request of the endpoint table
//! ([`super::endpoint`]), one try. Nothing here paces or retries: every caller goes
//! through the gateway ([`super::Client`]).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::redirect;

use super::endpoint::Request;
use super::error::{ApiError, ErrorClass};
use super::limits::RateLimits;
use super::model::{Envelope, Paging};

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
    // Never echoed whole: a name or password in it would be printed.
    let shown = redacted(base_url);
    let base_url = shown.as_str();
    let raw = reqwest::Url::parse(base_url.trim());
    if let Ok(url) = &raw
        && (!url.username().is_empty() || url.password().is_some())
    {
        return Err(format!(
            "base URL \"{base_url}\" has a user name or password in it: refused, and not printed; \
             ct-onboard sends only the API key (in the X-API-KEY header)"
        ));
    }
    let url = raw.map_err(|e| {
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

/// A URL as it may be printed: whatever stands between `://` and an `@` is hidden.
fn redacted(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}…@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    }
}

/// One HTTP connection pool to one base URL, with the key on every request.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
    base: String,
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
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends one request of the table; its data, or why not.
    pub async fn send<R: Request>(&self, request: &R) -> Result<Response<R::Data>, ApiError> {
        let endpoint = R::ENDPOINT;
        let url = format!("{}{}", self.base, endpoint.path(request.id().as_deref()));
        let method = reqwest::Method::from_bytes(endpoint.method().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut builder = self.http.request(method, url).query(&request.query());
        if let Some(body) = request.body() {
            builder = builder.json(&body);
        }
        let (r, paging) = self.call_paged(builder).await?;
        match R::data(r.data, paging) {
            Ok(data) => Ok(Response {
                status: r.status,
                request_id: r.request_id,
                data,
                limits: r.limits,
            }),
            Err(why) => Err(ApiError {
                class: ErrorClass::Permanent,
                status: Some(r.status),
                message: format!("{} {why}", endpoint.name()),
                request_id: r.request_id,
                limits: r.limits,
                unreached: false,
            }),
        }
    }

    /// Sends a request; its data with the paging that came with it, or why not.
    async fn call_paged(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(Response<serde_json::Value>, Option<Paging>), ApiError> {
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
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| ApiError {
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
    fn user_info_in_a_base_url_is_refused_and_never_echoed() {
        for url in [
            "http://admin:hunter2@127.0.0.1:8080",
            "https://admin:hunter2@api.connecteam.com",
            "https://admin@api.connecteam.com/v1",
        ] {
            let refused = check_base_url(url).unwrap_err();
            assert!(
                !refused.contains("hunter2") && !refused.contains("admin"),
                "{refused}"
            );
            assert!(refused.contains("user name or password"), "{refused}");
        }
        let broken = check_base_url("ht!tp://admin:hunter2@x").unwrap_err();
        assert!(!broken.contains("hunter2"), "{broken}");
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
}
