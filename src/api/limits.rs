//! The `x-ratelimit-*` headers Connecteam sends with every response.

use reqwest::header::HeaderMap;
use serde::Serialize;

/// The rate-limit headers of one response; resets are absolute UTC epoch seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RateLimits {
    pub minute_limit: Option<u64>,
    pub minute_remaining: Option<u64>,
    pub minute_reset: Option<u64>,
    pub day_limit: Option<u64>,
    pub day_remaining: Option<u64>,
    pub day_reset: Option<u64>,
}

impl RateLimits {
    pub fn from_headers(headers: &HeaderMap) -> RateLimits {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let v = v.trim();
                    // Some servers send resets as floats; whole seconds are enough here.
                    v.parse::<u64>().ok().or_else(|| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|f| *f >= 0.0)
                            .map(|f| f as u64)
                    })
                })
        };
        RateLimits {
            minute_limit: number("x-ratelimit-minute-limit"),
            minute_remaining: number("x-ratelimit-minute-remaining"),
            minute_reset: number("x-ratelimit-minute-reset"),
            day_limit: number("x-ratelimit-day-limit"),
            day_remaining: number("x-ratelimit-day-remaining"),
            day_reset: number("x-ratelimit-day-reset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_six_headers_and_ignores_junk() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-minute-limit", "100".parse().unwrap());
        h.insert("x-ratelimit-minute-remaining", " 7 ".parse().unwrap());
        h.insert("x-ratelimit-minute-reset", "1795000000".parse().unwrap());
        h.insert("x-ratelimit-day-limit", "10000".parse().unwrap());
        h.insert("x-ratelimit-day-remaining", "oops".parse().unwrap());
        h.insert("x-ratelimit-day-reset", "1795030000.5".parse().unwrap());
        let l = RateLimits::from_headers(&h);
        assert_eq!(l.minute_limit, Some(100));
        assert_eq!(l.minute_remaining, Some(7));
        assert_eq!(l.minute_reset, Some(1_795_000_000));
        assert_eq!(l.day_limit, Some(10_000));
        assert_eq!(l.day_remaining, None);
        assert_eq!(l.day_reset, Some(1_795_030_000));
    }
}
