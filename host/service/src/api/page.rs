//! The tenant's page (`/ui/`): plain HTML, a stylesheet and two scripts
//! compiled into the binary, no build step. The page asks the tenant's API
//! for everything it shows, with the tenant's token from the URL fragment
//! (`/ui/#tenant=ID&token=…`; a fragment never reaches the server or its
//! logs). The bar charts are a few lines of SVG of its own
//! (`charts.js`), which is all they need.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Only the page's own scripts and styles; data from the API is put in
/// with `textContent`, never as markup.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

/// Its stylesheet.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/page.css"))
}

/// Its bar charts.
pub async fn charts() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/charts.js"),
    )
}

/// Its script.
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    )
}
