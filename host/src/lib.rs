//! # mailrules
//!
//! Runs tenants' email segmentation and personalization rules, compiled to
//! WebAssembly components, over customer profiles, each evaluation in a fresh
//! sandbox with fuel, a deadline, a memory cap and output caps always on.
//!
//! Three lifetimes, each a type:
//! - the **engine** ([`RuleEngine`], built by [`RuleEngine::builder`]): one
//!   per process, a cheap handle;
//! - the **prepared rule and campaign** ([`LoadedRule`], kept per tenant
//!   and version in a [`RuleRegistry`]; [`PreparedCampaign`] and the
//!   [`Evaluator`] it holds): shared, swapped atomically on activation;
//! - the **evaluation**: one store per recipient ([`Evaluator::evaluate`],
//!   or many through [`run::run`] and an [`run::EvaluationStage`]).
//!
//! Around them: campaigns and profiles as input ([`campaign`],
//! [`profile_reader`]), the host's policy ([`policy`]), circuit breakers
//! ([`breaker`]), canaries ([`registry::in_canary`]), the shadow diff
//! ([`diff`]), fair sharing of workers between tenants ([`fair_share`]),
//! facts known at upload ([`rule_facts`]), and the mail path ([`render`],
//! [`deliver`], [`journal`], [`send`]). The `mailrules` command and the
//! hosting service (`mailrules-service`) are clients of this crate.

#![warn(missing_docs)]

pub mod breaker;
pub mod bucket;
pub mod campaign;
pub mod compile_cache;
pub mod component_bounds;
pub mod contract;
pub mod counts;
pub mod decision;
pub mod diff;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod fair_share;
pub mod feedback;
pub mod id;
pub mod limits;
mod ordered;
pub mod outcome;
pub mod policy;
pub mod prepared;
pub mod profile;
pub mod profile_reader;
pub mod registry;
pub mod reserved;
pub mod rule;
pub mod rule_facts;
pub mod run;
mod same_refusals;
pub mod sandbox;
pub mod summary;
mod threads;
mod unsynced_window;

pub use campaign::Campaign;
pub use engine::{EngineBuilder, Isolation, RuleEngine};
pub use evaluate::{Evaluation, Evaluator, Failure};
pub use limits::{Limits, OperatorLimits, RequestedLimits};
pub use outcome::{Outcome, Status};
pub use prepared::PreparedCampaign;
pub use profile::Profile;
pub use profile_reader::{ProfileFormat, ProfileReader};
pub use registry::RuleRegistry;
pub use rule::LoadedRule;
pub mod deliver;
pub mod journal;
pub mod lifecycle;
pub mod render;
pub mod send;
