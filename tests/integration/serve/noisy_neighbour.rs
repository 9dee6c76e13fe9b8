//! Two tenants at once: A's rule loops to its deadline on every profile
//! while B evaluates 10,000 profiles. B's decisions are exactly what B
//! gets alone; A's failures stay in A's answer and trip A's breaker.
//! (How much throughput B keeps is measured by the benchmark harness:
//! `mailrules-bench --only noisy-neighbour`.)

use mailrules_integration::{generator, now, rule};

use super::{CAMPAIGN, OPERATOR, Server, cli_eval};

#[test]
fn a_looping_tenant_does_not_change_another_tenants_decisions_and_trips_its_breaker() {
    // Loads both CPUs for seconds: not beside the tests that measure shares.
    let _alone = crate::harness::cpu_heavy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &super::DEADLINE_CEILING);
    let noisy = server.tenant_with_rule("noisy", "misbehaving");
    let put = server.put_campaign("noisy", &noisy, CAMPAIGN, &super::deadline_campaign());
    assert_eq!(put.status, 200, "{}", put.text());
    let quiet = server.tenant_with_rule("quiet", "seed-segments");
    let looping: String = (0..300)
        .map(|i| {
            format!(
                "{{\"id\": \"loop-{i}\", \"email\": \"l{i}@example.com\", \"consent\": {{\"email_marketing\": true}}, \"tags\": [\"loop\"]}}\n"
            )
        })
        .collect();
    let mut profiles = Vec::new();
    generator::write_jsonl(&mut profiles, 10_000, 11, now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quiet.jsonl");
    std::fs::write(&path, &profiles).unwrap();
    let alone = cli_eval(&rule("seed-segments"), &path, false);

    let base = server.base.clone();
    let token = noisy.clone();
    let noise = std::thread::spawn(move || {
        super::call(
            &base,
            "POST",
            &format!("/v1/tenants/noisy/campaigns/{CAMPAIGN}/eval?explain=true"),
            Some(&token),
            Some(("application/x-ndjson", looping.into_bytes())),
        )
    });
    let answer = server.eval("quiet", &quiet, CAMPAIGN, &profiles);
    let noise = noise.join().unwrap();

    assert_eq!(answer.status, 200);
    assert!(
        answer.body == alone,
        "quiet's decisions changed next to a noisy tenant"
    );
    assert!(!answer.text().contains("timeout") && !answer.text().contains("breaker"));

    assert_eq!(noise.status, 200);
    let lines: Vec<serde_json::Value> = noise
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300);
    assert!(
        lines.iter().all(|l| l["status"] == "fallback"),
        "{}",
        noise.text()
    );
    let reason = |l: &serde_json::Value| l["reason"].as_str().unwrap().to_string();
    let timeouts = lines
        .iter()
        .filter(|l| reason(l).starts_with("timeout"))
        .count();
    let refused = lines
        .iter()
        .filter(|l| reason(l).starts_with("breaker-open"))
        .count();
    assert_eq!(timeouts + refused, 300);
    // The breaker opens after 20 failures in its window; evaluations
    // already running when it opens finish (at most one per thread).
    assert!((20..=24).contains(&timeouts), "{timeouts} timeouts");

    let rules = server
        .call("GET", "/v1/tenants/noisy/rules", Some(&noisy), None)
        .json();
    let events = rules["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "breaker-open" && e["version"] == "v1"),
        "{rules}"
    );
    let quiet_rules = server
        .call("GET", "/v1/tenants/quiet/rules", Some(&quiet), None)
        .json();
    assert!(
        !quiet_rules["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"].as_str().unwrap().starts_with("breaker")),
        "{quiet_rules}"
    );
    let metrics = server.call("GET", "/metrics", Some(OPERATOR), None).text();
    assert!(
        metrics.contains(r#"mailrules_breaker_state{tenant="noisy",version="v1"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mailrules_breaker_trips_total{tenant="noisy",version="v1"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"mailrules_breaker_state{tenant="quiet""#));
}
