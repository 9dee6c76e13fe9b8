//! A component whose `mailrules:rules/rule@0.1.0` export has the right name
//! but the wrong type: `decide(profile-id: string) -> string`. The host must
//! refuse it at load, not call it for every recipient.

wit_bindgen::generate!({
    path: "wit",
    world: "rules",
});

struct WrongSignature;

impl exports::mailrules::rules::rule::Guest for WrongSignature {
    fn decide(profile_id: String) -> String {
        profile_id
    }
}

export!(WrongSignature);
