//! Tests of the lifecycle tables: events stored once, flows reading from
//! their cursor, runs claimed by exactly one send, caps counting sends in
//! progress.

use mailrules::lifecycle::events::CustomerEvent;

use super::test_support::{self, add_version};
use super::*;

fn event(id: &str, customer: &str, at: &str) -> CustomerEvent {
    CustomerEvent::from_json(
        format!(r#"{{"id":"{id}","type":"site_visit","customer":"{customer}","at":"{at}"}}"#)
            .as_bytes(),
    )
    .unwrap()
}

/// Stores one event `event(id, customer, at)`; answers how many were new.
fn insert_one(store: &Store, tenant: &str, id: &str, customer: &str, at: &str) -> usize {
    store
        .insert_events(tenant, &[event(id, customer, at)])
        .unwrap()
        .inserted
}

/// The ids of the tenant's events after `cursor`, in sequence order.
fn ids_after(store: &Store, tenant: &str, cursor: i64) -> Vec<String> {
    store
        .events_after(tenant, cursor, 100)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.id)
        .collect()
}

fn run(customer: &str, trigger: &str, due_at: i64) -> NewRun {
    NewRun {
        key: RunKey {
            flow: "welcome".into(),
            customer: customer.into(),
            trigger: trigger.into(),
        },
        trigger_at: due_at,
        due_at,
        reason: None,
    }
}

#[test]
fn an_event_is_stored_once_per_tenant_and_read_back_in_time_order() {
    let (_dir, store) = test_support::store_with_tenants();
    let later = event("e1", "c1", "2026-11-24T10:00:00Z");
    let earlier = event("e2", "c1", "2026-11-24T09:00:00Z");
    let stored = store
        .insert_events("acme", &[later.clone(), earlier.clone()])
        .unwrap();
    assert_eq!((stored.inserted, stored.duplicates), (2, 0));
    let again = store
        .insert_events("acme", std::slice::from_ref(&later))
        .unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 1));
    // The same id is another event for another tenant.
    assert_eq!(store.insert_events("globex", &[later]).unwrap().inserted, 1);
    assert_eq!(
        store.customer_events("acme", "c1").unwrap(),
        [earlier, event("e1", "c1", "2026-11-24T10:00:00Z")]
    );
    assert_eq!(store.event_count("acme").unwrap(), 2);
    assert_eq!(store.customers("globex").unwrap(), ["c1"]);
}

#[test]
fn a_new_flow_reads_only_events_that_arrive_after_it() {
    let (_dir, store) = test_support::store_with_tenants();
    insert_one(&store, "acme", "e1", "c1", "2026-11-24T10:00:00Z");
    assert!(store.put_flow("acme", "welcome", "x").unwrap());
    let cursor = store.flows("acme").unwrap()[0].cursor;
    assert_eq!(store.last_event_seq("acme").unwrap(), cursor);
    insert_one(&store, "acme", "e2", "c2", "2026-11-24T11:00:00Z");
    assert_eq!(ids_after(&store, "acme", cursor), ["e2"]);
    // Replacing the flow keeps its cursor.
    assert!(!store.put_flow("acme", "welcome", "y").unwrap());
    assert_eq!(store.flows("acme").unwrap()[0].cursor, cursor);
}

#[test]
fn a_run_is_created_once_and_claimed_by_one_send() {
    let (_dir, store) = test_support::store_with_tenants();
    add_version(&store, "acme", "v1");
    store
        .put_campaign("acme", "lifecycle", "id = 'lifecycle'")
        .unwrap();
    store.put_flow("acme", "welcome", "x").unwrap();
    let runs = [run("c1", "e1", 100), run("c2", "e2", 200)];
    assert_eq!(
        store.schedule_runs("acme", "welcome", &runs, None).unwrap(),
        2
    );
    assert_eq!(
        store.schedule_runs("acme", "welcome", &runs, None).unwrap(),
        0
    );
    let due = store.due_runs("acme", 150, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key.customer, "c1");

    let keys = [runs[0].key.clone()];
    fn send(id: &str) -> NewFlowSend<'_> {
        NewFlowSend {
            id,
            campaign: "lifecycle",
            rule_version: "v1",
            flow: "welcome",
            now: 150,
        }
    }
    let first = Store::new_send_id();
    store
        .create_flow_send("acme", &send(&first), &keys)
        .unwrap();
    // A second claim (another process) fails and creates no send.
    let second = Store::new_send_id();
    let refused = store
        .create_flow_send("acme", &send(&second), &keys)
        .unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused}");
    assert!(store.send("acme", &second).unwrap().is_none());
    assert_eq!(store.send_now(&first).unwrap(), Some(150));

    // Caps count the queued message until its delivery is recorded.
    assert_eq!(
        store.queued_times("acme").unwrap(),
        [("c1".to_string(), 150)]
    );
    store
        .record_deliveries("acme", &first, &[("c1".to_string(), 150)])
        .unwrap();
    assert!(store.queued_times("acme").unwrap().is_empty());
    assert_eq!(store.delivery_times("acme", 0).unwrap()["c1"], [150]);

    // Deleting the flow cancels what still waits.
    assert!(store.delete_flow("acme", "welcome").unwrap());
    let waiting = store
        .runs("acme", None, Some(RunState::Waiting), 10)
        .unwrap();
    assert!(waiting.is_empty());
    let cancelled = store
        .runs("acme", None, Some(RunState::Cancelled), 10)
        .unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].key.customer, "c2");
    assert_eq!(cancelled[0].reason.as_deref(), Some("flow deleted"));
}

#[test]
fn an_event_after_compaction_is_never_behind_a_flow_cursor() {
    let (_dir, store) = test_support::store_with_tenants();
    store.put_flow("acme", "welcome", "x").unwrap();
    // A live event, then a late backfill of old history: the backfill
    // arrives last, so it has the highest sequence number.
    store
        .insert_events(
            "acme",
            &[
                event("live", "c1", "2026-11-24T10:00:00Z"),
                event("old", "c2", "2020-01-01T10:00:00Z"),
            ],
        )
        .unwrap();
    let read = store.events_after("acme", 0, 100).unwrap();
    let cursor = read.last().unwrap().0;
    store
        .schedule_runs("acme", "welcome", &[], Some(cursor))
        .unwrap();
    // Compaction removes the old event, the one at the cursor.
    let summary = mailrules::lifecycle::derive::OrderSummary::default();
    let deleted = std::collections::BTreeSet::from(["old".to_string()]);
    store
        .compact_customer("acme", "c2", &summary, &deleted, 1_700_000_000)
        .unwrap();
    // The next event must come after the cursor, or no flow ever sees it.
    insert_one(&store, "acme", "next", "c3", "2026-11-25T10:00:00Z");
    assert_eq!(ids_after(&store, "acme", cursor), ["next"]);
    // The same across tenants: the sequence is shared.
    assert_eq!(
        insert_one(&store, "globex", "g1", "c1", "2026-11-25T10:00:00Z"),
        1
    );
    let g1 = store.events_after("globex", 0, 10).unwrap()[0].0;
    assert!(
        g1 > cursor + 1,
        "{g1} reuses a number at or before {}",
        cursor + 1
    );
}
