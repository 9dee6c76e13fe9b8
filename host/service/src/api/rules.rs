//! A tenant's rule versions: upload, list, activate (and roll back),
//! canary, logs.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ApiError;
use super::tenant_request::TenantRequest;
use crate::guest_logs::LogLine;
use crate::hosting::{RulesView, UploadedRule};

/// Uploads a rule component as a new, immutable version: validated and
/// precompiled as `mailrules check` does; answers the facts recorded.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/rules/{version}",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, description = "uploaded: `{tenant, version, facts}`"),
              (status = 409, body = super::ErrorBody), (status = 413, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn upload(
    State(state): State<ApiState>,
    Path((tenant, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<UploadedRule>), ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let uploaded = request
        .run_counted(move |hosting, tenant| hosting.upload_rule(tenant, &version, &body))
        .await?;
    Ok((StatusCode::CREATED, Json(uploaded)))
}

/// The tenant's versions, which is active, the canary, activations and
/// recent events (breaker trips).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/rules",
    responses((status = 200, description = "`{active, canary, versions, activations, events}`")),
    security(("tenant" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RulesView>, ApiError> {
    Ok(Json(
        TenantRequest::admit(&state, &headers, tenant)?
            .run(|hosting, tenant| hosting.rules(tenant))
            .await?,
    ))
}

/// Makes a version the active one (also to roll back to an earlier one).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/rules/{version}/activate",
    responses((status = 200, description = "the tenant's rules after the change"),
              (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn activate(
    State(state): State<ApiState>,
    Path((tenant, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<RulesView>, ApiError> {
    Ok(Json(
        TenantRequest::admit(&state, &headers, tenant)?
            .run(move |hosting, tenant| hosting.activate(tenant, &version))
            .await?,
    ))
}

/// The body of `PUT /v1/tenants/{tenant}/canary`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCanary {
    /// The candidate version.
    pub version: String,
    /// Percentage of recipients (1–99) it serves, by stable bucket of
    /// (campaign, recipient).
    pub percent: u8,
}

/// Lets a candidate version serve a percentage of recipients.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/canary", request_body = SetCanary,
    responses((status = 200, description = "the tenant's rules after the change"),
              (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn set_canary(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Json<SetCanary>, JsonRejection>,
) -> Result<Json<RulesView>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    let Json(body) = body.map_err(|e| ApiError::new(e.status(), "bad-json", e.body_text()))?;
    Ok(Json(
        request
            .run(move |hosting, tenant| hosting.set_canary(tenant, &body.version, body.percent))
            .await?,
    ))
}

/// Ends the canary.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/canary",
    responses((status = 200, description = "the tenant's rules after the change")),
    security(("tenant" = [])))]
pub async fn clear_canary(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RulesView>, ApiError> {
    Ok(Json(
        TenantRequest::admit(&state, &headers, tenant)?
            .run(|hosting, tenant| hosting.clear_canary(tenant))
            .await?,
    ))
}

/// The last lines a rule version logged (capped), oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/rules/{version}/logs",
    responses((status = 200, description = "`{lines: [{profile_id, line}]}`")),
    security(("tenant" = [])))]
pub async fn logs(
    State(state): State<ApiState>,
    Path((tenant, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lines: Vec<LogLine> = TenantRequest::admit(&state, &headers, tenant)?
        .run(move |hosting, tenant| hosting.rule_logs(tenant, &version))
        .await?;
    Ok(Json(serde_json::json!({ "lines": lines })))
}
