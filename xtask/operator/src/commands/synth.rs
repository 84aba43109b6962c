//! `cargo xtask synth`: write the stage's CloudFormation template.

use std::path::PathBuf;

use anyhow::Context;
use infra::Stage;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask synth --stage prod
  cargo xtask synth --stage all --out target/cfn")]
pub struct Args {
    /// dev, staging, prod, or all.
    #[arg(long)]
    stage: String,
    /// Output directory.
    #[arg(long, default_value = "target/cfn")]
    out: PathBuf,
}

/// The stages an argument names (`all` names every stage).
pub fn stages(arg: &str) -> anyhow::Result<Vec<Stage>> {
    if arg == "all" {
        return Ok(Stage::ALL.to_vec());
    }
    Ok(vec![
        arg.parse::<Stage>()
            .map_err(|e| anyhow::anyhow!("{e} (or all)"))?,
    ])
}

/// Writes a stage's template under `out`; returns its path.
///
/// # Errors
/// A bad stage file (one line naming the file and the key), or the file
/// could not be written.
pub fn write(stage: Stage, out: &std::path::Path) -> anyhow::Result<PathBuf> {
    let template = infra::template(&crate::base::stage::load(stage)?).to_pretty_json();
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let path = out.join(infra::template_file_name(stage));
    std::fs::write(&path, template).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = if args.out.is_absolute() {
        args.out
    } else {
        crate::root().join(args.out)
    };
    for stage in stages(&args.stage)? {
        println!("{}", write(stage, &out)?.display());
    }
    Ok(())
}
