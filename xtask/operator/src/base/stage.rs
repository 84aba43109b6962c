//! A stage's configuration as every command reads it: its stage file
//! compiled in (`infra/stages/<stage>.toml` over the Rust defaults), or,
//! when `XTASK_STAGES_DIR` names a folder, the file of that folder: to try
//! a change to a stage file without rebuilding, and for the tests of what
//! a broken stage file does to every command. A bad file is one line naming
//! the file, the key and what is wrong.

use infra::{Stage, StageConfig};

/// The variable naming a folder of stage files to read instead of the
/// compiled-in ones.
pub const STAGES_DIR: &str = "XTASK_STAGES_DIR";

/// The stage's configuration (see the module documentation); when read
/// from `XTASK_STAGES_DIR`, a note on standard error says which file.
///
/// # Errors
/// A bad stage file, or one that cannot be read.
pub fn load(stage: Stage) -> anyhow::Result<StageConfig> {
    match std::env::var_os(STAGES_DIR).filter(|d| !d.is_empty()) {
        None => StageConfig::load(stage).map_err(anyhow::Error::msg),
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            eprintln!(
                "stage file: {} ({STAGES_DIR})",
                dir.join(format!("{stage}.toml")).display()
            );
            StageConfig::load_from(&dir, stage).map_err(anyhow::Error::msg)
        }
    }
}
