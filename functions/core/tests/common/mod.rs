//! What the core's property tests share.

use proptest::prelude::ProptestConfig;

/// `PROPTEST_CASES` cases (10,000 by default: what `cargo xtask test` runs).
// The test (not the core) reads its knob from the environment.
#[allow(clippy::disallowed_methods)]
pub(crate) fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}
