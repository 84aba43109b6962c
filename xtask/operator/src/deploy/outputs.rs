//! What every deploy ends with: the stack's outputs shown and written to
//! `<dir>/<stack>.outputs.json` (refreshed first on an emulator that
//! computed none), and the warning that nobody hears the alarms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use infra::{Stage, StageConfig};

use crate::aws::{Clients, emulator};
use crate::base::ui::Out;
use crate::cfn;
use crate::models::alerts;

/// `<dir>/<stack>.outputs.json`.
pub fn outputs_file(dir: &std::path::Path, stack: &str) -> PathBuf {
    dir.join(format!("{stack}.outputs.json"))
}

/// On an emulator, when the stack reports none of the template's
/// `declared` outputs: an `UpdateStack` with the previous template and
/// parameters (which changes nothing else there) makes moto compute them
/// ([`emulator::lacks_outputs`]).
async fn refresh_outputs(clients: &Clients, stack: &str, declared: usize, out: &dyn Out) {
    out.note(&format!(
        "emulator: the stack reports none of its {declared} outputs (moto computes none for \
         change sets); refreshing them with an UpdateStack of the same template"
    ));
    let _ = clients
        .cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await;
}

/// Reads the stack's outputs, shows them and writes them to the outputs file.
pub(super) async fn save_outputs(
    clients: &Clients,
    stack: &str,
    config: &StageConfig,
    dir: &Path,
    out: &dyn Out,
) -> anyhow::Result<(BTreeMap<String, String>, PathBuf)> {
    let declared = infra::template(config).outputs().len();
    let mut outputs = cfn::stack::outputs(clients, stack).await?;
    if emulator::lacks_outputs(clients, outputs.len(), declared) {
        refresh_outputs(clients, stack, declared, out).await;
        outputs = cfn::stack::outputs(clients, stack).await?;
    }
    if outputs.len() < declared {
        out.note(&format!(
            "warning: the stack reports {} of the template's {declared} outputs",
            outputs.len()
        ));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let file = outputs_file(dir, stack);
    let json = serde_json::to_string_pretty(&outputs).context("serialize the outputs")? + "\n";
    std::fs::write(&file, json).with_context(|| format!("write {}", file.display()))?;
    let rows: Vec<Vec<String>> = outputs
        .iter()
        .map(|(k, v)| vec![format!("  {k}"), v.clone()])
        .collect();
    let table = crate::base::ui::table(&["", ""], &rows);
    out.show(&format!(
        "Outputs ({}):\n{}",
        file.display(),
        table
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    ));
    Ok((outputs, file))
}

/// On staging and prod, every deploy (changes or none) ends with the
/// warning that nobody hears the stage's alarms, when nobody does.
pub(super) async fn warn_if_unheard(
    clients: &Clients,
    stage: Stage,
    outputs: &BTreeMap<String, String>,
    out: &dyn Out,
) {
    if stage != Stage::Dev
        && let Some(topic) = outputs.get(infra::outputs::keys::OPS_ALERTS_TOPIC_ARN)
        && let Some(warning) = alerts::check_ops_alerts(&clients.sns, stage, topic).await
    {
        out.note(&warning);
    }
}
