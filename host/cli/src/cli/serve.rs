//! `mailrules serve`: the multi-tenant rules service over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use mailrules_service::ServiceConfig;

use super::options::CeilingOptions;

/// Environment variable with the operator token.
const OPERATOR_TOKEN_VARIABLE: &str = "MAILRULES_OPERATOR_TOKEN";

/// Arguments of `mailrules serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "The operator token (for creating tenants and reading /metrics) is read \
from --operator-token-file or $MAILRULES_OPERATOR_TOKEN, never from the command line; \
it must be at least 16 characters. Tenants get their own tokens when the operator creates them \
(POST /v1/tenants). The API is described at GET /v1/openapi.json.\n\n\
Everything lives under --data-dir: the SQLite database, uploaded components (by SHA-256), \
the compilation cache, and each tenant's sends (profiles, journal) and Maildir. \
On SIGINT or SIGTERM it stops accepting connections and gives the requests in progress up to \
10 s to finish. Stopping the service (even kill -9) loses nothing: sends resume at the next start.\n\n\
Exit status: 0 stopped by SIGINT/SIGTERM; 2 could not start (data directory, address, token)."
)]
pub struct ServeArgs {
    /// Where the service keeps everything (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// File holding the operator token [default: $MAILRULES_OPERATOR_TOKEN].
    #[arg(long, value_name = "FILE")]
    operator_token_file: Option<PathBuf>,
    /// Evaluation threads shared by all tenants [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    evaluation_threads: Option<usize>,
    /// Most profiles in one request.
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_profiles)]
    max_profiles: usize,
    /// Largest profiles body of one request, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = mailrules_service::RequestCaps::default().max_profiles_bytes >> 20)]
    max_body_mib: usize,
    /// Requests one tenant may have in progress at once (more get 429).
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_concurrent_per_tenant)]
    max_requests_per_tenant: usize,
    /// Seconds a connection may take to send a request's headers (or the
    /// next request) before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = mailrules_service::RequestCaps::default().header_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Largest campaign (or flow) upload, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = mailrules_service::RequestCaps::default().max_campaign_bytes >> 10)]
    max_campaign_kib: usize,
    /// Rule versions a tenant may keep.
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_rule_versions)]
    max_rule_versions: usize,
    /// Campaigns a tenant may keep.
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_campaigns)]
    max_campaigns: usize,
    /// Sends a tenant may have running at once (more get 429).
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_running_sends)]
    max_running_sends: usize,
    /// Connections open at once; more are closed as they arrive.
    #[arg(long, value_name = "N", default_value_t = mailrules_service::RequestCaps::default().max_connections)]
    max_connections: usize,
    /// Seconds between runs of the scheduler (flows, caps, send times);
    /// 0: never (tick with POST /v1/tick or `mailrules tick`).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    tick_interval_secs: u64,
    /// The base URL this service is reached at from the internet
    /// (https://mail.example.com). With it every message carries the
    /// service's signed one-click unsubscribe link (List-Unsubscribe, RFC
    /// 8058), and recipients who agreed to tracking get click redirects and
    /// an open pixel; without it, the campaign's own unsubscribe_url and no
    /// tracking.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    #[command(flatten)]
    ceilings: CeilingOptions,
}

/// Runs the service until it is stopped.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.operator_token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the operator token", path.display()))?
            .trim()
            .to_string(),
        None => match std::env::var(OPERATOR_TOKEN_VARIABLE) {
            Ok(token) => token.trim().to_string(),
            Err(_) => bail!(
                "no operator token: pass --operator-token-file FILE or set ${OPERATOR_TOKEN_VARIABLE}"
            ),
        },
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAILRULES_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut config = ServiceConfig::new(args.data_dir.clone());
    config.operator = args.ceilings.operator_limits();
    if let Some(threads) = args.evaluation_threads {
        config.evaluation_threads = threads.max(1);
    }
    config.caps.max_profiles = args.max_profiles;
    config.caps.max_profiles_bytes = args.max_body_mib << 20;
    config.caps.max_concurrent_per_tenant = args.max_requests_per_tenant.max(1);
    config.caps.header_timeout = std::time::Duration::from_secs(args.header_timeout_secs.max(1));
    config.caps.max_campaign_bytes = args.max_campaign_kib.max(1) << 10;
    config.caps.max_rule_versions = args.max_rule_versions.max(1);
    config.caps.max_campaigns = args.max_campaigns.max(1);
    config.caps.max_running_sends = args.max_running_sends.max(1);
    config.caps.max_connections = args.max_connections.max(1);
    config.tick_interval = (args.tick_interval_secs > 0)
        .then(|| std::time::Duration::from_secs(args.tick_interval_secs));
    config.public_url = args
        .public_url
        .as_deref()
        .map(mailrules_service::config::check_public_url)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if let Some(url) = config
        .public_url
        .as_deref()
        .filter(|u| u.starts_with("http://"))
    {
        eprintln!(
            "mailrules: warning: --public-url {url} is not https: mailbox providers act on \
             one-click unsubscribe links only over https"
        );
    }
    mailrules_service::server::serve(config, args.listen, &token, |address| {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "mailrules: serving on http://{address}");
        let _ = stdout.flush();
    })
    .with_context(|| format!("{}", args.data_dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
