//! Templates: a campaign whose message templates come from the input
//! (separated by NUL), rendered for one fixed profile. Compiling and
//! rendering give a message or an error, never a panic, a hang or a huge
//! allocation.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mailrules::outcome::{Blocks, Outcome, Status};
use mailrules::render::Renderer;
use mailrules::{Campaign, Profile};

const CAMPAIGN: &str = r#"
id = "fuzz"
now = "2026-11-24T09:00:00Z"
[[subject]]
id = "s"
text = "subject"
[[preheader]]
id = "p"
text = "preheader"
[[slot]]
name = "main"
[[slot.block]]
id = "b"
html = "<p>block</p>"
text = "block"
[fallback]
subject = "s"
preheader = "p"
blocks = { main = "b" }
[message]
from = "Fuzz <news@fuzz.example>"
unsubscribe_url = "https://fuzz.example/u"
unsubscribe_mailto = "u@fuzz.example"
feedback_id = "fuzz"
html_layout = "<body>{{ blocks.main }}</body>"
text_layout = "{{ blocks.main }}"
"#;

const PROFILE: &str = r#"{"id": "p-1", "email": "anna@example.com", "first_name": "Anna",
"last_name": "Zed", "locale": "en-GB", "country": "GB", "subscribed_at": "2026-01-01T00:00:00Z",
"consent": {"email_marketing": true, "tracking": true},
"orders": {"count": 2, "total_spent_cents": 12345, "currency": "EUR", "categories": ["books", "home"]},
"engagement": {"opens_30d": 3, "clicks_30d": 1, "emails_received_30d": 5},
"behavior": {"viewed_categories": ["beauty", "books"]}, "tags": ["vip", "new"]}"#;

static BASE: LazyLock<Campaign> = LazyLock::new(|| {
    Campaign::parse(CAMPAIGN, std::path::Path::new("fuzz.toml")).expect("fixed campaign is valid")
});
static RECIPIENT: LazyLock<Profile> =
    LazyLock::new(|| serde_json::from_str(PROFILE).expect("fixed profile is valid"));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0').map(str::to_string);
    let mut campaign = BASE.clone();
    let message = campaign
        .message
        .as_mut()
        .expect("fixed campaign has [message]");
    let block = &mut campaign.slots[0].blocks[0];
    for template in [
        &mut message.html_layout.text,
        &mut message.text_layout.text,
        &mut campaign.subjects[0].text,
        &mut campaign.preheaders[0].text,
    ] {
        if let Some(part) = parts.next() {
            *template = part;
        }
    }
    for template in [&mut block.html, &mut block.text] {
        if let Some(part) = parts.next() {
            *template = Some(part);
        }
    }
    let Ok(renderer) = Renderer::new(&campaign, 1_795_000_000, None) else {
        return;
    };
    let outcome = Outcome {
        subject: Some("s".into()),
        preheader: Some("p".into()),
        blocks: Some(Blocks(vec![("main".into(), "b".into())])),
        reason: None,
        segments: vec!["vip".into()],
        ..Outcome::without_message("p-1".into(), Status::Ok, String::new())
    };
    let _ = renderer.render_message(&RECIPIENT, &outcome);
});
