//! The client and the sandbox against the official OpenAPI document (the subset in
//! `tests/fixtures/connecteam-openapi.json`, copied from `../shared/reference`). A proxy on
//! loopback stands between the binary and the sandbox and keeps every exchange of a plan,
//! a run and a verify; then every request must be an operation the document declares, with
//! only declared query parameters of the declared types (arrays as repeated keys), path
//! parameters of the declared type and a body its schema accepts, and every 2xx answer
//! must be one the operation's response schema accepts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::util::{RunningSandbox, TODAY, ct, fixture, sample_seed};

/// The one endpoint ct-onboard reads that the document does not publish (its shape is
/// the API reference's; see `reference/connecteam-api.md`).
const UNPUBLISHED: &str = "GET /company-policies/v1/pay-rule-policies/{id}/assignments";

struct Doc(Value);

impl Doc {
    fn load() -> Doc {
        let text = std::fs::read_to_string(fixture("connecteam-openapi.json")).unwrap();
        Doc(serde_json::from_str(&text).unwrap())
    }

    /// The operation a method and concrete path are, with its template and path values.
    fn operation(&self, method: &str, path: &str) -> Option<(String, &Value, Vec<String>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let paths = self.0["paths"].as_object().unwrap();
        paths.iter().find_map(|(template, item)| {
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut values = Vec::new();
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    values.push((*segment).to_owned());
                } else if part != segment {
                    return None;
                }
            }
            let op = item.get(method.to_lowercase())?;
            Some((template.clone(), op, values))
        })
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// Every way `value` breaks `schema`, each named by where in the value.
    fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, at, problems);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(any) = schema.get(key).and_then(Value::as_array) {
                let fits = any.iter().any(|part| {
                    let mut mine = Vec::new();
                    self.check(part, value, at, &mut mine);
                    mine.is_empty()
                });
                if !fits {
                    problems.push(format!("{at}: {value} fits none of {key}"));
                }
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            problems.push(format!("{at}: {value} is not one of {options:?}"));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(value, t)) {
            problems.push(format!("{at}: {value} is not {}", types.join(" or ")));
            return;
        }
        if let (Some(min), Some(n)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n < min
        {
            problems.push(format!("{at}: {n} is below the minimum {min}"));
        }
        if let (Some(max), Some(n)) = (
            schema.get("maximum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n > max
        {
            problems.push(format!("{at}: {n} is above the maximum {max}"));
        }
        if let (Some(max), Some(s)) = (
            schema.get("maxLength").and_then(Value::as_u64),
            value.as_str(),
        ) && s.chars().count() as u64 > max
        {
            problems.push(format!("{at}: longer than {max} characters"));
        }
        if schema.get("format").and_then(Value::as_str) == Some("date")
            && let Some(s) = value.as_str()
            && s.parse::<jiff::civil::Date>().is_err()
        {
            problems.push(format!("{at}: {s:?} is not a date (YYYY-MM-DD)"));
        }
        if let Some(object) = value.as_object() {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    problems.push(format!("{at}: {name} is required"));
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if let Some(v) = object.get(name) {
                        self.check(property, v, &format!("{at}.{name}"), problems);
                    }
                }
            }
        }
        if let (Some(max), Some(array)) = (
            schema.get("maxItems").and_then(Value::as_u64),
            value.as_array(),
        ) && array.len() as u64 > max
        {
            problems.push(format!("{at}: {} items, more than {max}", array.len()));
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), problems);
            }
        }
    }

    /// A query or path value, typed as its parameter's schema says.
    fn typed(&self, schema: &Value, text: &str) -> Value {
        let schema = self.resolve(schema);
        let inner = schema
            .get("allOf")
            .and_then(|a| a.get(0))
            .map(|s| self.resolve(s))
            .unwrap_or(schema);
        match inner.get("type").and_then(Value::as_str) {
            Some("integer") | Some("number") => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_number)
                .unwrap_or_else(|| Value::String(text.to_owned())),
            Some("boolean") => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text.to_owned()),
            },
            _ => Value::String(text.to_owned()),
        }
    }

    /// Every way one exchange breaks the document.
    fn exchange(&self, x: &Exchange) -> Result<String, Vec<String>> {
        let Some((template, op, path_values)) = self.operation(&x.method, x.url.path()) else {
            return Err(vec![format!(
                "{} {}: no such operation in the document",
                x.method,
                x.url.path()
            )]);
        };
        let name = format!("{} {template}", x.method);
        let mut problems = Vec::new();
        let parameters: Vec<&Value> = op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let of = |place: &str| {
            parameters
                .iter()
                .filter(|p| p["in"] == place)
                .copied()
                .collect::<Vec<_>>()
        };
        for (p, value) in of("path").iter().zip(&path_values) {
            let at = format!("{name}: path {}", p["name"]);
            self.check(
                &p["schema"],
                &self.typed(&p["schema"], value),
                &at,
                &mut problems,
            );
        }
        let query: Vec<(String, String)> = x.url.query_pairs().into_owned().collect();
        let declared = of("query");
        for (key, _) in &query {
            if !declared.iter().any(|p| p["name"] == key.as_str()) {
                problems.push(format!("{name}: query {key:?} is not a declared parameter"));
            }
        }
        for p in declared {
            let key = p["name"].as_str().unwrap();
            let values: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                continue;
            }
            let schema = self.resolve(&p["schema"]);
            let at = format!("{name}: query {key}");
            if schema["type"] == "array" {
                let typed: Vec<Value> = values
                    .iter()
                    .map(|v| self.typed(&schema["items"], v))
                    .collect();
                self.check(schema, &Value::Array(typed), &at, &mut problems);
            } else if values.len() > 1 {
                problems.push(format!("{at}: sent {} times", values.len()));
            } else {
                self.check(schema, &self.typed(schema, values[0]), &at, &mut problems);
            }
        }
        match op.get("requestBody") {
            Some(body) => {
                let schema = &body["content"]["application/json"]["schema"];
                match serde_json::from_slice::<Value>(&x.body) {
                    Ok(v) => self.check(schema, &v, &format!("{name}: body"), &mut problems),
                    Err(e) => problems.push(format!("{name}: the body is not JSON: {e}")),
                }
            }
            None if !x.body.is_empty() => {
                problems.push(format!("{name}: a body where the document declares none"));
            }
            None => {}
        }
        if (200..300).contains(&x.status) {
            let responses = &op["responses"];
            let response = responses
                .get(x.status.to_string())
                .or_else(|| responses.get("200"));
            match response {
                None => problems.push(format!("{name}: answered {}, not declared", x.status)),
                Some(r) => {
                    let schema = &r["content"]["application/json"]["schema"];
                    match serde_json::from_slice::<Value>(&x.answer) {
                        Ok(v) => self.check(schema, &v, &format!("{name}: answer"), &mut problems),
                        Err(e) => problems.push(format!("{name}: the answer is not JSON: {e}")),
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(name)
        } else {
            Err(problems)
        }
    }
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// One request the binary sent and what the sandbox answered.
#[derive(Debug)]
struct Exchange {
    method: String,
    url: url::Url,
    body: Vec<u8>,
    status: u16,
    answer: Vec<u8>,
}

/// Forwards every request to the sandbox over a plain HTTP/1.1 connection and keeps both
/// sides.
struct Forward {
    to: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl Respond for Forward {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let target = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let mut head = format!(
            "{} {target} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            request.method,
            self.to,
            request.body.len()
        );
        for (name, value) in &request.headers {
            if !["host", "connection", "content-length", "transfer-encoding"]
                .contains(&name.as_str())
            {
                head += &format!("{name}: {}\r\n", value.to_str().unwrap());
            }
        }
        head += "\r\n";
        let mut stream = TcpStream::connect(self.to).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&request.body).unwrap();
        let mut raw = Vec::new();
        // A connection the sandbox drops (a fault) may end before or inside the answer.
        let complete = stream.read_to_end(&mut raw).is_ok();
        let Some(split) = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .filter(|_| complete)
        else {
            self.log.lock().unwrap().push(Exchange {
                method: request.method.to_string(),
                url: request.url.clone(),
                body: request.body.clone(),
                status: 0,
                answer: Vec::new(),
            });
            return ResponseTemplate::new(502);
        };
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        let rest = &raw[split + 4..];
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let answer = if chunked {
            unchunk(rest)
        } else {
            rest.to_vec()
        };
        self.log.lock().unwrap().push(Exchange {
            method: request.method.to_string(),
            url: request.url.clone(),
            body: request.body.clone(),
            status,
            answer: answer.clone(),
        });
        let kind = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map_or("application/json".to_owned(), |(_, v)| v.clone());
        let mut reply = ResponseTemplate::new(status).set_body_raw(answer, &kind);
        for (k, v) in headers {
            if ![
                "content-type",
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
            ]
            .contains(&k.as_str())
            {
                reply = reply.insert_header(k.as_str(), v.as_str());
            }
        }
        reply
    }
}

fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[end + 2..end + 2 + size]);
        rest = &rest[end + 2 + size + 2..];
    }
}

#[test]
fn every_request_a_run_sends_and_every_answer_the_sandbox_gives_is_as_the_document_says() {
    let doc = Doc::load();
    let mut seed = sample_seed(vec![]);
    seed.holdings.time_off = vec![ct_onboard::sandbox::SeedTimeOff {
        user_id: 9_170_357,
        policy_id: "pol-vac-pt-001".into(),
        balance: Some(12.5),
    }];
    seed.holdings.pay_rules = vec![ct_onboard::sandbox::SeedPayRule {
        user_id: 9_170_358,
        policy_id: 12345,
        effective_date: jiff::civil::date(2026, 1, 1),
    }];
    seed.custom_fields = serde_json::from_value(serde_json::json!([
        {"id": 31, "name": "Department", "dropdownOptions": [{"id": 1, "value": "Kitchen"}]},
        {"id": 32, "name": "Contract start", "type": "date"}
    ]))
    .unwrap();
    let running = RunningSandbox::start(seed);
    let to: SocketAddr = running
        .sandbox
        .url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let proxy = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Forward {
                to,
                log: log.clone(),
            })
            .mount(&server)
            .await;
        server
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    for (verb, code) in [("plan", 1), ("run", 0), ("verify", 0)] {
        let mut cmd = ct();
        cmd.args([verb, "samples/new-hires.csv", "--today", TODAY])
            .env("CONNECTEAM_BASE_URL", proxy.uri())
            .env("CONNECTEAM_API_KEY", "sandbox-key-0451")
            .arg("--report-dir")
            .arg(dir.path())
            .arg("--state")
            .arg(&state);
        if verb == "run" {
            cmd.args(["--allow-overwrite", "--no-progress"]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // People not in Connecteam yet, created (one request dropped after applying, so the
    // lookup by phone follows).
    let hires = dir.path().join("new.csv");
    std::fs::write(
        &hires,
        "First Name,Last Name,Mobile,Email,Employee Type,Start Date\n\
         Ada,New,+1 201 555 0199,ada@newco.example,intern,2029-01-04\n\
         Bo,New,+1 201 555 0198,,intern,2029-01-04\n",
    )
    .unwrap();
    let manifest = dir.path().join("fields.yaml");
    std::fs::write(
        &manifest,
        "user_fields:\n  Department: {value: Kitchen}\n  Contract start: {column: Start Date}\n\
         employee_types:\n  intern:\n    time_off:\n      - policy_id: pol-sick-001\n",
    )
    .unwrap();
    running.sandbox.set_faults(ct_onboard::sandbox::Faults {
        create_drops_after_applying: 1,
        ..Default::default()
    });
    let out = ct()
        .args([
            "run",
            hires.to_str().unwrap(),
            "--today",
            TODAY,
            "--create-missing",
        ])
        .args(["--send-activation", "--no-progress", "--manifest"])
        .arg(&manifest)
        .env("CONNECTEAM_BASE_URL", proxy.uri())
        .env("CONNECTEAM_API_KEY", "sandbox-key-0451")
        .arg("--report-dir")
        .arg(dir.path())
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = log.lock().unwrap();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut problems = Vec::new();
    for x in log.iter() {
        match doc.exchange(x) {
            Ok(name) => *seen.entry(name).or_default() += 1,
            Err(found) => {
                let unpublished = x.method == "GET"
                    && x.url
                        .path()
                        .starts_with("/company-policies/v1/pay-rule-policies/")
                    && x.url.path().ends_with("/assignments");
                if unpublished && found[0].contains("no such operation") {
                    *seen.entry(UNPUBLISHED.to_owned()).or_default() += 1;
                } else {
                    problems.extend(found);
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let expected = [
        "GET /company-policies/v1/pay-rule-policies",
        UNPUBLISHED,
        "GET /me",
        "GET /onboarding/v1/packs",
        "GET /onboarding/v1/packs/{packId}/assignments",
        "GET /time-off/v1/policy-types",
        "GET /time-off/v1/policy-types/{policyTypeId}/balances",
        "GET /users/v1/custom-fields",
        "GET /users/v1/users",
        "POST /onboarding/v1/packs/{packId}/assignments",
        "POST /users/v1/users",
        "PUT /company-policies/v1/pay-rule-policies/{payRulePolicyId}/assignments",
        "PUT /time-off/v1/time-off-policies/{timeOffPolicyId}/assignments",
    ];
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "every endpoint was exercised: {seen:?}"
    );
    let dropped = log.iter().filter(|x| x.status == 0).count();
    assert_eq!(dropped, 1, "the one creation the sandbox dropped");
    assert!(
        log.iter().all(|x| x.status == 200 || x.status == 0),
        "no error answers"
    );
    let creation = log
        .iter()
        .find(|x| x.method == "POST" && x.url.path() == "/users/v1/users")
        .unwrap();
    assert_eq!(creation.url.query(), Some("sendActivation=true"));
    let body: Value = serde_json::from_slice(&creation.body).unwrap();
    assert_eq!(
        body[0]["customFields"],
        serde_json::json!([{"customFieldId": 32, "value": "2029-01-04"}, {"customFieldId": 31, "value": [{"id": 1}]}])
    );
}

#[test]
fn the_validator_finds_what_it_should() {
    // A check that cannot fail proves nothing: each of these breaks the document.
    let doc = Doc::load();
    let exchange = |method: &str, url: &str, body: &str, answer: &str| Exchange {
        method: method.into(),
        url: url::Url::parse(&format!("http://x{url}")).unwrap(),
        body: body.as_bytes().to_vec(),
        status: 200,
        answer: answer.as_bytes().to_vec(),
    };
    let me = r#"{"requestId":"r","data":{"companyId":"c","companyName":"N"}}"#;
    assert!(doc.exchange(&exchange("GET", "/me", "", me)).is_ok());
    let broken = [
        exchange(
            "GET",
            "/me",
            "",
            r#"{"requestId":"r","data":{"companyId":7}}"#,
        ),
        exchange("GET", "/me?x=1", "", me),
        exchange("GET", "/users/v1/users?userIds=1,2", "", "{}"),
        exchange("GET", "/users/v1/users?limit=501", "", "{}"),
        exchange("GET", "/users/v1/users?limit=5&limit=6", "", "{}"),
        exchange(
            "PUT",
            "/company-policies/v1/pay-rule-policies/pol-1/assignments",
            r#"{"userId":1,"effectiveDate":"2029-01-04"}"#,
            "{}",
        ),
        exchange(
            "PUT",
            "/company-policies/v1/pay-rule-policies/12/assignments",
            r#"{"userId":1,"effectiveDate":"2029-01-04T00:00:00Z"}"#,
            "{}",
        ),
        exchange(
            "PUT",
            "/time-off/v1/time-off-policies/p/assignments",
            r#"{"balance":1,"unit":"weeks"}"#,
            "{}",
        ),
        exchange("GET", "/nowhere", "", "{}"),
    ];
    for x in &broken {
        assert!(doc.exchange(x).is_err(), "{} {} passed", x.method, x.url);
    }
}
