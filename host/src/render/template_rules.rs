//! What a campaign template may contain, checked on its syntax tree when
//! the campaign is loaded. The rules make the memory of a render bounded by
//! construction (the derivation is in `templates`):
//!
//! - statements: text, `{{ … }}`, `if` / `elif` / `else` and `for` (with
//!   `else`); nothing that binds a computed value (`set`, `with`, `macro`,
//!   `call`, `filter` blocks, `do`) or brings in other templates
//!   (`include`, `import`, `extends`, `block`), and no `autoescape` blocks;
//! - a `for` loop iterates a merge field (`profile.tags`,
//!   `profile.attributes[k]`, a loop variable) or `range(…)`, so a loop
//!   variable only ever holds a value of the recipient's or a number; no
//!   loop filter (`for … if …`) and no `recursive` loops;
//! - filters, tests and functions from fixed lists ([`FILTERS`], [`TESTS`],
//!   `range` the only function; no method calls);
//! - `*` only between numbers by construction ([`numeric`]), so no string or
//!   list repetition; slices without a step; list and map literals of
//!   constants only;
//! - per expression at most [`MAX_EXPRESSION_NODES`] nodes and
//!   [`MAX_BUILDING_OPERATIONS`] operations that build a string (`~`, `+`
//!   not between numbers, and the filters in [`BUILDING_FILTERS`]);
//! - at most [`MAX_NESTING`] nested `if` / `for` blocks and
//!   [`MAX_TEMPLATE_BYTES`] of source.

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
use minijinja::machinery::{Span, WhitespaceConfig, parse};
use minijinja::syntax::SyntaxConfig;

/// Most bytes of source one template may have.
pub const MAX_TEMPLATE_BYTES: usize = 256 << 10;

/// Most nodes (names, constants, operators, filters, tests, calls, lookups)
/// in one expression.
pub const MAX_EXPRESSION_NODES: usize = 32;

/// Most operations that build a string in one expression: `~`, `+` not
/// between numbers, and the filters in [`BUILDING_FILTERS`].
pub const MAX_BUILDING_OPERATIONS: usize = 2;

/// The filters that build a new string (the others return an argument, a
/// part of one, a number or a boolean).
pub const BUILDING_FILTERS: &[&str] = &[
    "capitalize",
    "e",
    "escape",
    "join",
    "lower",
    "replace",
    "safe",
    "string",
    "title",
    "trim",
    "upper",
    "urlencode",
];

/// Most `if` / `for` blocks inside one another.
pub const MAX_NESTING: usize = 16;

/// The filters a template may use (each bounded, see `bounded_filters`).
pub const FILTERS: &[&str] = &[
    "abs",
    "bool",
    "capitalize",
    "count",
    "d",
    "default",
    "e",
    "escape",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "max",
    "min",
    "replace",
    "round",
    "safe",
    "string",
    "title",
    "trim",
    "upper",
    "urlencode",
];

/// The tests a template may use (`is defined`, `is in`, …): each answers
/// true or false.
pub const TESTS: &[&str] = &[
    "!=",
    "<",
    "<=",
    "==",
    ">",
    ">=",
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "equalto",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "int",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "safe",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// A construct a campaign template may not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The line in the template (1 for the first).
    pub line: usize,
    /// What is not allowed, and why.
    pub message: String,
}

/// Checks `source` against the rules above. A template that does not parse
/// passes: compiling it reports the syntax error.
pub fn check(source: &str) -> Result<(), Refusal> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(Refusal {
            line: 1,
            message: format!(
                "the template has {} bytes, more than {MAX_TEMPLATE_BYTES}",
                source.len()
            ),
        });
    }
    let Ok(tree) = parse(
        source,
        "template",
        SyntaxConfig,
        WhitespaceConfig::default(),
    ) else {
        return Ok(());
    };
    statement(&tree, 0)
}

fn refuse<T>(span: Span, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        line: usize::from(span.start_line),
        message: message.into(),
    })
}

const STATEMENTS: &str = "campaign templates may use only text, `{{ … }}`, `if` and `for`";

fn statements(body: &[Stmt<'_>], depth: usize) -> Result<(), Refusal> {
    body.iter().try_for_each(|s| statement(s, depth))
}

fn statement(stmt: &Stmt<'_>, depth: usize) -> Result<(), Refusal> {
    let refused =
        |name: &str, span: Span| refuse(span, format!("`{name}` is not allowed: {STATEMENTS}"));
    match stmt {
        Stmt::Template(t) => statements(&t.children, depth),
        Stmt::EmitRaw(_) => Ok(()),
        Stmt::EmitExpr(e) => expression(&e.expr),
        Stmt::IfCond(c) => {
            let depth = nested(depth, c.span())?;
            expression(&c.expr)?;
            statements(&c.true_body, depth)?;
            statements(&c.false_body, depth)
        }
        Stmt::ForLoop(f) => {
            let depth = nested(depth, f.span())?;
            if f.recursive {
                return refuse(f.span(), "recursive loops are not allowed");
            }
            if let Some(filter) = &f.filter_expr {
                return refuse(
                    expr_span(filter),
                    "a loop filter (`for … if …`) is not allowed: put an `if` inside the loop",
                );
            }
            loop_target(&f.target)?;
            loop_iterable(&f.iter)?;
            statements(&f.body, depth)?;
            statements(&f.else_body, depth)
        }
        Stmt::WithBlock(s) => refused("with", s.span()),
        Stmt::Set(s) => refused("set", s.span()),
        Stmt::SetBlock(s) => refused("set", s.span()),
        Stmt::AutoEscape(s) => refused("autoescape", s.span()),
        Stmt::FilterBlock(s) => refused("filter", s.span()),
        Stmt::Block(s) => refused("block", s.span()),
        Stmt::Import(s) => refused("import", s.span()),
        Stmt::FromImport(s) => refused("from … import", s.span()),
        Stmt::Extends(s) => refused("extends", s.span()),
        Stmt::Include(s) => refused("include", s.span()),
        Stmt::Macro(s) => refused("macro", s.span()),
        Stmt::CallBlock(s) => refused("call", s.span()),
        Stmt::Do(s) => refused("do", s.span()),
        #[allow(unreachable_patterns)]
        _ => Err(Refusal {
            line: 1,
            message: format!("a statement is not allowed: {STATEMENTS}"),
        }),
    }
}

fn nested(depth: usize, span: Span) -> Result<usize, Refusal> {
    if depth >= MAX_NESTING {
        return refuse(
            span,
            format!("more than {MAX_NESTING} `if` / `for` blocks inside one another"),
        );
    }
    Ok(depth + 1)
}

fn loop_target(target: &Expr<'_>) -> Result<(), Refusal> {
    match target {
        Expr::Var(_) => Ok(()),
        Expr::List(l) if l.items.iter().all(|i| matches!(i, Expr::Var(_))) => Ok(()),
        other => refuse(expr_span(other), "a loop variable must be a name or names"),
    }
}

/// A merge field: a name, `.attribute` and `[constant or merge field]`.
fn is_path(expr: &Expr<'_>) -> bool {
    match expr {
        Expr::Var(_) => true,
        Expr::GetAttr(g) => is_path(&g.expr),
        Expr::GetItem(g) => {
            is_path(&g.expr)
                && (matches!(g.subscript_expr, Expr::Const(_)) || is_path(&g.subscript_expr))
        }
        _ => false,
    }
}

fn is_range(expr: &Expr<'_>) -> bool {
    matches!(expr, Expr::Call(c) if matches!(&c.expr, Expr::Var(v) if v.id == "range"))
}

fn loop_iterable(iter: &Expr<'_>) -> Result<(), Refusal> {
    if is_path(iter) || is_range(iter) {
        return expression(iter);
    }
    refuse(
        expr_span(iter),
        "a loop may iterate only a merge field (`profile.tags`, a loop variable, …) or `range(…)`, not a computed value",
    )
}

/// Whether `expr` is a number whatever the recipient's data: a number, or
/// `int`, `float`, `length`, `count`, `abs` or `round` of anything, or
/// arithmetic of such.
pub fn numeric(expr: &Expr<'_>) -> bool {
    match expr {
        Expr::Const(c) => c.value.is_number(),
        Expr::UnaryOp(u) => matches!(u.op, UnaryOpKind::Neg) && numeric(&u.expr),
        Expr::BinOp(b) => {
            matches!(
                b.op,
                BinOpKind::Add
                    | BinOpKind::Sub
                    | BinOpKind::Mul
                    | BinOpKind::Div
                    | BinOpKind::FloorDiv
                    | BinOpKind::Rem
                    | BinOpKind::Pow
            ) && numeric(&b.left)
                && numeric(&b.right)
        }
        Expr::Filter(f) => matches!(
            f.name,
            "int" | "float" | "length" | "count" | "abs" | "round"
        ),
        _ => false,
    }
}

/// Counts of one expression.
#[derive(Default)]
struct Counts {
    nodes: usize,
    building: usize,
}

fn expression(expr: &Expr<'_>) -> Result<(), Refusal> {
    let mut counts = Counts::default();
    walk(expr, &mut counts)?;
    if counts.nodes > MAX_EXPRESSION_NODES {
        return refuse(
            expr_span(expr),
            format!(
                "the expression has {} parts, more than {MAX_EXPRESSION_NODES}",
                counts.nodes
            ),
        );
    }
    if counts.building > MAX_BUILDING_OPERATIONS {
        return refuse(
            expr_span(expr),
            format!(
                "the expression builds {} strings (with `~`, `+` or filters such as `upper`, `replace`, `join`), more than {MAX_BUILDING_OPERATIONS}",
                counts.building
            ),
        );
    }
    Ok(())
}

fn args(list: &[CallArg<'_>], span: Span, counts: &mut Counts) -> Result<(), Refusal> {
    for arg in list {
        match arg {
            CallArg::Pos(e) | CallArg::Kwarg(_, e) => walk(e, counts)?,
            CallArg::PosSplat(_) | CallArg::KwargSplat(_) => {
                return refuse(span, "`*args` and `**kwargs` are not allowed");
            }
        }
    }
    Ok(())
}

fn walk(expr: &Expr<'_>, counts: &mut Counts) -> Result<(), Refusal> {
    counts.nodes += 1;
    if counts.nodes > MAX_EXPRESSION_NODES {
        // Reported with the whole expression's span by the caller.
        return Ok(());
    }
    match expr {
        Expr::Var(_) | Expr::Const(_) => Ok(()),
        Expr::Slice(s) => {
            if s.step.is_some() {
                return refuse(s.span(), "a slice with a step (`[::n]`) is not allowed");
            }
            walk(&s.expr, counts)?;
            if let Some(start) = &s.start {
                walk(start, counts)?;
            }
            if let Some(stop) = &s.stop {
                walk(stop, counts)?;
            }
            Ok(())
        }
        Expr::UnaryOp(u) => walk(&u.expr, counts),
        Expr::BinOp(b) => {
            match b.op {
                BinOpKind::Mul if !(numeric(&b.left) && numeric(&b.right)) => {
                    return refuse(
                        b.span(),
                        "`*` needs a number on both sides (a number, or `| int`, `| float`, `| length` of a value): strings and lists are not repeated",
                    );
                }
                BinOpKind::Concat => counts.building += 1,
                BinOpKind::Add if !(numeric(&b.left) && numeric(&b.right)) => {
                    counts.building += 1;
                }
                _ => {}
            }
            walk(&b.left, counts)?;
            walk(&b.right, counts)
        }
        Expr::Compare(c) => {
            walk(&c.expr, counts)?;
            c.ops.iter().try_for_each(|op| walk(&op.expr, counts))
        }
        Expr::IfExpr(i) => {
            walk(&i.test_expr, counts)?;
            walk(&i.true_expr, counts)?;
            match &i.false_expr {
                Some(e) => walk(e, counts),
                None => Ok(()),
            }
        }
        Expr::Filter(f) => {
            if !FILTERS.contains(&f.name) {
                return refuse(
                    f.span(),
                    format!(
                        "unknown filter `{}`: campaign templates may use {}",
                        f.name,
                        FILTERS.join(", ")
                    ),
                );
            }
            if BUILDING_FILTERS.contains(&f.name) {
                counts.building += 1;
            }
            if let Some(e) = &f.expr {
                walk(e, counts)?;
            }
            args(&f.args, f.span(), counts)
        }
        Expr::Test(t) => {
            if !TESTS.contains(&t.name) {
                return refuse(t.span(), format!("unknown test `{}`", t.name));
            }
            walk(&t.expr, counts)?;
            args(&t.args, t.span(), counts)
        }
        Expr::GetAttr(g) => walk(&g.expr, counts),
        Expr::GetItem(g) => {
            walk(&g.expr, counts)?;
            walk(&g.subscript_expr, counts)
        }
        Expr::Call(c) => {
            if !is_range(expr) {
                return refuse(
                    c.span(),
                    "calls are not allowed, except `range(…)` (no `namespace`, `dict`, macros or methods)",
                );
            }
            args(&c.args, c.span(), counts)
        }
        Expr::List(l) => {
            if let Some(item) = l.items.iter().find(|i| !matches!(i, Expr::Const(_))) {
                return refuse(expr_span(item), "a list literal may hold only constants");
            }
            Ok(())
        }
        Expr::Map(m) => {
            if let Some(item) = m
                .keys
                .iter()
                .chain(&m.values)
                .find(|i| !matches!(i, Expr::Const(_)))
            {
                return refuse(expr_span(item), "a map literal may hold only constants");
            }
            Ok(())
        }
    }
}

fn expr_span(expr: &Expr<'_>) -> Span {
    match expr {
        Expr::Var(s) => s.span(),
        Expr::Const(s) => s.span(),
        Expr::Slice(s) => s.span(),
        Expr::UnaryOp(s) => s.span(),
        Expr::BinOp(s) => s.span(),
        Expr::Compare(s) => s.span(),
        Expr::IfExpr(s) => s.span(),
        Expr::Filter(s) => s.span(),
        Expr::Test(s) => s.span(),
        Expr::GetAttr(s) => s.span(),
        Expr::GetItem(s) => s.span(),
        Expr::Call(s) => s.span(),
        Expr::List(s) => s.span(),
        Expr::Map(s) => s.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(source: &str) -> (usize, String) {
        let r = check(source).expect_err(source);
        (r.line, r.message)
    }

    #[test]
    fn what_the_example_campaign_and_mail_templates_use_is_allowed() {
        for source in [
            "Hi {{ first_name | default('there') }}, {{ profile.id | urlencode }}",
            "{% if 'vip' in segments %}VIP{% elif profile.country == 'US' %}US{% else %}-{% endif %}",
            "{% for t in profile.tags %}{{ loop.index }}: {{ t | upper | e }}{% else %}none{% endfor %}",
            "{% for k in profile.attributes %}{{ k }}={{ profile.attributes[k] }}{% endfor %}",
            "{% for a in range(3) %}{% for b in segments %}{{ a }}{{ b }}{% endfor %}{% endfor %}",
            "{{ profile.tags | join(', ') }} {{ first_name[:1] }} {{ (profile.attributes.n | int) * 2 }}",
            "{{ 'Dear ' ~ first_name ~ '!' }} {{ profile.country in ['US', 'CA'] }}",
            "{{ profile.attributes.x | default('') | replace('a', 'b') | title }}",
            "{{ profile.tags | join(', ') | e }} {{ first_name | upper | e }}",
        ] {
            assert_eq!(check(source), Ok(()), "{source}");
        }
    }

    #[test]
    fn binding_statements_are_refused_with_their_line() {
        let only = "campaign templates may use only text, `{{ … }}`, `if` and `for`";
        for (source, line, name) in [
            ("{% set a = 'x' %}", 1, "set"),
            ("x\n{% set a %}x{% endset %}", 2, "set"),
            ("\n\n{% with a = 1 %}{% endwith %}", 3, "with"),
            ("{% macro m(a) %}{{ m(a ~ a) }}{% endmacro %}", 1, "macro"),
            ("{% call range(1) %}{% endcall %}", 1, "call"),
            ("{% filter upper %}x{% endfilter %}", 1, "filter"),
            ("{% do range(1) %}", 1, "do"),
            ("{% include 'x' %}", 1, "include"),
            ("{% import 'x' as y %}", 1, "import"),
            ("{% from 'x' import y %}", 1, "from … import"),
            ("{% extends 'x' %}", 1, "extends"),
            ("{% block b %}{% endblock %}", 1, "block"),
            ("{% autoescape false %}{% endautoescape %}", 1, "autoescape"),
        ] {
            assert_eq!(
                refusal(source),
                (line, format!("`{name}` is not allowed: {only}")),
                "{source}"
            );
        }
    }

    #[test]
    fn the_memory_attacks_are_refused() {
        let doubling = format!("{{% set a = \"x\" %}}{}", "{% set a = a ~ a %}".repeat(35));
        assert_eq!(refusal(&doubling).0, 1);
        for (source, line, message) in [
            (
                "{% for i in range(40) %}\n{{ namespace(s='x') }}{% endfor %}",
                2,
                "calls are not allowed, except `range(…)` (no `namespace`, `dict`, macros or methods)",
            ),
            (
                "{% for a in [first_name ~ first_name] %}{% endfor %}",
                1,
                "a loop may iterate only a merge field (`profile.tags`, a loop variable, …) or `range(…)`, not a computed value",
            ),
            (
                "{% for a in profile.tags|join %}{% endfor %}",
                1,
                "a loop may iterate only a merge field (`profile.tags`, a loop variable, …) or `range(…)`, not a computed value",
            ),
            (
                "{{ 'x' * 10**9 }}",
                1,
                "`*` needs a number on both sides (a number, or `| int`, `| float`, `| length` of a value): strings and lists are not repeated",
            ),
            (
                "{{ 70000002.0*2 | title }}",
                1,
                "`*` needs a number on both sides (a number, or `| int`, `| float`, `| length` of a value): strings and lists are not repeated",
            ),
            (
                "{{ profile.tags * 3 }}",
                1,
                "`*` needs a number on both sides (a number, or `| int`, `| float`, `| length` of a value): strings and lists are not repeated",
            ),
            (
                "{{ first_name | center(1000000000) }}",
                1,
                "unknown filter `center`: campaign templates may use abs, bool, capitalize, count, d, default, e, escape, first, float, int, join, last, length, lower, max, min, replace, round, safe, string, title, trim, upper, urlencode",
            ),
            (
                "{{ x | indent(10**9) }}",
                1,
                "unknown filter `indent`: campaign templates may use abs, bool, capitalize, count, d, default, e, escape, first, float, int, join, last, length, lower, max, min, replace, round, safe, string, title, trim, upper, urlencode",
            ),
            (
                "{{ '%s' | format(x) }}",
                1,
                "unknown filter `format`: campaign templates may use abs, bool, capitalize, count, d, default, e, escape, first, float, int, join, last, length, lower, max, min, replace, round, safe, string, title, trim, upper, urlencode",
            ),
            (
                "{{ x[::-1] }}",
                1,
                "a slice with a step (`[::n]`) is not allowed",
            ),
            ("{{ [x, x] }}", 1, "a list literal may hold only constants"),
            (
                "{% for t in profile.tags recursive %}{% endfor %}",
                1,
                "recursive loops are not allowed",
            ),
            (
                "{% for t in profile.tags if t %}{% endfor %}",
                1,
                "a loop filter (`for … if …`) is not allowed: put an `if` inside the loop",
            ),
            (
                "{{ x.upper() }}",
                1,
                "calls are not allowed, except `range(…)` (no `namespace`, `dict`, macros or methods)",
            ),
            (
                "{{ x ~ x ~ x | upper }}",
                1,
                "the expression builds 3 strings (with `~`, `+` or filters such as `upper`, `replace`, `join`), more than 2",
            ),
        ] {
            assert_eq!(refusal(source), (line, message.to_string()), "{source}");
        }
    }

    #[test]
    fn size_nesting_and_expression_caps() {
        let big = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert_eq!(
            refusal(&big),
            (1, "the template has 262145 bytes, more than 262144".into())
        );
        let deep = format!("{}{}", "{% if x %}".repeat(17), "{% endif %}".repeat(17));
        assert_eq!(
            refusal(&deep),
            (
                1,
                "more than 16 `if` / `for` blocks inside one another".into()
            )
        );
        let long = format!("{{{{ x{} }}}}", " and x".repeat(20));
        assert_eq!(
            refusal(&long),
            (1, "the expression has 41 parts, more than 32".into())
        );
    }
}
