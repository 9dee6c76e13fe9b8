//! The service's links in a rendered message: the one-click unsubscribe
//! for everyone, the pixel and click redirects only with tracking consent.

use std::path::Path;

use super::Renderer;
use crate::campaign::Campaign;
use crate::feedback::links::SignedLinks;
use crate::feedback::token::FeedbackKey;
use crate::outcome::{Blocks, Outcome, Status};
use crate::profile::Profile;

fn campaign() -> Campaign {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/campaign.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "{{ blocks.recommendations }}\n<p style",
        "{{ blocks.recommendations }}\n<p><a href=\"https://northwind.example/new\">New</a></p>\n<p style",
    );
    Campaign::parse(&text, &path).unwrap()
}

fn profile(tracking: bool) -> Profile {
    serde_json::from_str(&format!(
        r#"{{"id":"c-1","email":"c-1@example.com","consent":{{"email_marketing":true,"tracking":{tracking}}}}}"#
    ))
    .unwrap()
}

/// The message's text with quoted-printable soft line breaks joined and
/// `=3D` decoded.
fn render(renderer: &Renderer, campaign: &Campaign, tracking: bool) -> (String, bool) {
    let profile = profile(tracking);
    let outcome = Outcome {
        subject: Some(campaign.fallback.subject.clone()),
        preheader: Some(campaign.fallback.preheader.clone()),
        blocks: Some(Blocks(campaign.fallback.blocks.clone())),
        ..Outcome::without_message(profile.id.clone(), Status::Ok, String::new())
    };
    let message = renderer.render_message(&profile, &outcome).unwrap();
    let text = String::from_utf8(message.bytes)
        .unwrap()
        .replace("=\r\n", "")
        .replace("=3D", "=");
    (text, message.tracked)
}

/// A header's value, unfolded.
fn header(message: &str, name: &str) -> String {
    let head = &message[..message.find("\r\n\r\n").unwrap()];
    head.replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .split("\r\n")
        .find_map(|line| line.strip_prefix(&format!("{name}: ")).map(str::to_string))
        .unwrap()
}

#[test]
fn the_service_link_replaces_the_campaigns_and_tracking_needs_consent() {
    let campaign = campaign();
    let links = SignedLinks::new(
        "https://t.example",
        "acme",
        FeedbackKey::from_bytes([1; 32]),
    );
    let own = Renderer::new(&campaign, 1_764_000_000, None).unwrap();
    let linked = Renderer::new(&campaign, 1_764_000_000, None)
        .unwrap()
        .with_links(links);

    let (plain, tracked) = render(&own, &campaign, true);
    assert!(!tracked);
    assert!(
        header(&plain, "List-Unsubscribe").starts_with("<https://northwind.example/unsubscribe?")
    );
    assert!(header(&plain, "List-Unsubscribe").contains("<mailto:unsubscribe+"));
    assert!(!plain.contains("t.example"));

    let (untracked, tracked) = render(&linked, &campaign, false);
    assert!(!tracked);
    let unsubscribe = header(&untracked, "List-Unsubscribe");
    assert!(unsubscribe.starts_with("<https://t.example/u/") && unsubscribe.ends_with('>'));
    assert!(!unsubscribe.contains("mailto"), "{unsubscribe}");
    let url = &unsubscribe[1..unsubscribe.len() - 1];
    // The text part's unsubscribe line carries the same URL.
    assert!(untracked.contains(&format!("Unsubscribe: {url}")));
    assert!(!untracked.contains("/o/") && !untracked.contains("/c/"));
    assert!(untracked.contains("href=\"https://northwind.example/new\""));

    let (with_tracking, tracked) = render(&linked, &campaign, true);
    assert!(tracked);
    assert_eq!(with_tracking.matches("https://t.example/o/").count(), 1);
    assert!(with_tracking.contains("href=\"https://t.example/c/"));
    assert!(!with_tracking.contains("href=\"https://northwind.example/new\""));
    // The text part is never rewritten: its links stay as written.
    assert!(with_tracking.contains(&format!("Unsubscribe: {url}")));
}
