//! Event lines: any body parses to accepted events and rejected lines,
//! never a panic, and every accepted customer's profile derives (or says
//! it has no address) at any time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::lifecycle::derive::{OrderSummary, derive, fold_old_orders, superseded_events};
use mailrules::lifecycle::events::parse_lines;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_lines(data, 1_000);
    let events: Vec<_> = parsed.events.into_iter().map(|(_, event)| event).collect();
    let now = events.iter().map(|e| e.at).max().unwrap_or(0);
    for event in events.iter().take(8) {
        let _ = derive(&event.customer, None, &events, None, now);
    }
    let mut summary = OrderSummary::default();
    let _ = fold_old_orders(&mut summary, &events, now);
    let _ = superseded_events(&events, now - 90 * 86_400);
    if let Some(first) = events.first() {
        let _ = derive(&first.customer, None, &events, Some(&summary), now);
    }
});
