//! Load-time validation: what is not a rule is refused with a message that
//! names the problem; valid rules are compiled once and then cached.

use mailrules::engine::RuleEngine;
use mailrules::error::LoadError;
use mailrules::limits::OperatorLimits;
use mailrules::rule::LoadedRule;
use mailrules_integration::rule;

fn engine() -> RuleEngine {
    RuleEngine::new(OperatorLimits::default()).expect("engine")
}

fn load_bytes(bytes: &[u8]) -> Result<LoadedRule, LoadError> {
    LoadedRule::from_bytes(&engine(), bytes, std::path::Path::new("rule.wasm"), None)
}

#[test]
fn a_component_importing_sockets_is_refused_by_name() {
    let error = LoadedRule::load(&engine(), &rule("forbidden-import"), None)
        .err()
        .expect("refused");
    match &error {
        LoadError::ForbiddenImport { name, .. } => {
            assert!(name.starts_with("wasi:sockets/"), "{name}")
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(
        error
            .to_string()
            .contains("forbidden import `wasi:sockets/")
    );
}

#[test]
fn a_plain_core_module_is_refused() {
    let error = load_bytes(b"\0asm\x01\0\0\0").err().expect("refused");
    assert!(matches!(error, LoadError::CoreModule), "{error}");
    assert!(error.to_string().contains("not a component"));
}

#[test]
fn garbage_and_truncated_components_are_refused() {
    assert!(matches!(
        load_bytes(b"hello world").err(),
        Some(LoadError::NotWasm)
    ));
    let bytes = std::fs::read(rule("seed-segments")).unwrap();
    let error = load_bytes(&bytes[..bytes.len() / 2])
        .err()
        .expect("refused");
    assert!(matches!(error, LoadError::Compile(_)), "{error}");
}

#[test]
fn components_over_the_size_cap_are_refused() {
    let operator = OperatorLimits {
        max_component_bytes: 1_000,
        ..Default::default()
    };
    let engine = RuleEngine::new(operator).unwrap();
    let error = LoadedRule::load(&engine, &rule("seed-segments"), None)
        .err()
        .expect("refused");
    assert!(
        matches!(error, LoadError::TooLarge { max: 1_000, .. }),
        "{error}"
    );
}

#[test]
fn the_reference_pack_loads_and_reports_its_contract() {
    let loaded = LoadedRule::load(&engine(), &rule("seed-segments"), None).unwrap();
    assert_eq!(loaded.info.world_version, "0.1.0");
    assert!(
        loaded
            .info
            .exports
            .contains(&"mailrules:rules/rule@0.1.0".to_string())
    );
    assert!(
        loaded
            .info
            .imports
            .iter()
            .any(|i| i.starts_with("mailrules:rules/types@0.1.0"))
    );
    assert!(!loaded.info.cached);
}

#[test]
fn compiled_rules_are_cached_and_a_corrupt_cache_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let engine = engine();
    let first = LoadedRule::load(&engine, &rule("seed-segments"), Some(cache.path())).unwrap();
    assert!(!first.info.cached);
    let second = LoadedRule::load(&engine, &rule("seed-segments"), Some(cache.path())).unwrap();
    assert!(second.info.cached);
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let third = LoadedRule::load(&engine, &rule("seed-segments"), Some(cache.path())).unwrap();
    assert!(
        !third.info.cached,
        "a corrupt cache entry must be recompiled, not trusted"
    );
}

#[test]
fn a_component_for_another_world_is_refused() {
    let error = LoadedRule::load(&engine(), &rule("not-a-rule"), None)
        .err()
        .expect("refused");
    match &error {
        LoadError::MissingExport { expected, found } => {
            assert_eq!(
                expected,
                "`mailrules:rules/rule@0.1.0`, `mailrules:rules/rule@0.2.0`"
            );
            assert!(found.contains("wasi:cli/run@"), "{found}");
        }
        other => panic!("wrong error: {other}"),
    }
}
