//! The links in sent mail, answered without an API token (the link's
//! signature is its authority): `POST /u/{token}` unsubscribes in one
//! click (RFC 8058), `GET /u/{token}` shows a confirmation page with a
//! button that does the same, `GET /o/{token}` is the open pixel and
//! `GET /c/{token}` counts a click and redirects to the link's target. A
//! token that does not verify answers 404 and changes nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailrules::feedback::token::LinkKind;

use super::ApiState;
use crate::hosting::{Followed, HostingError, LinkAction};

/// A 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The body RFC 8058 has a one-click unsubscribe post.
const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Longest body of an unsubscribe post.
pub(super) const MAX_UNSUBSCRIBE_BODY: usize = 1024;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The token in a link's path. A path that holds none (not UTF-8 once
/// percent-decoded) is a link that is not valid, like any other.
pub struct LinkToken(String);

impl<S: Send + Sync> FromRequestParts<S> for LinkToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(token)| LinkToken(token))
            .map_err(|_| not_valid())
    }
}

/// The answer to a link that is not valid.
fn not_valid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "This link is not valid. If you copied it from an email, copy the whole link.",
        None,
    )
}

async fn follow(state: &ApiState, token: String, action: LinkAction) -> Result<Followed, Response> {
    let hosting = state.hosting.clone();
    match tokio::task::spawn_blocking(move || hosting.follow_link(&token, action, now())).await {
        Ok(Ok(followed)) => Ok(followed),
        Ok(Err(HostingError::NotFound { .. })) => Err(not_valid()),
        Ok(Err(error)) => {
            tracing::error!(%error, "following a link failed");
            Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "This did not work just now. Please try again in a minute.",
                None,
            ))
        }
        Err(error) => {
            tracing::error!(%error, "following a link panicked");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// A small HTML page; `form` adds the one-click button posting to it.
fn page(status: StatusCode, title: &str, text: &str, form: Option<()>) -> Response {
    // Without an action the form posts to the page's own URL, wherever the
    // service is mounted.
    let button = form.map_or(String::new(), |()| {
        r#"<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>"#.to_string()
    });
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>{title}</h1><p>{text}</p>{button}</body></html>\n",
        title = html_escape::encode_text(title),
        text = html_escape::encode_text(text),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// The confirmation page of an unsubscribe link (nothing changes until
/// its button is pressed: mail scanners follow links).
pub async fn view_unsubscribe(
    State(state): State<ApiState>,
    LinkToken(token): LinkToken,
) -> Response {
    match follow(&state, token, LinkAction::ViewUnsubscribe).await {
        Ok(_) => page(
            StatusCode::OK,
            "Unsubscribe",
            "Press the button to stop receiving these emails.",
            Some(()),
        ),
        Err(response) => response,
    }
}

/// One-click unsubscribe (RFC 8058): the body must be
/// `List-Unsubscribe=One-Click`.
pub async fn unsubscribe(
    State(state): State<ApiState>,
    LinkToken(token): LinkToken,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Not understood",
            "The request is too large.",
            None,
        );
    };
    let one_click = std::str::from_utf8(&body)
        .is_ok_and(|text| text.split('&').any(|pair| pair.trim() == ONE_CLICK))
        || is_multipart_one_click(&body);
    if !one_click {
        return page(
            StatusCode::BAD_REQUEST,
            "Not understood",
            "An unsubscribe needs the body List-Unsubscribe=One-Click.",
            None,
        );
    }
    match follow(&state, token, LinkAction::Unsubscribe).await {
        Ok(_) => page(
            StatusCode::OK,
            "You are unsubscribed",
            "You will not receive these emails any more.",
            None,
        ),
        Err(response) => response,
    }
}

/// A `multipart/form-data` body with the field `List-Unsubscribe` set to
/// `One-Click` (RFC 8058 allows either form encoding): a part whose
/// `Content-Disposition` has the parameter `name` (not `filename`, not a
/// longer name) `List-Unsubscribe`, and whose value is `One-Click` and
/// nothing more.
fn is_multipart_one_click(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    // Header names are case-insensitive; ASCII lower-casing keeps every
    // byte offset.
    let lower = text.to_ascii_lowercase();
    lower.match_indices("content-disposition:").any(|(at, _)| {
        let Some((headers, rest)) = text[at..].split_once("\r\n\r\n") else {
            return false;
        };
        let disposition = headers.lines().next().unwrap_or_default();
        let named = disposition.split(';').skip(1).any(|parameter| {
            parameter.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("name")
                    && value.trim().trim_matches('"') == "List-Unsubscribe"
            })
        });
        let value = rest.split("\r\n").next().unwrap_or_default();
        named && value.trim() == "One-Click"
    })
}

/// The open pixel (`HEAD` checks the link and records nothing).
pub async fn open(
    State(state): State<ApiState>,
    method: Method,
    LinkToken(token): LinkToken,
) -> Response {
    let action = match method {
        Method::HEAD => LinkAction::Check(LinkKind::Open),
        _ => LinkAction::Open,
    };
    match follow(&state, token, action).await {
        Ok(_) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "image/gif"),
                (header::CACHE_CONTROL, "no-store, max-age=0"),
            ],
            PIXEL,
        )
            .into_response(),
        Err(response) => response,
    }
}

/// A click: counted, then redirected (302) to the link's target (`HEAD`
/// answers the same and records nothing).
pub async fn click(
    State(state): State<ApiState>,
    method: Method,
    LinkToken(token): LinkToken,
) -> Response {
    let action = match method {
        Method::HEAD => LinkAction::Check(LinkKind::Click),
        _ => LinkAction::Click,
    };
    match follow(&state, token, action).await {
        Ok(Followed::Clicked { target }) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, ascii_url(&target).as_str()),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
        )
            .into_response(),
        Ok(_) => StatusCode::NOT_FOUND.into_response(),
        Err(response) => response,
    }
}

/// `url` with every byte outside visible ASCII percent-encoded, as a
/// `Location` header needs.
fn ascii_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_is_visible_ascii() {
        assert_eq!(
            ascii_url("https://x.example/süß?q=a b"),
            "https://x.example/s%C3%BC%C3%9F?q=a%20b"
        );
    }

    #[test]
    fn both_form_encodings_of_one_click_are_understood() {
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        assert!(is_multipart_one_click(multipart.as_bytes()));
        assert!(is_multipart_one_click(
            multipart
                .replace("Content-Disposition", "content-disposition")
                .as_bytes()
        ));
        for (from, to) in [
            ("One-Click", "Nope"),
            ("One-Click", "One-Click-No"),
            ("One-Click", "One-Clicked"),
            ("name=", "filename="),
            ("\"List-Unsubscribe\"", "\"List-Unsubscribe-Later\""),
        ] {
            let near_miss = multipart.replace(from, to);
            assert!(!is_multipart_one_click(near_miss.as_bytes()), "{near_miss}");
        }
    }
}
