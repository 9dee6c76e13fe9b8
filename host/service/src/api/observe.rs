//! Health, metrics, the fallback for unknown routes, and the count of
//! responses by route.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{ApiState, auth};
use crate::metrics::RequestLabels;

/// Whether the service is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
        .into_response()
}

/// The metrics in Prometheus' text format (operator only).
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format"), (status = 401, body = super::ErrorBody)),
    security(("operator" = [])))]
pub async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::operator(&state, &headers)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.hosting.metrics_text(),
    )
        .into_response())
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

/// Counts every response by route pattern (never the path: tenants' ids
/// in paths would make the series unbounded) and status.
pub async fn count_responses(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |path| path.as_str())
        .to_string();
    let response = next.run(request).await;
    state
        .hosting
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}
