//! `mailrules-componentize IN.wasm OUT.wasm`: wraps a core module built
//! for `wasm32-unknown-unknown` into a component, from the component type
//! that `wit-bindgen` embeds in it. A rule built this way imports nothing
//! but what its world names: no WASI adapter is involved.
//!
//! Written here rather than installing `wasm-tools` because the build of the
//! test rules needs only this one step, and `wit-component` is already a
//! dependency of the guests' `wit-bindgen`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: mailrules-componentize IN.wasm OUT.wasm");
        return ExitCode::from(2);
    };
    match componentize(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mailrules-componentize: {input}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn componentize(input: &str, output: &str) -> Result<(), String> {
    let module = std::fs::read(input).map_err(|e| e.to_string())?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("{e:#}"))?;
    std::fs::write(output, component).map_err(|e| format!("writing {output}: {e}"))
}
