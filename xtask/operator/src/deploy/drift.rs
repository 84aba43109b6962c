//! `cargo xtask drift`: the functions' code against the code the stack names
//! (see [`super::code`]: CloudFormation does not compare it), then
//! CloudFormation drift detection on the stage's stack, the resources
//! changed or deleted outside the stack and how each property differs. A
//! hotswap drifts the functions' code on purpose (the next deploy without
//! `--hotswap` puts the stack's code back); anything else is a change made by hand that the next deploy
//! would silently undo, or that undoes what the template promises (an IAM
//! policy widened in the console). See `docs/operations.md#stack-drift`.

use anyhow::bail;
use aws_sdk_cloudformation::types::StackDriftStatus;
use serde::Serialize;

use crate::aws::Clients;
use crate::cfn::drift::{DriftedResource, NoDriftDetection, detect};

/// What a detection found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    pub stack_name: String,
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN` or `NOT_CHECKED` (the endpoint has no
    /// drift detection: the emulator).
    #[serde(serialize_with = "status_name")]
    pub status: StackDriftStatus,
    /// Resources CloudFormation could not check (the detection ended
    /// `DETECTION_COMPLETE` with some unchecked, or `DETECTION_FAILED`).
    pub reason: Option<String>,
    pub drifted: Vec<DriftedResource>,
    /// The functions' code against the stack's (which CloudFormation's
    /// detection does not compare): see [`super::code`].
    pub code: Vec<crate::models::code::CodeState>,
}

impl DriftReport {
    /// Whether anything drifted (the command's exit code says so).
    pub fn has_drift(&self) -> bool {
        !self.drifted.is_empty()
            || self.status == StackDriftStatus::Drifted
            || self
                .code
                .iter()
                .any(crate::models::code::CodeState::drifted)
    }
}

/// A drift status as JSON: its name (`DRIFTED`).
fn status_name<S: serde::Serializer>(status: &StackDriftStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// `cargo xtask drift`: the functions' code against the stack's, then
/// CloudFormation's detection of every resource ([`detect`]); on the
/// emulator, which has none, the resources are `NOT_CHECKED` and the code
/// is still compared.
///
/// # Errors
/// No such stack, a function or its zip unreadable, or the detection's.
pub async fn check(clients: &Clients, stack: &str) -> anyhow::Result<DriftReport> {
    let Some(code) = crate::models::code::of_stack(clients, stack).await? else {
        bail!("{stack} does not exist here: nothing to check");
    };
    let (status, reason, drifted) = match detect(clients, stack).await {
        Ok(found) => (found.status, found.reason, found.drifted),
        Err(e) => match e.downcast_ref::<NoDriftDetection>() {
            Some(none) => (
                StackDriftStatus::NotChecked,
                Some(none.to_string()),
                Vec::new(),
            ),
            None => return Err(e),
        },
    };
    Ok(DriftReport {
        stack_name: stack.to_owned(),
        status,
        reason,
        drifted,
        code,
    })
}

/// The report as the command prints it.
pub fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    if !report.code.is_empty() {
        out.push_str("Code:\n");
        for state in &report.code {
            out.push_str(&format!("  {}\n", state.line()));
        }
    }
    out.push_str(&format!("{}: {}\n", report.stack_name, report.status));
    if let Some(reason) = &report.reason {
        out.push_str(&format!("  {reason}\n"));
    }
    if report.drifted.is_empty() {
        if !report.has_drift() && report.status != StackDriftStatus::NotChecked {
            out.push_str("No drift: every checked resource matches the template.\n");
        }
        return out;
    }
    let rows: Vec<Vec<String>> = report
        .drifted
        .iter()
        .flat_map(|r| {
            let head = vec![
                r.logical_id.clone(),
                r.resource_type.clone(),
                r.status.clone(),
                String::new(),
                String::new(),
                String::new(),
            ];
            std::iter::once(head).chain(r.properties.iter().map(|p| {
                vec![
                    String::new(),
                    String::new(),
                    p.difference.clone(),
                    p.path.clone(),
                    crate::base::ui::clip(p.expected.as_deref().unwrap_or("-"), 40),
                    crate::base::ui::clip(p.actual.as_deref().unwrap_or("-"), 40),
                ]
            }))
        })
        .collect();
    out.push_str(&crate::base::ui::table(
        &[
            "Resource", "Type", "Drift", "Property", "Expected", "Actual",
        ],
        &rows,
    ));
    out.push_str(
        "Changed outside the stack: see docs/operations.md#stack-drift. The next deploy puts \
         the template's values back.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::drift::PropertyDrift;

    fn report(status: StackDriftStatus, drifted: Vec<DriftedResource>) -> DriftReport {
        DriftReport {
            stack_name: "s".into(),
            status,
            reason: None,
            drifted,
            code: Vec::new(),
        }
    }

    #[test]
    fn a_drifted_resource_is_shown_with_each_property() {
        let drifted = DriftedResource {
            logical_id: "HandlerFunction".into(),
            resource_type: "AWS::Lambda::Function".into(),
            physical_id: None,
            status: "MODIFIED".into(),
            properties: vec![PropertyDrift {
                path: "/Code/S3Key".into(),
                difference: "NOT_EQUAL".into(),
                expected: Some("a".into()),
                actual: Some("b".into()),
            }],
        };
        let r = report(StackDriftStatus::Drifted, vec![drifted]);
        assert!(r.has_drift());
        let text = render(&r);
        assert!(text.starts_with("s: DRIFTED\n"), "{text}");
        assert!(
            text.contains("/Code/S3Key") && text.contains("NOT_EQUAL"),
            "{text}"
        );
        assert!(text.contains("Changed outside the stack"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "DRIFTED");
    }

    #[test]
    fn an_in_sync_stack_has_no_drift_and_an_unchecked_one_says_nothing_more() {
        let clean = report(StackDriftStatus::InSync, Vec::new());
        assert!(!clean.has_drift());
        assert!(render(&clean).contains("No drift"));
        let unchecked = report(StackDriftStatus::NotChecked, Vec::new());
        assert_eq!(render(&unchecked), "s: NOT_CHECKED\n");
    }
}
