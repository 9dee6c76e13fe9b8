//! Running the service: the Tokio runtime, the listener and the shutdown
//! signal, for `mailrules serve` and for anyone embedding the whole
//! service.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::ServiceConfig;
use crate::hosting::{Hosting, HostingError};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The operator token is missing or too short to be secret.
    #[error("the operator token must be at least {MIN_OPERATOR_TOKEN} characters")]
    WeakOperatorToken,
    /// The data directory or the engine could not be set up.
    #[error("{0}")]
    Hosting(#[from] HostingError),
    /// Listening failed (address in use, no permission, …).
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Shortest operator token accepted.
pub const MIN_OPERATOR_TOKEN: usize = 16;

/// Opens the service on `config`, listens on `address`, calls `ready` with
/// the address it listens on (useful with port 0), and serves until the
/// process gets SIGINT or SIGTERM. Sends in progress are journaled, so a
/// stop at any moment loses nothing: the next start resumes them.
pub fn serve(
    config: ServiceConfig,
    address: SocketAddr,
    operator_token: &str,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if operator_token.len() < MIN_OPERATOR_TOKEN {
        return Err(ServeError::WeakOperatorToken);
    }
    let workers = config.evaluation_threads.clamp(1, 8);
    let caps = config.caps.clone();
    let tick_interval = config.tick_interval;
    let hosting: Arc<Hosting> = Hosting::open(config)?;
    if let Some(interval) = tick_interval {
        start_ticking(hosting.clone(), interval);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("mailrules-http")
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Listen { address, source })?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "serving");
        ready(local);
        let router = crate::api::router(hosting, operator_token);
        crate::api::serve(listener, router, &caps, shutdown_signal()).await?;
        Ok(())
    })
}

/// Runs the scheduler with the clock every `interval`, on a thread of its
/// own, for as long as the process lives.
fn start_ticking(hosting: Arc<Hosting>, interval: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("mailrules-tick".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                // A panic in one tick is logged; the next tick still runs.
                let ticked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    hosting.tick(chrono::Utc::now().timestamp())
                }));
                match ticked {
                    Ok(Ok(report)) if !report.errors.is_empty() => {
                        tracing::warn!(errors = ?report.errors, "tick")
                    }
                    Ok(Ok(report)) => tracing::debug!(?report, "tick"),
                    Ok(Err(error)) => tracing::error!(%error, "tick"),
                    Err(_) => tracing::error!("a tick panicked; the next one runs as planned"),
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the scheduler thread");
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("stopping: sends in progress resume at the next start");
}
