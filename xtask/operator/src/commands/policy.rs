//! `cargo xtask policy`: the least-privilege IAM policy of an operator role
//! for a stage (docs/deploy.md, "Operator policies"), printed as JSON to
//! attach to a role. Offline: it reads the stage file, nothing else.

use infra::{Stage, StageConfig};

use crate::policy::{Role, policy};

/// What to print.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask policy --stage prod --role on-call > on-call.json
  cargo xtask policy --stage prod --role deploy > deploy.json")]
pub struct Args {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    /// on-call (the read commands and diff) or deploy (deploy, rollback, destroy).
    #[arg(long, value_enum)]
    pub role: Role,
}

/// Runs `cargo xtask policy`.
///
/// # Errors
/// A bad stage file.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let config = StageConfig::load(args.stage).map_err(anyhow::Error::msg)?;
    let document = policy(args.role, &config).to_json();
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}
