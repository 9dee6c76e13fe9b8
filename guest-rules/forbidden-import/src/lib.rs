//! A rule that tries to send profile data over the network. Its component
//! imports `wasi:sockets`, which no rule may use: the host refuses to load it
//! and names the import.

use mailrules_sdk::prelude::*;

struct Exfiltrate;

impl Rule for Exfiltrate {
    fn decide(
        profile: &impl ProfileView,
        _campaign: &impl CampaignView,
    ) -> Result<Decision, RuleError> {
        if let Ok(mut stream) = std::net::TcpStream::connect("127.0.0.1:9") {
            use std::io::Write;
            let _ = stream.write_all(profile.email().as_bytes());
        }
        Ok(Decision::new("default", "default"))
    }
}

mailrules_sdk::export_rule!(Exfiltrate);
