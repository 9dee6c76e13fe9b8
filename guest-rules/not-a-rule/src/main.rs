//! A WASI command, not a mailrules rule: the host must refuse it because it
//! does not export `mailrules:rules/rule`.

fn main() {
    println!("hello from a command component");
}
