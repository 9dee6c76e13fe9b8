//! Lifecycle: how fast events go into the service's store, and what
//! deriving a profile from its events costs next to parsing the same
//! profile pre-computed.

use std::collections::HashMap;
use std::sync::Arc;

use mailrules::lifecycle::derive::derive;
use mailrules::lifecycle::events::{CustomerEvent, parse_lines};
use mailrules::profile::{Profile, format_time};
use mailrules_service::hosting::TenantSettings;
use mailrules_service::{Hosting, ServiceConfig};

use crate::measure::{Path, best_per_item, count, ratio};
use crate::report::Table;

/// Customers in the generated history.
const CUSTOMERS: usize = 2_000;
/// Events per request, as a client would batch them.
const BATCH: usize = 10_000;
const TENANT: &str = "bench";

/// One customer's events, about 20, in the month before `now`: a
/// subscription, three orders, opens, clicks, views, visits and a cart.
fn history(customer: usize, now: i64) -> Vec<String> {
    let day = 86_400;
    let at = |days_ago: i64, minute: i64| format_time(now - days_ago * day + minute * 60);
    let id = |n: usize| format!("c{customer}-e{n}");
    let c = format!("c{customer}");
    let category = ["outdoor", "home", "books", "music", "fashion"][customer % 5];
    let mut lines = vec![format!(
        r#"{{"id":"{}","type":"subscribed","customer":"{c}","at":"{}","email":"{c}@example.com","timezone":"Europe/Berlin"}}"#,
        id(0),
        at(200, 0)
    )];
    for order in 0..3 {
        lines.push(format!(
            r#"{{"id":"{}","type":"order_placed","customer":"{c}","at":"{}","order_id":"{c}-o{order}","total_cents":{},"currency":"EUR","items":[{{"sku":"s{order}","name":"Item","category":"{category}","price_cents":{},"quantity":1}}]}}"#,
            id(1 + order),
            at(120 - 50 * order as i64, order as i64),
            2_500 + 1_000 * order,
            2_500 + 1_000 * order
        ));
    }
    for open in 0..5 {
        lines.push(format!(
            r#"{{"id":"{}","type":"email_opened","customer":"{c}","at":"{}","campaign":"k{open}"}}"#,
            id(10 + open),
            at(3 + 7 * open as i64, 0)
        ));
    }
    for click in 0..2 {
        lines.push(format!(
            r#"{{"id":"{}","type":"email_clicked","customer":"{c}","at":"{}","campaign":"k{click}"}}"#,
            id(20 + click),
            at(3 + 7 * click as i64, 5)
        ));
    }
    for view in 0..6 {
        lines.push(format!(
            r#"{{"id":"{}","type":"product_viewed","customer":"{c}","at":"{}","sku":"v{view}","category":"{category}","price_cents":{}}}"#,
            id(30 + view),
            at(1 + 4 * view as i64, 0),
            1_000 * (view + 1)
        ));
    }
    lines.push(format!(
        r#"{{"id":"{}","type":"site_visit","customer":"{c}","at":"{}"}}"#,
        id(40),
        at(1, 0)
    ));
    lines.push(format!(
        r#"{{"id":"{}","type":"cart_updated","customer":"{c}","at":"{}","items":[{{"sku":"v0","name":"Item","category":"{category}","price_cents":1000,"quantity":2}}]}}"#,
        id(41),
        at(0, -60)
    ));
    lines
}

/// Events per second into a fresh store, each path over the same
/// `CUSTOMERS` histories in requests of `BATCH` events; and the cost per
/// profile of deriving against parsing it pre-computed.
pub fn run(now: i64, rounds: usize) -> anyhow::Result<Vec<Table>> {
    let lines: Vec<String> = (0..CUSTOMERS).flat_map(|c| history(c, now)).collect();
    let bodies: Vec<bytes::Bytes> = lines
        .chunks(BATCH)
        .map(|chunk| bytes::Bytes::from(chunk.join("\n")))
        .collect();
    let events_total = lines.len();

    // Ingestion: parse only; parse and store into a fresh tenant; the same
    // events again (every one a duplicate).
    let dir = tempfile::tempdir()?;
    let hosting = Hosting::open(ServiceConfig::new(dir.path().to_path_buf()))?;
    let fresh = std::cell::Cell::new(0usize);
    let new_tenant = |hosting: &Arc<Hosting>| -> String {
        fresh.set(fresh.get() + 1);
        let tenant = format!("{TENANT}-{}", fresh.get());
        hosting
            .create_tenant(&tenant, TenantSettings::default())
            .expect("a tenant");
        tenant
    };
    let repeat_tenant = new_tenant(&hosting);
    for body in &bodies {
        hosting.post_events(&repeat_tenant, body.clone())?;
    }
    let mut ingestion = vec![
        Path::new("parse event lines (library)", || {
            let parsed: usize = bodies
                .iter()
                .map(|body| parse_lines(body, usize::MAX).events.len())
                .sum();
            (events_total, parsed)
        }),
        Path::new("POST …/events: parse and store (new events)", || {
            let tenant = new_tenant(&hosting);
            let stored: usize = bodies
                .iter()
                .map(|body| {
                    hosting
                        .post_events(&tenant, body.clone())
                        .expect("stored")
                        .accepted
                })
                .sum();
            (events_total, stored)
        }),
        Path::new(
            "POST …/events: the same events again (all duplicates)",
            || {
                let duplicates: usize = bodies
                    .iter()
                    .map(|body| {
                        hosting
                            .post_events(&repeat_tenant, body.clone())
                            .expect("stored")
                            .duplicates
                    })
                    .sum();
                (events_total, duplicates)
            },
        ),
    ];
    let ingest = best_per_item(&mut ingestion, rounds);
    let mut ingestion_table = Table::new(
        "7. Event ingestion",
        &format!(
            "{} events ({} customers, ~{} each: subscription, orders, opens, clicks, views, a \
             visit, a cart) posted as JSON Lines in requests of {} through `Hosting::post_events` \
             (what `POST /v1/tenants/{{t}}/events` calls, without HTTP) into the service's SQLite \
             store (WAL, `synchronous=FULL`, one transaction per request), best of {} rounds; \
             *new events* go to a fresh tenant each round.",
            count(events_total as f64),
            count(CUSTOMERS as f64),
            events_total / CUSTOMERS,
            count(BATCH as f64),
            rounds.max(1)
        ),
        &["path", "events/s", "µs/event", "vs parse only"],
    );
    for (path, ns) in ingestion.iter().zip(&ingest) {
        ingestion_table.row(vec![
            path.name.clone(),
            count(1e9 / ns),
            format!("{:.2}", ns / 1e3),
            ratio(*ns, ingest[0]),
        ]);
    }

    // Derivation against parsing the same profile pre-computed.
    let mut by_customer: HashMap<String, Vec<CustomerEvent>> = HashMap::new();
    for line in &lines {
        let event = CustomerEvent::from_json(line.as_bytes()).map_err(anyhow::Error::msg)?;
        by_customer
            .entry(event.customer.clone())
            .or_default()
            .push(event);
    }
    let customers: Vec<String> = (0..CUSTOMERS).map(|c| format!("c{c}")).collect();
    let precomputed: Vec<String> = customers
        .iter()
        .map(|c| derive(c, None, &by_customer[c], None, now).map(|p| serde_json::to_string(&p)))
        .collect::<Result<Result<_, _>, _>>()??;
    let mut derivation = vec![
        Path::new("parse the pre-computed profile (JSON line)", || {
            let parsed = precomputed
                .iter()
                .map(|line| {
                    serde_json::from_str::<Profile>(line)
                        .expect("a profile")
                        .orders
                        .count
                })
                .sum::<u32>();
            (customers.len(), parsed as usize)
        }),
        Path::new("derive from its ~20 events (in memory)", || {
            let derived = customers
                .iter()
                .map(|c| {
                    derive(c, None, &by_customer[c], None, now)
                        .expect("derived")
                        .orders
                        .count
                })
                .sum::<u32>();
            (customers.len(), derived as usize)
        }),
        Path::new("derive from the store (read, parse events, derive)", || {
            let derived = customers
                .iter()
                .map(|c| {
                    hosting
                        .derived_profile(&repeat_tenant, c, now, None)
                        .expect("derived")
                        .orders
                        .count
                })
                .sum::<u32>();
            (customers.len(), derived as usize)
        }),
    ];
    let derive_ns = best_per_item(&mut derivation, rounds);
    let mut derivation_table = Table::new(
        "8. Profile derivation",
        &format!(
            "The same {} customers: their profile parsed from its pre-computed JSON line \
             (what a posted profile costs), derived from its events already in memory \
             (`mailrules::lifecycle::derive`), and derived from the store as a send does \
             (`Hosting::derived_profile`: three SQLite reads — posted profile, events, compacted orders — the event lines parsed, derived). \
             Best of {} rounds.",
            count(CUSTOMERS as f64),
            rounds.max(1)
        ),
        &["path", "µs/profile", "vs pre-computed"],
    );
    for (path, ns) in derivation.iter().zip(&derive_ns) {
        derivation_table.row(vec![
            path.name.clone(),
            format!("{:.2}", ns / 1e3),
            ratio(*ns, derive_ns[0]),
        ]);
    }
    drop(derivation);
    drop(ingestion);
    Ok(vec![ingestion_table, derivation_table])
}
