//! Every tenant route, called with no token, a wrong token, another
//! tenant's token and the operator's: 401 or 403, and nothing of the
//! tenant's data in the answer.

use mailrules_integration::rule;

use super::{CAMPAIGN, OPERATOR, Server, example_campaign};

/// A route to call: method, path, and body with its content type.
type Route<'a> = (&'a str, String, Option<(&'a str, Vec<u8>)>);

#[test]
fn a_token_reaches_only_its_own_tenant() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let acme = server.create_tenant("acme");
    let globex = server.create_tenant("globex");
    assert_eq!(
        server
            .upload("acme", &acme, "secret-v1", &rule("seed-segments"))
            .status,
        201
    );
    assert_eq!(server.activate("acme", &acme, "secret-v1").status, 200);
    assert_eq!(
        server
            .put_campaign("acme", &acme, CAMPAIGN, &example_campaign())
            .status,
        200
    );
    let profile =
        br#"{"id": "p-1", "email": "p-1@example.com", "consent": {"email_marketing": true}}"#;
    let send = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
        Some(&acme),
        Some(("application/x-ndjson", profile.to_vec())),
    );
    assert_eq!(send.status, 202, "{}", send.text());
    let send_id = send.json()["id"].as_str().unwrap().to_string();

    let component = std::fs::read(rule("seed-segments")).unwrap();
    let routes: Vec<Route> = vec![
        ("GET", "/v1/tenants/acme/rules".into(), None),
        (
            "PUT",
            "/v1/tenants/acme/rules/v9".into(),
            Some(("application/wasm", component.clone())),
        ),
        (
            "POST",
            "/v1/tenants/acme/rules/secret-v1/activate".into(),
            None,
        ),
        ("GET", "/v1/tenants/acme/rules/secret-v1/logs".into(), None),
        (
            "PUT",
            "/v1/tenants/acme/canary".into(),
            Some((
                "application/json",
                br#"{"version":"secret-v1","percent":5}"#.to_vec(),
            )),
        ),
        ("DELETE", "/v1/tenants/acme/canary".into(), None),
        (
            "PUT",
            format!("/v1/tenants/acme/campaigns/{CAMPAIGN}"),
            Some(("application/toml", example_campaign().into_bytes())),
        ),
        (
            "GET",
            format!("/v1/tenants/acme/campaigns/{CAMPAIGN}"),
            None,
        ),
        (
            "POST",
            format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/eval"),
            Some(("application/x-ndjson", profile.to_vec())),
        ),
        (
            "POST",
            format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/diff?candidate=secret-v1"),
            Some(("application/x-ndjson", profile.to_vec())),
        ),
        (
            "POST",
            format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
            Some(("application/x-ndjson", profile.to_vec())),
        ),
        ("GET", "/v1/tenants/acme/sends".into(), None),
        ("GET", format!("/v1/tenants/acme/sends/{send_id}"), None),
    ];
    let callers: [(Option<&str>, u16, &str); 4] = [
        (None, 401, "unauthorized"),
        (Some("mrt_not-a-token"), 401, "unauthorized"),
        (Some(globex.as_str()), 403, "forbidden"),
        (Some(OPERATOR), 403, "forbidden"),
    ];
    for (method, path, body) in &routes {
        for (token, status, code) in &callers {
            let answer = server.call(method, path, *token, body.clone());
            assert_eq!(
                answer.status,
                *status,
                "{method} {path} with {token:?}: {}",
                answer.text()
            );
            assert_eq!(answer.error_code(), *code, "{method} {path}");
            let text = answer.text();
            for secret in ["secret-v1", "p-1", CAMPAIGN, &send_id] {
                assert!(
                    !text.contains(secret),
                    "{method} {path} leaked {secret}: {text}"
                );
            }
        }
    }
    // A tenant cannot create tenants or read metrics.
    let create = server.call(
        "POST",
        "/v1/tenants",
        Some(&acme),
        Some(("application/json", br#"{"id": "mallory"}"#.to_vec())),
    );
    assert_eq!(create.status, 401);
    assert_eq!(
        server
            .call("GET", "/v1/tenants", Some(&globex), None)
            .status,
        401
    );
    // Nothing changed for acme: its one version is still active.
    let rules = server
        .call("GET", "/v1/tenants/acme/rules", Some(&acme), None)
        .json();
    assert_eq!(rules["active"], "secret-v1");
    assert_eq!(rules["versions"].as_array().unwrap().len(), 1);
    assert!(rules["canary"].is_null());
    // globex sees an empty tenant of its own.
    let own = server
        .call("GET", "/v1/tenants/globex/rules", Some(&globex), None)
        .json();
    assert!(own["versions"].as_array().unwrap().is_empty());
    assert_eq!(
        server
            .call(
                "GET",
                &format!("/v1/tenants/globex/sends/{send_id}"),
                Some(&globex),
                None
            )
            .status,
        404
    );
}
