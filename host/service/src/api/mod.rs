//! The HTTP API of `mailrules serve`: JSON over HTTP, `Authorization:
//! Bearer <token>`, a thin layer over [`Hosting`]. Every route has a body
//! limit, every tenant a cap on requests in progress, every request a
//! deadline.

mod auth;
mod campaigns;
mod error;
mod feedback;
mod lifecycle;
mod links;
mod observe;
mod openapi;
mod page;
mod rules;
mod sends;
mod tenant_request;
mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use tower_http::timeout::TimeoutLayer;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::ApiDoc;

use crate::hosting::Hosting;
use crate::tokens::hash_token;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    hosting: Arc<Hosting>,
    operator_token_hash: [u8; 32],
}

/// Largest JSON body of the small routes (tenant creation, canary).
const SMALL_BODY: usize = 64 << 10;

/// The routes, with their limits, for `hosting`; `operator_token` grants
/// the operator's routes.
pub fn router(hosting: Arc<Hosting>, operator_token: &str) -> Router {
    let caps = hosting.config().caps.clone();
    let component_limit = hosting.config().operator.max_component_bytes;
    let state = ApiState {
        hosting,
        operator_token_hash: hash_token(operator_token),
    };
    let small = DefaultBodyLimit::max(SMALL_BODY);
    let profiles = DefaultBodyLimit::max(caps.max_profiles_bytes);
    Router::new()
        .route(
            "/v1/tenants",
            post(tenants::create).get(tenants::list).layer(small),
        )
        .route("/v1/tenants/{tenant}/rules", get(rules::list))
        .route(
            "/v1/tenants/{tenant}/rules/{version}",
            put(rules::upload).layer(DefaultBodyLimit::max(component_limit)),
        )
        .route(
            "/v1/tenants/{tenant}/rules/{version}/activate",
            post(rules::activate),
        )
        .route(
            "/v1/tenants/{tenant}/rules/{version}/logs",
            get(rules::logs),
        )
        .route(
            "/v1/tenants/{tenant}/canary",
            put(rules::set_canary)
                .delete(rules::clear_canary)
                .layer(small),
        )
        .route(
            "/v1/tenants/{tenant}/campaigns/{campaign}",
            put(campaigns::put)
                .get(campaigns::get)
                .layer(DefaultBodyLimit::max(caps.max_campaign_bytes)),
        )
        .route(
            "/v1/tenants/{tenant}/campaigns/{campaign}/eval",
            post(campaigns::eval).layer(profiles),
        )
        .route(
            "/v1/tenants/{tenant}/campaigns/{campaign}/diff",
            post(campaigns::diff).layer(profiles),
        )
        .route(
            "/v1/tenants/{tenant}/campaigns/{campaign}/sends",
            post(sends::start).layer(profiles),
        )
        .route("/v1/tenants/{tenant}/sends", get(sends::list))
        .route("/v1/tenants/{tenant}/sends/{send}", get(sends::get))
        .route(
            "/v1/tenants/{tenant}/profiles",
            post(lifecycle::post_profiles).layer(profiles),
        )
        .route(
            "/v1/tenants/{tenant}/profiles/{customer}",
            get(lifecycle::get_profile),
        )
        .route(
            "/v1/tenants/{tenant}/events",
            post(lifecycle::post_events).layer(profiles),
        )
        .route("/v1/tenants/{tenant}/flows", get(lifecycle::list_flows))
        .route(
            "/v1/tenants/{tenant}/flows/{flow}",
            put(lifecycle::put_flow)
                .delete(lifecycle::delete_flow)
                .layer(small),
        )
        .route("/v1/tenants/{tenant}/runs", get(lifecycle::runs))
        .route("/v1/tick", post(lifecycle::tick))
        .route("/v1/tenants/{tenant}/campaigns", get(campaigns::list))
        .route(
            "/v1/tenants/{tenant}/campaigns/{campaign}/kpis",
            get(feedback::kpis),
        )
        .route(
            "/v1/tenants/{tenant}/suppressions",
            get(feedback::suppressions),
        )
        .route("/v1/tenants/{tenant}/diffs/last", get(campaigns::last_diff))
        .route(
            "/u/{token}",
            get(links::view_unsubscribe)
                .post(links::unsubscribe)
                .layer(DefaultBodyLimit::max(links::MAX_UNSUBSCRIBE_BODY)),
        )
        .route("/o/{token}", get(links::open))
        .route("/c/{token}", get(links::click))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::permanent("ui/") }),
        )
        .route("/ui/", get(page::index))
        .route("/ui/page.css", get(page::stylesheet))
        .route("/ui/charts.js", get(page::charts))
        .route("/ui/app.js", get(page::script))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(observe::health))
        .route("/metrics", get(observe::metrics))
        .fallback(observe::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::count_responses,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            caps.request_timeout,
        ))
        .with_state(state)
}

/// How long a stopping server waits for the requests in progress.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` completes,
/// then waits up to [`DRAIN_TIMEOUT`] for the connections still open.
/// Each connection must send its headers within `caps.header_timeout`, and
/// at most `caps.max_connections` are open at once: an idle or trickling
/// client holds a connection for a bounded time, and many of them cannot
/// take every file descriptor.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    caps: &crate::RequestCaps,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let places = caps.max_connections.max(1);
    let connections = Arc::new(tokio::sync::Semaphore::new(places));
    let header_timeout = caps.header_timeout;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => {
                // No new connections; the open ones get up to
                // DRAIN_TIMEOUT to finish what they are doing.
                drop(listener);
                let all = u32::try_from(places).unwrap_or(u32::MAX);
                let drained = tokio::time::timeout(DRAIN_TIMEOUT, connections.acquire_many(all)).await;
                if drained.is_err() {
                    tracing::warn!("stopping with requests still in progress");
                }
                return Ok(());
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: not a reason to stop serving.
                tracing::warn!(%error, "accepting a connection");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!("too many connections: closing a new one");
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(permit);
        });
    }
}

/// Runs `work` on a blocking thread (compiling, evaluating, SQLite) and
/// turns its error into an answer.
async fn blocking<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce(&Hosting) -> Result<T, crate::HostingError> + Send + 'static,
) -> Result<T, ApiError> {
    let hosting = state.hosting.clone();
    tokio::task::spawn_blocking(move || work(&hosting))
        .await
        .map_err(|e| ApiError::from(crate::HostingError::Internal(format!("worker: {e}"))))?
        .map_err(ApiError::from)
}
