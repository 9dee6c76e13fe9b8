//! The filters campaign templates may use, each refusing to make a value
//! larger than [`MAX_FILTER_BYTES`] before it allocates it: a filter either
//! returns one of its arguments (`default`, `first`, `min`, …), a number or
//! a boolean, or works out the size of its result first (`replace`, `join`,
//! `escape`, `urlencode`, `safe`, `string`) or stops building it at the cap
//! (`upper`, `lower`, `title`, `capitalize`, `trim`).

use minijinja::value::{Rest, StringInput};
use minijinja::{Environment, Error, ErrorKind, State, Value, filters};

use super::template_rules::FILTERS;

/// Most bytes a filter may produce or turn into a string.
pub const MAX_FILTER_BYTES: usize = 2 << 20;

/// The error source that marks a filter refusing a result over
/// [`MAX_FILTER_BYTES`]: a bound of the recipient's data, not an error of
/// the template.
#[derive(Debug, thiserror::Error)]
#[error("a filter's result would exceed {MAX_FILTER_BYTES} bytes")]
pub struct FilterTooLarge;

fn too_large(filter: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("the result of `{filter}` would exceed {MAX_FILTER_BYTES} bytes"),
    )
    .with_source(FilterTooLarge)
}

/// Counts what a value prints as, stopping past a limit.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes = self.bytes.saturating_add(s.len());
        if self.bytes > self.limit {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// The bytes `value` prints as, or `None` when that is more than `limit`.
/// Counts without building the text.
pub fn printed_len(value: &Value, limit: usize) -> Option<usize> {
    if let Some(s) = value.as_str() {
        return (s.len() <= limit).then_some(s.len());
    }
    let mut counter = Counter { bytes: 0, limit };
    std::fmt::write(&mut counter, format_args!("{value}")).ok()?;
    Some(counter.bytes)
}

/// `value` as a string of at most [`MAX_FILTER_BYTES`].
fn bounded_input<'a>(
    state: &State,
    value: &'a Value,
    filter: &str,
) -> Result<StringInput<'a>, Error> {
    if printed_len(value, MAX_FILTER_BYTES).is_none() {
        return Err(too_large(filter));
    }
    StringInput::new(state, value)
}

fn keep_safety(input: &StringInput<'_>, output: String) -> Value {
    if input.is_safe() {
        Value::from_safe_string(output)
    } else {
        Value::from(output)
    }
}

/// Appends `chars` to `out`, failing past [`MAX_FILTER_BYTES`].
fn push_all(
    out: &mut String,
    chars: impl Iterator<Item = char>,
    filter: &str,
) -> Result<(), Error> {
    for c in chars {
        out.push(c);
        if out.len() > MAX_FILTER_BYTES {
            return Err(too_large(filter));
        }
    }
    Ok(())
}

fn upper(state: &State, value: &Value) -> Result<Value, Error> {
    let input = bounded_input(state, value, "upper")?;
    let mut out = String::new();
    push_all(
        &mut out,
        input.as_str().chars().flat_map(char::to_uppercase),
        "upper",
    )?;
    Ok(keep_safety(&input, out))
}

fn lower(state: &State, value: &Value) -> Result<Value, Error> {
    let input = bounded_input(state, value, "lower")?;
    let mut out = String::new();
    push_all(
        &mut out,
        input.as_str().chars().flat_map(char::to_lowercase),
        "lower",
    )?;
    Ok(keep_safety(&input, out))
}

fn title(state: &State, value: &Value) -> Result<Value, Error> {
    let input = bounded_input(state, value, "title")?;
    let mut out = String::new();
    let mut capitalize = true;
    for c in input.as_str().chars() {
        if c.is_ascii_punctuation() || c.is_whitespace() {
            push_all(&mut out, std::iter::once(c), "title")?;
            capitalize = true;
        } else if capitalize {
            push_all(&mut out, c.to_uppercase(), "title")?;
            capitalize = false;
        } else {
            push_all(&mut out, c.to_lowercase(), "title")?;
        }
    }
    Ok(Value::from(out))
}

fn capitalize(state: &State, value: &Value) -> Result<Value, Error> {
    let input = bounded_input(state, value, "capitalize")?;
    let mut chars = input.as_str().chars();
    let mut out = String::new();
    if let Some(first) = chars.next() {
        push_all(&mut out, first.to_uppercase(), "capitalize")?;
        push_all(&mut out, chars.flat_map(char::to_lowercase), "capitalize")?;
    }
    Ok(keep_safety(&input, out))
}

fn trim(state: &State, value: &Value, chars: Option<&Value>) -> Result<Value, Error> {
    let input = bounded_input(state, value, "trim")?;
    let out = match chars {
        Some(chars) => {
            let chars = bounded_input(state, chars, "trim")?;
            let set = chars.as_str();
            input.as_str().trim_matches(|c| set.contains(c)).to_string()
        }
        None => input.as_str().trim().to_string(),
    };
    Ok(keep_safety(&input, out))
}

/// Most bytes HTML escaping turns one byte into (`"` → `&quot;`).
const ESCAPE_GROWTH: usize = 6;

fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'<' | b'>' | b'&' | b'"' | b'\'' | b'/' => ESCAPE_GROWTH,
            _ => 1,
        })
        .fold(0, usize::saturating_add)
}

fn escape(state: &State, value: &Value) -> Result<Value, Error> {
    if value.is_safe() {
        return Ok(value.clone());
    }
    let input = bounded_input(state, value, "escape")?;
    if escaped_len(input.as_str()) > MAX_FILTER_BYTES {
        return Err(too_large("escape"));
    }
    // A value escapes as its text does.
    match value.as_str() {
        Some(_) => filters::escape(state, value),
        None => filters::escape(state, &Value::from(input.as_str())),
    }
}

fn safe(state: &State, value: &Value) -> Result<Value, Error> {
    if value.is_safe() {
        return Ok(value.clone());
    }
    let input = bounded_input(state, value, "safe")?;
    Ok(Value::from_safe_string(input.as_str().to_string()))
}

fn string(state: &State, value: &Value) -> Result<Value, Error> {
    if value.as_str().is_some() {
        return Ok(value.clone());
    }
    if printed_len(value, MAX_FILTER_BYTES).is_none() {
        return Err(too_large("string"));
    }
    filters::string(state, value)
}

/// Most bytes URL encoding turns one byte into (`%XX`).
const URLENCODE_GROWTH: usize = 3;

fn urlencode(value: &Value) -> Result<String, Error> {
    let bound = match value.as_str() {
        Some(s) => s
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"/.-_".contains(&b) {
                    1
                } else {
                    URLENCODE_GROWTH
                }
            })
            .fold(0, usize::saturating_add),
        None => printed_len(value, MAX_FILTER_BYTES / URLENCODE_GROWTH)
            .map_or(usize::MAX, |n| n * URLENCODE_GROWTH),
    };
    if bound > MAX_FILTER_BYTES {
        return Err(too_large("urlencode"));
    }
    filters::urlencode(value)
}

fn replace(state: &State, value: &Value, from: &Value, to: &Value) -> Result<Value, Error> {
    let input = bounded_input(state, value, "replace")?;
    let from = bounded_input(state, from, "replace")?;
    let to = bounded_input(state, to, "replace")?;
    let s = input.as_str();
    let count = if from.as_str().is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from.as_str()).count()
    };
    // Escaping (when the text is marked safe in HTML) grows each part at
    // most ESCAPE_GROWTH times.
    let growth = if input.is_safe() || from.is_safe() || to.is_safe() {
        ESCAPE_GROWTH
    } else {
        1
    };
    let bound = count
        .saturating_mul(to.as_str().len())
        .saturating_add(s.len())
        .saturating_mul(growth);
    if bound > MAX_FILTER_BYTES {
        return Err(too_large("replace"));
    }
    filters::replace(state, input, from, to)
}

fn join(state: &State, value: &Value, joiner: Option<&Value>) -> Result<Value, Error> {
    let joiner = joiner
        .map(|j| bounded_input(state, j, "join"))
        .transpose()?;
    let separator = joiner.as_ref().map_or(0, |j| j.as_str().len());
    let growth = if matches!(state.auto_escape(), minijinja::AutoEscape::None) {
        1
    } else {
        ESCAPE_GROWTH
    };
    let limit = MAX_FILTER_BYTES / growth;
    let mut total = 0usize;
    for (i, item) in value.try_iter()?.enumerate() {
        if i > 0 {
            total = total.saturating_add(separator);
        }
        let room = limit.saturating_sub(total);
        match printed_len(&item, room) {
            Some(n) if total + n <= limit => total += n,
            _ => return Err(too_large("join")),
        }
    }
    filters::join(state, value, joiner)
}

fn default(value: &Value, args: Rest<Value>) -> Result<Value, Error> {
    if args.len() > 2 {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    let other = args.first().cloned().unwrap_or_else(|| Value::from(""));
    let lax = args.get(1).is_some_and(Value::is_true);
    if value.is_undefined() || value.is_none() || (lax && !value.is_true()) {
        Ok(other)
    } else {
        Ok(value.clone())
    }
}

/// Replaces every filter of `env` with the bounded set: the names in
/// [`FILTERS`], nothing else.
pub fn install(env: &mut Environment<'_>) {
    for name in BUILTIN_FILTERS {
        env.remove_filter(name);
    }
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("upper", upper);
    env.add_filter("lower", lower);
    env.add_filter("title", title);
    env.add_filter("capitalize", capitalize);
    env.add_filter("trim", trim);
    env.add_filter("escape", escape);
    env.add_filter("e", escape);
    env.add_filter("safe", safe);
    env.add_filter("string", string);
    env.add_filter("urlencode", urlencode);
    env.add_filter("replace", replace);
    env.add_filter("join", join);
    // These return an argument, a part of it, a number or a boolean.
    env.add_filter("length", filters::length);
    env.add_filter("count", filters::length);
    env.add_filter("first", filters::first);
    env.add_filter("last", filters::last);
    env.add_filter("min", filters::min);
    env.add_filter("max", filters::max);
    env.add_filter("int", filters::int);
    env.add_filter("float", filters::float);
    env.add_filter("abs", filters::abs);
    env.add_filter("round", filters::round);
    env.add_filter("bool", filters::bool);
    debug_assert_eq!(FILTERS.len(), 25);
}

/// MiniJinja's built-in filters (2.x), all removed before the bounded set
/// is added.
const BUILTIN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_len_counts_without_building_and_stops_at_the_limit() {
        let value = Value::from_serialize(serde_json::json!({ "a": [1, 2.5, "x"] }));
        assert_eq!(printed_len(&value, 100), Some(value.to_string().len()));
        assert_eq!(printed_len(&value, 3), None);
        assert_eq!(printed_len(&Value::from(1e300), 1000), Some(303));
    }

    #[test]
    fn escaping_and_url_encoding_bounds_are_upper_bounds() {
        let text = "<a href=\"/x\">Tom & Jerry's</a> é";
        let escaped = minijinja::HtmlEscape(text).to_string();
        assert!(escaped.len() <= escaped_len(text), "{escaped}");
    }
}
