//! `mailrules serve` over real HTTP: the real binary, real guest
//! components, a real data directory; the client speaks plain HTTP/1.1.

mod api_bounds;
mod contract;
mod feedback;
mod feedback_bounds;
mod isolation;
mod lifecycle;
mod lifecycle_bounds;
mod noisy_neighbour;
mod relay;
mod restart;
mod walkthrough;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mailrules_integration::mailrules_bin;

/// The operator token the test servers run with.
pub const OPERATOR: &str = "operator-token-for-tests-0123456789";

/// A running `mailrules serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts the service on `data_dir` with extra arguments, on a free
    /// port, and waits until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(mailrules_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("MAILRULES_OPERATOR_TOKEN", OPERATOR)
            .env("MAILRULES_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mailrules serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the address");
        let base = line
            .trim()
            .strip_prefix("mailrules: serving on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, base }
    }

    /// The most memory the process has held so far (`VmHWM`), in KiB.
    pub fn peak_memory_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmHWM line")
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A request to `path` with `token`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        call(&self.base, method, path, token, body)
    }

    /// Creates a tenant and returns its token.
    pub fn create_tenant(&self, id: &str) -> String {
        let answer = self.call(
            "POST",
            "/v1/tenants",
            Some(OPERATOR),
            Some((
                "application/json",
                format!(r#"{{"id": "{id}"}}"#).into_bytes(),
            )),
        );
        assert_eq!(answer.status, 201, "{}", answer.text());
        answer.json()["token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// Creates `tenant` with `component` uploaded and active as `v1` and
    /// the example campaign; returns its token.
    pub fn tenant_with_rule(&self, tenant: &str, component: &str) -> String {
        let token = self.create_tenant(tenant);
        self.ready_tenant(tenant, &token, component);
        token
    }

    /// Uploads `component` as `v1` of an existing tenant, activates it and
    /// puts the example campaign.
    pub fn ready_tenant(&self, tenant: &str, token: &str, component: &str) {
        let component = mailrules_integration::rule(component);
        let uploaded = self.upload(tenant, token, "v1", &component);
        assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        assert_eq!(self.activate(tenant, token, "v1").status, 200);
        let put = self.put_campaign(tenant, token, CAMPAIGN, &example_campaign());
        assert_eq!(put.status, 200, "{}", put.text());
    }

    /// Uploads `component` as `version` of `tenant`.
    pub fn upload(&self, tenant: &str, token: &str, version: &str, component: &Path) -> Answer {
        self.call(
            "PUT",
            &format!("/v1/tenants/{tenant}/rules/{version}"),
            Some(token),
            Some(("application/wasm", std::fs::read(component).unwrap())),
        )
    }

    /// Activates `version` of `tenant`.
    pub fn activate(&self, tenant: &str, token: &str, version: &str) -> Answer {
        self.call(
            "POST",
            &format!("/v1/tenants/{tenant}/rules/{version}/activate"),
            Some(token),
            None,
        )
    }

    /// Uploads a campaign.
    pub fn put_campaign(&self, tenant: &str, token: &str, id: &str, toml: &str) -> Answer {
        self.call(
            "PUT",
            &format!("/v1/tenants/{tenant}/campaigns/{id}"),
            Some(token),
            Some(("application/toml", toml.as_bytes().to_vec())),
        )
    }

    /// Evaluates JSON Lines profiles.
    pub fn eval(&self, tenant: &str, token: &str, campaign: &str, profiles: &[u8]) -> Answer {
        self.call(
            "POST",
            &format!("/v1/tenants/{tenant}/campaigns/{campaign}/eval"),
            Some(token),
            Some(("application/x-ndjson", profiles.to_vec())),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: String,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The error code of an error answer, checking its shape: exactly
    /// `{"error": {"code", "message"}}`.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), 1, "{json}");
        let error = json["error"].as_object().expect("an error object");
        assert_eq!(error.len(), 2, "{json}");
        assert!(error["message"].is_string(), "{json}");
        error["code"].as_str().expect("a code").to_string()
    }
}

/// One HTTP request to `base` (`http://host:port`).
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{path}");
    let with_token = |request: ureq::RequestBuilder<ureq::typestate::WithBody>| match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    };
    let without_body = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    };
    let result = match (method, body) {
        ("GET", None) => without_body(agent.get(&url)).call(),
        ("DELETE", None) => without_body(agent.delete(&url)).call(),
        ("POST", None) => with_token(agent.post(&url)).send_empty(),
        ("PUT", None) => with_token(agent.put(&url)).send_empty(),
        ("POST", Some((content_type, bytes))) => with_token(agent.post(&url))
            .content_type(content_type)
            .send(&bytes[..]),
        ("PUT", Some((content_type, bytes))) => with_token(agent.put(&url))
            .content_type(content_type)
            .send(&bytes[..]),
        (method, _) => panic!("no such request in these tests: {method}"),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("reading the body");
    Answer {
        status: response.status().as_u16(),
        body,
        content_type,
    }
}

/// The first URL of a parsed message's `List-Unsubscribe` header (the
/// one-click one), unfolded.
pub fn one_click_url(message: &mail_parser::Message<'_>) -> String {
    let header: String = message
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header")
        .split_whitespace()
        .collect();
    header
        .strip_prefix('<')
        .and_then(|h| h.split_once('>'))
        .expect("<URL>")
        .0
        .to_string()
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Sends `campaign` of `tenant` to `profiles` (JSON Lines) and waits until
/// the send is done; the finished send.
pub fn send_and_wait(
    server: &Server,
    tenant: &str,
    token: &str,
    campaign: &str,
    profiles: &[u8],
) -> serde_json::Value {
    let started = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/campaigns/{campaign}/sends"),
        Some(token),
        Some(("application/x-ndjson", profiles.to_vec())),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let send_id = started.json()["id"].as_str().expect("an id").to_string();
    let send = walkthrough::wait_for_send(server, tenant, token, &send_id);
    assert_eq!(send["state"], "done", "{send}");
    send
}

/// The example campaign's TOML.
pub fn example_campaign() -> String {
    std::fs::read_to_string(mailrules_integration::root().join("examples/campaign.toml")).unwrap()
}

/// The example campaign with a fuel budget of 10^11, so that a rule that
/// loops runs until its 100 ms deadline rather than out of fuel (a server
/// started with [`DEADLINE_CEILING`] grants it).
pub fn deadline_campaign() -> String {
    let campaign = example_campaign();
    assert!(campaign.contains("fuel = 10_000_000"));
    campaign.replace("fuel = 10_000_000", "fuel = 100_000_000_000")
}

/// Server arguments that let a campaign ask for the fuel of
/// [`deadline_campaign`].
pub const DEADLINE_CEILING: [&str; 2] = ["--max-fuel", "100000000000"];

/// The example campaign's id.
pub const CAMPAIGN: &str = "autumn-picks-2026";

/// The lines `mailrules eval` prints for `rule` over `profiles` with the
/// example campaign.
pub fn cli_eval(rule: &Path, profiles: &Path, explain: bool) -> Vec<u8> {
    let mut command = Command::new(mailrules_bin());
    command
        .args(["eval", "--quiet", "--no-cache", "--rules"])
        .arg(rule)
        .arg("--campaign")
        .arg(mailrules_integration::root().join("examples/campaign.toml"))
        .arg("--profiles")
        .arg(profiles);
    if explain {
        command.arg("--explain");
    }
    let output = command.output().expect("mailrules eval runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
