//! Broken input costs the broken record only: it gets status `error` with
//! its line (or record) number, and the run goes on.

use mailrules::outcome::Status;
use mailrules::profile_reader::ProfileFormat;
use mailrules_integration::rule;

use crate::harness::{evaluate_bytes, example_campaign};

#[test]
fn broken_lines_are_errors_with_line_numbers_and_the_run_goes_on() {
    let input = concat!(
        "{\"id\":\"a\",\"email\":\"a@example.com\",\"subscribed_at\":\"2026-11-20T00:00:00Z\",\"consent\":{\"email_marketing\":true}}\n",
        "{\"id\":\"b\",\"email\":\"b@example.com\",\"orders\":{\"last_order_at\":\"last tuesday\"}}\n",
        "\n",
        "{\"id\":\"c\",\"email\":\"c@example.com\"\n",
        "[1,2,3]\n",
        "{\"id\":\"d\",\"email\":\"no-at-sign\"}\n",
        "{\"id\":\"e\",\"email\":\"e@example.com\",\"orders\":{\"count\":-1}}\n",
        "{\"id\":\"f\",\"email\":\"f@example.com\",\"subscribed_at\":\"2026-11-20T00:00:00Z\",\"consent\":{\"email_marketing\":true}}\n",
    );
    let outcomes = evaluate_bytes(
        &rule("seed-segments"),
        example_campaign(),
        input.as_bytes().to_vec(),
        ProfileFormat::JsonLines,
        2,
    );
    let summary: Vec<(String, Status, Option<String>)> = outcomes
        .iter()
        .map(|o| (o.profile_id.clone(), o.status, o.input.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a".into(), Status::Ok, None),
            ("b".into(), Status::Error, Some("line 2".into())),
            ("".into(), Status::Error, Some("line 4".into())),
            ("".into(), Status::Error, Some("line 5".into())),
            ("d".into(), Status::Error, Some("line 6".into())),
            ("e".into(), Status::Error, Some("line 7".into())),
            ("f".into(), Status::Ok, None),
        ]
    );
    let reason = |i: usize| outcomes[i].reason.clone().unwrap_or_default();
    assert!(
        reason(1)
            .starts_with("line 2: orders.last_order_at: `last tuesday` is not an RFC 3339 time"),
        "{}",
        reason(1)
    );
    assert!(reason(4).contains("email"), "{}", reason(4));
    assert!(
        reason(5).starts_with("line 7: orders.count:"),
        "{}",
        reason(5)
    );
}

#[test]
fn a_truncated_messagepack_stream_keeps_what_came_before() {
    let mut input = Vec::new();
    for id in ["a", "b"] {
        let value = serde_json::json!({"id": id, "email": format!("{id}@example.com"), "subscribed_at": "2026-11-20T00:00:00Z", "consent": {"email_marketing": true}});
        input.extend(rmp_serde::to_vec_named(&value).unwrap());
    }
    input.truncate(input.len() - 4);
    let outcomes = evaluate_bytes(
        &rule("seed-segments"),
        example_campaign(),
        input,
        ProfileFormat::MessagePack,
        1,
    );
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].status, Status::Ok);
    assert_eq!(outcomes[1].status, Status::Error);
    assert!(outcomes[1].reason.as_deref().unwrap().contains("record 2"));
}
