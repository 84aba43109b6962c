//! `deploy --hotswap` (dev only): when nothing but the functions' code
//! changed, update the code directly (`UpdateFunctionCode`, then wait until
//! the function reports the update done) instead of going through a change
//! set, as `cdk deploy --hotswap` does: seconds instead of minutes while
//! iterating. The stack's parameters still name the old code, so the stack
//! drifts from what runs: `cargo xtask drift` reports it, and the next deploy
//! without `--hotswap` clears it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::sdk_error;
use anyhow::Context;
use aws_sdk_lambda::client::Waiters;
use serde_json::Value;

use crate::artifacts::Bucket;
use crate::aws::Clients;
use crate::base::build::FUNCTIONS;

/// How long one function's code update may take.
const UPDATE_WAIT: Duration = Duration::from_secs(5 * 60);

/// One function whose code is swapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    /// The function's logical id.
    pub logical_id: String,
    /// Its code key parameter.
    pub parameter: String,
    /// The new S3 key.
    pub key: String,
}

/// What a hotswap would do: the functions to swap (none: nothing changed),
/// or why it cannot (anything but code changed).
///
/// # Errors
/// The reason a change set is needed.
pub fn plan(
    deployed_template: &Value,
    deployed_parameters: &BTreeMap<String, String>,
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> Result<Vec<Swap>, String> {
    if deployed_template != template {
        return Err("the template changed".to_owned());
    }
    let code: Vec<&str> = FUNCTIONS.iter().map(|f| f.code_key_parameter).collect();
    let mut others: Vec<&str> = parameters
        .iter()
        .filter(|(name, value)| {
            !code.contains(&name.as_str()) && deployed_parameters.get(*name) != Some(*value)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    others.extend(
        deployed_parameters
            .keys()
            .filter(|name| !parameters.contains_key(*name))
            .map(String::as_str),
    );
    if !others.is_empty() {
        return Err(format!(
            "parameters other than code changed: {}",
            others.join(", ")
        ));
    }
    Ok(FUNCTIONS
        .iter()
        .filter_map(|f| {
            let key = parameters.get(f.code_key_parameter)?;
            (deployed_parameters.get(f.code_key_parameter) != Some(key)).then(|| Swap {
                logical_id: f.logical_id.to_owned(),
                parameter: f.code_key_parameter.to_owned(),
                key: key.clone(),
            })
        })
        .collect())
}

/// Swaps each function's code and waits until the update is done.
/// `physical` maps logical ids to function names.
///
/// # Errors
/// A function is missing from the stack, or Lambda refused or failed the update.
pub async fn swap(
    clients: &Clients,
    bucket: &str,
    physical: &BTreeMap<String, String>,
    swaps: &[Swap],
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for swap in swaps {
        let function = physical
            .get(&swap.logical_id)
            .with_context(|| format!("the stack has no {} to hotswap", swap.logical_id))?;
        clients
            .lambda
            .update_function_code()
            .function_name(function)
            .s3_bucket(bucket)
            .s3_key(&swap.key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("update the code of {function}: {}", sdk_error(&e)))?;
        clients
            .lambda
            .wait_until_function_updated_v2()
            .function_name(function)
            .wait(UPDATE_WAIT)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{function} did not finish its code update: {}",
                    crate::aws::chain(&e)
                )
            })?;
        done.push(function.clone());
    }
    Ok(done)
}

/// Puts the stack's code back on every function that runs other code (a
/// hotswap): the same `UpdateFunctionCode` and wait as the hotswap itself.
/// Returns the functions restored.
///
/// # Errors
/// Lambda refused or failed the update.
pub async fn restore(
    clients: &Clients,
    bucket: &Bucket,
    states: &[crate::models::code::CodeState],
) -> anyhow::Result<Vec<String>> {
    let swaps: Vec<Swap> = states
        .iter()
        .filter(|s| s.drifted())
        .map(|s| Swap {
            logical_id: s.logical_id.clone(),
            parameter: s.parameter.clone(),
            key: s.key.clone(),
        })
        .collect();
    let physical: BTreeMap<String, String> = states
        .iter()
        .map(|s| (s.logical_id.clone(), s.function.clone()))
        .collect();
    swap(clients, &bucket.name, &physical, &swaps).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra::stack::params;
    use serde_json::json;

    fn params(handler: &str, sweep: &str, stage: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (params::HANDLER_CODE_KEY.to_owned(), handler.to_owned()),
            (params::SWEEP_CODE_KEY.to_owned(), sweep.to_owned()),
            (params::STAGE.to_owned(), stage.to_owned()),
        ])
    }

    #[test]
    fn only_changed_code_is_swapped() {
        let t = json!({"Resources": {}});
        let swaps = plan(
            &t,
            &params("h/1", "s/1", "dev"),
            &t,
            &params("h/2", "s/1", "dev"),
        )
        .unwrap();
        assert_eq!(
            swaps,
            [Swap {
                logical_id: infra::stack::ids::HANDLER_FUNCTION.to_owned(),
                parameter: params::HANDLER_CODE_KEY.to_owned(),
                key: "h/2".to_owned()
            }]
        );
        assert!(
            plan(
                &t,
                &params("h/1", "s/1", "dev"),
                &t,
                &params("h/1", "s/1", "dev")
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn anything_but_code_needs_a_change_set() {
        let t = json!({"Resources": {}});
        let other = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        assert_eq!(
            plan(
                &t,
                &params("h/1", "s/1", "dev"),
                &other,
                &params("h/2", "s/1", "dev")
            )
            .unwrap_err(),
            "the template changed"
        );
        let error = plan(
            &t,
            &params("h/1", "s/1", "dev"),
            &t,
            &params("h/2", "s/1", "dev2"),
        )
        .unwrap_err();
        assert!(error.contains(params::STAGE), "{error}");
    }
}
