//! Integration tests: real guest components, built from source by the build
//! script, run by the real host (library and CLI).

mod batch_mode;
mod breaker;
mod cli;
mod containment;
mod contract_v0_2;
mod crash;
mod determinism;
mod diff;
mod evaluation_bounds;
mod fair_share;
mod faults;
mod feedback_batch;
mod harness;
mod header_safety;
mod journal;
mod load_bounds;
mod loading;
mod mail;
mod malformed_input;
mod pacing;
mod preview;
mod reference_pack;
mod registry;
mod relay_tls;
mod rule_facts;
mod rule_invented_ids;
mod send_local;
mod serve;
mod template_memory;
mod templates;
