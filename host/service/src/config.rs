//! What the operator sets for a service: where its data lives, the
//! ceilings for every tenant, the evaluation threads, and the caps on
//! requests. Every field has a documented default.

use std::path::PathBuf;
use std::time::Duration;

use mailrules::breaker::BreakerConfig;
use mailrules::limits::OperatorLimits;
use mailrules::send::DeliveryOptions;

/// Caps on what one request may bring or hold.
#[derive(Debug, Clone)]
pub struct RequestCaps {
    /// Largest profiles body (eval, diff, sends). Default 32 MiB.
    pub max_profiles_bytes: usize,
    /// Most profiles in one request. Default 100,000.
    pub max_profiles: usize,
    /// Largest campaign TOML. Default 1 MiB.
    pub max_campaign_bytes: usize,
    /// Requests one tenant may have in progress at once; more are refused
    /// with 429. Default 4.
    pub max_concurrent_per_tenant: usize,
    /// Longest a request may take from its first byte to its last,
    /// streaming included: a slow client cannot hold a worker longer.
    /// Default 120 s.
    pub request_timeout: Duration,
    /// Longest a connection may take to send a request's headers, and to
    /// send the next request on a kept-alive connection; a connection that
    /// idles or trickles longer is closed. Default 10 s.
    pub header_timeout: Duration,
    /// Connections open at once; more are closed as they arrive. Default
    /// 1,000.
    pub max_connections: usize,
    /// Rule versions one tenant may keep. Default 100.
    pub max_rule_versions: usize,
    /// Campaigns one tenant may keep. Default 1,000.
    pub max_campaigns: usize,
    /// Sends of one tenant running at once. Default 2.
    pub max_running_sends: usize,
}

impl Default for RequestCaps {
    fn default() -> Self {
        RequestCaps {
            max_profiles_bytes: 32 << 20,
            max_profiles: 100_000,
            max_campaign_bytes: 1 << 20,
            max_concurrent_per_tenant: 4,
            request_timeout: Duration::from_secs(120),
            header_timeout: Duration::from_secs(10),
            max_connections: 1_000,
            max_rule_versions: 100,
            max_campaigns: 1_000,
            max_running_sends: 2,
        }
    }
}

/// Everything a service is configured with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The data directory: the SQLite database, components, the
    /// compilation cache, and each tenant's sends and Maildir.
    pub data_dir: PathBuf,
    /// The ceilings for every tenant (a tenant's own limits lie within).
    pub operator: OperatorLimits,
    /// Evaluation threads shared by all tenants. Default: the number of
    /// CPUs.
    pub evaluation_threads: usize,
    /// Caps on requests.
    pub caps: RequestCaps,
    /// How sends deliver (threads, retries).
    pub delivery: DeliveryOptions,
    /// When a rule version's circuit breaker opens and closes.
    pub breaker: BreakerConfig,
    /// How often `serve` runs the scheduler ([`Hosting::tick`](crate::Hosting::tick))
    /// with the clock; `None`: never (ticks come from `POST /v1/tick` or
    /// `mailrules tick`). Default: every 60 s.
    pub tick_interval: Option<std::time::Duration>,
    /// The base URL the service is reached at from the internet
    /// (`https://mail.example.com`): with it, every message carries the
    /// service's signed one-click unsubscribe link, and recipients who
    /// agreed to tracking get click redirects and an open pixel. `None`:
    /// the campaign's own `unsubscribe_url`, and no tracking.
    pub public_url: Option<String>,
}

impl ServiceConfig {
    /// A configuration with every default, keeping its data in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        ServiceConfig {
            data_dir,
            operator: OperatorLimits::default(),
            evaluation_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            caps: RequestCaps::default(),
            delivery: DeliveryOptions {
                connections: 4,
                ..DeliveryOptions::default()
            },
            breaker: BreakerConfig::default(),
            tick_interval: Some(std::time::Duration::from_secs(60)),
            public_url: None,
        }
    }
}

/// Longest public URL, in characters (signed links grow from it).
pub const MAX_PUBLIC_URL_CHARS: usize = 200;

/// Checks a public base URL (`--public-url`): `http://` or `https://`, a
/// host, no query or fragment, visible ASCII, at most
/// [`MAX_PUBLIC_URL_CHARS`]. Returns it without a trailing slash.
pub fn check_public_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("public URL `{url}` must start with https:// (or http://)"))?;
    if url.len() > MAX_PUBLIC_URL_CHARS {
        return Err(format!(
            "public URL is {} characters, more than {MAX_PUBLIC_URL_CHARS}",
            url.len()
        ));
    }
    // Letters, digits and the URL punctuation that needs no quoting in an
    // HTML attribute or a header: nothing that could end either.
    if !url
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:/%@!$&()*+,;=[]".contains(&b))
    {
        return Err(format!(
            "public URL `{}` may hold only letters, digits and -._~:/%@!$&()*+,;=[]",
            url.escape_debug()
        ));
    }
    if url.contains(['?', '#']) {
        return Err(format!(
            "public URL `{url}` must not have a query or fragment"
        ));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("public URL `{url}` has no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(
            check_public_url("https://mail.example.com/").unwrap(),
            "https://mail.example.com"
        );
        assert_eq!(
            check_public_url("http://127.0.0.1:8080/m").unwrap(),
            "http://127.0.0.1:8080/m"
        );
        for bad in [
            "https://x/\"><script>",
            "https://x/'",
            "https://x/<",
            "mail.example.com",
            "ftp://x",
            "https://",
            "https:///x",
            "https://x/?a",
            "https://x y",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }
}
