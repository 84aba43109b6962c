//! What a deploy does differently against an emulator (`--endpoint-url`),
//! in one place, each with the moto behaviour behind it (measured in
//! `../shared/notes/moto-probe.md`). Everything else runs the same calls
//! as against AWS.
//!
//! - moto computes a stack's outputs on `CreateStack`/`UpdateStack` only,
//!   never when it executes a change set: [`refresh_outputs`].
//! - moto answers `UpdateTerminationProtection` with a 500: the deploy does
//!   not turn it on there ([`TERMINATION_PROTECTION`]).
//! - moto enforces a TLS-only bucket policy against its own plain-HTTP
//!   endpoint: the artifacts bucket gets every setting but that policy.
//! - moto's CloudFormation fetches a `TemplateURL` only from `localhost`:
//!   see [`super::cfn::object_url`].

use aws_sdk_cloudformation::types::Capability;

use crate::aws::Clients;
use crate::ui::Out;

/// Whether the emulator implements termination protection (moto: no).
pub(super) const TERMINATION_PROTECTION: bool = false;

/// Whether the artifacts bucket gets its TLS-only policy: on AWS, always.
pub(super) fn bucket_tls_policy(clients: &Clients) -> bool {
    !clients.on_emulator()
}

/// On an emulator, when the stack reports none of the template's
/// `declared` outputs: an `UpdateStack` with the previous template and
/// parameters (which changes nothing else there) makes moto compute them.
pub(super) async fn refresh_outputs(
    clients: &Clients,
    stack: &str,
    declared: usize,
    out: &dyn Out,
) {
    out.note(&format!(
        "emulator: the stack reports none of its {declared} outputs (moto computes none for \
         change sets); refreshing them with an UpdateStack of the same template"
    ));
    let _ = clients
        .cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .capabilities(Capability::CapabilityIam)
        .send()
        .await;
}
