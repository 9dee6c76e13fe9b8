//! Feedback in the service: the signed links a message carries, what
//! following one does (an open, a click, a one-click unsubscribe), the
//! tenant's suppression list, and a campaign's KPIs.

use std::sync::Arc;

use mailrules::feedback::kpis::{self, KpiReport, Recipient};
use mailrules::feedback::links::SignedLinks;
use mailrules::feedback::suppressions::SuppressionList;
use mailrules::feedback::token::{LinkClaims, LinkKind, UnverifiedToken};
use mailrules::lifecycle::events::{CustomerEvent, EmailRef, EventData};
use sha2::{Digest, Sha256};

use super::{Hosting, HostingError};
use crate::store::Suppression;

/// Most suppressions `GET …/suppressions` lists.
pub const MAX_LISTED_SUPPRESSIONS: usize = 1_000;

/// What following a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// An open was recorded.
    Opened,
    /// A click was recorded; go on to the target.
    Clicked {
        /// Where the link goes.
        target: String,
    },
    /// The unsubscribe link, looked at (nothing changed yet).
    UnsubscribePage {
        /// The campaign it is from.
        campaign: String,
    },
    /// The customer is unsubscribed (now, or already).
    Unsubscribed {
        /// The campaign it is from.
        campaign: String,
    },
}

/// What a request on a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// `GET /o/{token}`.
    Open,
    /// `GET /c/{token}`.
    Click,
    /// `HEAD /o/{token}` or `HEAD /c/{token}` (a link of this kind): the
    /// token is checked, nothing is recorded (link scanners ask before
    /// they fetch).
    Check(LinkKind),
    /// `GET /u/{token}`: show the confirmation page.
    ViewUnsubscribe,
    /// `POST /u/{token}` with `List-Unsubscribe=One-Click` (RFC 8058).
    Unsubscribe,
}

impl Hosting {
    /// The signed links of the tenant's messages, when the service has a
    /// public URL.
    pub(super) fn links_for(&self, tenant: &str) -> Result<Option<SignedLinks>, HostingError> {
        let Some(base) = &self.config.public_url else {
            return Ok(None);
        };
        let key = self
            .store
            .feedback_key(tenant)?
            .ok_or_else(|| HostingError::NotFound {
                what: "tenant",
                id: tenant.to_string(),
            })?;
        Ok(Some(SignedLinks::new(base, tenant, key)))
    }

    /// The tenant's suppression list, as a send checks it.
    pub(super) fn suppression_list(
        &self,
        tenant: &str,
    ) -> Result<Arc<SuppressionList>, HostingError> {
        Ok(Arc::new(self.store.suppression_list(tenant)?))
    }

    /// The tenant's suppressions, newest first.
    pub fn suppressions(&self, tenant: &str) -> Result<Vec<Suppression>, HostingError> {
        self.tenant_settings(tenant)?;
        Ok(self.store.suppressions(tenant, MAX_LISTED_SUPPRESSIONS)?)
    }

    /// Follows a link: checks its token against the tenant's key, then
    /// records what `action` says. A token that does not verify — forged,
    /// altered, another kind of link, a tenant that does not exist — is
    /// [`HostingError::NotFound`] and changes nothing.
    pub fn follow_link(
        &self,
        token: &str,
        action: LinkAction,
        now: i64,
    ) -> Result<Followed, HostingError> {
        let invalid = || HostingError::NotFound {
            what: "link",
            id: String::new(),
        };
        let unverified = UnverifiedToken::parse(token).map_err(|_| invalid())?;
        let key = self
            .store
            .existing_feedback_key(unverified.tenant())?
            .ok_or_else(invalid)?;
        let claims = unverified.verify(&key).map_err(|_| invalid())?;
        let expected = match action {
            LinkAction::Open => LinkKind::Open,
            LinkAction::Click => LinkKind::Click,
            LinkAction::Check(kind) => kind,
            LinkAction::ViewUnsubscribe | LinkAction::Unsubscribe => LinkKind::Unsubscribe,
        };
        if claims.kind != expected {
            return Err(invalid());
        }
        let tenant = claims.tenant.clone();
        let reference = EmailRef {
            campaign: Some(claims.campaign.clone()),
            message_id: Some(claims.message_id.clone()),
            url: claims.target.clone(),
        };
        match action {
            LinkAction::Check(_) => Ok(match claims.target {
                Some(target) if claims.kind == LinkKind::Click => Followed::Clicked { target },
                _ => Followed::Opened,
            }),
            LinkAction::Open => {
                self.record_link_event(&claims, now, EventData::EmailOpened(reference))?;
                Ok(Followed::Opened)
            }
            LinkAction::Click => {
                // A click without a target goes nowhere and counts nothing.
                let target = claims.target.clone().ok_or_else(invalid)?;
                self.record_link_event(&claims, now, EventData::EmailClicked(reference))?;
                Ok(Followed::Clicked { target })
            }
            LinkAction::ViewUnsubscribe => Ok(Followed::UnsubscribePage {
                campaign: claims.campaign,
            }),
            LinkAction::Unsubscribe => {
                let event = CustomerEvent {
                    // One unsubscribe event per message and minute, however
                    // often it is posted.
                    id: format!(
                        "unsubscribe-{}-{}",
                        short_hash(&claims.message_id),
                        now.div_euclid(60)
                    ),
                    customer: claims.customer.clone(),
                    at: now,
                    data: EventData::Unsubscribed(reference),
                };
                // The suppression holds whatever the customer id; the event
                // only when the event log can read it back.
                self.store
                    .apply_unsubscribes(&tenant, std::slice::from_ref(&event))?;
                if let Some(event) = storable(event) {
                    self.store.insert_events(&tenant, &[event])?;
                }
                self.count_link(&tenant, "unsubscribe");
                Ok(Followed::Unsubscribed {
                    campaign: claims.campaign,
                })
            }
        }
    }

    fn record_link_event(
        &self,
        claims: &LinkClaims,
        now: i64,
        data: EventData,
    ) -> Result<(), HostingError> {
        let kind = if matches!(data, EventData::EmailOpened(_)) {
            "open"
        } else {
            "click"
        };
        // At most one event per message, link and minute: a client that
        // loads the pixel or follows the link again and again adds nothing
        // to the store (and counts once in the total).
        let link = format!(
            "{}\0{}",
            claims.message_id,
            claims.target.as_deref().unwrap_or_default()
        );
        let event = CustomerEvent {
            id: format!("{kind}-{}-{}", short_hash(&link), now.div_euclid(60)),
            customer: claims.customer.clone(),
            at: now,
            data,
        };
        if let Some(event) = storable(event) {
            self.store.insert_events(&claims.tenant, &[event])?;
            self.count_link(&claims.tenant, kind);
        }
        Ok(())
    }

    fn count_link(&self, tenant: &str, kind: &str) {
        self.metrics
            .links_followed
            .get_or_create(&crate::metrics::LinkLabels {
                tenant: tenant.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The KPIs of one of the tenant's campaigns: every send of it (flow
    /// sends included) from its journal, with the tenant's opens, clicks,
    /// unsubscribes and orders since the first of them.
    pub fn campaign_kpis(
        &self,
        tenant: &str,
        campaign_id: &str,
    ) -> Result<KpiReport, HostingError> {
        let campaign = self.campaign(tenant, campaign_id)?;
        let mut recipients: Vec<Recipient> = Vec::new();
        // Events from when the first send was made (the wall clock) or the
        // earliest time a send was for (a campaign's `now` may lie ahead or
        // behind), whichever is earlier.
        let mut since = i64::MAX;
        // Oldest first: a message sent again counts as its latest record.
        for record in self.store.sends(tenant)?.into_iter().rev() {
            if record.campaign != campaign_id {
                continue;
            }
            if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&record.created_at) {
                since = since.min(created.timestamp());
            }
            let path = self
                .send_dir(tenant, &record.id)
                .join(super::sends::JOURNAL);
            if !path.exists() {
                continue;
            }
            let (entries, _, _) = mailrules::journal::read(&path)
                .map_err(|e| HostingError::Internal(format!("send {}: {e}", record.id)))?;
            recipients.extend(kpis::recipients_of_journal(&entries));
        }
        let since = recipients
            .iter()
            .map(|r| r.sent_at)
            .min()
            .unwrap_or(i64::MAX)
            .min(since);
        let since = if since == i64::MAX { 0 } else { since };
        let events = self.store.feedback_events(tenant, since)?;
        Ok(kpis::compute(&campaign, &recipients, &events))
    }
}

/// `event`, if the event log will read it back. A profile id may be longer
/// than an event's customer id may be, or hold a control character; such
/// an event, once stored, would make every later read of the tenant's
/// events fail (its KPIs would answer 500 from then on), so it is left
/// out (logged).
fn storable(event: CustomerEvent) -> Option<CustomerEvent> {
    match CustomerEvent::from_json(event.to_json().as_bytes()) {
        Ok(_) => Some(event),
        Err(reason) => {
            tracing::warn!(%reason, kind = event.kind().as_str(), "a link's event is not recorded");
            None
        }
    }
}

/// The first 16 hex digits of the SHA-256 of `text`.
fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}
