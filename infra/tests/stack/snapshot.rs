//! One snapshot per stage: the review artifact of infrastructure changes
//! (`cargo insta review` after a change).

use infra::{Stage, synth};

#[test]
fn template_dev() {
    insta::assert_snapshot!("template_dev", synth(Stage::Dev));
}

#[test]
fn template_staging() {
    insta::assert_snapshot!("template_staging", synth(Stage::Staging));
}

#[test]
fn template_prod() {
    insta::assert_snapshot!("template_prod", synth(Stage::Prod));
}
