//! The service's own links in a message: one-click unsubscribe, and, for
//! recipients who agreed to tracking, the open pixel and click redirects.
//!
//! [`SignedLinks`] makes `BASE/u/TOKEN` (unsubscribe), `BASE/o/TOKEN` (the
//! pixel) and `BASE/c/TOKEN` (a click, whose token carries the target);
//! [`SignedLinks::track_html`] rewrites every `http(s)` link of an HTML
//! part to its redirect and adds the pixel. Links to the service itself
//! (the unsubscribe link) and other schemes (`mailto:`, `tel:`, anchors)
//! are left alone.

use std::borrow::Cow;
use std::sync::LazyLock;

use lol_html::html_content::{ContentType, Element};
use lol_html::{ElementContentHandlers, RewriteStrSettings, Selector, end, rewrite_str};

use super::token::{FeedbackKey, LinkClaims, LinkKind};
use crate::lifecycle::events::MAX_URL_BYTES;

/// The elements rewritten, parsed once (parsing a selector costs more than
/// rewriting a message).
static LINKS: LazyLock<Selector> =
    LazyLock::new(|| "a[href], area[href]".parse().expect("a valid selector"));
static BODY: LazyLock<Selector> = LazyLock::new(|| "body".parse().expect("a valid selector"));

/// Makes signed feedback links for one tenant's messages.
#[derive(Debug, Clone)]
pub struct SignedLinks {
    base_url: String,
    tenant: String,
    key: FeedbackKey,
}

/// Whom and which message a link is about.
#[derive(Debug, Clone, Copy)]
pub struct LinkSubject<'a> {
    /// The recipient's customer (profile) id.
    pub customer: &'a str,
    /// The campaign id.
    pub campaign: &'a str,
    /// The message's Message-ID.
    pub message_id: &'a str,
}

/// The HTML part could not be rewritten (it is not HTML the rewriter can
/// follow); the message is sent without tracking rather than not at all.
#[derive(Debug, thiserror::Error)]
#[error("the HTML part cannot be rewritten for tracking")]
pub struct TrackingError(#[source] lol_html::errors::RewritingError);

impl SignedLinks {
    /// Links under `base_url` (`https://mail.example.com`, no trailing
    /// slash needed) for `tenant`, signed with its `key`.
    pub fn new(base_url: &str, tenant: &str, key: FeedbackKey) -> Self {
        SignedLinks {
            base_url: base_url.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            key,
        }
    }

    /// The base URL links start with.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn link(&self, kind: LinkKind, subject: LinkSubject<'_>, target: Option<&str>) -> String {
        let token = LinkClaims {
            kind,
            tenant: self.tenant.clone(),
            customer: subject.customer.to_string(),
            campaign: subject.campaign.to_string(),
            message_id: subject.message_id.to_string(),
            target: target.map(str::to_string),
        }
        .sign(&self.key);
        let path = match kind {
            LinkKind::Unsubscribe => "u",
            LinkKind::Open => "o",
            LinkKind::Click => "c",
        };
        format!("{}/{path}/{token}", self.base_url)
    }

    /// The one-click unsubscribe URL of a message.
    pub fn unsubscribe(&self, subject: LinkSubject<'_>) -> String {
        self.link(LinkKind::Unsubscribe, subject, None)
    }

    /// The tracking pixel's URL of a message.
    pub fn open(&self, subject: LinkSubject<'_>) -> String {
        self.link(LinkKind::Open, subject, None)
    }

    /// The redirect through which a click on `target` is counted.
    pub fn click(&self, subject: LinkSubject<'_>, target: &str) -> String {
        self.link(LinkKind::Click, subject, Some(target))
    }

    /// `html` with every trackable link going through its redirect and the
    /// pixel added at the end of the body (or of the document, without a
    /// `<body>`).
    pub fn track_html(
        &self,
        html: &str,
        subject: LinkSubject<'_>,
    ) -> Result<String, TrackingError> {
        let pixel = format!(
            r#"<img src="{}" width="1" height="1" alt="" style="display:block;border:0">"#,
            self.open(subject)
        );
        let placed = std::cell::Cell::new(false);
        let settings = RewriteStrSettings {
            element_content_handlers: vec![
                (
                    Cow::Borrowed(&*LINKS),
                    ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                        let raw = el.get_attribute("href").unwrap_or_default();
                        let target = html_escape::decode_html_entities(raw.trim()).into_owned();
                        if self.trackable(&target) {
                            el.set_attribute("href", &self.click(subject, &target))?;
                        }
                        Ok(())
                    }),
                ),
                (
                    Cow::Borrowed(&*BODY),
                    ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                        if !placed.get() {
                            el.append(&pixel, ContentType::Html);
                            placed.set(true);
                        }
                        Ok(())
                    }),
                ),
            ],
            document_content_handlers: vec![end!(|end| {
                if !placed.get() {
                    end.append(&pixel, ContentType::Html);
                }
                Ok(())
            })],
            ..RewriteStrSettings::new()
        };
        rewrite_str(html, settings).map_err(TrackingError)
    }

    /// Whether a click on `target` is redirected: web links that are not
    /// the service's own, short enough to sign.
    fn trackable(&self, target: &str) -> bool {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        (lower.starts_with("https://") || lower.starts_with("http://"))
            && !target.starts_with(&format!("{}/", self.base_url))
            && target.len() <= MAX_URL_BYTES
            && !target.chars().any(char::is_control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::token::UnverifiedToken;

    fn links() -> SignedLinks {
        SignedLinks::new(
            "https://t.example/",
            "acme",
            FeedbackKey::from_bytes([3; 32]),
        )
    }

    const SUBJECT: LinkSubject<'static> = LinkSubject {
        customer: "c-1",
        campaign: "autumn",
        message_id: "<m1@acme.example>",
    };

    fn claims_of(url: &str, prefix: &str) -> LinkClaims {
        let token = url.strip_prefix(prefix).unwrap_or_else(|| panic!("{url}"));
        UnverifiedToken::parse(token)
            .unwrap()
            .verify(&FeedbackKey::from_bytes([3; 32]))
            .unwrap()
    }

    #[test]
    fn web_links_are_redirected_and_the_pixel_added_once() {
        let html = concat!(
            r##"<html><body><p><a href="https://shop.example/a?x=1&amp;y=2">A</a> "##,
            r##"<a href="mailto:care@acme.example">mail</a> <a href="#top">top</a> "##,
            r##"<a href="https://t.example/u/abc">unsubscribe</a> "##,
            r##"<a href=" HTTP://shop.example/b ">B</a></p></body></html>"##
        );
        let out = links().track_html(html, SUBJECT).unwrap();
        let hrefs: Vec<&str> = out
            .split("href=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(hrefs.len(), 5);
        let a = claims_of(hrefs[0], "https://t.example/c/");
        assert_eq!(a.kind, LinkKind::Click);
        assert_eq!(a.target.as_deref(), Some("https://shop.example/a?x=1&y=2"));
        assert_eq!(a.customer, "c-1");
        assert_eq!(a.message_id, "<m1@acme.example>");
        assert_eq!(hrefs[1], "mailto:care@acme.example");
        assert_eq!(hrefs[2], "#top");
        assert_eq!(hrefs[3], "https://t.example/u/abc");
        let b = claims_of(hrefs[4], "https://t.example/c/");
        assert_eq!(b.target.as_deref(), Some("HTTP://shop.example/b"));
        assert_eq!(out.matches("<img ").count(), 1);
        let pixel_at = out.find("<img src=\"https://t.example/o/").unwrap();
        assert!(pixel_at < out.find("</body>").unwrap());
        let src = &out[pixel_at + 10..];
        let open = claims_of(&src[..src.find('"').unwrap()], "https://t.example/o/");
        assert_eq!(open.kind, LinkKind::Open);
        assert_eq!(open.target, None);
    }

    #[test]
    fn without_a_body_the_pixel_goes_at_the_end() {
        let out = links()
            .track_html("<p>Hi <a href='https://x.example/'>x</a></p>", SUBJECT)
            .unwrap();
        assert!(
            out.starts_with("<p>Hi <a href=\"https://t.example/c/"),
            "{out}"
        );
        assert!(out.ends_with("style=\"display:block;border:0\">"), "{out}");
    }

    #[test]
    fn areas_quotes_and_look_alike_hosts() {
        let html = concat!(
            "<body><map><area href='https://shop.example/m' alt=x></map>",
            "<a href=https://t.example.evil/p>look-alike</a>",
            "<a href=\"https://t.example/u/x\">own</a></body>"
        );
        let out = links().track_html(html, SUBJECT).unwrap();
        let hrefs: Vec<&str> = out
            .split("href=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(hrefs.len(), 3, "{out}");
        let area = claims_of(hrefs[0], "https://t.example/c/");
        assert_eq!(area.target.as_deref(), Some("https://shop.example/m"));
        // A host that only starts like the service's is somebody else's.
        let alike = claims_of(hrefs[1], "https://t.example/c/");
        assert_eq!(alike.target.as_deref(), Some("https://t.example.evil/p"));
        assert_eq!(hrefs[2], "https://t.example/u/x");
    }

    #[test]
    fn html_the_rewriter_cannot_follow_is_an_error_not_a_panic() {
        // Found by fuzzing: lol_html 2.9 reaches an internal error on this
        // input (a `debug_assert!` in debug builds; an error in release,
        // after which the message goes out untracked).
        let html = String::from_utf8_lossy(include_bytes!("lol_html_internal_error.html"));
        assert!(links().track_html(&html, SUBJECT).is_err());
    }
}
