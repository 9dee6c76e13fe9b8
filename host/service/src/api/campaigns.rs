//! A tenant's campaigns: upload, list, read, evaluate profiles against
//! them, and the latest shadow diff.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailrules::profile_reader::ProfileFormat;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::ApiState;
use super::error::ApiError;
use super::tenant_request::TenantRequest;
use crate::hosting::CampaignView;
use crate::store::LastDiff;

/// How long a streamed answer waits for a client that stops reading
/// before it gives up and frees the evaluation thread.
pub(super) const SLOW_READER_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates or replaces a campaign (its TOML, as `mailrules` reads it).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/campaigns/{campaign}",
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, description = "`{id, created, limits, warnings}`"),
              (status = 413, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn put(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CampaignView>, ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::bad_request("bad-body", format!("the campaign is not UTF-8: {e}"))
    })?;
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| hosting.put_campaign(tenant, &campaign, &text))
            .await?,
    ))
}

/// The campaign's TOML as uploaded.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/campaigns/{campaign}",
    responses((status = 200, description = "the TOML", content_type = "application/toml"),
              (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let text = TenantRequest::admit(&state, &headers, tenant)?
        .run(move |hosting, tenant| hosting.campaign_text(tenant, &campaign))
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
}

/// Options of `eval`.
#[derive(Debug, Deserialize)]
pub struct EvalQuery {
    /// Add `reasons`, `fuel` and `log` to every line.
    #[serde(default)]
    explain: bool,
    /// The time rules see (RFC 3339); default the campaign's `now`.
    now: Option<String>,
}

/// The `now` query parameter (RFC 3339), if given.
fn parse_now(now: Option<&str>) -> Result<Option<i64>, ApiError> {
    now.map(mailrules::profile::parse_time)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-now", format!("now: {e}")))
}

/// The profile format a request's `Content-Type` names: MessagePack for
/// `application/msgpack` (or `x-msgpack`), JSON Lines otherwise.
pub(super) fn profile_format(headers: &HeaderMap) -> ProfileFormat {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("msgpack") {
        ProfileFormat::MessagePack
    } else {
        ProfileFormat::JsonLines
    }
}

/// Evaluates the profiles in the body (JSON Lines, or MessagePack with
/// `Content-Type: application/msgpack`) and streams one decision per line,
/// exactly as `mailrules eval` prints them.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/campaigns/{campaign}/eval",
    params(("explain" = Option<bool>, Query, description = "add reasons, fuel and log"),
           ("now" = Option<String>, Query, description = "RFC 3339 time rules see")),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "one JSON decision per line", content_type = "application/x-ndjson"),
              (status = 409, body = super::ErrorBody), (status = 413, body = super::ErrorBody),
              (status = 429, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn eval(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    Query(query): Query<EvalQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let now = parse_now(query.now.as_deref())?;
    let format = profile_format(&headers);
    let guard = request.begin()?;
    let (served, records) = request
        .run(move |hosting, tenant| {
            let (served, _) = hosting.served(tenant, &campaign, now)?;
            Ok((served, hosting.read_profiles(body, format)?))
        })
        .await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let hosting = state.hosting.clone();
    let tenant = request.tenant().to_string();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        hosting.eval_served(&tenant, &served, records, query.explain, |chunk| {
            send_or_give_up(&tx, Bytes::from(chunk))
        });
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Hands a piece of a streamed answer to the connection, waiting at most
/// [`SLOW_READER_TIMEOUT`] for room; `false` when the client is gone or
/// too slow (the evaluation then stops).
pub(super) fn send_or_give_up(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut chunk: Bytes,
) -> bool {
    let started = Instant::now();
    loop {
        match tx.try_send(Ok(chunk)) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(Ok(back))) => {
                if started.elapsed() > SLOW_READER_TIMEOUT {
                    return false;
                }
                chunk = back;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(mpsc::error::TrySendError::Full(Err(_))) => return false,
        }
    }
}

/// Options of `diff`.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    /// The candidate version.
    candidate: String,
    /// The time rules see (RFC 3339); default the campaign's `now`.
    now: Option<String>,
}

/// The shadow diff: the active version and `candidate` on the same
/// profiles, and what would change if the candidate were activated.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/campaigns/{campaign}/diff",
    params(("candidate" = String, Query, description = "the candidate version"),
           ("now" = Option<String>, Query, description = "RFC 3339 time rules see")),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "the diff report"),
              (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
              (status = 413, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn diff(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    query: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<mailrules::diff::DiffReport>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad-query", e.body_text()))?;
    let body = body.map_err(super::error::body_error)?;
    let now = parse_now(query.now.as_deref())?;
    let format = profile_format(&headers);
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| {
                let records = hosting.read_profiles(body, format)?;
                hosting.diff(tenant, &campaign, &query.candidate, records, now)
            })
            .await?,
    ))
}

/// The tenant's campaign ids.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/campaigns",
    responses((status = 200, body = [String])),
    security(("tenant" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<String>>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    Ok(Json(
        request
            .run(move |hosting, tenant| hosting.campaign_ids(tenant))
            .await?,
    ))
}

/// The tenant's latest shadow diff (`POST …/campaigns/{c}/diff`): the
/// campaign, both versions, when, and the report.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/diffs/last",
    responses((status = 200, body = LastDiff),
              (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn last_diff(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<LastDiff>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    Ok(Json(
        request
            .run(move |hosting, tenant| hosting.last_diff(tenant))
            .await?,
    ))
}
