//! Bounds on what compiling a component may cost, checked with a single
//! parse of its bytes before any machine code is generated.
//!
//! Compile time and memory grow with the number of functions and with the
//! size and locals of each function: a valid component of a few MiB can
//! otherwise take minutes and GiBs to compile. [`CompileLimits`] caps each
//! of these (and the number of core modules and instances); what passes is
//! compiled under a time limit (see [`crate::rule`]).

use std::time::Duration;

use wasmparser::{Parser, Payload};

/// What compiling one rule component may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// Functions with code, over all core modules. Default 20,000 (a rule
    /// built with the SDK and serde has about 300–2,000).
    pub max_functions: u64,
    /// Bytes of function bodies, over all core modules. Default 8 MiB.
    pub max_code_bytes: u64,
    /// Bytes of one function body. Default 512 KiB.
    pub max_function_bytes: u64,
    /// Locals declared by one function. Default 5,000.
    pub max_function_locals: u64,
    /// Core modules and components, nested ones included. Default 32.
    pub max_modules: u64,
    /// Core and component instances the component creates. Default 256.
    pub max_instances: u64,
    /// Wall-clock time compiling may take. Default 10 s.
    pub compile_timeout: Duration,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            max_functions: 20_000,
            max_code_bytes: 8 << 20,
            max_function_bytes: 512 << 10,
            max_function_locals: 5_000,
            max_modules: 32,
            max_instances: 256,
            compile_timeout: Duration::from_secs(10),
        }
    }
}

/// A component over one of the [`CompileLimits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {found}, over the limit of {limit} for rule components")]
pub struct OverCompileLimit {
    /// What is counted.
    pub what: &'static str,
    /// What the component has (so far: counting stops at the first limit).
    pub found: u64,
    /// The limit.
    pub limit: u64,
}

/// Why a component cannot be measured or is over a bound.
#[derive(Debug, thiserror::Error)]
pub enum BoundsError {
    /// Not a well-formed component.
    #[error(transparent)]
    Malformed(#[from] wasmparser::BinaryReaderError),
    /// Over a bound.
    #[error(transparent)]
    Over(#[from] OverCompileLimit),
}

/// Counts what compiling `bytes` would cost and refuses at the first bound
/// exceeded.
pub fn check(bytes: &[u8], limits: &CompileLimits) -> Result<(), BoundsError> {
    let mut functions = 0u64;
    let mut code_bytes = 0u64;
    let mut modules = 0u64;
    let mut instances = 0u64;
    let over = |what, found, limit| {
        if found > limit {
            Err(OverCompileLimit { what, found, limit })
        } else {
            Ok(())
        }
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                modules += 1;
                over("core modules and components", modules, limits.max_modules)?;
            }
            Payload::InstanceSection(reader) => {
                instances += u64::from(reader.count());
                over("instances", instances, limits.max_instances)?;
            }
            Payload::ComponentInstanceSection(reader) => {
                instances += u64::from(reader.count());
                over("instances", instances, limits.max_instances)?;
            }
            Payload::CodeSectionStart { count, size, .. } => {
                functions += u64::from(count);
                over("functions", functions, limits.max_functions)?;
                code_bytes += u64::from(size);
                over("bytes of code", code_bytes, limits.max_code_bytes)?;
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                over("bytes in one function", size, limits.max_function_bytes)?;
                let mut locals = body.get_locals_reader()?;
                let mut declared = 0u64;
                for _ in 0..locals.get_count() {
                    let (count, _) = locals.read()?;
                    declared += u64::from(count);
                    over(
                        "locals in one function",
                        declared,
                        limits.max_function_locals,
                    )?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
