//! The template engine as mailrules runs it: MiniJinja with strict
//! undefined values (a misspelt merge field is an error, not an empty
//! string), HTML escaping in HTML templates, `none` printed as nothing, a
//! `default` filter that also replaces `none`, and bounds on every render:
//! a fuel budget (MiniJinja instructions) and a cap on the bytes written.

use minijinja::value::Rest;
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};

/// Fuel (MiniJinja instructions) one render of one template may use. The
/// example campaign's largest template (its HTML layout) uses 20.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Most bytes one render of one template may write: a text or HTML part
/// (blocks included), a block, a subject before it is cut.
pub const MAX_RENDERED_BYTES: usize = 2 << 20;

/// Why a render failed.
#[derive(Debug)]
pub enum Failure {
    /// The render ran out of fuel or wrote more than [`MAX_RENDERED_BYTES`].
    OverBound {
        /// Which bound.
        message: String,
        /// The template line it was on, when the engine knows it.
        line: Option<usize>,
    },
    /// Anything else: an unknown filter, an undefined value, a type error.
    Template(Error),
}

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
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    env
}

/// `value | default(other, lax)`: `other` (or `""`) when `value` is
/// undefined or none, or, with `lax`, anything false.
fn default_filter(value: &Value, args: Rest<Value>) -> Result<Value, Error> {
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

/// A writer that refuses to grow past a limit.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("the rendered text is too large"));
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
                _ => return Err(Failure::Template(error)),
            };
            Err(Failure::OverBound {
                message,
                line: error.line(),
            })
        }
    }
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
            "{% for a in range(1000) %}{{ 'x' * 10000 }}{% endfor %}",
            Value::UNDEFINED,
        ) else {
            panic!("10 MB of output is accepted");
        };
        assert_eq!(why, "the rendered text exceeds 2097152 bytes");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
