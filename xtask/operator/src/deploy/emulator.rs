//! What a deploy does differently against an emulator (`--endpoint-url`),
//! in one place, each with the moto behaviour behind it (measured in
//! `../shared/notes/moto-probe.md`). Everything else runs the same calls
//! as against AWS.
//!
//! - moto computes a stack's outputs on `CreateStack`/`UpdateStack` only,
//!   never when it executes a change set: [`refresh_outputs`].
//! - moto answers `UpdateTerminationProtection` with a 500: the deploy does
//!   not turn it on there ([`lacks_termination_protection`]).
//! - moto answers `DetectStackDrift` with a 500: `drift` reports the
//!   resources as not checked ([`lacks_drift_detection`]) and still compares
//!   the functions' code.
//! - moto enforces a TLS-only bucket policy against its own plain-HTTP
//!   endpoint: the artifacts bucket gets every setting but that policy.
//! - moto's CloudFormation fetches a `TemplateURL` only from `localhost`:
//!   see [`super::cfn::object_url`].

use aws_sdk_cloudformation::types::Capability;

use crate::aws::Clients;
use crate::base::ui::Out;

/// Whether the emulator implements termination protection (moto: no).
const TERMINATION_PROTECTION: bool = false;

/// Whether termination protection cannot be turned on here (an emulator
/// without it): the deploy says so instead of failing.
pub(super) fn lacks_termination_protection(clients: &Clients) -> bool {
    clients.on_emulator() && !TERMINATION_PROTECTION
}

/// Whether the stack's missing outputs are moto's (it computes none when it
/// executes a change set): then [`refresh_outputs`].
pub(super) fn lacks_outputs(clients: &Clients, reported: usize, declared: usize) -> bool {
    clients.on_emulator() && reported == 0 && declared > 0
}

/// Whether a failed `DetectStackDrift` is the emulator's missing
/// implementation (moto answers it with a server error), not a failure.
pub(super) fn lacks_drift_detection(clients: &Clients, server_error: bool) -> bool {
    clients.on_emulator() && server_error
}

/// The emulator's endpoint as its CloudFormation fetches a `TemplateURL`
/// from it: `localhost`, never `127.0.0.1` (moto accepts only the first).
pub(super) fn fetchable_endpoint(endpoint: &str) -> String {
    endpoint
        .trim_end_matches('/')
        .replace("://127.0.0.1", "://localhost")
}

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
