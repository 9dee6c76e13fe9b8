//! Hostile input to the lifecycle routes over real HTTP: every bad event,
//! profile or flow costs its own line or its own request with a 4xx that
//! says where and why, never the process and never another tenant; and
//! the scheduler neither loses a run nor sends one twice when a rule fails
//! or a tenant is broken.

use super::{Answer, CAMPAIGN, OPERATOR, Server};

const NDJSON: &str = "application/x-ndjson";

/// A server on a fresh data directory that ticks only when told
/// (`POST /v1/tick`), and the directory.
fn server_ticked_by_hand() -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    (data, server)
}

fn post_events(server: &Server, tenant: &str, token: &str, body: Vec<u8>) -> Answer {
    server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/events"),
        Some(token),
        Some((NDJSON, body)),
    )
}

fn put_flow(server: &Server, tenant: &str, token: &str, name: &str, body: Vec<u8>) -> Answer {
    server.call(
        "PUT",
        &format!("/v1/tenants/{tenant}/flows/{name}"),
        Some(token),
        Some(("application/toml", body)),
    )
}

fn tick(server: &Server, now: &str) -> serde_json::Value {
    let answer = server.call("POST", &format!("/v1/tick?now={now}"), Some(OPERATOR), None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

fn runs(server: &Server, tenant: &str, token: &str) -> Vec<serde_json::Value> {
    let answer = server.call(
        "GET",
        &format!("/v1/tenants/{tenant}/runs"),
        Some(token),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["runs"].as_array().unwrap().clone()
}

fn mails_in(maildir: &std::path::Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map_or(0, |d| d.count())
}

/// `{"id", "type", "customer", "at"}` plus `extra` (`,"k":v…`).
fn event(id: &str, kind: &str, customer: &str, at: &str, extra: &str) -> String {
    format!(r#"{{"id":"{id}","type":"{kind}","customer":"{customer}","at":"{at}"{extra}}}"#)
}

const AT: &str = "2026-11-30T08:00:00Z";

/// The `(line, reason)` pairs of a posting's `rejected` list.
fn rejected(answer: &serde_json::Value) -> Vec<(u64, String)> {
    answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn each_bad_event_line_is_rejected_with_its_number_and_reason_and_the_rest_stored() {
    let (_data, server) = server_ticked_by_hand();
    let token = server.create_tenant("acme");

    let item = r#"{"sku":"s","price_cents":100}"#;
    let items_201 = vec![item; 201].join(",");
    let padding = "x".repeat(70 * 1024);
    let mut lines: Vec<Vec<u8>> = vec![
        // 1: good.
        event(
            "e1",
            "subscribed",
            "ann",
            AT,
            r#","email":"ann@example.com","timezone":"Europe/Berlin""#,
        )
        .into_bytes(),
        // 2: not JSON.
        b"{\"id\": \"e2\", oops".to_vec(),
        // 3: unknown type.
        event("e3", "teleported", "ann", AT, "").into_bytes(),
        // 4: no customer.
        br#"{"id":"e4","type":"site_visit","at":"2026-11-30T08:00:00Z"}"#.to_vec(),
        // 5: an id of 129 bytes.
        event(&"i".repeat(129), "site_visit", "ann", AT, "").into_bytes(),
        // 6: a control character in the customer id.
        event("e6", "site_visit", "a\\u0007b", AT, "").into_bytes(),
        // 7: negative money.
        event(
            "e7",
            "order_placed",
            "ann",
            AT,
            r#","order_id":"o7","total_cents":-5"#,
        )
        .into_bytes(),
        // 8: quantity 0.
        event(
            "e8",
            "cart_updated",
            "ann",
            AT,
            r#","items":[{"sku":"tent","price_cents":100,"quantity":0}]"#,
        )
        .into_bytes(),
        // 9: 201 items.
        event(
            "e9",
            "cart_updated",
            "ann",
            AT,
            &format!(r#","items":[{items_201}]"#),
        )
        .into_bytes(),
        // 10: before 1970.
        event("e10", "site_visit", "ann", "1969-12-31T23:59:59Z", "").into_bytes(),
        // 11: invalid UTF-8 in a string.
        [
            &br#"{"id":"e11","type":"site_visit","customer":"ann"#[..],
            &[0xff, 0xfe],
            &br#"","at":"2026-11-30T08:00:00Z"}"#[..],
        ]
        .concat(),
        // 12: a line of more than 64 KiB (otherwise a good event).
        event(
            "e12",
            "site_visit",
            "ann",
            AT,
            &format!(r#","note":"{padding}""#),
        )
        .into_bytes(),
        // 13: good.
        event("e13", "site_visit", "ann", "2026-11-30T09:00:00Z", "").into_bytes(),
        // 14: line 1 again: a duplicate, not an error.
        event(
            "e1",
            "subscribed",
            "ann",
            AT,
            r#","email":"ann@example.com","timezone":"Europe/Berlin""#,
        )
        .into_bytes(),
        // 15: blank (skipped).
        Vec::new(),
        // 16: year 3000.
        event("e16", "site_visit", "ann", "3000-01-01T00:00:00Z", "").into_bytes(),
        // 17: a negative product price.
        event(
            "e17",
            "product_viewed",
            "ann",
            AT,
            r#","sku":"tent","price_cents":-1"#,
        )
        .into_bytes(),
        // 18: a header injection through the address.
        event(
            "e18",
            "subscribed",
            "bob",
            AT,
            r#","email":"bob@example.com\r\nBcc: all@example.com""#,
        )
        .into_bytes(),
        // 19: an order without its order_id.
        event("e19", "order_placed", "ann", AT, r#","total_cents":5"#).into_bytes(),
        // 20: an `at` that is not RFC 3339.
        event("e20", "site_visit", "ann", "yesterday", "").into_bytes(),
        // 21: good, with a CRLF line end.
        [
            event("e21", "email_opened", "ann", "2026-11-30T10:00:00Z", "").as_bytes(),
            b"\r",
        ]
        .concat(),
    ];
    lines.push(Vec::new());
    let answer = post_events(&server, "acme", &token, lines.join(&b'\n'));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["accepted"], 3, "{json}");
    assert_eq!(json["duplicates"], 1, "{json}");
    assert_eq!(json["rejected_count"], 16, "{json}");
    let rejected = rejected(&json);
    let numbers: Vec<u64> = rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(
        numbers,
        [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20]
    );
    let reason = |line: u64| -> &str { &rejected.iter().find(|(l, _)| *l == line).unwrap().1 };
    let expected: [(u64, &str); 16] = [
        (2, "key must be a string at line 1 column 14"),
        (
            3,
            "unknown variant `teleported`, expected one of `subscribed`, ",
        ),
        (4, "missing field `customer`"),
        (5, "`id` has 129 bytes, more than the limit of 128"),
        (6, "`customer` contains a control character"),
        (7, "`total_cents` -5 is negative"),
        (8, "item `tent` has quantity 0"),
        (9, "201 items, more than the limit of 200"),
        (10, "`at` 1969-12-31T23:59:59Z is outside 1970–2999"),
        (11, "invalid unicode code point"),
        (12, "bytes, more than the limit of 65536"),
        (16, "`at` 3000-01-01T00:00:00Z is outside 1970–2999"),
        (17, "`price_cents` -1 is negative"),
        (18, "`email` contains a control character"),
        (19, "missing field `order_id`"),
        (20, "`yesterday` is not an RFC 3339 time"),
    ];
    for (line, needle) in expected {
        assert!(
            reason(line).contains(needle),
            "line {line}: {:?} does not say {needle:?}",
            reason(line)
        );
    }
    assert!(reason(12).starts_with("the line has 71"), "{}", reason(12));

    // The good lines are stored: ann exists, with what they say.
    let profile = server.call(
        "GET",
        "/v1/tenants/acme/profiles/ann?now=2026-11-30T12:00:00Z",
        Some(&token),
        None,
    );
    assert_eq!(profile.status, 200, "{}", profile.text());
    let profile = profile.json();
    assert_eq!(profile["email"], "ann@example.com");
    assert_eq!(profile["timezone"], "Europe/Berlin");
    assert_eq!(profile["consent"]["email_marketing"], true);
    assert_eq!(profile["behavior"]["last_visit_at"], "2026-11-30T09:00:00Z");
    assert_eq!(
        profile["engagement"]["last_open_at"],
        "2026-11-30T10:00:00Z"
    );
    assert_eq!(profile["orders"]["count"], 0, "no rejected order counted");
    // bob's only line was rejected: he does not exist.
    let bob = server.call("GET", "/v1/tenants/acme/profiles/bob", Some(&token), None);
    assert_eq!(bob.status, 404, "{}", bob.text());
    assert_eq!(bob.error_code(), "not-found");

    // Posting the good lines again: all duplicates, nothing rejected.
    let again = post_events(&server, "acme", &token, lines[0].clone());
    assert_eq!(
        again.json(),
        serde_json::json!({"accepted": 0, "duplicates": 1, "rejected_count": 0, "rejected": []})
    );
    // The process is still there.
    assert_eq!(server.call("GET", "/healthz", None, None).status, 200);
}

#[test]
fn the_body_and_count_caps_hold_and_a_flood_of_bad_lines_is_listed_briefly() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--tick-interval-secs",
            "0",
            "--max-profiles",
            "3",
            "--max-body-mib",
            "1",
        ],
    );
    let token = server.create_tenant("acme");

    // Over the body cap: 413, and nothing of it is stored.
    let mut big = event("big-1", "site_visit", "big", AT, "").into_bytes();
    big.push(b'\n');
    big.resize((1 << 20) + 1, b' ');
    let answer = post_events(&server, "acme", &token, big);
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    let big = server.call("GET", "/v1/tenants/acme/profiles/big", Some(&token), None);
    assert_eq!(big.status, 404, "{}", big.text());

    // Over the count cap: the first three are stored, the rest rejected by
    // line; bad lines do not count towards the cap.
    let body = [
        event("c1", "site_visit", "cap", AT, ""),
        "garbage".to_string(),
        event("c2", "site_visit", "cap", AT, ""),
        event("c3", "site_visit", "cap", AT, ""),
        event("c4", "site_visit", "cap", AT, ""),
        event("c5", "site_visit", "cap", AT, ""),
    ]
    .join("\n");
    let answer = post_events(&server, "acme", &token, body.into_bytes());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["accepted"], 3, "{json}");
    assert_eq!(json["rejected_count"], 3, "{json}");
    let listed = rejected(&json);
    assert_eq!(listed[0].0, 2);
    assert_eq!(
        listed[1..],
        [
            (5, "more than 3 events in one request".to_string()),
            (6, "more than 3 events in one request".to_string()),
        ]
    );
    // c4 and c5 were not stored: posting them now stores them.
    let later = [
        event("c4", "site_visit", "cap", AT, ""),
        event("c5", "site_visit", "cap", AT, ""),
    ]
    .join("\n");
    let answer = post_events(&server, "acme", &token, later.into_bytes());
    assert_eq!(answer.json()["accepted"], 2, "{}", answer.text());

    // A body of nothing but bad lines, just under the cap: each counted,
    // the first 100 listed, in order.
    let flood = b"x\n".repeat((1 << 20) / 2);
    let answer = post_events(&server, "acme", &token, flood);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["accepted"], 0);
    assert_eq!(
        json["rejected_count"], 524_288,
        "{}",
        json["rejected_count"]
    );
    let listed = rejected(&json);
    assert_eq!(listed.len(), 100);
    assert_eq!(
        listed.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<u64>>()
    );

    // Profiles: over the count cap is refused as a whole (413); one broken
    // record among good ones costs its own line.
    let many: String = (0..4)
        .map(|i| format!("{{\"id\":\"p{i}\",\"email\":\"p{i}@example.com\"}}\n"))
        .collect();
    let answer = server.call(
        "POST",
        "/v1/tenants/acme/profiles",
        Some(&token),
        Some((NDJSON, many.into_bytes())),
    );
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    let mixed = concat!(
        r#"{"id":"p1","email":"p1@example.com","consent":{"email_marketing":true}}"#,
        "\n",
        r#"{"id":"p2","email":"not-an-address"}"#,
        "\n",
        r#"{"id":"p3","email":"p3@example.com","orders":{"count":-1}}"#,
        "\n",
    );
    let answer = server.call(
        "POST",
        "/v1/tenants/acme/profiles",
        Some(&token),
        Some((NDJSON, mixed.as_bytes().to_vec())),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["upserted"], 1, "{json}");
    assert_eq!(json["rejected_count"], 2, "{json}");
    let listed = rejected(&json);
    assert_eq!(listed[0].0, 2, "{json}");
    assert!(listed[0].1.contains("email"), "{json}");
    assert_eq!(listed[1].0, 3, "{json}");
    assert!(listed[1].1.contains("orders.count"), "{json}");
    let p1 = server.call("GET", "/v1/tenants/acme/profiles/p1", Some(&token), None);
    assert_eq!(p1.status, 200, "{}", p1.text());
    assert_eq!(p1.json()["email"], "p1@example.com");
    for missing in ["p2", "p3"] {
        let answer = server.call(
            "GET",
            &format!("/v1/tenants/acme/profiles/{missing}"),
            Some(&token),
            None,
        );
        assert_eq!(answer.status, 404, "{missing}: {}", answer.text());
    }
}

#[test]
fn a_tenant_sees_and_reaches_only_its_own_customers() {
    let (_data, server) = server_ticked_by_hand();
    let a = server.create_tenant("acme");
    let b = server.create_tenant("globex");
    let line = event(
        "shared-id",
        "subscribed",
        "ann",
        AT,
        r#","email":"ann@acme.example""#,
    );
    let answer = post_events(&server, "acme", &a, line.clone().into_bytes());
    assert_eq!(answer.json()["accepted"], 1, "{}", answer.text());

    // B does not see A's customer.
    let answer = server.call("GET", "/v1/tenants/globex/profiles/ann", Some(&b), None);
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(answer.error_code(), "not-found");
    // The same event id is B's own event, not a duplicate of A's.
    let other = line.replace("ann@acme.example", "ann@globex.example");
    let answer = post_events(&server, "globex", &b, other.into_bytes());
    assert_eq!(answer.json()["accepted"], 1, "{}", answer.text());
    assert_eq!(answer.json()["duplicates"], 0, "{}", answer.text());
    let ann = |tenant: &str, token: &str| {
        server
            .call(
                "GET",
                &format!("/v1/tenants/{tenant}/profiles/ann?now={AT}"),
                Some(token),
                None,
            )
            .json()["email"]
            .clone()
    };
    assert_eq!(ann("acme", &a), "ann@acme.example");
    assert_eq!(ann("globex", &b), "ann@globex.example");

    // A's token on B's routes: 403; no token or an unknown one: 401.
    let body = || Some((NDJSON, b"{}".to_vec()));
    for (method, path, with_body) in [
        ("POST", "/v1/tenants/globex/events", true),
        ("POST", "/v1/tenants/globex/profiles", true),
        ("GET", "/v1/tenants/globex/profiles/ann", false),
        ("PUT", "/v1/tenants/globex/flows/welcome", true),
        ("GET", "/v1/tenants/globex/flows", false),
        ("DELETE", "/v1/tenants/globex/flows/welcome", false),
        ("GET", "/v1/tenants/globex/runs", false),
    ] {
        let call = |token: Option<&str>| {
            server.call(method, path, token, if with_body { body() } else { None })
        };
        let answer = call(Some(&a));
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text());
        assert_eq!(answer.error_code(), "forbidden");
        let answer = call(None);
        assert_eq!(answer.status, 401, "{method} {path}: {}", answer.text());
        let answer = call(Some("not-a-token"));
        assert_eq!(answer.status, 401, "{method} {path}: {}", answer.text());
        // The operator runs the service, not the tenants' data.
        let answer = call(Some(OPERATOR));
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text());
    }
    // A tenant cannot tick.
    let answer = server.call("POST", "/v1/tick", Some(&a), None);
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert_eq!(answer.error_code(), "unauthorized");
    // Nothing of B changed: still one event, ann as B posted her.
    assert_eq!(ann("globex", &b), "ann@globex.example");
}

#[test]
fn bad_flows_are_refused_with_the_line_and_nothing_is_stored() {
    let (_data, server) = server_ticked_by_hand();
    let token = server.tenant_with_rule("acme", "seed-segments");
    // A campaign that cannot be sent: the example without its [message].
    let example = super::example_campaign();
    let unsendable = example[..example.find("[message]").unwrap()]
        .replace(&format!("id = \"{CAMPAIGN}\""), "id = \"draft\"");
    let put = server.put_campaign("acme", &token, "draft", &unsendable);
    assert_eq!(put.status, 200, "{}", put.text());

    let ok = format!("campaign = \"{CAMPAIGN}\"\n[trigger]\nevent = \"subscribed\"\n");
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            "campaign = \"x\n[trigger]\n".into(),
            422,
            "invalid-flow",
            "f.toml:1: ",
        ),
        (
            format!("campaign = \"{CAMPAIGN}\"\n[trigger]\nevent = \"teleported\"\n"),
            422,
            "invalid-flow",
            "f.toml:3: unknown event type `teleported`",
        ),
        (
            format!(
                "campaign = \"{CAMPAIGN}\"\n[trigger]\nevent = \"subscribed\"\nsegment = \"vip\"\n"
            ),
            422,
            "invalid-flow",
            "f.toml:2: [trigger] needs exactly one of `event` or `segment`",
        ),
        (
            format!("campaign = \"{CAMPAIGN}\"\n[trigger]\nmin_value_cents = 5\n"),
            422,
            "invalid-flow",
            "f.toml:2: [trigger] needs exactly one of `event` or `segment`",
        ),
        (
            format!(
                "campaign = \"{CAMPAIGN}\"\ndelay = \"36h\"\nlocal_time = \"10:00\"\n[trigger]\nevent = \"order_placed\"\n"
            ),
            422,
            "invalid-flow",
            "f.toml:3: `local_time` needs a delay of whole days",
        ),
        (
            format!(
                "campaign = \"{CAMPAIGN}\"\ndelay = \"400d\"\n[trigger]\nevent = \"order_placed\"\n"
            ),
            422,
            "invalid-flow",
            "f.toml:2: `400d` is not a duration (longer than 366 days)",
        ),
        (
            format!("campaign = \"{CAMPAIGN}\"\nretries = 3\n[trigger]\nevent = \"subscribed\"\n"),
            422,
            "invalid-flow",
            "f.toml:2: unknown field `retries`",
        ),
        (
            format!(
                "campaign = \"{CAMPAIGN}\"\n[trigger]\nevent = \"subscribed\"\n[exit]\nevents = [\"order_placed\", \"beamed\"]\n"
            ),
            422,
            "invalid-flow",
            "f.toml:5: unknown event type `beamed`",
        ),
        (
            "campaign = \"nope\"\n[trigger]\nevent = \"subscribed\"\n".into(),
            422,
            "invalid-flow",
            "f.toml: campaign `nope` does not exist",
        ),
        (
            "campaign = \"../../etc/passwd\"\n[trigger]\nevent = \"subscribed\"\n".into(),
            422,
            "invalid-flow",
            "f.toml: campaign `../../etc/passwd` does not exist",
        ),
        (
            "campaign = \"draft\"\n[trigger]\nevent = \"subscribed\"\n".into(),
            422,
            "invalid-flow",
            "f.toml: campaign `draft` has no [message] table",
        ),
        (
            format!("{ok}# {}\n", "x".repeat(16 * 1024)),
            413,
            "too-large",
            "the flow is 16",
        ),
    ];
    for (text, status, code, start) in &cases {
        let answer = put_flow(&server, "acme", &token, "f", text.clone().into_bytes());
        assert_eq!(answer.status, *status, "{text:.200}: {}", answer.text());
        assert_eq!(answer.error_code(), *code, "{text:.200}");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.starts_with(start),
            "{text:.200}: {message:?} does not start with {start:?}"
        );
    }
    // Over the route's body limit, not UTF-8, a bad name.
    let answer = put_flow(
        &server,
        "acme",
        &token,
        "f",
        format!("{ok}# {}\n", "x".repeat(100 * 1024)).into_bytes(),
    );
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.error_code(), "too-large");
    let answer = put_flow(
        &server,
        "acme",
        &token,
        "f",
        b"campaign = \"\xff\"".to_vec(),
    );
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.error_code(), "bad-body");
    for name in ["Welcome", "send:abc", "a%20b", &"f".repeat(65)] {
        let answer = put_flow(&server, "acme", &token, name, ok.clone().into_bytes());
        assert_eq!(answer.status, 400, "{name}: {}", answer.text());
        assert_eq!(answer.error_code(), "invalid-id", "{name}");
    }
    // Nothing was stored; the good flow is.
    let flows = server.call("GET", "/v1/tenants/acme/flows", Some(&token), None);
    assert_eq!(flows.json()["flows"], serde_json::json!([]));
    let answer = put_flow(&server, "acme", &token, "f", ok.clone().into_bytes());
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["created"], true);
    let missing = server.call("DELETE", "/v1/tenants/acme/flows/nope", Some(&token), None);
    assert_eq!(missing.status, 404, "{}", missing.text());
}

#[test]
fn bad_queries_get_400_and_unknown_customers_404() {
    let (_data, server) = server_ticked_by_hand();
    let token = server.create_tenant("acme");
    let get = |path: &str| server.call("GET", path, Some(&token), None);

    let answer = get("/v1/tenants/acme/runs?state=lost");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.error_code(), "invalid-state");
    assert!(answer.text().contains("expected waiting, queued, sent"));
    let answer = get("/v1/tenants/acme/runs?state=waiting&flow=nope");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["runs"], serde_json::json!([]));

    let answer = get("/v1/tenants/acme/profiles/nobody");
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(answer.error_code(), "not-found");
    let long = "n".repeat(5_000);
    let answer = get(&format!("/v1/tenants/acme/profiles/{long}"));
    assert_eq!(answer.status, 404, "{}", answer.text());
    let answer = get("/v1/tenants/acme/profiles/nobody?now=tomorrow");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.error_code(), "invalid-now");
    let answer = get("/v1/tenants/nowhere/runs");
    assert_eq!(answer.status, 403, "{}", answer.text());

    for now in ["tomorrow", "2026-13-01T00:00:00Z", "1700000000"] {
        let answer = server.call("POST", &format!("/v1/tick?now={now}"), Some(OPERATOR), None);
        assert_eq!(answer.status, 400, "{now}: {}", answer.text());
        assert_eq!(answer.error_code(), "invalid-now");
    }
    let answer = server.call("POST", "/v1/tick?now=2026-11-30T08:00:00Z", None, None);
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert_eq!(answer.error_code(), "unauthorized");
    let answer = server.call(
        "POST",
        "/v1/tick?now=2026-11-30T08:00:00Z",
        Some("wrong"),
        None,
    );
    assert_eq!(answer.status, 401, "{}", answer.text());
    let report = tick(&server, "2026-11-30T08:00:00Z");
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["queued"], 0);
}

#[test]
fn a_body_of_bad_lines_costs_no_more_memory_than_the_body() {
    // Loads the machine: not beside the tests that measure shares of it.
    let _cpu = crate::harness::cpu_heavy();
    // The default caps: 32 MiB a body.
    let (_data, server) = server_ticked_by_hand();
    let token = server.create_tenant("acme");
    let lines = (32 << 20) / 2 - 8;
    let answer = post_events(&server, "acme", &token, b"x\n".repeat(lines));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["rejected_count"], lines);
    assert_eq!(json["rejected"].as_array().unwrap().len(), 100);
    // Listing every rejected line took 1.6 GiB for this body (50 times
    // its size); only the first ones are kept now.
    let peak = server.peak_memory_kib();
    assert!(peak < 400 << 10, "peak {peak} KiB");
}

const PROFILE_ANN: &str =
    r#"{"id":"ann","email":"ann@example.com","consent":{"email_marketing":true},"tags":[TAGS]}"#;

fn post_ann(server: &Server, token: &str, tags: &str) {
    let answer = server.call(
        "POST",
        "/v1/tenants/acme/profiles",
        Some(token),
        Some((NDJSON, PROFILE_ANN.replace("TAGS", tags).into_bytes())),
    );
    assert_eq!(answer.json()["upserted"], 1, "{}", answer.text());
}

#[test]
fn a_rule_that_fails_once_does_not_make_a_customer_enter_its_segment_again() {
    let (data, server) = server_ticked_by_hand();
    // `misbehaving` puts everyone in `well-behaved` unless the first tag
    // says otherwise.
    let token = server.tenant_with_rule("acme", "misbehaving");
    let flow = format!("campaign = \"{CAMPAIGN}\"\n[trigger]\nsegment = \"well-behaved\"\n");
    let put = put_flow(&server, "acme", &token, "segment-mail", flow.into_bytes());
    assert_eq!(put.status, 200, "{}", put.text());
    let maildir = data.path().join("tenants/acme/maildir");

    post_ann(&server, &token, "");
    let report = tick(&server, "2026-11-30T08:00:00Z");
    assert_eq!(
        (report["triggered"].as_u64(), report["queued"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(mails_in(&maildir), 1);

    // The rule panics on ann's profile for one tick (the campaign's
    // fallback goes out for anything sent then): no decision about her
    // segments.
    post_ann(&server, &token, r#""panic""#);
    let report = tick(&server, "2026-11-30T09:00:00Z");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    // Deciding again, the rule still has her in the segment: she did not
    // enter it again, and is not sent again.
    post_ann(&server, &token, "");
    let report = tick(&server, "2026-11-30T10:00:00Z");
    assert_eq!(report["triggered"], 0, "{report}");
    assert_eq!(mails_in(&maildir), 1);

    // Leaving for real (the rule decides other segments) and entering
    // again is a new run.
    post_ann(&server, &token, r#""invent-ids""#);
    tick(&server, "2026-11-30T11:00:00Z");
    post_ann(&server, &token, "");
    let report = tick(&server, "2026-11-30T12:00:00Z");
    assert_eq!(report["triggered"], 1, "{report}");
    assert_eq!(mails_in(&maildir), 2);
    let triggers: Vec<(String, String)> = runs(&server, "acme", &token)
        .iter()
        .map(|r| {
            (
                r["trigger"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            (
                "entered:well-behaved@2026-11-30T12:00:00Z".to_string(),
                "sent".to_string()
            ),
            (
                "entered:well-behaved@2026-11-30T08:00:00Z".to_string(),
                "sent".to_string()
            ),
        ]
    );
}

const WELCOME: &str = "[trigger]\nevent = \"subscribed\"\n";

fn subscribe(server: &Server, tenant: &str, token: &str, customer: &str) {
    let line = event(
        &format!("sub-{customer}"),
        "subscribed",
        customer,
        "2026-11-30T07:30:00Z",
        &format!(r#","email":"{customer}@example.com""#),
    );
    let answer = post_events(server, tenant, token, line.into_bytes());
    assert_eq!(answer.json()["accepted"], 1, "{}", answer.text());
}

#[test]
fn a_broken_tenant_or_flow_stops_neither_the_other_tenants_nor_the_other_flows() {
    let (data, server) = server_ticked_by_hand();
    let example = super::example_campaign();

    // `a-broken` has a flow and a customer but no active rule; it ticks
    // first.
    let broken = server.create_tenant("a-broken");
    let put = server.put_campaign("a-broken", &broken, CAMPAIGN, &example);
    assert_eq!(put.status, 200, "{}", put.text());
    let flow = format!("campaign = \"{CAMPAIGN}\"\n{WELCOME}");
    let put = put_flow(
        &server,
        "a-broken",
        &broken,
        "welcome",
        flow.clone().into_bytes(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    subscribe(&server, "a-broken", &broken, "ann");

    // `b-fine` has two flows on the same event; the campaign of the first
    // lost its [message] after the flow was put.
    let fine = server.tenant_with_rule("b-fine", "seed-segments");
    let draft = example.replace(&format!("id = \"{CAMPAIGN}\""), "id = \"draft\"");
    assert_eq!(
        server.put_campaign("b-fine", &fine, "draft", &draft).status,
        200
    );
    let put = put_flow(
        &server,
        "b-fine",
        &fine,
        "a-draft",
        format!("campaign = \"draft\"\n{WELCOME}").into_bytes(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let unsendable = &draft[..draft.find("[message]").unwrap()];
    assert_eq!(
        server
            .put_campaign("b-fine", &fine, "draft", unsendable)
            .status,
        200
    );
    let put = put_flow(
        &server,
        "b-fine",
        &fine,
        "welcome",
        flow.clone().into_bytes(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    subscribe(&server, "b-fine", &fine, "bob");

    let answer = server.call(
        "POST",
        "/v1/tick?now=2026-11-30T08:00:00Z",
        Some(OPERATOR),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{report}");
    assert!(errors[0].starts_with("a-broken: "), "{report}");
    assert!(errors[0].contains("no active"), "{report}");
    assert_eq!(
        errors[1],
        "b-fine: flow a-draft: waiting: campaign `draft` has no [message] table, so it cannot be sent"
    );

    // b-fine's welcome went; its draft flow's run waits, saying why.
    let maildir = |tenant: &str| data.path().join(format!("tenants/{tenant}/maildir"));
    assert_eq!(mails_in(&maildir("b-fine")), 1);
    let states = |tenant: &str, token: &str| -> Vec<(String, String, String)> {
        runs(&server, tenant, token)
            .iter()
            .map(|r| {
                (
                    r["flow"].as_str().unwrap().to_string(),
                    r["state"].as_str().unwrap().to_string(),
                    r["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let fine_runs = states("b-fine", &fine);
    assert_eq!(
        fine_runs,
        [
            (
                "a-draft".to_string(),
                "waiting".to_string(),
                "waiting: campaign `draft` has no [message] table, so it cannot be sent"
                    .to_string()
            ),
            (
                "welcome".to_string(),
                "sent".to_string(),
                "delivered at 2026-11-30T08:00:00Z".to_string()
            ),
        ]
    );
    // No send was started for it.
    let sends = server.call("GET", "/v1/tenants/b-fine/sends", Some(&fine), None);
    assert_eq!(
        sends.json()["sends"].as_array().unwrap().len(),
        1,
        "{}",
        sends.text()
    );

    // a-broken's run waits too, nothing lost.
    let broken_runs = states("a-broken", &broken);
    assert_eq!(broken_runs.len(), 1);
    assert_eq!(broken_runs[0].1, "waiting", "{broken_runs:?}");
    assert_eq!(mails_in(&maildir("a-broken")), 0);

    // Both put right, both go, and nothing goes twice.
    server.ready_tenant("a-broken", &broken, "seed-segments");
    assert_eq!(
        server.put_campaign("b-fine", &fine, "draft", &draft).status,
        200
    );
    let report = tick(&server, "2026-11-30T08:05:00Z");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["queued"], 2, "{report}");
    assert_eq!(mails_in(&maildir("a-broken")), 1);
    assert_eq!(mails_in(&maildir("b-fine")), 2);
    assert_eq!(states("a-broken", &broken)[0].1, "sent");
    let fine_states: Vec<String> = states("b-fine", &fine).into_iter().map(|r| r.1).collect();
    assert_eq!(fine_states, ["sent", "sent"]);
    let report = tick(&server, "2026-11-30T08:10:00Z");
    assert_eq!(report["queued"], 0, "{report}");
}

#[test]
fn two_runs_of_one_customer_due_in_one_tick_go_one_at_a_time() {
    let (data, server) = server_ticked_by_hand();
    let token = server.tenant_with_rule("acme", "seed-segments");
    let flow = format!("campaign = \"{CAMPAIGN}\"\n[trigger]\nevent = \"site_visit\"\n");
    let put = put_flow(&server, "acme", &token, "visit", flow.into_bytes());
    assert_eq!(put.status, 200, "{}", put.text());
    post_ann(&server, &token, "");
    let visits = [
        event("v1", "site_visit", "ann", "2026-11-30T06:00:00Z", ""),
        event("v2", "site_visit", "ann", "2026-11-30T07:00:00Z", ""),
    ]
    .join("\n");
    let answer = post_events(&server, "acme", &token, visits.into_bytes());
    assert_eq!(answer.json()["accepted"], 2, "{}", answer.text());
    let maildir = data.path().join("tenants/acme/maildir");

    let report = tick(&server, "2026-11-30T08:00:00Z");
    assert_eq!(report["triggered"], 2, "{report}");
    assert_eq!(report["queued"], 1, "{report}");
    assert_eq!(mails_in(&maildir), 1);
    let state_of = |trigger: &str| {
        runs(&server, "acme", &token)
            .into_iter()
            .find(|r| r["trigger"] == trigger)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of("v1"), "sent");
    assert_eq!(state_of("v2"), "waiting");
    // The next tick sends the other, once; the one after, nothing.
    let report = tick(&server, "2026-11-30T08:01:00Z");
    assert_eq!(report["queued"], 1, "{report}");
    assert_eq!(state_of("v2"), "sent");
    let report = tick(&server, "2026-11-30T08:02:00Z");
    assert_eq!(report["queued"], 0, "{report}");
    assert_eq!(mails_in(&maildir), 2);
}
