//! Tests of the store as a whole: tenant isolation, durability across a
//! restart, use from several threads.

use std::sync::Arc;

use serde_json::json;

use super::test_support::{self, add_version};
use super::*;

#[test]
fn opening_creates_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let store = Store::open(&data).unwrap();
    assert!(data.join("mailrules.sqlite3").is_file());
    assert!(data.join("components").is_dir());
    assert_eq!(store.data_dir(), data);
    assert_eq!(store.components_dir(), data.join("components"));
    let conn = store.conn();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let synchronous: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "FULL");
    let foreign_keys: i64 = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(foreign_keys, 1);
}

#[test]
fn a_file_where_the_directory_should_be_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = Store::open(&file).unwrap_err();
    assert!(
        matches!(err, StoreError::Io { ref path, .. } if *path == file),
        "{err:?}"
    );
}

#[test]
fn tenants_cannot_read_each_others_rows() {
    let (_dir, store) = test_support::store_with_tenants();
    add_version(&store, "acme", "v1");
    store.activate("acme", "v1").unwrap();
    store.put_campaign("acme", "spring", "secret = 1").unwrap();
    let send = store.create_send("acme", "spring", "v1").unwrap();
    store
        .record_event("acme", Some("v1"), "activated", "")
        .unwrap();

    // Rule versions.
    assert_eq!(store.rule_version("globex", "v1").unwrap(), None);
    assert!(store.rule_versions("globex").unwrap().is_empty());
    assert_eq!(store.rule_state("globex").unwrap(), RuleState::default());
    assert!(store.activations("globex").unwrap().is_empty());
    // Campaigns.
    assert_eq!(store.campaign("globex", "spring").unwrap(), None);
    assert!(store.campaign_ids("globex").unwrap().is_empty());
    // Sends.
    assert_eq!(store.send("globex", &send).unwrap(), None);
    assert!(store.sends("globex").unwrap().is_empty());
    // Events.
    assert!(store.events("globex", 100).unwrap().is_empty());

    // The same names can be used by the other tenant without clashing.
    add_version(&store, "globex", "v1");
    assert!(store.put_campaign("globex", "spring", "mine = 2").unwrap());
    assert_eq!(
        store.campaign("acme", "spring").unwrap().as_deref(),
        Some("secret = 1")
    );
    assert_eq!(
        store.campaign("globex", "spring").unwrap().as_deref(),
        Some("mine = 2")
    );
    assert_ne!(
        store.rule_version("acme", "v1").unwrap().unwrap().sha256,
        store.rule_version("globex", "v1").unwrap().unwrap().sha256
    );
    assert_eq!(store.rule_state("globex").unwrap(), RuleState::default());
    assert_eq!(store.send("acme", &send).unwrap().unwrap().tenant, "acme");
}

#[test]
fn the_schema_refuses_cross_tenant_references() {
    // Even bypassing the methods' checks, the foreign keys keep a send from
    // pointing at another tenant's campaign or rule version.
    let (_dir, store) = test_support::store_with_tenants();
    add_version(&store, "acme", "v1");
    store.put_campaign("acme", "spring", "").unwrap();
    let conn = store.conn();
    let err = conn
        .execute(
            "INSERT INTO sends (id, tenant, campaign, rule_version, state, created_at)
             VALUES ('s-x', 'globex', 'spring', 'v1', 'running', 'now')",
            [],
        )
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );
    let err = conn
        .execute(
            "INSERT INTO tenant_rules (tenant, active_version) VALUES ('globex', 'v1')",
            [],
        )
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );
}

#[test]
fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (token, sha, send) = {
        let store = Store::open(dir.path()).unwrap();
        let token = store.create_tenant("acme", &json!({"fuel": 7})).unwrap();
        let sha = store.put_component(b"the rule").unwrap();
        store
            .insert_rule_version("acme", "v1", &sha, &json!({"f": 1}))
            .unwrap();
        add_version(&store, "acme", "v2");
        store.activate("acme", "v1").unwrap();
        store.set_canary("acme", "v2", 5).unwrap();
        store.put_campaign("acme", "spring", "x = 1").unwrap();
        let send = store.create_send("acme", "spring", "v1").unwrap();
        store.record_event("acme", None, "note", "before").unwrap();
        (token, sha, send)
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.authenticate(&token).unwrap().as_deref(), Some("acme"));
    assert_eq!(
        store.tenant("acme").unwrap().unwrap().limits,
        json!({"fuel": 7})
    );
    assert_eq!(store.component(&sha).unwrap(), b"the rule");
    let v1 = store.rule_version("acme", "v1").unwrap().unwrap();
    assert_eq!(
        (v1.sha256.as_str(), v1.facts),
        (sha.as_str(), json!({"f": 1}))
    );
    assert_eq!(store.rule_versions("acme").unwrap().len(), 2);
    assert_eq!(
        store.rule_state("acme").unwrap(),
        RuleState {
            active: Some("v1".to_owned()),
            canary: Some(("v2".to_owned(), 5)),
        }
    );
    assert_eq!(store.activations("acme").unwrap().len(), 1);
    assert_eq!(
        store.campaign("acme", "spring").unwrap().as_deref(),
        Some("x = 1")
    );
    let unfinished = store.unfinished_sends().unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, send);
    assert_eq!(store.events("acme", 10).unwrap()[0].detail, "before");
}

#[test]
fn two_threads_share_a_store() {
    let (_dir, store) = test_support::store_with_tenants();
    let store = Arc::new(store);
    let workers: Vec<_> = ["acme", "globex"]
        .into_iter()
        .map(|tenant| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let id = format!("c{i}");
                    assert!(
                        store
                            .put_campaign(tenant, &id, &format!("n = {i}"))
                            .unwrap()
                    );
                    store
                        .record_event(tenant, None, "note", &i.to_string())
                        .unwrap();
                    assert_eq!(
                        store.campaign(tenant, &id).unwrap(),
                        Some(format!("n = {i}"))
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    for tenant in ["acme", "globex"] {
        assert_eq!(store.campaign_ids(tenant).unwrap().len(), 50);
        let events = store.events(tenant, 100).unwrap();
        assert_eq!(events.len(), 50);
        assert_eq!(events[0].detail, "49");
    }
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
