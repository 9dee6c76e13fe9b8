//! Bindings generated from the `mailrules:rules` WIT package.

wit_bindgen::generate!({
    path: "../../wit/v0.2.0",
    world: "rules",
    pub_export_macro: true,
    export_macro_name: "export_component",
    default_bindings_module: "::mailrules_sdk::v0_2::bindings",
    runtime_path: "::mailrules_sdk::__wit_bindgen::rt",
    generate_all,
});
