//! The command lines of `deploy`, `diff` and `destroy`, and what they print.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use infra::{Architecture, Stage, StageConfig};

use super::{DeployOptions, DestroyOptions};
use crate::aws::{AwsArgs, Clients, Session};

/// An architecture on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// x86-64 (`--x86-64` builds).
    #[value(name = "x86_64", alias = "x86-64")]
    X86_64,
    /// Graviton (`--arm64` builds).
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
}

impl From<ArchArg> for Architecture {
    fn from(arch: ArchArg) -> Architecture {
        match arch {
            ArchArg::X86_64 => Architecture::X86_64,
            ArchArg::Arm64 => Architecture::Arm64,
        }
    }
}

/// What to deploy or diff: the stage, where, and overrides.
#[derive(clap::Args, Clone, Debug)]
pub struct StackArgs {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Build and deploy the functions for this architecture instead of the
    /// stage's (arm64): x86_64 or arm64.
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Set a template parameter instead of the stage's value (repeatable),
    /// e.g. `--parameter TableSuffix=_dev2`.
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// Deploy packages built elsewhere instead of building here:
    /// `DIR/<bin>/bootstrap.zip` per function, as `cargo lambda build
    /// --output-format zip --lambda-dir DIR` lays them out.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<std::path::PathBuf>,
}

impl StackArgs {
    /// The stage's configuration (its stage file over its defaults) with
    /// the `--arch` override.
    ///
    /// # Errors
    /// A bad stage file.
    pub fn config(&self) -> anyhow::Result<StageConfig> {
        let mut config = StageConfig::load(self.stage).map_err(anyhow::Error::msg)?;
        if let Some(arch) = self.arch {
            config.architecture = arch.into();
        }
        Ok(config)
    }

    fn options(&self) -> anyhow::Result<DeployOptions> {
        let mut opts = DeployOptions::new(self.config()?);
        opts.parameters = self.parameters.iter().cloned().collect::<BTreeMap<_, _>>();
        opts.interactive = std::io::stdin().is_terminal();
        opts.color = std::io::stdout().is_terminal();
        if let Some(dir) = &self.artifacts {
            opts.code = crate::build::Source::Prebuilt(dir.clone());
        }
        Ok(opts)
    }
}

fn parse_parameter(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{arg:?} is not NAME=VALUE")),
    }
}

/// `cargo xtask deploy`.
#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Deploy even if the change set removes or replaces a table or the
    /// dead-letter queue (their data is lost).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Do not ask for confirmation (required for prod without a terminal).
    #[arg(long)]
    pub yes: bool,
}

/// `cargo xtask diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

/// `cargo xtask destroy`.
#[derive(clap::Args, Debug)]
pub struct DestroyArgs {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Do not ask for confirmation (prod also needs the stack name).
    #[arg(long)]
    pub yes: bool,
    /// The stack's name, to confirm destroying prod without typing it.
    #[arg(long, value_name = "STACK")]
    pub confirm_stack: Option<String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs `cargo xtask deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let tools = crate::tools::ensure()?;
    let mut opts = args.stack.options()?;
    opts.allow_destructive = args.allow_destructive;
    opts.yes = args.yes;
    runtime()?.block_on(async {
        let session = Session::with_config(opts.config.clone(), &args.stack.aws).await?;
        session.before_writing()?;
        let clients = Clients::new(&session.config);
        let report = super::deploy(&clients, &tools, &opts).await?;
        println!("{}", report.summary());
        Ok(())
    })
}

/// Runs `cargo xtask diff`.
pub fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let tools = crate::tools::ensure()?;
    let opts = args.stack.options()?;
    runtime()?.block_on(async {
        let session = Session::with_config(opts.config.clone(), &args.stack.aws).await?;
        eprintln!("{}", session.who_and_where());
        let clients = Clients::new(&session.config);
        let report = super::diff(&clients, &tools, &opts).await?;
        println!(
            "Diff of {} ({}):",
            report.stack_name,
            if report.stack_exists {
                "update"
            } else {
                "new stack"
            }
        );
        if report.is_empty() {
            println!("No changes.");
        } else {
            print!("{}", report.table);
        }
        if !report.destructive.is_empty() {
            println!("A deploy would refuse this without --allow-destructive:");
            for d in &report.destructive {
                println!("  - {d}");
            }
        }
        Ok(())
    })
}

/// Runs `cargo xtask destroy`.
pub fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let opts = DestroyOptions {
        stage: args.stage,
        yes: args.yes,
        confirm_stack: args.confirm_stack,
        interactive: std::io::stdin().is_terminal(),
        outputs_dir: crate::root().join("target/cfn"),
    };
    runtime()?.block_on(async {
        let session = Session::open(&crate::aws::Target {
            stage: args.stage,
            aws: args.aws.clone(),
        })
        .await?;
        session.before_writing()?;
        let clients = Clients::new(&session.config);
        super::destroy(&clients, &opts).await.map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        deploy: DeployArgs,
    }

    #[test]
    fn the_arch_flag_overrides_the_stage_architecture() {
        let cli = Cli::parse_from(["x", "--stage", "dev", "--arch", "x86_64", "--yes"]);
        assert_eq!(
            cli.deploy.stack.config().unwrap().architecture,
            Architecture::X86_64
        );
        assert!(cli.deploy.yes && !cli.deploy.allow_destructive);
        let cli = Cli::parse_from(["x", "--stage", "prod"]);
        assert_eq!(
            cli.deploy.stack.config().unwrap().architecture,
            Architecture::Arm64
        );
        assert_eq!(cli.deploy.stack.config().unwrap().stage, Stage::Prod);
    }

    #[test]
    fn parameters_and_aws_options_parse() {
        let cli = Cli::parse_from([
            "x",
            "--stage",
            "staging",
            "--parameter",
            "TableSuffix=_s2",
            "--endpoint-url",
            "http://127.0.0.1:5000",
            "--region",
            "eu-west-1",
            "--profile",
            "ops",
            "--allow-destructive",
        ]);
        let stack = &cli.deploy.stack;
        assert_eq!(
            stack.parameters,
            [("TableSuffix".to_owned(), "_s2".to_owned())]
        );
        assert_eq!(
            stack.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(stack.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(stack.aws.profile.as_deref(), Some("ops"));
        assert!(cli.deploy.allow_destructive);
        assert!(Cli::try_parse_from(["x", "--stage", "qa"]).is_err());
        assert!(Cli::try_parse_from(["x", "--stage", "dev", "--parameter", "novalue"]).is_err());
        assert!(Cli::try_parse_from(["x", "--stage", "dev", "--arch", "mips"]).is_err());
    }
}
