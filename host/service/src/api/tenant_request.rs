//! What every tenant route does around its own work, in one order: admit
//! the caller for the tenant in the path (401, 403), read the body within
//! the route's limit (413), count the request among the tenant's requests
//! in progress (429), and run the work on a blocking thread.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;

use super::error::{ApiError, body_error};
use super::{ApiState, auth};
use crate::hosting::{Hosting, HostingError, RequestGuard};

/// A request admitted for one tenant.
pub(super) struct TenantRequest {
    state: ApiState,
    tenant: String,
}

impl TenantRequest {
    /// Admits the caller for `tenant`: 401 without a valid token, 403 with
    /// another tenant's (or the operator's).
    pub(super) fn admit(
        state: &ApiState,
        headers: &HeaderMap,
        tenant: String,
    ) -> Result<Self, ApiError> {
        auth::tenant(state, headers, &tenant)?;
        Ok(TenantRequest {
            state: state.clone(),
            tenant,
        })
    }

    /// Admits the caller as [`TenantRequest::admit`] does, then takes the
    /// body: 413 over the route's limit, 400 when it cannot be read.
    pub(super) fn with_body(
        state: &ApiState,
        headers: &HeaderMap,
        tenant: String,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<(Self, Bytes), ApiError> {
        let request = TenantRequest::admit(state, headers, tenant)?;
        Ok((request, body.map_err(body_error)?))
    }

    /// The tenant.
    pub(super) fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Counts the request among the tenant's requests in progress until
    /// the guard is dropped: 429 when it has as many as it may.
    pub(super) fn begin(&self) -> Result<RequestGuard, ApiError> {
        Ok(self.state.hosting.begin_request(&self.tenant)?)
    }

    /// Runs `work` for the tenant on a blocking thread (compiling,
    /// evaluating, SQLite) and turns its error into an answer.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Arc<Hosting>, &str) -> Result<T, HostingError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let hosting = self.state.hosting.clone();
        let tenant = self.tenant.clone();
        tokio::task::spawn_blocking(move || work(&hosting, &tenant))
            .await
            .map_err(|e| ApiError::from(HostingError::Internal(format!("worker: {e}"))))?
            .map_err(ApiError::from)
    }

    /// Runs `work` as [`TenantRequest::run`] does, counted among the
    /// tenant's requests in progress ([`TenantRequest::begin`]) until it
    /// is done.
    pub(super) async fn run_counted<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Arc<Hosting>, &str) -> Result<T, HostingError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _guard = self.begin()?;
        self.run(work).await
    }
}
