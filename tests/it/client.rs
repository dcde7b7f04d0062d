//! The API client against wiremock: shapes, headers, the quirk, redirects, encoding.

use std::time::Duration;

use ct_onboard::api::endpoint::{
    AssignPayRule, AssignTimeOff, PayRulePolicies, PolicyTypes, Users,
};
use ct_onboard::api::model::{PayRuleAssignment, TimeOffAssignment};
use ct_onboard::api::{ApiKey, Budget, Client, ClientOptions, ErrorClass, Http, Page, RetryPolicy};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The raw calls, one try each: what the responses' shapes become.
fn client(server: &MockServer) -> Http {
    Http::new(
        &server.uri(),
        &ApiKey::new("k-123").unwrap(),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

#[tokio::test]
async fn reads_policies_with_the_key_and_the_rate_limit_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/time-off/v1/policy-types"))
        .and(header("x-api-key", "k-123"))
        .respond_with(
            json(
                200,
                r#"{"requestId":"a1","data":{"policyTypes":[{"id":"pt-vacation-001","name":"Vacation","policies":[{"id":"pol-vac-ft-001","name":"Vacation - Full-time","unit":"days","accrualType":"fixed"}]},{"id":"pt-empty","name":"Empty"}]}}"#,
            )
            .insert_header("x-ratelimit-minute-limit", "100")
            .insert_header("x-ratelimit-minute-remaining", "42")
            .insert_header("x-ratelimit-minute-reset", "1795426380")
            .insert_header("x-ratelimit-day-limit", "10000")
            .insert_header("x-ratelimit-day-remaining", "9000")
            .insert_header("x-ratelimit-day-reset", "1795478400"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let r = client(&server).send(&PolicyTypes).await.unwrap();
    assert_eq!(r.request_id.as_deref(), Some("a1"));
    assert_eq!(r.data[0].policies[0].unit.as_deref(), Some("days"));
    assert!(r.data[1].policies.is_empty(), "policies is optional");
    assert_eq!(r.limits.minute_remaining, Some(42));
    assert_eq!(r.limits.minute_reset, Some(1_795_426_380));
    assert_eq!(r.limits.day_remaining, Some(9000));
}

#[tokio::test]
async fn every_error_shape_becomes_one_classified_error() {
    let cases = [
        (
            422,
            r#"{"detail":[{"loc":["body","userId"],"msg":"field required","type":"value_error.missing"}]}"#,
            ErrorClass::Permanent,
            "body.userId: field required",
            None,
        ),
        (
            404,
            r#"{"error":"User with ID 12345 not found","path":"/x","request_id":"r-404"}"#,
            ErrorClass::Permanent,
            "User with ID 12345 not found",
            Some("r-404"),
        ),
        (
            409,
            r#"{"details":{"error_message":"Cannot modify","error_code":"HAS_LOCKED_DAYS"},"error":"Touches locked days","requestId":"r-409"}"#,
            ErrorClass::Permanent,
            "Cannot modify [HAS_LOCKED_DAYS]: Touches locked days",
            Some("r-409"),
        ),
        (
            401,
            r#"{"detail":"Invalid API key"}"#,
            ErrorClass::Auth,
            "Invalid API key",
            None,
        ),
        (
            403,
            r#"{"detail":"Not allowed for this plan"}"#,
            ErrorClass::Auth,
            "Not allowed for this plan",
            None,
        ),
        (
            503,
            "upstream down",
            ErrorClass::Retryable,
            "upstream down",
            None,
        ),
        (
            429,
            r#"{"detail":"Too many requests"}"#,
            ErrorClass::RateLimited,
            "Too many requests",
            None,
        ),
        (
            200,
            r#"{"detail":"Too many requests"}"#,
            ErrorClass::RateLimited,
            "Too many requests",
            None,
        ),
    ];
    for (status, body, class, message, request_id) in cases {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path(
                "/company-policies/v1/pay-rule-policies/12345/assignments",
            ))
            .respond_with(
                json(status, body).insert_header("x-ratelimit-minute-reset", "1795426380"),
            )
            .mount(&server)
            .await;
        let body = PayRuleAssignment {
            user_id: 9_170_357,
            effective_date: jiff::civil::date(2027, 1, 4),
        };
        let err = client(&server)
            .send(&AssignPayRule {
                policy: 12345,
                body: &body,
            })
            .await
            .unwrap_err();
        assert_eq!(err.class, class, "{status} {body:?}");
        assert_eq!(err.message, message, "{status}");
        assert_eq!(err.status, Some(status));
        assert_eq!(err.request_id.as_deref(), request_id, "{status}");
        assert_eq!(
            err.limits.minute_reset,
            Some(1_795_426_380),
            "headers come with errors too"
        );
    }
}

#[tokio::test]
async fn the_200_quirk_is_a_rate_limit_not_a_success() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/time-off/v1/time-off-policies/pol-1/assignments"))
        .respond_with(json(200, r#"{"detail":"Too many requests"}"#))
        .mount(&server)
        .await;
    let body = TimeOffAssignment {
        user_id: 1,
        balance: None,
        unit: None,
    };
    let err = client(&server)
        .send(&AssignTimeOff {
            policy: "pol-1",
            body: &body,
        })
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::RateLimited);
}

#[tokio::test]
async fn policy_ids_are_sent_as_one_encoded_segment_with_the_exact_body() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(
            "/time-off/v1/time-off-policies/pol%2F1%3Fx%20y/assignments",
        ))
        .and(body_json(
            serde_json::json!({"userId": 9170357, "balance": 12.5, "unit": "days"}),
        ))
        .respond_with(json(200, r#"{"requestId":"r","data":{}}"#))
        .expect(1)
        .mount(&server)
        .await;
    let body = TimeOffAssignment {
        user_id: 9_170_357,
        balance: Some("12.50".parse().unwrap()),
        unit: Some("days".into()),
    };
    let r = client(&server)
        .send(&AssignTimeOff {
            policy: "pol/1?x y",
            body: &body,
        })
        .await
        .unwrap();
    assert_eq!(r.request_id.as_deref(), Some("r"));
}

#[tokio::test]
async fn users_are_looked_up_in_batches_with_repeated_keys() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users/v1/users"))
        .and(query_param("userStatus", "all"))
        .and(query_param("limit", "500"))
        .and(query_param("emailAddresses", "b@x.io"))
        .respond_with(json(
            200,
            r#"{"requestId":"u","data":{"users":[{"userId":7,"firstName":"A","lastName":"B","phoneNumber":"+1","userType":"user","email":"a@x.io","isArchived":false,"customFields":[]}]},"paging":{"offset":1}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let r = client(&server)
        .send(&Users {
            emails: &["a@x.io".into(), "b@x.io".into()],
            phones: &[],
            ids: &[],
            page: Page {
                offset: 0,
                limit: 500,
            },
        })
        .await
        .unwrap();
    assert_eq!(r.data.rows[0].user_id, 7);
    let requests = server.received_requests().await.unwrap();
    let query = requests[0].url.query().unwrap().to_owned();
    assert!(
        query.contains("emailAddresses=a%40x.io&emailAddresses=b%40x.io"),
        "{query}"
    );
}

#[tokio::test]
async fn a_cross_origin_redirect_is_not_followed_so_the_key_stays_home() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(
            200,
            r#"{"requestId":"x","data":{"payRulesPolicies":[]}}"#,
        ))
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/company-policies/v1/pay-rule-policies"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&api)
        .await;
    let err = client(&api).send(&PayRulePolicies).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("another origin"), "{}", err.message);
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the other host saw no request, so no key"
    );
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/company-policies/v1/pay-rule-policies"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", "/company-policies/v1/pay-rule-policies/"),
        )
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/company-policies/v1/pay-rule-policies/"))
        .and(header("x-api-key", "k-123"))
        .respond_with(json(200, r#"{"requestId":"x","data":{"payRulesPolicies":[{"id":12345,"name":"Standard Hourly"}]}}"#))
        .mount(&api)
        .await;
    let r = client(&api).send(&PayRulePolicies).await.unwrap();
    assert_eq!(r.data[0].id, 12345);
}

#[tokio::test]
async fn a_dead_server_is_a_retryable_transport_error() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("http://127.0.0.1:{port}");
    let c = Http::new(&uri, &ApiKey::new("k").unwrap(), Duration::from_secs(2)).unwrap();
    let err = c.send(&PolicyTypes).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable, "{err:?}");
    assert_eq!(err.status, None);
}

/// The gateway with no pacing to speak of and short backoffs.
fn gateway(server: &MockServer, max_retries: u32) -> Client {
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        rate_per_minute: 1_000_000,
        reserve_percent: 0,
        daily_quota: 10_000,
        retry: RetryPolicy {
            max_retries,
            backoff_base: Duration::from_millis(5),
        },
        jitter_seed: Some(1),
        rate_limit_patience: Duration::from_secs(600),
    };
    Client::new(&server.uri(), &ApiKey::new("k-123").unwrap(), &options).unwrap()
}

const POLICY_TYPES: &str = r#"{"requestId":"r","data":{"policyTypes":[]}}"#;

fn soon() -> String {
    (jiff::Timestamp::now().as_second() + 1).to_string()
}

#[tokio::test]
async fn reads_go_through_the_gateway_a_rate_limit_waits_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/time-off/v1/policy-types"))
        .respond_with(
            json(429, r#"{"detail":"Too many requests"}"#)
                .insert_header("x-ratelimit-minute-reset", soon().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/time-off/v1/policy-types"))
        .respond_with(json(200, POLICY_TYPES))
        .mount(&server)
        .await;
    let client = gateway(&server, 0);
    let read = client.read(&PolicyTypes).await;
    assert!(read.is_ok(), "{read:?}");
    assert_eq!(
        (client.requests_sent(), client.rate_limited_count()),
        (2, 1)
    );
    assert_eq!(client.retries(), 0, "a rate limit is not a retry");
}

#[tokio::test]
async fn a_5xx_is_retried_up_to_the_one_policy_then_given_up() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(json(503, r#"{"detail":"busy"}"#))
        .expect(3)
        .mount(&server)
        .await;
    let client = gateway(&server, 2);
    let body = TimeOffAssignment {
        user_id: 1,
        balance: None,
        unit: None,
    };
    let call = client
        .call(
            Budget::Claimed,
            &AssignTimeOff {
                policy: "pol-1",
                body: &body,
            },
        )
        .await;
    let err = call.result.unwrap_err();
    assert_eq!(call.attempts, 3);
    assert_eq!(err.status, Some(503));
    assert!(err.message.contains("gave up after 3 attempts"), "{err}");
    assert_eq!(client.retries(), 2);
}

#[tokio::test]
async fn reads_are_counted_against_the_day_budget_and_stop_when_it_is_spent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json(200, POLICY_TYPES)
                .insert_header("x-ratelimit-day-limit", "1000")
                .insert_header("x-ratelimit-day-remaining", "100")
                .insert_header("x-ratelimit-day-reset", "4102444800"),
        )
        .expect(1)
        .mount(&server)
        .await;
    // 10 % of 1000 is the reserve: with 100 left, nothing more may be read.
    let options = ClientOptions {
        reserve_percent: 10,
        ..ClientOptions {
            timeout: Duration::from_secs(5),
            rate_per_minute: 1_000_000,
            reserve_percent: 0,
            daily_quota: 1000,
            retry: RetryPolicy {
                max_retries: 0,
                backoff_base: Duration::from_millis(5),
            },
            jitter_seed: Some(1),
            rate_limit_patience: Duration::from_secs(600),
        }
    };
    let client = Client::new(&server.uri(), &ApiKey::new("k").unwrap(), &options).unwrap();
    assert!(client.read(&PolicyTypes).await.is_ok());
    let refused = client.read(&PolicyTypes).await.unwrap_err();
    assert_eq!(refused.class, ErrorClass::QuotaExhausted);
    assert_eq!(client.requests_sent(), 1);
}

#[tokio::test]
async fn a_creation_is_never_sent_twice_by_the_gateway_whatever_comes_back() {
    use ct_onboard::api::endpoint::CreateUsers;
    use ct_onboard::api::model::NewUser;
    let people = [NewUser {
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        phone_number: "+12015550123".into(),
        email: None,
        user_type: "user".into(),
        custom_fields: Vec::new(),
    }];
    let request = CreateUsers {
        people: &people,
        send_activation: false,
    };
    // A 503, and the quirk ("too many requests" in a 200, which may follow a write that
    // was applied): each handed back after one attempt, unclear, for a lookup to settle.
    for answer in [
        json(503, r#"{"detail":"Service temporarily unavailable"}"#),
        json(200, r#"{"detail":"Too many requests"}"#),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/users/v1/users"))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        let call = gateway(&server, 3).call(Budget::ClaimEach, &request).await;
        assert_eq!(call.attempts, 1);
        assert_eq!(call.result.unwrap_err().class, ErrorClass::Retryable);
    }
}
