//! The provider's walkthrough, step by step over HTTP: two tenants, rules
//! uploaded and activated, eval byte-identical to the CLI, a canary, a
//! roll back, a send into the tenant's Maildir, a restart that keeps
//! everything, and the metrics.

use std::time::{Duration, Instant};

use mailrules::registry::in_canary;
use mailrules_integration::{root, rule};

use super::{CAMPAIGN, OPERATOR, Server, cli_eval, example_campaign};

fn example_profiles() -> Vec<u8> {
    std::fs::read(root().join("examples/profiles.jsonl")).unwrap()
}

fn ids(profiles: &[u8]) -> Vec<String> {
    profiles
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

/// Polls a send until it is no longer running.
pub fn wait_for_send(server: &Server, tenant: &str, token: &str, id: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let answer = server.call(
            "GET",
            &format!("/v1/tenants/{tenant}/sends/{id}"),
            Some(token),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let send = answer.json();
        if send["state"] != "running" {
            return send;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the send did not finish: {send}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_provider_hosts_two_tenants_from_upload_to_send_and_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let profiles = example_profiles();
    let seed = rule("seed-segments");
    let misbehaving = rule("misbehaving");

    // Two tenants, each with its own token.
    let acme = server.create_tenant("acme");
    let globex = server.create_tenant("globex");
    assert_ne!(acme, globex);

    // Upload: the recorded facts come back.
    let uploaded = server.upload("acme", &acme, "v1", &seed);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let facts = &uploaded.json()["facts"];
    assert_eq!(facts["world_version"], "0.1.0");
    assert_eq!(
        facts["size"].as_u64().unwrap(),
        std::fs::metadata(&seed).unwrap().len()
    );
    assert_eq!(facts["sha256"].as_str().unwrap().len(), 64);
    // The profile fields it can read, from its imports, and its fuel on the
    // largest profile the host accepts (all of the default budget).
    assert_eq!(
        facts["profile_fields"],
        serde_json::json!([
            "cart",
            "engagement",
            "has-viewed-category",
            "last-visit-at",
            "order-categories",
            "orders",
            "subscribed-at",
            "viewed-categories",
            "viewed-products"
        ])
    );
    assert_eq!(facts["max_profile_fuel"], 10_000_000, "{facts}");
    assert_eq!(facts["max_profile_outcome"], "out-of-fuel", "{facts}");
    assert_eq!(server.upload("acme", &acme, "v2", &misbehaving).status, 201);
    assert_eq!(server.upload("globex", &globex, "v1", &seed).status, 201);
    // Versions are immutable.
    let again = server.upload("acme", &acme, "v1", &misbehaving);
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.error_code(), "already-exists");

    // No active rule yet: eval is refused with a reason, not a 500.
    for tenant in [("acme", &acme), ("globex", &globex)] {
        let put = server.put_campaign(tenant.0, tenant.1, CAMPAIGN, &example_campaign());
        assert_eq!(put.status, 200, "{}", put.text());
        assert_eq!(put.json()["created"], true);
    }
    let early = server.eval("acme", &acme, CAMPAIGN, &profiles);
    assert_eq!(early.status, 409, "{}", early.text());
    assert_eq!(early.error_code(), "no-active-rule");

    // Activate, and eval over HTTP is byte-identical to the CLI.
    assert_eq!(server.activate("acme", &acme, "v1").status, 200);
    assert_eq!(server.activate("globex", &globex, "v1").status, 200);
    let profiles_path = root().join("examples/profiles.jsonl");
    let expected_v1 = cli_eval(&seed, &profiles_path, false);
    let answer = server.eval("acme", &acme, CAMPAIGN, &profiles);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.content_type, "application/x-ndjson");
    assert_eq!(answer.text(), String::from_utf8_lossy(&expected_v1));
    let explained = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/eval?explain=true"),
        Some(&acme),
        Some(("application/x-ndjson", profiles.clone())),
    );
    assert_eq!(
        explained.text(),
        String::from_utf8_lossy(&cli_eval(&seed, &profiles_path, true))
    );

    // The shadow diff over HTTP is the report `mailrules diff` gives.
    let diff = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/diff?candidate=v2"),
        Some(&acme),
        Some(("application/x-ndjson", profiles.clone())),
    );
    assert_eq!(diff.status, 200, "{}", diff.text());
    let output = std::process::Command::new(mailrules_integration::mailrules_bin())
        .args(["diff", "--json", "--no-cache", "--rules"])
        .arg(&seed)
        .arg("--candidate")
        .arg(&misbehaving)
        .arg("--campaign")
        .arg(root().join("examples/campaign.toml"))
        .arg("--profiles")
        .arg(&profiles_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli_diff: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(diff.json(), cli_diff);
    assert_eq!(diff.json()["profiles"], 24);
    let unknown = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/diff?candidate=v404"),
        Some(&acme),
        Some(("application/x-ndjson", profiles.clone())),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // A canary: v2 serves the recipients whose stable bucket is in 50%.
    let canary = server.call(
        "PUT",
        "/v1/tenants/acme/canary",
        Some(&acme),
        Some((
            "application/json",
            br#"{"version": "v2", "percent": 50}"#.to_vec(),
        )),
    );
    assert_eq!(canary.status, 200, "{}", canary.text());
    assert_eq!(canary.json()["canary"]["version"], "v2");
    let expected_v2 = cli_eval(&misbehaving, &profiles_path, false);
    let mixed = server.eval("acme", &acme, CAMPAIGN, &profiles);
    let (v1_lines, v2_lines, mixed_lines) =
        (lines(&expected_v1), lines(&expected_v2), lines(&mixed.body));
    let mut served_by_canary = 0;
    for (i, id) in ids(&profiles).iter().enumerate() {
        if in_canary(CAMPAIGN, id, 50) {
            served_by_canary += 1;
            assert_eq!(mixed_lines[i], v2_lines[i], "{id}");
        } else {
            assert_eq!(mixed_lines[i], v1_lines[i], "{id}");
        }
    }
    assert!(
        served_by_canary > 0 && served_by_canary < 24,
        "{served_by_canary}"
    );
    // globex is untouched by acme's canary.
    assert_eq!(
        server.eval("globex", &globex, CAMPAIGN, &profiles).body,
        expected_v1
    );

    // Activate v2 (ends the canary), then roll back to v1.
    let activated = server.activate("acme", &acme, "v2").json();
    assert_eq!(activated["active"], "v2");
    assert!(activated["canary"].is_null());
    assert_eq!(
        server.eval("acme", &acme, CAMPAIGN, &profiles).body,
        expected_v2
    );
    let rolled_back = server.activate("acme", &acme, "v1").json();
    assert_eq!(rolled_back["active"], "v1");
    let history: Vec<&str> = rolled_back["activations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["version"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["v1", "v2", "v1"]);
    assert_eq!(
        server.eval("acme", &acme, CAMPAIGN, &profiles).body,
        expected_v1
    );

    // A send into acme's Maildir, followed to the end, with its report.
    let started = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
        Some(&acme),
        Some(("application/x-ndjson", profiles.clone())),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let send_id = started.json()["id"].as_str().unwrap().to_string();
    let send = wait_for_send(&server, "acme", &acme, &send_id);
    assert_eq!(send["state"], "done", "{send}");
    let delivered = send["report"]["fates"]["delivered"].as_u64().unwrap();
    let suppressed = send["report"]["fates"]["suppressed"].as_u64().unwrap_or(0);
    let ok_lines = lines(&expected_v1)
        .iter()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["status"] == "ok" || v["status"] == "fallback"
        })
        .count() as u64;
    assert_eq!(delivered, ok_lines, "{send}");
    assert_eq!(delivered + suppressed, 24, "{send}");
    let maildir = data.path().join("tenants/acme/maildir/new");
    assert_eq!(
        std::fs::read_dir(&maildir).unwrap().count() as u64,
        delivered
    );
    assert!(!data.path().join("tenants/globex/maildir").exists());

    // The metrics: operator only, labelled by tenant and version.
    let metrics = server.call("GET", "/metrics", Some(OPERATOR), None);
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains(
            r#"mailrules_evaluations_total{tenant="acme",version="v1",status="ok",reason="none"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"mailrules_evaluations_total{tenant="acme",version="v2","#),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"mailrules_send_recipients_total{{tenant="acme",fate="delivered"}} {delivered}"#
        )),
        "{text}"
    );
    assert_eq!(
        server.call("GET", "/metrics", Some(&acme), None).status,
        401
    );
    assert_eq!(server.call("GET", "/metrics", None, None).status, 401);

    // A restart (kill -9) keeps tenants, tokens, versions, the active one,
    // campaigns and sends.
    server.kill();
    let server = Server::start(data.path(), &[]);
    let rules = server.call("GET", "/v1/tenants/acme/rules", Some(&acme), None);
    assert_eq!(rules.status, 200, "{}", rules.text());
    assert_eq!(rules.json()["active"], "v1");
    assert_eq!(rules.json()["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        server.eval("acme", &acme, CAMPAIGN, &profiles).body,
        expected_v1
    );
    assert_eq!(
        server.eval("globex", &globex, CAMPAIGN, &profiles).body,
        expected_v1
    );
    let send = server.call(
        "GET",
        &format!("/v1/tenants/acme/sends/{send_id}"),
        Some(&acme),
        None,
    );
    assert_eq!(send.json()["state"], "done");
}
