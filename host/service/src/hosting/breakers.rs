//! One circuit breaker per (tenant, rule version), shared by every
//! evaluation of that version; their changes of state become events (in
//! the store, listed with the tenant's rules) and metrics.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};

use mailrules::breaker::{Breaker, BreakerConfig, State, Transition};
use mailrules::evaluate::{Breakers, OnTransition};

use super::{Hosting, lock};
use crate::metrics::RuleLabels;

/// A change of a breaker's state, on its way to the store.
struct BreakerEvent {
    tenant: String,
    version: String,
    transition: Transition,
}

/// The breakers, and the channel their events travel on.
pub(super) struct BreakerBoard {
    config: BreakerConfig,
    breakers: Mutex<HashMap<(String, String), Arc<Breaker>>>,
    events: Mutex<mpsc::Sender<BreakerEvent>>,
    receiver: Mutex<Option<mpsc::Receiver<BreakerEvent>>>,
}

impl BreakerBoard {
    pub(super) fn new(config: BreakerConfig) -> Self {
        let (events, receiver) = mpsc::channel();
        BreakerBoard {
            config,
            breakers: Mutex::new(HashMap::new()),
            events: Mutex::new(events),
            receiver: Mutex::new(Some(receiver)),
        }
    }

    fn breaker(&self, tenant: &str, version: &str) -> Arc<Breaker> {
        lock(&self.breakers)
            .entry((tenant.to_string(), version.to_string()))
            .or_insert_with(|| Arc::new(Breaker::new(self.config.clone())))
            .clone()
    }
}

/// The gauge value of a state: 0 closed, 1 half-open, 2 open.
fn gauge(state: State) -> i64 {
    match state {
        State::Closed => 0,
        State::HalfOpen => 1,
        State::Open => 2,
    }
}

impl Hosting {
    /// The breakers of the active version and the canary, reporting their
    /// changes of state as events.
    pub(super) fn breakers_for(
        &self,
        tenant: &str,
        active: &str,
        canary: Option<&str>,
    ) -> Breakers {
        let board = &self.breakers;
        let main = board.breaker(tenant, active);
        let canary_breaker = canary.map(|version| board.breaker(tenant, version));
        let sender = lock(&board.events).clone();
        let (tenant, active, canary) = (
            tenant.to_string(),
            active.to_string(),
            canary.map(str::to_string),
        );
        let on_transition: OnTransition = Arc::new(move |is_canary, transition| {
            let version = match (&canary, is_canary) {
                (Some(canary), true) => canary.clone(),
                _ => active.clone(),
            };
            let _ = sender.send(BreakerEvent {
                tenant: tenant.clone(),
                version,
                transition: transition.clone(),
            });
        });
        Breakers {
            main,
            canary: canary_breaker,
            on_transition: Some(on_transition),
        }
    }

    /// Starts the thread that records breaker events in the store and the
    /// metrics. It holds the service weakly and ends with it.
    pub(super) fn start_breaker_events(self: &Arc<Self>) {
        let Some(receiver) = lock(&self.breakers.receiver).take() else {
            return;
        };
        let hosting: Weak<Hosting> = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("breaker-events".into())
            .spawn(move || {
                while let Ok(event) = receiver.recv() {
                    let Some(hosting) = hosting.upgrade() else {
                        return;
                    };
                    hosting.record_breaker_event(&event);
                }
            });
    }

    fn record_breaker_event(&self, event: &BreakerEvent) {
        let BreakerEvent {
            tenant,
            version,
            transition,
        } = event;
        let labels = RuleLabels {
            tenant: tenant.clone(),
            version: version.clone(),
        };
        self.metrics
            .breaker
            .get_or_create(&labels)
            .set(gauge(transition.to));
        if transition.to == State::Open {
            self.metrics.breaker_trips.get_or_create(&labels).inc();
        }
        let detail = format!(
            "{} → {}: {:.0}% of {} evaluations failed",
            transition.from.as_str(),
            transition.to.as_str(),
            transition.failure_rate * 100.0,
            transition.evaluations
        );
        tracing::warn!(tenant, version, detail, "circuit breaker");
        let kind = match transition.to {
            State::Open => "breaker-open",
            State::HalfOpen => "breaker-half-open",
            State::Closed => "breaker-closed",
        };
        if let Err(error) = self
            .store
            .record_event(tenant, Some(version), kind, &detail)
        {
            tracing::error!(%error, "cannot record a breaker event");
        }
    }
}
