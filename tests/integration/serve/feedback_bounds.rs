//! Hostile input to the feedback routes of the real service: tenants'
//! KPIs, suppressions, campaign lists and last diffs reach only their own
//! tenant; a link of one tenant (spliced, re-signed, of another kind)
//! records nothing for another; oversized, malformed and misdirected
//! requests on the public link routes change nothing; a click goes only
//! where its signed target says; the tenant page serves no tenant data
//! and locks itself down; a bad `--public-url` stops `mailrules serve`;
//! and a burst of opens counts every one exactly once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use mailrules::feedback::token::{FeedbackKey, LinkClaims, LinkKind};
use mailrules_integration::mailrules_bin;
use serde_json::{Value, json};

use super::{OPERATOR, Server, send_and_wait, unix_now};

const PUBLIC: &str = "https://links.example.test";
const CAMPAIGN: &str = "bounds";
/// A web link of the campaign's HTML.
const SHOP: &str = "https://shop.example/picks?x=1";
/// A web link with non-ASCII characters, and how a `Location` has it.
const SWEET: &str = "https://shop.example/süß";
const SWEET_LOCATION: &str = "https://shop.example/s%C3%BC%C3%9F";
const ONE_CLICK: &[u8] = b"List-Unsubscribe=One-Click";
/// The open pixel: a 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];
/// The service's limit on an unsubscribe post's body.
const MAX_UNSUBSCRIBE_BODY: usize = 1024;
/// `page.rs`'s Content-Security-Policy.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The example campaign as [`CAMPAIGN`], sent now, with [`SHOP`] and
/// [`SWEET`] in its HTML.
fn campaign(now: i64) -> String {
    let at = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = super::example_campaign()
        .replace(
            r#"id = "autumn-picks-2026""#,
            &format!(r#"id = "{CAMPAIGN}""#),
        )
        .replace(
            r#"now = "2026-11-24T09:00:00Z""#,
            &format!(r#"now = "{at}""#),
        )
        .replace(
            "{{ blocks.recommendations }}\n<p style",
            &format!(
                "{{{{ blocks.recommendations }}}}\n<p><a href=\"{SHOP}\">Picks</a> <a href=\"{SWEET}\">Sweets</a></p>\n<p style"
            ),
        );
    assert!(text.contains(SWEET), "the layout changed");
    text
}

/// A delivered message as its recipient's mailbox has it.
#[derive(Debug, Clone)]
struct Mail {
    customer: String,
    message_id: String,
    unsubscribe: String,
    pixel: String,
    /// The redirects of [`SHOP`] and [`SWEET`], in that order.
    clicks: Vec<String>,
}

/// A tenant with the reference rules, [`CAMPAIGN`] sent to a few
/// customers who all agreed to tracking, and their mail.
struct Sent {
    tenant: String,
    token: String,
    mails: Vec<Mail>,
    /// The profiles sent to, as JSON Lines.
    profiles: Vec<u8>,
}

fn sent_tenant(server: &Server, data: &Path, tenant: &str, seed: u64) -> Sent {
    sent_tenant_with(server, data, tenant, seed, &[])
}

/// [`sent_tenant`], with the first customers' ids replaced by `ids`.
fn sent_tenant_with(server: &Server, data: &Path, tenant: &str, seed: u64, ids: &[&str]) -> Sent {
    let token = server.create_tenant(tenant);
    let component = mailrules_integration::rule("seed-segments");
    let uploaded = server.upload(tenant, &token, "v1", &component);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    assert_eq!(server.activate(tenant, &token, "v1").status, 200);
    let now = unix_now() - 60;
    let put = server.put_campaign(tenant, &token, CAMPAIGN, &campaign(now));
    assert_eq!(put.status, 200, "{}", put.text());
    let mut profiles = mailrules_integration::generator::profiles(12, seed, now);
    let mut id_of = std::collections::BTreeMap::new();
    for (i, profile) in profiles.iter_mut().enumerate() {
        let id = ids
            .get(i)
            .map_or_else(|| format!("{tenant}-c{i:02}"), |id| id.to_string());
        let email = format!("{tenant}-c{i:02}@example.com");
        id_of.insert(email.clone(), id.clone());
        profile["id"] = id.into();
        profile["email"] = email.into();
        profile["consent"] = json!({"email_marketing": true, "tracking": true});
    }
    let body: Vec<u8> = profiles
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let send = send_and_wait(server, tenant, &token, CAMPAIGN, &body);
    let mails = read_mails(&data.join(format!("tenants/{tenant}/maildir/new")), &id_of);
    assert_eq!(
        send["report"]["fates"]["delivered"].as_u64().unwrap(),
        mails.len() as u64
    );
    assert!(mails.len() >= 3, "{send}");
    Sent {
        tenant: tenant.to_string(),
        token,
        mails,
        profiles: body,
    }
}

/// The messages in `dir`, with their customer ids from `id_of` (by
/// address).
fn read_mails(dir: &Path, id_of: &std::collections::BTreeMap<String, String>) -> Vec<Mail> {
    let mut mails: Vec<Mail> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            let to = message.to().unwrap().first().unwrap().address().unwrap();
            let customer = id_of[to].clone();
            let unsubscribe = super::one_click_url(&message);
            let html = message.body_html(0).unwrap().replace("&#x2f;", "/");
            let attribute = |rest: &str| rest[..rest.find('"').unwrap()].to_string();
            let pixel = attribute(html.split("<img src=\"").nth(1).expect("a pixel"));
            let clicks: Vec<String> = html
                .split("href=\"")
                .skip(1)
                .map(attribute)
                .filter(|href| href.starts_with(&format!("{PUBLIC}/c/")))
                .collect();
            assert_eq!(clicks.len(), 2, "{html}");
            Mail {
                customer,
                message_id: message.message_id().unwrap().to_string(),
                unsubscribe,
                pixel,
                clicks,
            }
        })
        .collect();
    mails.sort_by(|a, b| a.customer.cmp(&b.customer));
    mails
}

/// The token of a link.
fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// The payload and MAC of a link's token.
fn halves(url: &str) -> (&str, &str) {
    token_of(url).split_once('.').unwrap()
}

/// The tenant's link key, as the service keeps it.
fn key_of(data: &Path, tenant: &str) -> FeedbackKey {
    let db = rusqlite::Connection::open_with_flags(
        data.join("mailrules.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let bytes: Vec<u8> = db
        .query_row(
            "SELECT key FROM feedback_keys WHERE tenant = ?1",
            [tenant],
            |row| row.get(0),
        )
        .unwrap();
    FeedbackKey::from_slice(&bytes).expect("a 32-byte key")
}

/// The claims of `mail`'s link of `kind`, as the service signed them.
fn claims(sent: &Sent, mail: &Mail, kind: LinkKind, target: Option<&str>) -> LinkClaims {
    LinkClaims {
        kind,
        tenant: sent.tenant.clone(),
        customer: mail.customer.clone(),
        campaign: CAMPAIGN.to_string(),
        message_id: format!("<{}>", mail.message_id),
        target: target.map(str::to_string),
    }
}

/// An answer on a link route.
#[derive(Debug)]
struct Reply {
    status: u16,
    location: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request as a mail client or a hostile caller makes it: no API
/// token unless given, redirects not followed. `url` may be a link of a
/// message (under [`PUBLIC`]) or a path.
fn request(
    server: &Server,
    method: &str,
    url: &str,
    bearer: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Reply {
    let url = if url.starts_with(PUBLIC) {
        url.replacen(PUBLIC, &server.base, 1)
    } else {
        format!("{}{url}", server.base)
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let result = match (method, body) {
        ("GET", None) => {
            let mut r = agent.get(&url);
            if let Some(auth) = &auth {
                r = r.header("Authorization", auth);
            }
            r.call()
        }
        ("DELETE", None) => agent.delete(&url).call(),
        (method, body) => {
            let r = match method {
                "POST" => agent.post(&url),
                "PUT" => agent.put(&url),
                other => panic!("no such request in these tests: {other}"),
            };
            match body {
                Some((content_type, bytes)) => r.content_type(content_type).send(bytes),
                None => r.send_empty(),
            }
        }
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    let body = response.body_mut().read_to_vec().unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        location: response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string()),
        headers,
        body,
    }
}

/// Bytes written to the server as they are, on a connection of their
/// own; the status of its answer (0: the connection closed without one).
fn raw(server: &Server, bytes: &[u8]) -> u16 {
    let address = server.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// A `GET` of a path written as raw bytes.
fn raw_get(server: &Server, path: &[u8]) -> u16 {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw(server, &request)
}

/// A `POST` of `body` to a path, `chunked` or with a Content-Length.
fn raw_post(server: &Server, path: &str, body: &[u8], chunked: bool) -> u16 {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    )
    .into_bytes();
    if chunked {
        request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in body.chunks(100) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
    }
    raw(server, &request)
}

/// The tenant's KPIs of [`CAMPAIGN`] in total.
fn totals(server: &Server, sent: &Sent) -> Value {
    let answer = server.call(
        "GET",
        &format!("/v1/tenants/{}/campaigns/{CAMPAIGN}/kpis", sent.tenant),
        Some(&sent.token),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["total"].clone()
}

/// (unique opens, total opens, unique clicks, total clicks, unsubscribes).
fn counts(total: &Value) -> [u64; 5] {
    [
        "unique_opens",
        "total_opens",
        "unique_clicks",
        "total_clicks",
        "unsubscribes",
    ]
    .map(|k| {
        total[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {total}"))
    })
}

/// The customers on the tenant's suppression list.
fn suppressed(server: &Server, sent: &Sent) -> Vec<String> {
    let answer = server.call(
        "GET",
        &format!("/v1/tenants/{}/suppressions", sent.tenant),
        Some(&sent.token),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["customer"].as_str().unwrap().to_string())
        .collect()
}

/// A multipart/form-data body with one field.
fn multipart(disposition: &str, value: &str) -> Vec<u8> {
    format!("--XyZ\r\n{disposition}\r\n\r\n{value}\r\n--XyZ--\r\n").into_bytes()
}

const MULTIPART: &str = "multipart/form-data; boundary=XyZ";
const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn tenant_routes_admit_only_their_tenant_and_no_link_of_one_tenant_counts_for_another() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--tick-interval-secs", "0", "--public-url", PUBLIC],
    );
    let a = sent_tenant(&server, data.path(), "acme", 7);
    let b = sent_tenant(&server, data.path(), "bolt", 8);

    // Each route: the owner gets in; nobody else does, whatever they send.
    let unknown_campaign = "/v1/tenants/acme/campaigns/nope/kpis";
    for (path, owner_status) in [
        ("/v1/tenants/acme/campaigns", 200),
        (&*format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/kpis"), 200),
        ("/v1/tenants/acme/suppressions", 200),
        ("/v1/tenants/acme/diffs/last", 404),
        (unknown_campaign, 404),
    ] {
        for (who, bearer, status, code) in [
            ("nobody", None, 401, "unauthorized"),
            ("a made-up token", Some("not-a-token"), 401, "unauthorized"),
            ("tenant B", Some(b.token.as_str()), 403, "forbidden"),
            ("the operator", Some(OPERATOR), 403, "forbidden"),
            (
                "tenant A",
                Some(a.token.as_str()),
                owner_status,
                "not-found",
            ),
        ] {
            let answer = server.call("GET", path, bearer, None);
            assert_eq!(answer.status, status, "{who} on {path}: {}", answer.text());
            if status != 200 {
                assert_eq!(answer.error_code(), code, "{who} on {path}");
                assert_eq!(answer.content_type, "application/json");
            }
        }
    }
    let listed = server.call("GET", "/v1/tenants/acme/campaigns", Some(&a.token), None);
    assert_eq!(listed.json(), json!([CAMPAIGN]));
    // A tenant that does not exist is not told apart from another's.
    let ghost = server.call(
        "GET",
        "/v1/tenants/ghost/suppressions",
        Some(&a.token),
        None,
    );
    assert_eq!(
        (ghost.status, ghost.error_code()),
        (403, "forbidden".into())
    );

    // The claims as the test reads them are the ones the service signed.
    let key_a = key_of(data.path(), "acme");
    let key_b = key_of(data.path(), "bolt");
    let (ma, mb) = (&a.mails[0], &b.mails[0]);
    assert_eq!(
        claims(&a, ma, LinkKind::Click, Some(SHOP)).sign(&key_a),
        token_of(&ma.clicks[0])
    );
    assert_eq!(
        claims(&b, mb, LinkKind::Open, None).sign(&key_b),
        token_of(&mb.pixel)
    );

    // Splices, re-signings and renamings between the two tenants.
    let spliced = |one: &str, other: &str| format!("{}.{}", halves(one).0, halves(other).1);
    let zero = FeedbackKey::from_bytes([0; 32]);
    let mut forged: Vec<(&str, String)> = Vec::new();
    for (kind, path, target) in [
        (LinkKind::Open, "o", None),
        (LinkKind::Click, "c", Some(SHOP)),
        (LinkKind::Unsubscribe, "u", None),
    ] {
        let link = |mail: &Mail| match kind {
            LinkKind::Open => mail.pixel.clone(),
            LinkKind::Click => mail.clicks[0].clone(),
            LinkKind::Unsubscribe => mail.unsubscribe.clone(),
        };
        // B's payload with A's MAC, and A's with B's.
        forged.push((path, spliced(&link(mb), &link(ma))));
        forged.push((path, spliced(&link(ma), &link(mb))));
        // B's claims signed with A's key, and A's with B's.
        forged.push((path, claims(&b, mb, kind, target).sign(&key_a)));
        forged.push((path, claims(&a, ma, kind, target).sign(&key_b)));
        // A's message renamed to B, with A's MAC or A's key; and to a
        // tenant that does not exist.
        let mut to_b = claims(&a, ma, kind, target);
        to_b.tenant = "bolt".into();
        forged.push((
            path,
            format!("{}.{}", halves(&to_b.sign(&zero)).0, halves(&link(ma)).1),
        ));
        forged.push((path, to_b.sign(&key_a)));
        let mut ghost = claims(&a, ma, kind, target);
        ghost.tenant = "ghost".into();
        forged.push((path, ghost.sign(&key_a)));
        // B's customer in A's message, signed with a made-up key.
        let mut theirs = claims(&a, ma, kind, target);
        theirs.customer = mb.customer.clone();
        forged.push((path, theirs.sign(&zero)));
    }
    assert_eq!(forged.len(), 24);
    for (path, token) in &forged {
        let url = format!("/{path}/{token}");
        let reply = if *path == "u" {
            let view = request(&server, "GET", &url, None, None);
            assert_eq!(view.status, 404, "GET {url}");
            request(&server, "POST", &url, None, Some((FORM, ONE_CLICK)))
        } else {
            request(&server, "GET", &url, None, None)
        };
        assert_eq!(
            (reply.status, reply.location.as_deref()),
            (404, None),
            "{url}"
        );
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(String::from_utf8_lossy(&reply.body).contains("This link is not valid"));
    }

    // A's real links count for A, once each.
    assert_eq!(request(&server, "GET", &ma.pixel, None, None).status, 200);
    let click = request(&server, "GET", &ma.clicks[0], None, None);
    assert_eq!((click.status, click.location.as_deref()), (302, Some(SHOP)));
    let unsubscribe = request(
        &server,
        "POST",
        &ma.unsubscribe,
        None,
        Some((FORM, ONE_CLICK)),
    );
    assert_eq!(unsubscribe.status, 200);

    // B saw nothing of any of it; A exactly its own.
    assert_eq!(counts(&totals(&server, &b)), [0, 0, 0, 0, 0]);
    assert_eq!(suppressed(&server, &b), Vec::<String>::new());
    assert_eq!(counts(&totals(&server, &a)), [1, 1, 1, 1, 1]);
    assert_eq!(suppressed(&server, &a), vec![ma.customer.clone()]);
}

#[test]
fn public_link_routes_refuse_oversized_malformed_and_misdirected_requests() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--tick-interval-secs", "0", "--public-url", PUBLIC],
    );
    let sent = sent_tenant(&server, data.path(), "acme", 11);
    let key = key_of(data.path(), "acme");
    let (m0, m1, m2) = (&sent.mails[0], &sent.mails[1], &sent.mails[2]);
    let nothing = [0, 0, 0, 0, 0];

    // A 100 KB token is over what a request target may be (414, from the
    // HTTP layer); one just under that, and one just over the token limit,
    // are tokens that do not verify.
    let huge = "A".repeat(100 << 10);
    for path in ["o", "c", "u"] {
        assert_eq!(raw_get(&server, format!("/{path}/{huge}").as_bytes()), 414);
        assert_eq!(
            raw_post(&server, &format!("/{path}/{huge}"), ONE_CLICK, false),
            414
        );
        for length in [60_000, 4097] {
            let long = format!("/{path}/{}", "A".repeat(length));
            assert_eq!(raw_get(&server, long.as_bytes()), 404, "{length}");
        }
    }
    // A real token with 100 KB more is still refused.
    assert_eq!(
        raw_get(
            &server,
            format!("/o/{}{huge}", token_of(&m0.pixel)).as_bytes()
        ),
        414
    );

    // Non-UTF-8 in the token, percent-encoded or raw.
    for path in ["o", "c", "u"] {
        let encoded = format!("/{path}/%FF%FE.%C0%AF");
        assert_eq!(request(&server, "GET", &encoded, None, None).status, 404);
        let mut bytes = format!("/{path}/").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe.\xc0\xaf");
        assert_eq!(raw_get(&server, &bytes), 400, "{path}");
    }
    // A real token's payload with a byte changed to a non-ASCII one.
    let (payload, mac) = halves(&m0.pixel);
    let bent = format!("/o/{}%C3%A9{}.{mac}", &payload[..5], &payload[6..]);
    assert_eq!(request(&server, "GET", &bent, None, None).status, 404);

    // Unsubscribe bodies: over the limit (with a length or chunked) →
    // 413; at the limit, the one-click pair still counts.
    let unsubscribe_path = format!("/u/{}", token_of(&m0.unsubscribe));
    let padded = |length: usize| {
        let mut body = ONE_CLICK.to_vec();
        body.push(b'&');
        body.resize(length, b'x');
        body
    };
    let over = padded(MAX_UNSUBSCRIBE_BODY + 1);
    assert_eq!(raw_post(&server, &unsubscribe_path, &over, false), 413);
    assert_eq!(raw_post(&server, &unsubscribe_path, &over, true), 413);
    assert_eq!(
        raw_post(&server, &unsubscribe_path, &padded(100 << 10), true),
        413
    );
    let too_large = request(&server, "POST", &m0.unsubscribe, None, Some((FORM, &over)));
    assert_eq!(too_large.status, 413);
    assert!(String::from_utf8_lossy(&too_large.body).contains("too large"));
    assert_eq!(suppressed(&server, &sent), Vec::<String>::new());

    // Near misses of `List-Unsubscribe=One-Click` → 400, nothing recorded.
    let near_misses: Vec<(&str, Vec<u8>)> = vec![
        (FORM, b"".to_vec()),
        (FORM, b"List-Unsubscribe=one-click".to_vec()),
        (FORM, b"list-unsubscribe=One-Click".to_vec()),
        (FORM, b"List-Unsubscribe=One-Click-No".to_vec()),
        (FORM, b"List-Unsubscribe=One-Clicks&x=1".to_vec()),
        (FORM, b"List-Unsubscribe=One-Click\xff".to_vec()),
        (FORM, b"\xff\xfeList-Unsubscribe=One-Click".to_vec()),
        (FORM, b"\xc0\xaf".to_vec()),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"",
                "One-Click-No",
            ),
        ),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"",
                "One-Clicked",
            ),
        ),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"",
                "one-click",
            ),
        ),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"file\"; filename=\"List-Unsubscribe\"",
                "One-Click",
            ),
        ),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe-Later\"",
                "One-Click",
            ),
        ),
        (
            MULTIPART,
            multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"",
                "One-Click\u{0}\u{ff}",
            ),
        ),
    ];
    for (content_type, body) in &near_misses {
        let reply = request(
            &server,
            "POST",
            &m1.unsubscribe,
            None,
            Some((content_type, body)),
        );
        assert_eq!(reply.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(String::from_utf8_lossy(&reply.body).contains("List-Unsubscribe=One-Click"));
    }
    assert_eq!(suppressed(&server, &sent), Vec::<String>::new());

    // Methods the routes do not have → 405, nothing recorded.
    for (method, url) in [
        ("PUT", "/u/x".to_string()),
        ("PUT", m1.unsubscribe.clone()),
        ("DELETE", m1.unsubscribe.clone()),
        ("POST", "/o/x".to_string()),
        ("POST", m0.pixel.clone()),
        ("PUT", m0.pixel.clone()),
        ("POST", m0.clicks[0].clone()),
        ("DELETE", m0.clicks[0].clone()),
    ] {
        let body = (method != "DELETE").then_some((FORM, ONE_CLICK));
        let reply = request(&server, method, &url, None, body);
        assert_eq!(reply.status, 405, "{method} {url}");
        assert_eq!(reply.location, None);
    }
    assert_eq!(counts(&totals(&server, &sent)), nothing);
    assert_eq!(suppressed(&server, &sent), Vec::<String>::new());

    // Links of one kind on another's route → 404 without a Location.
    for (method, url) in [
        ("GET", format!("/c/{}", token_of(&m0.pixel))),
        ("GET", format!("/c/{}", token_of(&m0.unsubscribe))),
        ("GET", format!("/o/{}", token_of(&m0.clicks[0]))),
        ("GET", format!("/o/{}", token_of(&m0.unsubscribe))),
        ("GET", format!("/u/{}", token_of(&m0.clicks[0]))),
        ("GET", format!("/u/{}", token_of(&m0.pixel))),
        ("POST", format!("/u/{}", token_of(&m0.clicks[1]))),
        ("POST", format!("/u/{}", token_of(&m0.pixel))),
    ] {
        let body = (method == "POST").then_some((FORM, ONE_CLICK));
        let reply = request(&server, method, &url, None, body);
        assert_eq!(
            (reply.status, reply.location),
            (404, None),
            "{method} {url}"
        );
    }
    // Signed with the tenant's own key, but wrong: a click without a
    // target, an open or unsubscribe with one.
    let no_target = claims(&sent, m2, LinkKind::Click, None).sign(&key);
    let reply = request(&server, "GET", &format!("/c/{no_target}"), None, None);
    assert_eq!((reply.status, reply.location), (404, None));
    assert_eq!(counts(&totals(&server, &sent)), nothing);
    assert_eq!(suppressed(&server, &sent), Vec::<String>::new());

    // Clicks go exactly to their signed target, percent-encoded as a
    // Location must be; control characters cannot make headers.
    let shop = request(&server, "GET", &m0.clicks[0], None, None);
    assert_eq!((shop.status, shop.location.as_deref()), (302, Some(SHOP)));
    assert_eq!(shop.header("cache-control"), Some("no-store"));
    assert_eq!(shop.header("referrer-policy"), Some("no-referrer"));
    let sweet = request(&server, "GET", &m0.clicks[1], None, None);
    assert_eq!(
        (sweet.status, sweet.location.as_deref()),
        (302, Some(SWEET_LOCATION))
    );
    let crafted = claims(
        &sent,
        m2,
        LinkKind::Click,
        Some("https://shop.example/a\r\nSet-Cookie: stolen=1\r\n\r\n<b>"),
    )
    .sign(&key);
    let injected = request(&server, "GET", &format!("/c/{crafted}"), None, None);
    assert_eq!(
        (injected.status, injected.location.as_deref()),
        (
            302,
            Some("https://shop.example/a%0D%0ASet-Cookie:%20stolen=1%0D%0A%0D%0A<b>")
        )
    );
    assert_eq!(injected.header("set-cookie"), None);
    assert!(injected.body.is_empty());

    // One multipart one-click, and one at exactly the body limit.
    let reply = request(
        &server,
        "POST",
        &m1.unsubscribe,
        None,
        Some((
            MULTIPART,
            &multipart(
                "Content-Disposition: form-data; name=\"List-Unsubscribe\"",
                "One-Click",
            ),
        )),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let at_limit = padded(MAX_UNSUBSCRIBE_BODY);
    assert_eq!(raw_post(&server, &unsubscribe_path, &at_limit, true), 200);

    let mut unsubscribed = vec![m0.customer.clone(), m1.customer.clone()];
    unsubscribed.sort();
    let mut listed = suppressed(&server, &sent);
    listed.sort();
    assert_eq!(listed, unsubscribed);
    // Two clicks of one message (a click is an open too, but no pixel was
    // loaded); the crafted target's click was followed but not recorded,
    // as no event may hold a control character.
    assert_eq!(counts(&totals(&server, &sent)), [1, 0, 1, 2, 2]);
}

#[test]
fn the_tenant_page_serves_no_tenant_data_and_locks_itself_down() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    let tenant = "page-tenant-x7";
    let token = server.create_tenant(tenant);
    let mut index = None;
    for (path, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/charts.js", "text/javascript; charset=utf-8"),
        ("/ui/page.css", "text/css; charset=utf-8"),
    ] {
        let anonymous = request(&server, "GET", path, None, None);
        let with_token = request(&server, "GET", path, Some(&token), None);
        for reply in [&anonymous, &with_token] {
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
            assert_eq!(
                reply.header("content-security-policy"),
                Some(POLICY),
                "{path}"
            );
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
            assert_eq!(reply.header("set-cookie"), None);
            let text = String::from_utf8(reply.body.clone()).unwrap();
            assert!(!text.contains(tenant), "{path} names the tenant");
            assert!(!text.contains(&token), "{path} has the token");
        }
        // The same bytes whoever asks: the page has nothing of its own.
        assert_eq!(anonymous.body, with_token.body, "{path}");
        if path == "/ui/" {
            index = Some(String::from_utf8(anonymous.body).unwrap());
        }
    }
    let index = index.unwrap();
    assert!(index.contains("app.js"), "{index}");
    // No inline script or style the policy would have to allow.
    assert!(!index.contains("<script>"), "{index}");
    assert!(!index.contains("style=\""), "{index}");
    assert_eq!(request(&server, "POST", "/ui/", None, None).status, 405);
    let missing = server.call("GET", "/ui/secrets.json", None, None);
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "not-found".into())
    );
}

#[test]
fn a_public_url_that_is_not_a_web_url_stops_serve_with_status_2_naming_it() {
    for (value, shown) in [
        ("ftp://mail.example.com", "ftp://mail.example.com"),
        ("mail.example.com", "mail.example.com"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("", ""),
        ("https://", "https://"),
        ("http:///path", "http:///path"),
        (
            "https://mail.example.com/?x=1",
            "https://mail.example.com/?x=1",
        ),
        (
            "https://mail.example.com/#top",
            "https://mail.example.com/#top",
        ),
        ("https://mail example.com", "https://mail example.com"),
        ("https://exämple.com", "https://exämple.com"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(mailrules_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(["--public-url", value])
            .env("MAILRULES_OPERATOR_TOKEN", OPERATOR)
            .env("MAILRULES_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mailrules serve starts");
        // A service that started anyway would never exit: stop it after a
        // minute rather than hang.
        let mut waited = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if waited == 600 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`--public-url {value}` started the service");
            }
            waited += 1;
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(2), "{value:?}: {stderr}");
        assert_eq!(stdout, "", "{value:?}");
        assert!(
            stderr.starts_with(&format!("mailrules: public URL `{shown}` ")),
            "{value:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        // Refused before the data directory was touched.
        assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_burst_of_open_pixels_answers_every_hit_and_stores_at_most_one_open_a_minute() {
    const THREADS: usize = 4;
    const EACH: usize = 500;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--tick-interval-secs", "0", "--public-url", PUBLIC],
    );
    let sent = sent_tenant(&server, data.path(), "acme", 13);
    let pixel = sent.mails[0].pixel.replacen(PUBLIC, &server.base, 1);
    let answered: Vec<usize> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let pixel = &pixel;
                scope.spawn(move || {
                    // One keep-alive connection per thread, as a client has.
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut answered = 0;
                    for _ in 0..EACH {
                        let mut response = agent.get(pixel).call().expect("an answer");
                        assert_eq!(response.status().as_u16(), 200);
                        assert_eq!(response.headers().get("content-type").unwrap(), "image/gif");
                        assert_eq!(response.body_mut().read_to_vec().unwrap(), PIXEL);
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(answered, vec![EACH; THREADS]);
    // A HEAD checks the link and records nothing.
    let head: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    assert_eq!(head.head(&pixel).call().unwrap().status().as_u16(), 200);
    // One message opened; the 2,000 hits stored as at most one event a
    // minute (the burst may straddle a minute boundary).
    let total = totals(&server, &sent);
    let [unique, total_opens, clicks, total_clicks, unsubscribes] = counts(&total);
    assert_eq!(
        (unique, clicks, total_clicks, unsubscribes),
        (1, 0, 0, 0),
        "{total}"
    );
    assert!((1..=2).contains(&total_opens), "{total}");
    let stored = rusqlite::Connection::open(data.path().join("mailrules.sqlite3"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM customer_events WHERE type = 'email_opened'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap();
    assert_eq!(stored as u64, total_opens);
    // The other messages were not opened.
    assert_eq!(total["delivered"].as_u64(), Some(sent.mails.len() as u64));
}

#[test]
fn recipients_whose_ids_no_event_may_carry_still_unsubscribe_and_the_kpis_stay_readable() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--tick-interval-secs", "0", "--public-url", PUBLIC],
    );
    // A profile id may be longer than an event's customer id may be, or
    // hold a control character.
    let long = "x".repeat(129);
    let bell = "c\u{7}bell";
    let sent = sent_tenant_with(&server, data.path(), "acme", 17, &[&long, bell]);
    let odd: Vec<&Mail> = sent
        .mails
        .iter()
        .filter(|m| m.customer == long || m.customer == bell)
        .collect();
    assert_eq!(odd.len(), 2, "{:?}", sent.mails);
    for mail in &odd {
        assert_eq!(request(&server, "GET", &mail.pixel, None, None).status, 200);
        let click = request(&server, "GET", &mail.clicks[0], None, None);
        assert_eq!((click.status, click.location.as_deref()), (302, Some(SHOP)));
        let unsubscribe = request(
            &server,
            "POST",
            &mail.unsubscribe,
            None,
            Some((FORM, ONE_CLICK)),
        );
        assert_eq!(unsubscribe.status, 200);
    }
    let plain = sent
        .mails
        .iter()
        .find(|m| m.customer.starts_with("acme-c"))
        .unwrap();
    assert_eq!(
        request(&server, "GET", &plain.pixel, None, None).status,
        200
    );

    // Both are suppressed; the KPIs and the tenant's tick still work.
    let mut listed = suppressed(&server, &sent);
    listed.sort();
    assert_eq!(listed, vec![bell.to_string(), long.clone()]);
    let kpis = server.call(
        "GET",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/kpis"),
        Some(&sent.token),
        None,
    );
    assert_eq!(kpis.status, 200, "{}", kpis.text());
    // Only the plain customer's open counts: the others' events could not
    // be stored.
    assert_eq!(counts(&kpis.json()["total"]), [1, 1, 0, 0, 0]);
    let tick = server.call("POST", "/v1/tick", Some(OPERATOR), None);
    assert_eq!(tick.status, 200, "{}", tick.text());

    // The next send passes both by.
    let next = campaign(unix_now() - 60)
        .replace(&format!(r#"id = "{CAMPAIGN}""#), r#"id = "bounds-next""#);
    let put = server.put_campaign("acme", &sent.token, "bounds-next", &next);
    assert_eq!(put.status, 200, "{}", put.text());
    let next = send_and_wait(&server, "acme", &sent.token, "bounds-next", &sent.profiles);
    assert_eq!(
        next["report"]["reasons"]["suppressed: unsubscribed"].as_u64(),
        Some(2),
        "{next}"
    );
    assert_eq!(
        next["report"]["fates"]["delivered"].as_u64(),
        Some(sent.mails.len() as u64 - 2),
        "{next}"
    );
}
