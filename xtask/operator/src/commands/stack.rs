//! The stack's command lines: `deploy`, `diff`, `destroy`, `releases`,
//! `rollback` and `drift`, and what they print. Each builds the deploy
//! engine's input (`deploy::DeployOptions`) or calls its reads.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use infra::{Architecture, Stage, StageConfig};

use std::process::ExitCode;

use crate::aws::{AwsArgs, Clients, Session};
use crate::base::ui::{JsonTerminal, Out, Terminal};
use crate::deploy::plan::RequireApproval;
use crate::deploy::{self, CodeSource, DeployOptions, DestroyOptions};

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
        let mut config = crate::base::stage::load(self.stage)?;
        if let Some(arch) = self.arch {
            config.architecture = arch.into();
        }
        Ok(config)
    }

    fn options(&self) -> anyhow::Result<DeployOptions> {
        let mut opts = DeployOptions::new(self.config()?);
        opts.parameters = self.parameters.iter().cloned().collect::<BTreeMap<_, _>>();
        opts.policy.interactive = std::io::stdin().is_terminal();
        opts.output.color = std::io::stdout().is_terminal();
        if let Some(dir) = &self.artifacts {
            opts.code = CodeSource::Build(crate::base::build::Source::Prebuilt(dir.clone()));
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
#[command(after_help = "Examples:
  cargo xtask deploy --stage dev
  cargo xtask deploy --stage dev --hotswap
  cargo xtask deploy --stage prod --yes --require-approval never   # CI, after review
  cargo xtask deploy --stage prod --prepare                        # a change set for review
  cargo xtask deploy --stage prod --execute arn:aws:cloudformation:…:changeSet/…  # the reviewer
  cargo xtask deploy --stage dev --endpoint-url http://127.0.0.1:5000 --arch x86_64")]
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
    /// When to stop for approval of security changes: never, broadening
    /// (IAM or a resource policy allows more; the default) or any-change.
    /// Without a terminal, a needed approval is a refusal.
    #[arg(long, value_enum, default_value_t = RequireApproval::Broadening)]
    pub require_approval: RequireApproval,
    /// dev only: a failed update stays as it failed (no rollback), to debug
    /// it in place; the next deploy updates it again.
    #[arg(long)]
    pub no_rollback: bool,
    /// dev only: when only the functions' code changed, update it directly
    /// (seconds) instead of through a change set; the stack drifts until the
    /// next normal deploy.
    #[arg(long, conflicts_with_all = ["prepare", "execute"])]
    pub hotswap: bool,
    /// Build, upload and propose the change set, show its review, and stop:
    /// print its id for a second person to execute with --execute.
    #[arg(long, conflicts_with = "execute")]
    pub prepare: bool,
    /// Execute exactly this change set, prepared with --prepare, after its
    /// review, approval and confirmation, if the stack has not changed since.
    #[arg(long, value_name = "CHANGE_SET_ID")]
    pub execute: Option<String>,
}

/// `cargo xtask diff`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask diff --stage prod
  cargo xtask diff --stage prod --json | jq '.security'
  cargo xtask diff --stage staging --fail   # exit 3 when a deploy would change anything")]
pub struct DiffArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Exit with 3 when there is any change (0: none).
    #[arg(long)]
    pub fail: bool,
    /// Print the review as JSON (changes, properties, parameters, security,
    /// destructive) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `cargo xtask destroy`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask destroy --stage dev --yes
  cargo xtask destroy --stage prod --yes --confirm-stack cc-agent-reconciler-prod --lift-termination-protection")]
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
    /// Turn the stack's termination protection off first (deploy turns it
    /// on for staging and prod); without this, destroy refuses such a stack.
    #[arg(long)]
    pub lift_termination_protection: bool,
}

/// `cargo xtask releases`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask releases --stage prod
  cargo xtask releases --stage prod --json | jq '.releases[] | select(.live)'")]
pub struct ReleasesArgs {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Print JSON (see docs/operations.md#json).
    #[arg(long)]
    pub json: bool,
}

/// `cargo xtask rollback`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask rollback --stage prod            # the release before the current one
  cargo xtask rollback --stage prod --to 3f2a9c1b
  cargo xtask rollback --stage prod --yes --json | jq .version")]
pub struct RollbackArgs {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The version to go back to (from `cargo xtask releases`; a unique
    /// prefix of 4 digits or more). Default: the release before the current one.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Do not ask for confirmation (required for prod without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// As for deploy.
    #[arg(long, value_enum, default_value_t = RequireApproval::Broadening)]
    pub require_approval: RequireApproval,
    /// Print the result as JSON on standard output (see
    /// docs/operations.md#json).
    #[arg(long)]
    pub json: bool,
}

/// `cargo xtask drift`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask drift --stage prod
  cargo xtask drift --stage prod --json")]
pub struct DriftArgs {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A reading command's session on the stage, its who-and-where printed.
async fn reading(stage: Stage, aws: &AwsArgs) -> anyhow::Result<Clients> {
    let session = Session::open(&crate::aws::Target {
        stage,
        aws: aws.clone(),
    })
    .await?;
    eprintln!("{}", session.who_and_where());
    Ok(session.clients())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs `cargo xtask deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let tools = crate::base::tools::ensure()?;
    let mut opts = args.stack.options()?;
    opts.policy.allow_destructive = args.allow_destructive;
    opts.policy.yes = args.yes;
    opts.policy.require_approval = args.require_approval;
    opts.policy.no_rollback = args.no_rollback;
    opts.policy.hotswap = args.hotswap;
    opts.mode = match (args.prepare, args.execute) {
        (_, Some(id)) => deploy::Mode::Execute(id),
        (true, None) => deploy::Mode::Prepare,
        (false, None) => deploy::Mode::Deploy,
    };
    runtime()?.block_on(async {
        let session = Session::with_config(opts.config.clone(), &args.stack.aws).await?;
        session.before_writing()?;
        opts.policy.who = session.who_and_where();
        let clients = session.clients();
        let report = deploy::deploy(&clients, &tools, &opts, &Terminal).await?;
        println!("{}", report.summary());
        Ok(())
    })
}

/// Runs `cargo xtask diff`: exit code 3 (`exit::DIFFERS`) with `--fail`
/// when anything would change.
pub fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let tools = crate::base::tools::ensure()?;
    let opts = args.stack.options()?;
    runtime()?.block_on(async {
        let session = Session::with_config(opts.config.clone(), &args.stack.aws).await?;
        eprintln!("{}", session.who_and_where());
        // A diff creates (and drops) a change set, and may create the
        // artifacts bucket: never in the wrong account.
        session.check_pins()?;
        let clients = session.clients();
        let review = deploy::diff(&clients, &tools, &opts, &Terminal).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&review.to_json())?);
        } else {
            println!(
                "Diff of {} ({}):",
                review.stack_name,
                if review.create { "new stack" } else { "update" }
            );
            if review.is_empty() {
                println!("No changes.");
            } else {
                print!("{}", review.render(opts.output.color));
            }
            if !review.destructive.is_empty() {
                println!("A deploy would refuse this without --allow-destructive:");
                for d in &review.destructive {
                    println!("  - {d}");
                }
            }
        }
        Ok(if args.fail && !review.is_empty() {
            ExitCode::from(crate::base::exit::DIFFERS)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Runs `cargo xtask destroy`.
pub fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let mut opts = DestroyOptions {
        stage: args.stage,
        yes: args.yes,
        confirm_stack: args.confirm_stack,
        lift_termination_protection: args.lift_termination_protection,
        interactive: std::io::stdin().is_terminal(),
        outputs_dir: crate::root().join("target/cfn"),
        who: String::new(),
    };
    runtime()?.block_on(async {
        let session = Session::open(&crate::aws::Target {
            stage: args.stage,
            aws: args.aws.clone(),
        })
        .await?;
        session.before_writing()?;
        opts.who = session.who_and_where();
        let clients = session.clients();
        deploy::destroy(&clients, &opts, &Terminal)
            .await
            .map(|_| ())
    })
}

/// Runs `cargo xtask releases`.
pub fn releases(args: ReleasesArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let clients = reading(args.stage, &args.aws).await?;
        let (found, current) = deploy::releases(&clients, args.stage, &Terminal).await?;
        let stack = infra::stack_name(args.stage);
        if args.json {
            let json = crate::models::releases::to_json(&stack, &found, current.as_deref());
            println!("{}", serde_json::to_string_pretty(&json)?);
            return Ok(());
        }
        println!("Releases of {stack}:");
        print!(
            "{}",
            crate::models::releases::render(&found, current.as_deref())
        );
        Ok(())
    })
}

/// Runs `cargo xtask rollback`.
pub fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    // A rollback builds nothing: the tools are never run.
    let tools = crate::base::tools::Tools {
        bin: crate::root().join(".venv/bin"),
    };
    let config = crate::base::stage::load(args.stage)?;
    let mut opts = DeployOptions::new(config);
    opts.policy.interactive = std::io::stdin().is_terminal();
    opts.output.color = std::io::stdout().is_terminal();
    opts.policy.yes = args.yes;
    opts.policy.require_approval = args.require_approval;
    runtime()?.block_on(async {
        let session = Session::with_config(opts.config.clone(), &args.aws).await?;
        session.before_writing()?;
        opts.policy.who = session.who_and_where();
        let clients = session.clients();
        let out: &dyn Out = if args.json { &JsonTerminal } else { &Terminal };
        let report = deploy::rollback(&clients, &tools, &opts, args.to.as_deref(), out).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        } else {
            println!("{}", report.summary());
        }
        Ok(())
    })
}

/// Runs `cargo xtask drift`: exit code 3 (`exit::DIFFERS`) when the stack
/// drifted.
pub fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let clients = reading(args.stage, &args.aws).await?;
        let report = deploy::drift::check(&clients, &infra::stack_name(args.stage)).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", deploy::drift::render(&report));
        }
        Ok(if report.has_drift() {
            ExitCode::from(crate::base::exit::DIFFERS)
        } else {
            ExitCode::SUCCESS
        })
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

    #[test]
    fn prepare_and_execute_exclude_each_other_and_hotswap() {
        let cli = Cli::parse_from(["x", "--stage", "prod", "--prepare"]);
        assert!(cli.deploy.prepare && cli.deploy.execute.is_none());
        let cli = Cli::parse_from(["x", "--stage", "prod", "--execute", "arn:cs", "--yes"]);
        assert_eq!(cli.deploy.execute.as_deref(), Some("arn:cs"));
        for clash in [
            ["x", "--stage", "prod", "--prepare", "--execute", "arn:cs"].as_slice(),
            &["x", "--stage", "dev", "--prepare", "--hotswap"],
            &["x", "--stage", "dev", "--execute", "arn:cs", "--hotswap"],
        ] {
            assert!(Cli::try_parse_from(clash).is_err(), "{clash:?}");
        }
    }
}
