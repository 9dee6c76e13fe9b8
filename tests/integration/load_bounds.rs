//! What loading a rule may cost and what it must prove: components that
//! would be costly to compile are refused before compiling, the `rule`
//! export must have the contract's type, and the compilation cache is
//! private, verified and bounded.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mailrules::component_bounds::{self, CompileLimits, OverCompileLimit};
use mailrules::engine::RuleEngine;
use mailrules::error::LoadError;
use mailrules::limits::OperatorLimits;
use mailrules::rule::LoadedRule;
use mailrules_integration::{mailrules_bin, rule};
use wasm_encoder::{
    CodeSection, Component, Function, FunctionSection, Instruction, Module, ModuleSection,
    TypeSection, ValType,
};

fn engine() -> RuleEngine {
    RuleEngine::new(OperatorLimits::default()).expect("engine")
}

/// A component wrapping one core module of `functions` functions, each
/// with `locals` i64 locals and a body of `filler` `i32.const 0; drop`
/// pairs.
fn component(functions: u32, locals: u32, filler: usize) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut declared = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = Function::new([(locals, ValType::I64)]);
    for _ in 0..filler {
        body.instruction(&Instruction::I32Const(0));
        body.instruction(&Instruction::Drop);
    }
    body.instruction(&Instruction::End);
    for _ in 0..functions {
        declared.function(0);
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types).section(&declared).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}

fn refused_before_compiling(bytes: &[u8]) -> (OverCompileLimit, Duration) {
    let started = Instant::now();
    let error = LoadedRule::from_bytes(&engine(), bytes, Path::new("bomb.wasm"), None)
        .err()
        .expect("refused");
    let elapsed = started.elapsed();
    match error {
        LoadError::TooCostly(over) => (over, elapsed),
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn a_component_with_200_000_functions_is_refused_quickly() {
    let bytes = component(200_000, 0, 0);
    assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
    let (over, elapsed) = refused_before_compiling(&bytes);
    assert_eq!(
        over,
        OverCompileLimit {
            what: "functions",
            found: 200_000,
            limit: 20_000
        }
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn one_huge_function_or_one_with_too_many_locals_is_refused() {
    // 300,000 pairs of 3 bytes: 900 KB in one function.
    let (over, _) = refused_before_compiling(&component(1, 0, 300_000));
    assert_eq!(over.what, "bytes in one function");
    assert_eq!(over.limit, 512 << 10);
    let (over, _) = refused_before_compiling(&component(1, 20_000, 0));
    assert_eq!(
        over,
        OverCompileLimit {
            what: "locals in one function",
            found: 20_000,
            limit: 5_000
        }
    );
}

#[test]
fn check_refuses_a_compile_bomb_with_exit_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.wasm");
    std::fs::write(&bomb, component(200_000, 0, 0)).unwrap();
    let started = Instant::now();
    let output = Command::new(mailrules_bin())
        .args(["check", "--no-cache"])
        .arg(&bomb)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "refused before compiling: functions: 200000, over the limit of 20000 for rule components"
        ),
        "{stderr}"
    );
}

#[test]
fn compiling_longer_than_the_limit_is_refused() {
    let mut operator = OperatorLimits::default();
    operator.compile.compile_timeout = Duration::from_millis(1);
    let engine = RuleEngine::new(operator).unwrap();
    let error = LoadedRule::load(&engine, &rule("seed-segments"), None)
        .err()
        .expect("refused");
    assert!(
        matches!(error, LoadError::CompileTimeout { timeout } if timeout == Duration::from_millis(1)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("compiling took longer than 0.001 s"),
        "{error}"
    );
}

#[test]
fn check_refuses_a_rule_that_compiles_longer_than_max_compile_ms() {
    let output = Command::new(mailrules_bin())
        .args(["check", "--no-cache", "--max-compile-ms", "1"])
        .arg(rule("seed-segments"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused: compiling took longer than 0.001 s"),
        "{stderr}"
    );
}

#[test]
fn the_guests_are_far_within_the_default_compile_bounds() {
    let defaults = CompileLimits::default();
    let tenth = CompileLimits {
        max_functions: defaults.max_functions / 10,
        max_code_bytes: defaults.max_code_bytes / 10,
        max_function_bytes: defaults.max_function_bytes / 10,
        max_function_locals: defaults.max_function_locals / 10,
        max_modules: defaults.max_modules / 4,
        max_instances: defaults.max_instances / 4,
        ..defaults
    };
    for name in ["seed-segments", "misbehaving"] {
        let bytes = std::fs::read(rule(name)).unwrap();
        component_bounds::check(&bytes, &tenth).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn a_rule_export_of_the_wrong_type_is_refused_at_load() {
    let error = LoadedRule::load(&engine(), &rule("wrong-signature"), None)
        .err()
        .expect("refused");
    match &error {
        LoadError::WrongExportType { export, .. } => {
            assert_eq!(export, "mailrules:rules/rule@0.1.0#decide")
        }
        other => panic!("wrong error: {other}"),
    }
    let output = Command::new(mailrules_bin())
        .args(["check", "--no-cache"])
        .arg(rule("wrong-signature"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "`mailrules:rules/rule@0.1.0#decide` does not have the type of the mailrules:rules contract"
        ),
        "{stderr}"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn cache_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries
}

#[test]
fn the_cache_is_private_and_a_tampered_entry_is_recompiled() {
    let parent = tempfile::tempdir().unwrap();
    let cache = parent.path().join("cache");
    let engine = engine();
    let first = LoadedRule::load(&engine, &rule("seed-segments"), Some(&cache)).unwrap();
    assert!(!first.info.cached);
    assert_eq!(mode(&cache), 0o700);
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(mode(&entries[0]), 0o600);

    // One bit of the machine code changed.
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&entries[0], &bytes).unwrap();
    let second = LoadedRule::load(&engine, &rule("seed-segments"), Some(&cache)).unwrap();
    assert!(
        !second.info.cached,
        "a tampered cache entry must be recompiled, not run"
    );
    // Rewritten intact: the next load uses it.
    let third = LoadedRule::load(&engine, &rule("seed-segments"), Some(&cache)).unwrap();
    assert!(third.info.cached);
}

#[test]
fn the_cache_stays_within_its_bound() {
    let cache = tempfile::tempdir().unwrap();
    let operator = OperatorLimits {
        max_cache_bytes: 1,
        ..Default::default()
    };
    let engine = RuleEngine::new(operator).unwrap();
    LoadedRule::load(&engine, &rule("seed-segments"), Some(cache.path())).unwrap();
    LoadedRule::load(&engine, &rule("misbehaving"), Some(cache.path())).unwrap();
    let entries = cache_entries(cache.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let misbehaving = LoadedRule::load(&engine, &rule("misbehaving"), Some(cache.path())).unwrap();
    assert!(misbehaving.info.cached, "the newest entry is kept");
    let seed = LoadedRule::load(&engine, &rule("seed-segments"), Some(cache.path())).unwrap();
    assert!(!seed.info.cached, "the oldest entry was removed");
}
