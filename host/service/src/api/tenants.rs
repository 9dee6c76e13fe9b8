//! `POST /v1/tenants` and `GET /v1/tenants`: the operator's routes.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{ApiState, auth};
use crate::hosting::{CreatedTenant, TenantSettings};

/// The body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant's id: 1–64 of `a-z 0-9 . _ -`, starting with a letter or
    /// digit.
    pub id: String,
    /// The tenant's ceilings (`fuel`, `timeout_ms`, `memory_mib`,
    /// `max_segments`, `max_id_bytes`, `max_reasons`, `max_log_bytes`),
    /// within the operator's.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub limits: mailrules::limits::RequestedLimits,
    /// The SMTP relay of its sends; without one they go to a Maildir.
    #[serde(default)]
    pub relay: Option<String>,
    /// The IANA time zone of recipients whose profile names none (UTC
    /// when absent).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Frequency caps on every message: `{"caps": ["3 per 7d"],
    /// "min_gap": "16h", "segments": {"new-subscriber": ["2 per 7d"]}}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub frequency: mailrules::lifecycle::frequency::FrequencyCaps,
    /// Quiet hours in the recipient's zone, e.g. `"21:00-08:00"`, for
    /// campaigns that set none.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub quiet_hours: Option<mailrules::lifecycle::timing::QuietHours>,
    /// Profile fields the tenant's rules may not read (`email`,
    /// `birth-date`, …): a rule that reads one is refused at upload.
    #[serde(default)]
    pub forbidden_fields: Vec<String>,
}

/// Creates a tenant; its token is in the answer, once.
#[utoipa::path(post, path = "/v1/tenants", request_body = CreateTenant,
    responses((status = 201, description = "created: `{id, token, limits, warnings}`"),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)),
    security(("operator" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Json<CreateTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    auth::operator(&state, &headers)?;
    let Json(body) = body.map_err(|e| ApiError::new(e.status(), "bad-json", e.body_text()))?;
    let settings = TenantSettings {
        limits: body.limits,
        relay: body.relay,
        timezone: body.timezone,
        frequency: body.frequency,
        quiet_hours: body.quiet_hours,
        forbidden_fields: body.forbidden_fields,
    };
    let created = super::blocking(&state, move |hosting| {
        hosting.create_tenant(&body.id, settings)
    })
    .await?;
    tracing::info!(tenant = created.id, "tenant created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists the tenants.
#[utoipa::path(get, path = "/v1/tenants",
    responses((status = 200, description = "the tenants"), (status = 401, body = super::ErrorBody)),
    security(("operator" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::operator(&state, &headers)?;
    let tenants = super::blocking(&state, |hosting| Ok(hosting.store().tenants()?)).await?;
    Ok(Json(serde_json::json!({ "tenants": tenants })))
}
