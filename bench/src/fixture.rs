//! The inputs every section shares: the example campaign, the reference
//! pack's component, and generated profiles.

use std::path::PathBuf;
use std::sync::Arc;

use mailrules::Campaign;
use mailrules::profile::Profile;
use mailrules_integration::{generator, now, root, rule};

/// The shared inputs.
pub struct Fixture {
    /// `examples/campaign.toml`.
    pub campaign_path: PathBuf,
    /// The campaign, loaded.
    pub campaign: Arc<Campaign>,
    /// The reference pack component (`seed-segments.wasm`, contract 0.1).
    pub rule_path: PathBuf,
    /// The same pack built for contract 0.2 (`seed-segments-v0-2.wasm`).
    pub rule_v0_2_path: PathBuf,
    /// Campaign time.
    pub now: i64,
    /// Generated profiles that consent to marketing (the others never
    /// reach a rule).
    pub profiles: Vec<Arc<Profile>>,
}

impl Fixture {
    /// `count` generated profiles (before dropping those without consent).
    pub fn new(count: usize) -> anyhow::Result<Self> {
        let campaign_path = root().join("examples/campaign.toml");
        let campaign = Arc::new(Campaign::load(&campaign_path)?);
        let now = now();
        let profiles = generator::profiles(count, 42, now)
            .into_iter()
            .map(serde_json::from_value::<Profile>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| p.consent.email_marketing)
            .map(Arc::new)
            .collect();
        Ok(Fixture {
            campaign_path,
            campaign,
            rule_path: rule("seed-segments"),
            rule_v0_2_path: rule("seed-segments-v0-2"),
            now,
            profiles,
        })
    }

    /// The `mailrules` binary built next to this one.
    pub fn mailrules_bin() -> PathBuf {
        Self::sibling("mailrules")
    }

    /// The `native-eval` binary built next to this one.
    pub fn native_eval_bin() -> PathBuf {
        Self::sibling("native-eval")
    }

    fn sibling(name: &str) -> PathBuf {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }
}
