//! The OpenAPI document of the API, generated from the handlers.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's OpenAPI 3.1 document.
#[derive(OpenApi)]
#[openapi(
    info(title = "mailrules", description = "Tenants' email segmentation and personalization rules (WebAssembly components), hosted: upload and activate rule versions, evaluate and send campaigns, canary, watch; profiles and events in, triggered flows out."),
    paths(
        super::tenants::create, super::tenants::list,
        super::rules::upload, super::rules::list, super::rules::activate,
        super::rules::set_canary, super::rules::clear_canary, super::rules::logs,
        super::campaigns::put, super::campaigns::get, super::campaigns::eval, super::campaigns::diff,
        super::sends::start, super::sends::get, super::sends::list,
        super::lifecycle::post_profiles, super::lifecycle::get_profile, super::lifecycle::post_events,
        super::lifecycle::put_flow, super::lifecycle::list_flows, super::lifecycle::delete_flow,
        super::lifecycle::runs, super::lifecycle::tick,
        super::campaigns::list, super::campaigns::last_diff,
        super::feedback::kpis, super::feedback::suppressions,
        super::observe::health, super::observe::metrics,
    ),
    components(schemas(super::ErrorBody, super::ErrorDetail, super::tenants::CreateTenant, super::rules::SetCanary)),
    modifiers(&BearerTokens)
)]
pub struct ApiDoc;

/// Declares the two bearer-token schemes.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["operator", "tenant"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
