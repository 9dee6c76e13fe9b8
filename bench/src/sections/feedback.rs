//! Feedback: what the service's signed links cost a message (the one-click
//! unsubscribe link, and for recipients who agreed to tracking the click
//! redirects and the open pixel), and what a campaign's KPIs cost to
//! compute from its journal and events.

use mailrules::Campaign;
use mailrules::feedback::kpis::{Recipient, compute};
use mailrules::feedback::links::{LinkSubject, SignedLinks};
use mailrules::feedback::token::{FeedbackKey, UnverifiedToken};
use mailrules::journal::Fate;
use mailrules::lifecycle::events::CustomerEvent;
use mailrules::outcome::{Blocks, Outcome, Status};
use mailrules::profile::{Profile, format_time};
use mailrules::render::Renderer;

use crate::fixture::Fixture;
use crate::measure::{Path, best_per_item, count, ratio};
use crate::report::Table;

/// Messages rendered per pass.
const MESSAGES: usize = 2_000;
/// Recipients of the campaign whose KPIs are computed.
const RECIPIENTS: usize = 100_000;

/// The example campaign with three links to the shop in its HTML layout.
fn campaign_with_links(fixture: &Fixture) -> anyhow::Result<Campaign> {
    let text = std::fs::read_to_string(&fixture.campaign_path)?.replace(
        "{{ blocks.recommendations }}\n<p style",
        "{{ blocks.recommendations }}\n<p><a href=\"https://northwind.example/new\">New in</a> · \
         <a href=\"https://northwind.example/sale\">Sale</a> · \
         <a href=\"https://northwind.example/account\">Your account</a></p>\n<p style",
    );
    Ok(Campaign::parse(&text, &fixture.campaign_path)?)
}

fn outcome(campaign: &Campaign, profile: &Profile) -> Outcome {
    Outcome {
        subject: Some(campaign.fallback.subject.clone()),
        preheader: Some(campaign.fallback.preheader.clone()),
        blocks: Some(Blocks(campaign.fallback.blocks.clone())),
        ..Outcome::without_message(profile.id.clone(), Status::Ok, String::new())
    }
}

/// Rendering with and without the links; token signing and checking; KPIs.
pub fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Vec<Table>> {
    let campaign = campaign_with_links(fixture)?;
    let key = FeedbackKey::from_bytes([7; 32]);
    let links = SignedLinks::new("https://mail.example.com", "bench", key.clone());
    let plain = Renderer::new(&campaign, fixture.now, None)?;
    let linked = Renderer::new(&campaign, fixture.now, None)?.with_links(links.clone());
    let profiles: Vec<(Profile, Profile, Outcome)> = fixture
        .profiles
        .iter()
        .cycle()
        .take(MESSAGES)
        .map(|profile| {
            let mut untracked = Profile::clone(profile);
            untracked.consent.tracking = false;
            let mut tracked = untracked.clone();
            tracked.consent.tracking = true;
            let outcome = outcome(&campaign, profile);
            (untracked, tracked, outcome)
        })
        .collect();
    let render = |renderer: &Renderer, tracked: bool| {
        let bytes: usize = profiles
            .iter()
            .map(|(untracked, with_tracking, outcome)| {
                let profile = if tracked { with_tracking } else { untracked };
                renderer
                    .render_message(profile, outcome)
                    .map_or(0, |m| m.bytes.len())
            })
            .sum();
        (MESSAGES, bytes)
    };
    let mut paths = vec![
        Path::new("the campaign's own unsubscribe URL, no tracking", || {
            render(&plain, false)
        }),
        Path::new(
            "signed one-click unsubscribe link (no tracking consent)",
            || render(&linked, false),
        ),
        Path::new(
            "signed links + tracking: 4 click redirects, open pixel",
            || render(&linked, true),
        ),
    ];
    let per_message = best_per_item(&mut paths, rounds);
    let mut rendering = Table::new(
        "9. Feedback links in a message",
        &format!(
            "{} messages of the example campaign (with three shop links added to its HTML) \
             rendered by `Renderer::render_message`, best of {} rounds: with the campaign's own \
             `unsubscribe_url`; with the service's signed unsubscribe link (`serve \
             --public-url`); and for a recipient with tracking consent, whose HTML part is also \
             rewritten (lol_html) so each link goes through a signed redirect and an open pixel \
             is added. Signing is HMAC-SHA256 over the MessagePack claims.",
            count(MESSAGES as f64),
            rounds.max(1)
        ),
        &["path", "µs/message", "messages/s", "vs own URL"],
    );
    for (path, ns) in paths.iter().zip(&per_message) {
        rendering.row(vec![
            path.name.clone(),
            format!("{:.1}", ns / 1e3),
            count(1e9 / ns),
            ratio(*ns, per_message[0]),
        ]);
    }

    // KPIs of a campaign: 100,000 recipients, an open for a third of them,
    // a click for one in twenty, an order for a third of the clickers.
    let now = fixture.now;
    let recipients: Vec<Recipient> = (0..RECIPIENTS)
        .map(|i| Recipient {
            customer: format!("c{i}"),
            message_id: Some(format!("<m{i}@k>")),
            fate: if i % 50 == 0 {
                Fate::Suppressed
            } else {
                Fate::Delivered
            },
            reason: None,
            segments: vec![["vip", "new", "lapsed", "active"][i % 4].to_string()],
            subject: Some(["a", "b"][i % 2].to_string()),
            preheader: Some("p".into()),
            ab_split: Some("a".into()),
            tracked: true,
            sent_at: now,
        })
        .collect();
    let mut lines = Vec::new();
    for i in 0..RECIPIENTS {
        let at = |minutes: i64| format_time(now + minutes * 60);
        if i % 3 == 0 {
            lines.push(format!(
                r#"{{"id":"o{i}","type":"email_opened","customer":"c{i}","at":"{}","campaign":"{}","message_id":"<m{i}@k>"}}"#,
                at(10), campaign.id
            ));
        }
        if i % 20 == 0 {
            lines.push(format!(
                r#"{{"id":"k{i}","type":"email_clicked","customer":"c{i}","at":"{}","campaign":"{}","message_id":"<m{i}@k>"}}"#,
                at(20), campaign.id
            ));
        }
        if i % 60 == 0 {
            lines.push(format!(
                r#"{{"id":"b{i}","type":"order_placed","customer":"c{i}","at":"{}","order_id":"r{i}","total_cents":4599}}"#,
                at(120)
            ));
        }
    }
    let events: Vec<CustomerEvent> = lines
        .iter()
        .map(|line| CustomerEvent::from_json(line.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let subject = LinkSubject {
        customer: "c-12345",
        campaign: &campaign.id,
        message_id: "<0123456789abcdef0123456789abcdef.autumn-picks-2026@northwind.example>",
    };
    let tokens: Vec<String> = (0..10_000)
        .map(|i| {
            let url = links.click(subject, &format!("https://northwind.example/p/{i}"));
            url.rsplit('/').next().unwrap_or_default().to_string()
        })
        .collect();
    let mut paths = vec![
        Path::new("sign a click link (HMAC-SHA256)", || {
            let total: usize = (0..10_000)
                .map(|i| {
                    links
                        .click(subject, &format!("https://northwind.example/p/{i}"))
                        .len()
                })
                .sum();
            (10_000, total)
        }),
        Path::new("read and verify a click token", || {
            let verified = tokens
                .iter()
                .filter(|t| {
                    UnverifiedToken::parse(t)
                        .and_then(|t| t.verify(&key))
                        .is_ok()
                })
                .count();
            (tokens.len(), verified)
        }),
        Path::new("KPIs per recipient (100,000 and their events)", || {
            let report = compute(&campaign, &recipients, &events);
            (RECIPIENTS, report.total.unique_opens as usize)
        }),
    ];
    let per_item = best_per_item(&mut paths, rounds);
    let mut kpis = Table::new(
        "10. Link tokens and KPIs",
        &format!(
            "Signing and checking one click token, and `feedback::kpis::compute` for a campaign \
             of {} recipients (4 segments, an A/B split) with {} events (opens for a third, \
             clicks for one in twenty, orders for a third of the clickers), best of {} rounds.",
            count(RECIPIENTS as f64),
            count(events.len() as f64),
            rounds.max(1)
        ),
        &["path", "µs/item", "items/s"],
    );
    for (path, ns) in paths.iter().zip(&per_item) {
        kpis.row(vec![
            path.name.clone(),
            format!("{:.2}", ns / 1e3),
            count(1e9 / ns),
        ]);
    }
    Ok(vec![rendering, kpis])
}
