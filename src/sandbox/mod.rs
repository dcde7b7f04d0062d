//! The sandbox: a local, stateful Connecteam simulator for rehearsals and tests.
//!
//! It serves the endpoints ct-onboard uses with their documented shapes, enforces the
//! per-minute and per-day windows with `x-ratelimit-*` headers and 429s, and can add
//! latency, 5xx faults, dropped connections and the "rate limit as HTTP 200" quirk.
//! Its state is on `GET /__sandbox/state` (and [`Sandbox::snapshot`] in-process). Tests
//! own its clock's windows: `POST /__sandbox/next-minute` and `/__sandbox/next-day` (and
//! [`Sandbox::next_minute`], [`Sandbox::next_day`]) start the next window at once.

mod rehearsal;
mod seed;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api::Endpoint;

pub use seed::{
    AppChange, ExtraRow, Faults, Limits, Seed, SeedHoldings, SeedPack, SeedPayRule, SeedTimeOff,
    SeedUser,
};
pub use state::{PackHolding, PayRuleHolding, Snapshot, TimeOffHolding};
use state::{Reply, State};

type SharedState = Arc<Mutex<State>>;

/// A running simulator. Stops when dropped.
pub struct Sandbox {
    url: String,
    state: SharedState,
    /// Opens the gate that stalled requests wait at ([`Sandbox::stall`]).
    release: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free port) and serves in the background.
    pub async fn start(seed: Seed, listen: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (release, released) = tokio::sync::watch::channel(false);
        let state: SharedState = Arc::new(Mutex::new(State::new(seed, released)));
        let app = Router::new()
            .route("/__sandbox/state", get(state_handler))
            .route(
                "/__sandbox/next-minute",
                post(|Shared(state): Shared<SharedState>| async move {
                    lock(&state).next_minute();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/__sandbox/next-day",
                post(|Shared(state): Shared<SharedState>| async move {
                    lock(&state).next_day();
                    StatusCode::NO_CONTENT
                }),
            )
            .fallback(api_handler)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            url: format!("http://{addr}"),
            state,
            release,
            task,
        })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn url_str(&self) -> &str {
        &self.url
    }

    pub fn snapshot(&self) -> Snapshot {
        lock(&self.state).snapshot()
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = faults;
    }

    pub fn set_limits(&self, limits: Limits) {
        lock(&self.state).limits = limits;
    }

    /// Requests to `endpoint` wait, once counted, until [`Sandbox::release`]: a test
    /// holds one in flight for as long as it needs, without waiting out a latency.
    pub fn stall(&self, endpoint: Endpoint) {
        lock(&self.state).stalled = Some(endpoint);
    }

    /// Lets every stalled request, and those to come, through.
    pub fn release(&self) {
        lock(&self.state).stalled = None;
        self.release.send_replace(true);
    }

    /// Ends read-after-write lag: every write made shows in reads from now on.
    pub fn settle(&self) {
        lock(&self.state).settle();
    }

    /// Gives users holdings, as a change made in the Connecteam app would.
    pub fn hold(&self, holdings: &SeedHoldings) {
        lock(&self.state).hold(holdings);
    }

    /// The custom fields a person created holds (`customFieldId`, `value`, `type`, `name`).
    pub fn field_values(&self, user_id: u64) -> Vec<Value> {
        lock(&self.state).field_values(user_id)
    }

    /// Adds a user to the account now.
    pub fn hold_user(&self, user: SeedUser) {
        lock(&self.state).add_user(user);
    }

    /// Starts the next per-minute window now, instead of when the clock says.
    pub fn next_minute(&self) {
        lock(&self.state).next_minute();
    }

    /// Starts the next per-day window now: the day's quota is whole again.
    pub fn next_day(&self) {
        lock(&self.state).next_day();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &SharedState) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn state_handler(Shared(state): Shared<SharedState>) -> Response {
    axum::Json(lock(&state).snapshot()).into_response()
}

/// A request of the endpoint table ([`Endpoint`]), with its path parameter.
struct Routed {
    endpoint: Endpoint,
    id: String,
}

enum Fault {
    None,
    /// Answered 200 like a success, not applied.
    SilentDrop,
    ServerError,
    ClientError,
    Quirk,
    DropBefore,
    DropAfter,
}

fn roll(faults: &Faults, rng: &mut fastrand::Rng, write: bool) -> Fault {
    let r = rng.f64();
    let mut edge = faults.server_error_rate;
    if r < edge {
        return Fault::ServerError;
    }
    if write {
        edge += faults.client_error_rate;
        if r < edge {
            return Fault::ClientError;
        }
    }
    edge += faults.quirk_rate;
    if r < edge {
        return Fault::Quirk;
    }
    if write {
        edge += faults.silent_drop_rate;
        if r < edge {
            return Fault::SilentDrop;
        }
    }
    edge += faults.drop_rate;
    if r < edge {
        return if rng.bool() {
            Fault::DropBefore
        } else {
            Fault::DropAfter
        };
    }
    Fault::None
}

fn epoch_now() -> u64 {
    jiff::Timestamp::now().as_second().max(0).cast_unsigned()
}

async fn api_handler(
    Shared(state): Shared<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((endpoint, id)) = Endpoint::parse(method.as_str(), uri.path()) else {
        return reply((404, json!({"detail": "Not Found"})), &[]);
    };
    let endpoint = Routed {
        endpoint,
        id: id.unwrap_or_default(),
    };
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let (latency, fault, admission) = match admit(&state, endpoint.endpoint, key) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    let stalled = {
        let s = lock(&state);
        (s.stalled == Some(endpoint.endpoint)).then(|| s.released.clone())
    };
    if let Some(mut released) = stalled {
        let _ = released.wait_for(|open| *open).await;
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(faulty) = fault_reply(&fault, uri.path(), &admission.headers) {
        return faulty;
    }
    if endpoint.endpoint == Endpoint::AssignPack && {
        let mut s = lock(&state);
        let drops = &mut s.faults.pack_drops_before_applying;
        let drop = *drops > 0;
        *drops = drops.saturating_sub(1);
        drop
    } {
        return dropped(&admission.headers);
    }
    let answer = answer(&state, &endpoint, &uri, &body);
    // Applied, then the connection drops: the client cannot tell what was made.
    let created_then_dropped = answer.0 == 200 && {
        let mut s = lock(&state);
        let faults = &mut s.faults;
        let drops = match endpoint.endpoint {
            Endpoint::CreateUsers => Some(&mut faults.create_drops_after_applying),
            Endpoint::AssignPack => Some(&mut faults.pack_drops_after_applying),
            _ => None,
        };
        drops.is_some_and(|drops| {
            let drop = *drops > 0;
            *drops = drops.saturating_sub(1);
            drop
        })
    };
    if matches!(fault, Fault::DropAfter) || created_then_dropped {
        return dropped(&admission.headers);
    }
    reply(answer, &admission.headers)
}

/// Counts the request and lets it through (with its latency, fault and rate-limit
/// headers), or refuses it: no key, the wrong key, a spent window, a read-only key.
fn admit(
    state: &SharedState,
    endpoint: Endpoint,
    key: &str,
) -> Result<(u64, Fault, state::Admission), Box<Response>> {
    let mut s = lock(state);
    *s.snapshot_counts
        .requests
        .entry(endpoint.name())
        .or_insert(0) += 1;
    if key.is_empty() {
        let detail = "Missing API key: send it in the X-API-KEY header";
        return Err(Box::new(reply((401, json!({ "detail": detail })), &[])));
    }
    if s.api_key.as_ref().is_some_and(|k| k != key) {
        return Err(Box::new(reply(
            (401, json!({"detail": "Invalid API key"})),
            &[],
        )));
    }
    let admission = s.admit(epoch_now());
    if !admission.allowed {
        s.snapshot_counts.rate_limited += 1;
        let body = json!({"detail": "Too many requests"});
        return Err(Box::new(reply((429, body), &admission.headers)));
    }
    let write = endpoint.is_write();
    if write && s.read_only {
        let detail = "This API key may not use this endpoint (missing write scope)";
        let refusal = reply((403, json!({ "detail": detail })), &admission.headers);
        return Err(Box::new(refusal));
    }
    let faults = s.faults.clone();
    let fault = roll(&faults, &mut s.rng, write);
    if !matches!(fault, Fault::None) {
        s.snapshot_counts.faults_injected += 1;
    }
    Ok((faults.latency_ms, fault, admission))
}

/// The answer of a fault that keeps the request from being applied, if it is one.
fn fault_reply(fault: &Fault, path: &str, limits: &[(&'static str, u64)]) -> Option<Response> {
    let answer = match fault {
        Fault::ServerError => (503, json!({"detail": "Service temporarily unavailable"})),
        Fault::ClientError => (
            409,
            json!({
                "details": {"error_message": "Cannot modify assignment", "error_code": "HAS_LOCKED_DAYS"},
                "error": "The change would touch locked timesheet days",
                "path": path,
                "request_id": "sbx-409",
            }),
        ),
        Fault::Quirk => (200, json!({"detail": "Too many requests"})),
        Fault::DropBefore => return Some(dropped(limits)),
        Fault::SilentDrop => match path.contains("pay-rule-policies") {
            true => (
                200,
                json!({"requestId": "sbx-dropped", "data": {"assignmentId": 1}}),
            ),
            false => (200, json!({"requestId": "sbx-dropped", "data": {}})),
        },
        Fault::None | Fault::DropAfter => return None,
    };
    Some(reply(answer, limits))
}

/// What the account answers, its state changed by a write: each endpoint's handler.
fn answer(state: &SharedState, routed: &Routed, uri: &Uri, body: &[u8]) -> Reply {
    let (path, id) = (uri.path(), routed.id.as_str());
    let mut s = lock(state);
    match routed.endpoint {
        Endpoint::Me => s.me(),
        Endpoint::PolicyTypes => s.policy_types(),
        Endpoint::PayRulePolicies => s.pay_rule_policies(),
        Endpoint::Users => s.users(&query_pairs(uri)),
        Endpoint::Balances => s.balances(id, &query_pairs(uri), path),
        Endpoint::PayRuleAssignments => s.pay_rule_assignments(id, &query_pairs(uri), path),
        Endpoint::AssignTimeOff => s.assign_time_off(id, body, path),
        Endpoint::AssignPayRule => s.assign_pay_rule(id, body, path),
        Endpoint::CreateUsers => s.create_users(&query_pairs(uri), body, path),
        Endpoint::CustomFields => s.custom_fields(&query_pairs(uri)),
        Endpoint::Packs => s.packs(),
        Endpoint::PackAssignments => s.pack_assignments(id, path),
        Endpoint::AssignPack => s.assign_pack(id, body, path),
    }
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn reply((status, body): (u16, Value), limits: &[(&'static str, u64)]) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in limits {
        response.headers_mut().insert(*name, (*value).into());
    }
    response
}

/// A response whose body fails at once: the client sees the connection drop mid-response.
fn dropped(limits: &[(&'static str, u64)]) -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("sandbox: connection dropped"))
    });
    let mut response = Response::new(Body::from_stream(failing));
    for (name, value) in limits {
        response.headers_mut().insert(*name, (*value).into());
    }
    response
}
