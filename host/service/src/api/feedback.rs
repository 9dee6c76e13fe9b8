//! A tenant's feedback: a campaign's KPIs and the suppression list.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use mailrules::feedback::kpis::KpiReport;

use super::ApiState;
use super::error::ApiError;
use super::tenant_request::TenantRequest;
use crate::store::Suppression;

/// A campaign's KPIs: every send of it (flow sends included) with the
/// opens, clicks, unsubscribes and orders since, in total, per segment,
/// per subject and preheader variant and per A/B arm, with the A/B
/// verdicts and the holdout's lift. Definitions are in the README.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/campaigns/{campaign}/kpis",
    responses((status = 200, description = "`{campaign, total, segments, subjects, preheaders, splits, holdout, delivered_per_day, …}`"),
              (status = 404, body = super::ErrorBody)),
    security(("tenant" = [])))]
pub async fn kpis(
    State(state): State<ApiState>,
    Path((tenant, campaign)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<KpiReport>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    Ok(Json(
        request
            .run_counted(move |hosting, tenant| hosting.campaign_kpis(tenant, &campaign))
            .await?,
    ))
}

/// The customers who unsubscribed (newest first, the latest 1,000): the
/// host suppresses them before any rule runs, reason `unsubscribed`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/suppressions",
    responses((status = 200, body = [Suppression])),
    security(("tenant" = [])))]
pub async fn suppressions(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<Suppression>>, ApiError> {
    let request = TenantRequest::admit(&state, &headers, tenant)?;
    Ok(Json(
        request
            .run(move |hosting, tenant| hosting.suppressions(tenant))
            .await?,
    ))
}
