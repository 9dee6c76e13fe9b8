//! Contract versions in the service: 0.1 and 0.2 rules of two tenants in
//! one process, each tenant's field policy applied at upload whichever the
//! rule's version, and what a 0.2 rule declares recorded with it.

use mailrules_integration::{root, rule};

use super::{CAMPAIGN, OPERATOR, Server, cli_eval, example_campaign};

/// Creates `id` with the given `forbidden_fields` (JSON array) and returns
/// its token.
fn tenant_forbidding(server: &Server, id: &str, fields: &str) -> String {
    let answer = server.call(
        "POST",
        "/v1/tenants",
        Some(OPERATOR),
        Some((
            "application/json",
            format!(r#"{{"id": "{id}", "forbidden_fields": {fields}}}"#).into_bytes(),
        )),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["token"].as_str().unwrap().to_string()
}

#[test]
fn a_tenants_field_policy_refuses_rules_of_either_version_that_read_a_forbidden_field() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);

    let unknown = server.call(
        "POST",
        "/v1/tenants",
        Some(OPERATOR),
        Some((
            "application/json",
            br#"{"id": "typo", "forbidden_fields": ["e-mail"]}"#.to_vec(),
        )),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert_eq!(unknown.error_code(), "invalid-field");
    assert!(unknown.text().contains("e-mail"), "{}", unknown.text());

    let strict = tenant_forbidding(&server, "strict", r#"["email", "birth-date"]"#);
    // The 0.1 misbehaving rule imports the `email` getter.
    let old = server.upload("strict", &strict, "old", &rule("misbehaving"));
    assert_eq!(old.status, 422, "{}", old.text());
    assert_eq!(old.error_code(), "forbidden-field");
    assert!(old.text().contains("`email`"), "{}", old.text());
    // Its 0.2 build declares only `id`, `tags` and `attributes`.
    let new = server.upload("strict", &strict, "new", &rule("misbehaving-v0-2"));
    assert_eq!(new.status, 201, "{}", new.text());
    assert_eq!(
        new.json()["facts"]["profile_fields"],
        serde_json::json!(["id", "tags", "attributes"])
    );

    let no_carts = tenant_forbidding(&server, "no-carts", r#"["cart"]"#);
    for (version, component) in [("v1", "seed-segments"), ("v2", "seed-segments-v0-2")] {
        let refused = server.upload("no-carts", &no_carts, version, &rule(component));
        assert_eq!(refused.status, 422, "{component}: {}", refused.text());
        assert!(refused.text().contains("`cart`"), "{}", refused.text());
    }
}

#[test]
fn tenants_on_either_contract_version_decide_alike_in_one_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let profiles = std::fs::read(root().join("examples/profiles.jsonl")).unwrap();
    let mut answers = Vec::new();
    for (tenant, component) in [("old", "seed-segments"), ("new", "seed-segments-v0-2")] {
        let token = server.create_tenant(tenant);
        let uploaded = server.upload(tenant, &token, "v1", &rule(component));
        assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        let facts = &uploaded.json()["facts"];
        if component.ends_with("v0-2") {
            assert_eq!(facts["world_version"], "0.2.0");
            assert_eq!(
                facts["declared_segments"].as_array().map(Vec::len),
                Some(11)
            );
            assert!(
                facts["imports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i.as_str().unwrap().starts_with("mailrules:rules/")),
                "{facts}"
            );
        } else {
            assert_eq!(facts["world_version"], "0.1.0");
            assert!(facts.get("declared_segments").is_none(), "{facts}");
        }
        assert_eq!(server.activate(tenant, &token, "v1").status, 200);
        let put = server.put_campaign(tenant, &token, CAMPAIGN, &example_campaign());
        assert_eq!(put.status, 200, "{}", put.text());
        let answer = server.eval(tenant, &token, CAMPAIGN, &profiles);
        assert_eq!(answer.status, 200, "{}", answer.text());
        answers.push(answer.text());
    }
    assert_eq!(answers[0], answers[1]);
    // And both are what the command line prints.
    let printed = cli_eval(
        &rule("seed-segments-v0-2"),
        &root().join("examples/profiles.jsonl"),
        false,
    );
    assert_eq!(answers[1].as_bytes(), printed.as_slice());
}
