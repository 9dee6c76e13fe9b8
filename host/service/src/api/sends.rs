//! Sends: start one, follow it, list them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::ApiState;
use super::campaigns::profile_format;
use super::error::ApiError;
use super::tenant_request::TenantRequest;
use crate::hosting::SendView;

/// Starts sending the campaign to the profiles in the body with the
/// versions serving now; answers at once with the send's id. The send is
/// journaled: a restart of the service resumes it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/campaigns/{campaign}/sends",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 202, description = "started: the send, with its `id`"),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
              (status = 429, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn start(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SendView>), ApiError> {
    let (request, body) = TenantRequest::with_body(&state, &headers, tenant, body)?;
    let format = profile_format(&headers);
    let view = request
        .run_counted(move |hosting, tenant| hosting.start_send(tenant, &campaign, body, format))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// A send: state, progress, and its report (`mailrules report` as JSON).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/sends/{send}",
    responses((status = 200, description = "the send"), (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    Path((tenant, send)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<SendView>, ApiError> {
    Ok(Json(
        TenantRequest::admit(&state, &headers, tenant)?
            .run(move |hosting, tenant| hosting.send_view(tenant, &send))
            .await?,
    ))
}

/// The tenant's sends, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/sends",
    responses((status = 200, description = "`{sends: [...]}`")),
    security(("tenant" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let sends = TenantRequest::admit(&state, &headers, tenant)?
        .run(|hosting, tenant| Ok(hosting.store().sends(tenant)?))
        .await?;
    Ok(Json(serde_json::json!({ "sends": sends })))
}
