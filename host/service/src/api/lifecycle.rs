//! A tenant's profiles, events and flows, and the operator's tick.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::campaigns::profile_format;
use super::error::ApiError;
use super::tenant_request::TenantRequest;
use super::{ApiState, auth};
use crate::hosting::{EventsPosted, FlowView, ProfilesPosted, TickReport};
use crate::store::{FlowRun, RunState};

/// Creates or replaces profiles (JSON Lines, or MessagePack with
/// `Content-Type: application/msgpack`); a record that does not parse is
/// rejected with its line, the rest are stored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/profiles",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "`{upserted, rejected_count, rejected: [{line, reason}]}`"),
              (status = 413, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn post_profiles(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProfilesPosted>, ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let format = profile_format(&headers);
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| hosting.post_profiles(tenant, body, format))
            .await?,
    ))
}

/// Stores events, one JSON object a line (`{"id", "type", "customer",
/// "at", …}`). A repeated id is ignored; a bad line is rejected with its
/// number and reason, the rest are stored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/events",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "`{accepted, duplicates, rejected_count, rejected: [{line, reason}]}`"),
              (status = 413, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn post_events(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EventsPosted>, ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| hosting.post_events(tenant, body))
            .await?,
    ))
}

/// Options of reading a profile.
#[derive(Debug, Deserialize)]
pub struct ProfileQuery {
    /// The time to derive it at (RFC 3339); default now.
    now: Option<String>,
}

/// A customer's profile as rules see it at `now`: the posted profile with
/// what the events say, and the RFM scores as the `rfm` attribute. The
/// scores are the tenant's as of its last tick (computed at the first read
/// when it has none yet): after profiles or events are posted, the next
/// tick updates them.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/profiles/{customer}",
    params(("now" = Option<String>, Query, description = "RFC 3339 time to derive at")),
    responses((status = 200, description = "the profile, in the profile format"),
              (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn get_profile(
    State(state): State<ApiState>,
    Path((tenant, customer)): Path<(String, String)>,
    Query(query): Query<ProfileQuery>,
    headers: HeaderMap,
) -> Result<Json<mailrules::Profile>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    let now = parse_time(query.now.as_deref())?.unwrap_or_else(|| chrono::Utc::now().timestamp());
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| {
                let scores = hosting.cached_rfm_scores(tenant, now)?;
                hosting.derived_profile(tenant, &customer, now, Some(&scores))
            })
            .await?,
    ))
}

/// Creates or replaces a flow (TOML; see `examples/flows/`).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/flows/{flow}",
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, description = "`{name, campaign, created, toml}`"),
              (status = 413, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn put_flow(
    State(state): State<ApiState>,
    Path((tenant, flow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FlowView>, ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request("bad-body", format!("the flow is not UTF-8: {e}")))?;
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| hosting.put_flow(tenant, &flow, &text))
            .await?,
    ))
}

/// The tenant's flows.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/flows",
    responses((status = 200, description = "`{flows: [{name, campaign, toml}]}`")),
    security(("tenant" = [])))]
pub async fn list_flows(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let flows = TenantRequest::admit(&state, &headers, tenant)?
        .run(|hosting, tenant| hosting.flows(tenant))
        .await?;
    Ok(Json(serde_json::json!({ "flows": flows })))
}

/// Deletes a flow; its waiting runs are cancelled.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/flows/{flow}",
    responses((status = 204, description = "deleted"), (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn delete_flow(
    State(state): State<ApiState>,
    Path((tenant, flow)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    TenantRequest::admit(&state, &headers, tenant)?
        .run(move |hosting, tenant| hosting.delete_flow(tenant, &flow))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options of listing runs.
#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    /// Only runs of this flow.
    flow: Option<String>,
    /// Only runs in this state (`waiting`, `queued`, `sent`, `cancelled`,
    /// `suppressed`, `expired`, `failed`).
    state: Option<String>,
}

/// The tenant's flow runs, newest trigger first: for each, when it is or
/// was due, where it is and why.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/runs",
    params(("flow" = Option<String>, Query, description = "only this flow"),
           ("state" = Option<String>, Query, description = "only this state")),
    responses((status = 200, description = "`{runs: [{flow, customer, trigger, trigger_at, due_at, state, send_id, reason}]}`")),
    security(("tenant" = [])))]
pub async fn runs(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    Query(query): Query<RunsQuery>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some(name) => Some(run_state(name)?),
    };
    let runs: Vec<FlowRun> = request
        .run(move |hosting, tenant| hosting.flow_runs(tenant, query.flow.as_deref(), wanted))
        .await?;
    Ok(Json(serde_json::json!({ "runs": runs })))
}

/// Options of the tick.
#[derive(Debug, Deserialize)]
pub struct TickQuery {
    /// The time to run for (RFC 3339); default now.
    now: Option<String>,
}

/// Runs everything due at `now` once, for every tenant (the operator's
/// route; `mailrules serve` also ticks on its own).
#[utoipa::path(post, path = "/v1/tick",
    params(("now" = Option<String>, Query, description = "RFC 3339 time to run for")),
    responses((status = 200, description = "what the tick did"), (status = 401, body = super::ErrorBody)),
    security(("operator" = [])))]
pub async fn tick(
    State(state): State<ApiState>,
    Query(query): Query<TickQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::operator(&state, &headers)?;
    let now = parse_time(query.now.as_deref())?.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let hosting = state.hosting.clone();
    let report: TickReport = tokio::task::spawn_blocking(move || hosting.tick(now))
        .await
        .map_err(|e| ApiError::from(crate::HostingError::Internal(format!("worker: {e}"))))?
        .map_err(ApiError::from)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], Json(report)).into_response())
}

fn parse_time(now: Option<&str>) -> Result<Option<i64>, ApiError> {
    now.map(mailrules::profile::parse_time)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-now", format!("now: {e}")))
}

fn run_state(name: &str) -> Result<RunState, ApiError> {
    [
        RunState::Waiting,
        RunState::Queued,
        RunState::Sent,
        RunState::Cancelled,
        RunState::Suppressed,
        RunState::Expired,
        RunState::Failed,
    ]
    .into_iter()
    .find(|state| state.as_str() == name)
    .ok_or_else(|| {
        ApiError::bad_request(
            "invalid-state",
            format!("state {name:?}: expected waiting, queued, sent, cancelled, suppressed, expired or failed"),
        )
    })
}
