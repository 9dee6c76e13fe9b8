//! The template engine as mailrules runs it: MiniJinja with strict
//! undefined values (a misspelt merge field is an error, not an empty
//! string), HTML escaping in HTML templates, `none` printed as nothing, a
//! `default` filter that also replaces `none`, and bounds on every render:
//! a fuel budget (MiniJinja instructions), a cap on the bytes written, and
//! a memory bound by construction.
//!
//! # The memory of one render
//!
//! A template is checked when the campaign is loaded (`template_rules`): it
//! binds no computed value (no `set`, `with`, macros, `call` or `filter`
//! blocks, `do`, imports), its loops iterate merge fields or `range(…)`,
//! and its filters are the bounded ones of `bounded_filters`. So every
//! value a render computes lives only while one expression is evaluated,
//! and is built from:
//!
//! - merge fields, shared, not copied: all the merge fields of one render
//!   print as at most M = [`MAX_MERGE_FIELD_BYTES`] (2 MiB), checked for
//!   every recipient before rendering (a recipient over it is `failed` with
//!   `message-too-large`), so any one of them prints as at most M too (a
//!   float alone prints in full: at most 330 bytes);
//! - constants of the template: S ≤ `MAX_TEMPLATE_BYTES` (256 KiB) for all
//!   of an expression's constants together;
//! - at most [`MAX_BUILDING_OPERATIONS`] (2) operations per expression that
//!   build a string: `~` and `+` (result: the sum of the operands) and the
//!   building filters (result at most C = [`MAX_FILTER_BYTES`] (2 MiB),
//!   worked out before it is built); everything else (`*` only between
//!   numbers, slices without a step, comparisons, tests, `and`, `or`, `in`,
//!   the other filters) gives a number, a boolean, or one of its operands
//!   or a part of it.
//!
//! So the larger built value is at most 3M + S (two concatenations of three
//! merge fields) and the two together at most (2M + S) + (3M + S) =
//! 10.5 MiB. A string built by appending holds less than twice its length,
//! and less than three times while its buffer grows: < 2 × 4.25 + 3 × 6.25
//! = 27.25 MiB. On top of that at most one value is turned into text at a
//! time (a filter's input, `in`, printing in HTML): < 3M = 6 MiB; and the
//! output buffer holds at most [`MAX_RENDERED_BYTES`] (2 MiB). Loops hold
//! iterators over shared values (at most `MAX_NESTING` of them). So one
//! render adds less than **40 MiB** ([`RENDER_MEMORY_BOUND`]) to the merge
//! fields and the compiled templates, whatever the template and the
//! recipient's data. (This is memory held; the allocator may keep freed
//! memory cached for a few milliseconds before it returns it. The
//! integration test `template_memory` measures the worst allowed template
//! on a profile at the cap: about 20 MiB.)

use std::error::Error as _;

use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};

pub use super::bounded_filters::{FilterTooLarge, MAX_FILTER_BYTES, printed_len};
pub use super::template_rules::{MAX_BUILDING_OPERATIONS, MAX_TEMPLATE_BYTES};

/// Fuel (MiniJinja instructions) one render of one template may use. The
/// example campaign's largest template (its HTML layout) uses 20.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Most bytes one render of one template may write: a text or HTML part
/// (blocks included), a block, a subject before it is cut.
pub const MAX_RENDERED_BYTES: usize = 2 << 20;

/// Most bytes the merge fields of one render may print as (all of them,
/// `{{ profile }}` and blocks included).
pub const MAX_MERGE_FIELD_BYTES: usize = 2 << 20;

/// The bound on the memory one render adds, derived above.
pub const RENDER_MEMORY_BOUND: usize = 40 << 20;

/// Why a render failed.
#[derive(Debug)]
pub enum Failure {
    /// The render ran out of fuel, wrote more than [`MAX_RENDERED_BYTES`],
    /// or a filter would have made more than [`MAX_FILTER_BYTES`].
    OverBound {
        /// Which bound.
        message: String,
        /// The template line it was on, when the engine knows it.
        line: Option<usize>,
    },
    /// Anything else: an unknown filter, an undefined value, a type error.
    Template(Error),
}

/// Globals MiniJinja defines that campaign templates do not get: `range`
/// stays.
const REMOVED_GLOBALS: &[&str] = &["dict", "debug", "namespace"];

/// The environment every campaign's templates are compiled into.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_formatter(|out: &mut Output, state: &State, value: &Value| {
        if value.is_none() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    super::bounded_filters::install(&mut env);
    for name in REMOVED_GLOBALS {
        env.remove_global(name);
    }
    env
}

/// Checks that the merge fields `values` print as at most
/// [`MAX_MERGE_FIELD_BYTES`], without printing them.
pub fn check_merge_fields(values: &Value) -> Result<(), Failure> {
    match printed_len(values, MAX_MERGE_FIELD_BYTES) {
        Some(_) => Ok(()),
        None => Err(Failure::OverBound {
            message: format!("the merge fields print as more than {MAX_MERGE_FIELD_BYTES} bytes"),
            line: None,
        }),
    }
}

/// A writer that refuses to grow past a limit.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let needed = self.bytes.len() + buf.len();
        if needed > self.limit {
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        if needed > self.bytes.capacity() {
            // Grow by doubling, but never past the limit.
            let capacity = needed.max(self.bytes.capacity() * 2).min(self.limit);
            self.bytes.reserve_exact(capacity - self.bytes.len());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `template` with `values`, within the fuel budget and
/// [`MAX_RENDERED_BYTES`].
pub fn render_bounded(template: &minijinja::Template, values: &Value) -> Result<String, Failure> {
    let mut out = Capped {
        bytes: Vec::new(),
        limit: MAX_RENDERED_BYTES,
    };
    match template.render_captured_to(values, &mut out) {
        Ok(_) => Ok(String::from_utf8(out.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
        Err(error) => {
            let message = match error.kind() {
                ErrorKind::OutOfFuel => {
                    format!("the template needs more than {TEMPLATE_FUEL} steps (template fuel)")
                }
                ErrorKind::WriteFailure => {
                    format!("the rendered text exceeds {MAX_RENDERED_BYTES} bytes")
                }
                _ if is_filter_too_large(&error) => error.detail().unwrap_or_default().to_string(),
                _ => return Err(Failure::Template(error)),
            };
            Err(Failure::OverBound {
                message,
                line: error.line(),
            })
        }
    }
}

/// Whether a filter refused a result over [`MAX_FILTER_BYTES`].
fn is_filter_too_large(error: &Error) -> bool {
    let mut source = error.source();
    while let Some(s) = source {
        if s.is::<FilterTooLarge>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The engine's message without its own location (the caller gives the
/// campaign file's).
pub fn describe(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, values: Value) -> Result<String, Failure> {
        let mut env = environment();
        env.add_template_owned("t.txt", source.to_string()).unwrap();
        render_bounded(&env.get_template("t.txt").unwrap(), &values)
    }

    #[test]
    fn none_prints_as_nothing_and_default_replaces_it() {
        let values = Value::from_serialize(serde_json::json!({ "first_name": null, "n": "Ann" }));
        assert_eq!(
            render(
                "[{{ first_name }}] {{ first_name | default('friend') }} {{ n | d('x') }}",
                values
            )
            .unwrap(),
            "[] friend Ann"
        );
    }

    #[test]
    fn a_misspelt_field_or_unknown_filter_is_an_error() {
        let values = Value::from_serialize(serde_json::json!({ "first_name": "Ann" }));
        let Err(Failure::Template(e)) = render("Hi {{ frist_name }}", values.clone()) else {
            panic!("an undefined field renders");
        };
        assert_eq!(e.kind(), ErrorKind::UndefinedError);
        assert!(render("{{ first_name | shout }}", values).is_err());
    }

    #[test]
    fn nested_loops_run_out_of_fuel_and_huge_output_is_cut_off() {
        let started = std::time::Instant::now();
        let Err(Failure::OverBound { message: why, .. }) = render(
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            Value::UNDEFINED,
        ) else {
            panic!("unbounded loops finish");
        };
        assert_eq!(
            why,
            "the template needs more than 1000000 steps (template fuel)"
        );
        let Err(Failure::OverBound { message: why, .. }) = render(
            "{% for a in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}",
            Value::UNDEFINED,
        ) else {
            panic!("10 MB of output is accepted");
        };
        assert_eq!(why, "the rendered text exceeds 2097152 bytes");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn filters_refuse_results_over_their_cap_as_a_bound_of_the_data() {
        let x = "y".repeat(4096);
        let values = Value::from_serialize(serde_json::json!({ "x": x, "tags": ["a", "b"] }));
        let many = Value::from_serialize(serde_json::json!({ "x": x, "tags": vec!["t"; 20] }));
        for (source, filter) in [
            ("{{ x | replace('', x) }}", "replace"),
            ("{{ x | replace('y', x) | replace('y', x) }}", "replace"),
            (
                "{{ tags | join(x | replace('y', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy')) }}",
                "join",
            ),
            ("{{ (x ~ x) | replace('y', x) }}", "replace"),
        ] {
            let Err(Failure::OverBound { message, line }) = render(source, many.clone()) else {
                panic!("{source} renders");
            };
            assert_eq!(
                message,
                format!("the result of `{filter}` would exceed 2097152 bytes"),
                "{source}"
            );
            assert_eq!(line, Some(1));
        }
        // Within the cap they work as MiniJinja's own.
        assert_eq!(
            render(
                "{{ tags | join(', ') | upper | replace('A', 'Z') }}",
                values
            )
            .unwrap(),
            "Z, B"
        );
    }

    #[test]
    fn merge_fields_that_print_too_large_are_a_bound_of_the_data() {
        let small = Value::from_serialize(serde_json::json!({ "a": [1.5, "x"] }));
        assert!(check_merge_fields(&small).is_ok());
        // A control character prints as `\u{1}` inside a map: 1 MB of them
        // prints as 5 MB.
        let controls = "\u{1}".repeat(1 << 20);
        let Err(Failure::OverBound { message, .. }) =
            check_merge_fields(&Value::from_serialize(serde_json::json!({ "a": controls })))
        else {
            panic!("5 MB of printed merge fields pass");
        };
        assert_eq!(message, "the merge fields print as more than 2097152 bytes");
    }

    #[test]
    fn the_environment_has_only_the_bounded_filters_and_range() {
        let env = environment();
        for global in ["namespace", "dict", "debug"] {
            assert!(env.globals().all(|(name, _)| name != global), "{global}");
        }
        assert!(env.globals().any(|(name, _)| name == "range"));
        let Err(Failure::Template(e)) = render("{{ 'x' | center(10) }}", Value::UNDEFINED) else {
            panic!("center exists");
        };
        assert_eq!(e.kind(), ErrorKind::UnknownFilter);
    }
}
