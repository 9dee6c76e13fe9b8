//! What a careless or hostile caller gets: a 4xx with a JSON error that
//! says what is wrong, never a 500 and never the process.

use mailrules_integration::rule;

use super::{CAMPAIGN, OPERATOR, Server, example_campaign};

#[test]
fn bad_requests_get_clear_client_errors() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--max-profiles", "50", "--max-body-mib", "1"],
    );
    let acme = server.create_tenant("acme");

    // Tenants: bad ids, duplicates, unknown fields, bad JSON.
    let bad = |body: &str| {
        server.call(
            "POST",
            "/v1/tenants",
            Some(OPERATOR),
            Some(("application/json", body.as_bytes().to_vec())),
        )
    };
    for (body, status, code) in [
        (r#"{"id": "Acme Corp"}"#, 400, "invalid-id"),
        (r#"{"id": "../etc"}"#, 400, "invalid-id"),
        (r#"{"id": "acme"}"#, 409, "already-exists"),
        (r#"{"id": "x", "admin": true}"#, 422, "bad-json"),
        (r#"{"id": "#, 400, "bad-json"),
        (
            r#"{"id": "y", "limits": {"fuel": "lots"}}"#,
            422,
            "bad-json",
        ),
    ] {
        let answer = bad(body);
        assert_eq!(answer.status, status, "{body}: {}", answer.text());
        assert_eq!(answer.error_code(), code, "{body}");
    }

    // Rules: not a component, a bad version name, a forbidden import.
    let not_wasm = server.call(
        "PUT",
        "/v1/tenants/acme/rules/v1",
        Some(&acme),
        Some(("application/wasm", b"hello".to_vec())),
    );
    assert_eq!(not_wasm.status, 422, "{}", not_wasm.text());
    assert_eq!(not_wasm.error_code(), "invalid-rule");
    let forbidden = server.upload("acme", &acme, "v1", &rule("forbidden-import"));
    assert_eq!(forbidden.status, 422);
    assert!(forbidden.text().contains("import"), "{}", forbidden.text());
    let bad_name = server.upload("acme", &acme, "V%201", &rule("seed-segments"));
    assert_eq!(bad_name.status, 400, "{}", bad_name.text());
    assert_eq!(server.activate("acme", &acme, "v404").status, 404);

    // Campaigns: a syntax error names the file and line; an id mismatch.
    let broken = example_campaign().replacen("[fallback]", "[fallback", 1);
    let answer = server.put_campaign("acme", &acme, CAMPAIGN, &broken);
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert_eq!(answer.error_code(), "invalid-campaign");
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{CAMPAIGN}.toml:")),
        "{}",
        answer.text()
    );
    let renamed = server.put_campaign("acme", &acme, "other", &example_campaign());
    assert_eq!(renamed.status, 422, "{}", renamed.text());
    let unknown = server.eval("acme", &acme, "nope", b"");
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // Profiles: over the count cap, over the body cap.
    server.ready_tenant("acme", &acme, "seed-segments");
    let many: String = (0..51)
        .map(|i| format!("{{\"id\": \"p-{i}\", \"email\": \"p{i}@example.com\"}}\n"))
        .collect();
    let answer = server.eval("acme", &acme, CAMPAIGN, many.as_bytes());
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    let huge = vec![b' '; (1 << 20) + 1];
    let answer = server.eval("acme", &acme, CAMPAIGN, &huge);
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    // A malformed profile costs its own line only.
    let mixed = b"{\"id\": \"ok-1\", \"email\": \"a@example.com\", \"consent\": {\"email_marketing\": true}}\nnot json\n";
    let answer = server.eval("acme", &acme, CAMPAIGN, mixed);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let lines: Vec<serde_json::Value> = answer
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["status"], "error");
    let bad_now = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/eval?now=yesterday"),
        Some(&acme),
        Some(("application/x-ndjson", mixed.to_vec())),
    );
    assert_eq!(bad_now.status, 400, "{}", bad_now.text());

    // Unknown routes and the OpenAPI document.
    let nowhere = server.call("GET", "/v2/everything", None, None);
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.error_code(), "not-found");
    let openapi = server.call("GET", "/v1/openapi.json", None, None).json();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    let paths = openapi["paths"].as_object().unwrap();
    for path in [
        "/v1/tenants",
        "/v1/tenants/{tenant}/rules/{version}",
        "/v1/tenants/{tenant}/campaigns/{campaign}/eval",
        "/v1/tenants/{tenant}/sends/{send}",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {paths:?}");
    }
    assert_eq!(
        server.call("GET", "/healthz", None, None).json()["status"],
        "ok"
    );
}

#[test]
fn a_send_of_more_profiles_than_the_cap_gets_413_and_starts_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--max-profiles", "3"]);
    let acme = server.tenant_with_rule("acme", "seed-segments");
    let profiles = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"id\": \"p-{i}\", \"email\": \"p{i}@example.com\", \"consent\": {{\"email_marketing\": true}}}}\n\n"
                )
            })
            .collect::<String>()
            .into_bytes()
    };
    let send = |body: Vec<u8>| {
        server.call(
            "POST",
            &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
            Some(&acme),
            Some(("application/x-ndjson", body)),
        )
    };
    let sends = || {
        server
            .call("GET", "/v1/tenants/acme/sends", Some(&acme), None)
            .json()["sends"]
            .as_array()
            .unwrap()
            .len()
    };

    let answer = send(profiles(4));
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    assert_eq!(
        answer.json()["error"]["message"],
        "more than 3 profiles in one request; split them"
    );
    assert_eq!(sends(), 0);
    // The same answer as evaluating them.
    let eval = server.eval("acme", &acme, CAMPAIGN, &profiles(4));
    assert_eq!(eval.status, 413, "{}", eval.text());
    assert_eq!(eval.json(), answer.json());
    // Three profiles (the blank lines between them not counted) go.
    let answer = send(profiles(3));
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(sends(), 1);
}

#[test]
fn a_tenant_over_its_request_cap_gets_429_while_others_are_served() {
    let _alone = crate::harness::cpu_heavy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--max-requests-per-tenant",
            "1",
            super::DEADLINE_CEILING[0],
            super::DEADLINE_CEILING[1],
        ],
    );
    let acme = server.tenant_with_rule("acme", "misbehaving");
    let globex = server.tenant_with_rule("globex", "misbehaving");
    let put = server.put_campaign("acme", &acme, CAMPAIGN, &super::deadline_campaign());
    assert_eq!(put.status, 200, "{}", put.text());
    // 20 profiles that each run to their 100 ms deadline: about 2 s.
    let slow: String = (0..20)
        .map(|i| {
            format!(
                "{{\"id\": \"slow-{i}\", \"email\": \"s{i}@example.com\", \"consent\": {{\"email_marketing\": true}}, \"tags\": [\"loop\"]}}\n"
            )
        })
        .collect();
    let base = server.base.clone();
    let token = acme.clone();
    let first = std::thread::spawn(move || {
        super::call(
            &base,
            "POST",
            &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/eval"),
            Some(&token),
            Some(("application/x-ndjson", slow.into_bytes())),
        )
    });
    // Wait until the slow request is evaluating (it then holds acme's one
    // slot): the operator's metrics show its jobs running.
    let started = std::time::Instant::now();
    let running = || {
        let metrics = server
            .call("GET", "/metrics", Some(super::OPERATOR), None)
            .text();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("mailrules_evaluation_jobs_running "))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap())
    };
    while running() == 0 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the slow request never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let quick = b"{\"id\": \"q\", \"email\": \"q@example.com\", \"consent\": {\"email_marketing\": true}}\n";
    let refused = server.eval("acme", &acme, CAMPAIGN, quick);
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.error_code(), "too-many-requests");
    // globex is not affected by acme's cap.
    assert_eq!(server.eval("globex", &globex, CAMPAIGN, quick).status, 200);
    let first = first.join().unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.text().lines().count(), 20);
    assert!(
        first.text().lines().all(|l| l.contains("\"fallback\"")),
        "{}",
        first.text()
    );

    // What a rule logs is kept per version, capped, for its tenant (globex:
    // acme's 20 timeouts opened its breaker, so its rule no longer runs).
    let flood = b"{\"id\": \"chatty\", \"email\": \"c@example.com\", \"consent\": {\"email_marketing\": true}, \"tags\": [\"log-flood\"]}\n";
    assert_eq!(server.eval("globex", &globex, CAMPAIGN, flood).status, 200);
    let logs = server
        .call(
            "GET",
            "/v1/tenants/globex/rules/v1/logs",
            Some(&globex),
            None,
        )
        .json();
    let lines = logs["lines"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 200, "{}", lines.len());
    assert!(lines.iter().all(|l| l["profile_id"] == "chatty"));
    assert!(
        lines
            .iter()
            .all(|l| l["line"].as_str().unwrap().len() <= 1024)
    );
    let theirs = server
        .call("GET", "/v1/tenants/acme/rules/v1/logs", Some(&acme), None)
        .json();
    assert!(!theirs.to_string().contains("chatty"), "{theirs}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--header-timeout-secs", "1"]);
    let address = server.base.strip_prefix("http://").unwrap();
    let mut idle = std::net::TcpStream::connect(address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Far longer than the header timeout, so a hang fails the test.
    idle.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    // Others are served meanwhile.
    assert_eq!(server.call("GET", "/healthz", None, None).status, 200);
    let mut answer = Vec::new();
    let read = idle.read_to_end(&mut answer);
    assert!(read.is_ok(), "the connection was not closed: {read:?}");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn quotas_and_size_caps_answer_with_their_codes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--max-campaign-kib",
            "4",
            "--max-rule-versions",
            "1",
            "--max-campaigns",
            "1",
            "--max-component-mib",
            "1",
        ],
    );
    let token = server.create_tenant("acme");
    let component = mailrules_integration::rule("seed-segments");
    assert_eq!(server.upload("acme", &token, "v1", &component).status, 201);
    // The second version is over the quota of one.
    let second = server.upload("acme", &token, "v2", &component);
    assert_eq!(second.status, 409, "{}", second.text());
    assert_eq!(second.error_code(), "quota");
    // A component over the operator's size limit (1 MiB).
    let big = data.path().join("big.wasm");
    std::fs::write(&big, vec![0u8; (1 << 20) + 1]).unwrap();
    let refused = server.upload("acme", &token, "v3", &big);
    assert_eq!(refused.status, 413, "{}", refused.text());

    // The example campaign is over 4 KiB.
    let campaign = super::example_campaign();
    assert!(campaign.len() > 4 << 10);
    let too_big = server.put_campaign("acme", &token, super::CAMPAIGN, &campaign);
    assert_eq!(too_big.status, 413, "{}", too_big.text());
    let small = |id: &str| {
        format!(
            "id = \"{id}\"\n[[subject]]\nid = \"s\"\ntext = \"Hi\"\n[[preheader]]\nid = \"p\"\ntext = \"Hi\"\n\
             [[slot]]\nname = \"hero\"\n[[slot.block]]\nid = \"b\"\nhtml = \"<p>b</p>\"\n\
             [fallback]\nsubject = \"s\"\npreheader = \"p\"\nblocks = {{ hero = \"b\" }}\n"
        )
    };
    let first = server.put_campaign("acme", &token, "one", &small("one"));
    assert_eq!(first.status, 200, "{}", first.text());
    let second = server.put_campaign("acme", &token, "two", &small("two"));
    assert_eq!(second.status, 409, "{}", second.text());
    assert_eq!(second.error_code(), "quota");
    // Replacing the one it has is not a new campaign.
    assert_eq!(
        server
            .put_campaign("acme", &token, "one", &small("one"))
            .status,
        200
    );
}

#[test]
fn a_relay_that_is_not_smtp_is_refused_at_tenant_creation() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    for (body, code) in [
        (
            r#"{"id": "acme", "relay": "http://relay.example"}"#,
            "invalid-relay",
        ),
        (
            r#"{"id": "acme", "timezone": "Mars/Olympus"}"#,
            "invalid-timezone",
        ),
        (r#"{"id": "acme", "quiet_hours": "late"}"#, "bad-json"),
    ] {
        let answer = server.call(
            "POST",
            "/v1/tenants",
            Some(super::OPERATOR),
            Some(("application/json", body.as_bytes().to_vec())),
        );
        assert_eq!(answer.status / 100, 4, "{body}: {}", answer.text());
        assert_eq!(answer.error_code(), code, "{body}");
    }
    // Nothing was created.
    let tenants = server
        .call("GET", "/v1/tenants", Some(super::OPERATOR), None)
        .json();
    assert_eq!(tenants["tenants"], serde_json::json!([]));
}

#[test]
fn connections_past_the_cap_are_closed_as_they_arrive() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--max-connections", "2"]);
    let address = server.base.strip_prefix("http://").unwrap();
    // Two idle connections hold both places.
    let held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(address).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut third = std::net::TcpStream::connect(address).unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    let read = third.read_to_end(&mut answer);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "the third connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    // With the places free again, requests are served.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(server.call("GET", "/healthz", None, None).status, 200);
}

#[test]
fn a_stopping_server_finishes_the_requests_in_progress() {
    // Loads the machine: not beside the tests that measure shares of it.
    let _cpu = crate::harness::cpu_heavy();
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[]);
    let token = server.tenant_with_rule("acme", "seed-segments");
    let mut profiles = Vec::new();
    mailrules_integration::generator::write_jsonl(
        &mut profiles,
        20_000,
        5,
        mailrules_integration::now(),
    )
    .unwrap();
    let base = server.base.clone();
    let evaluating = std::thread::spawn(move || {
        super::call(
            &base,
            "POST",
            &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/eval"),
            Some(&token),
            Some(("application/x-ndjson", profiles)),
        )
    });
    // SIGTERM while the evaluation runs.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let answer = evaluating.join().expect("the request finished");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text().lines().count(), 20_000);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
