//! `cargo xtask up`: the stage's real template deployed to a local emulator
//! and running (`testkit::plane`), until Ctrl-C. Every operator command
//! works against the endpoint it prints, as against AWS.

use std::path::PathBuf;

use infra::Stage;
use testkit::plane::{Plane, PlaneOptions};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask up                         # dev, on http://127.0.0.1:5055
  cargo xtask up --stage prod --port 5056
  # then, in another terminal:
  cargo xtask status --stage dev --endpoint-url http://127.0.0.1:5055
  cargo xtask send --stage dev --endpoint-url http://127.0.0.1:5055 \\
      --detail-type credits.granted --detail '{\"grant_id\":\"g1\",\"account_id\":\"a1\",\"credits\":100}'")]
pub(crate) struct Args {
    /// The stage whose template runs (its names, alarms, policies).
    #[arg(long, default_value = "dev")]
    stage: Stage,
    /// The port of the endpoint on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 5055)]
    port: u16,
    /// The functions' packages (`<dir>/<bin>/bootstrap.zip`) instead of a
    /// cargo-lambda build for this machine.
    #[arg(long)]
    artifacts: Option<PathBuf>,
}

/// Runs the plane until Ctrl-C.
pub(crate) fn up(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stage = args.stage;
        eprintln!("xtask: starting the local stack of {}…", stage.as_str());
        let plane = Plane::start(PlaneOptions {
            stage,
            port: args.port,
            artifacts: args.artifacts,
            state_dir: operator::root().join("target/plane").join(stage.as_str()),
            config: None,
        })
        .await?;
        println!("{}", banner(&plane, stage));
        tokio::signal::ctrl_c().await?;
        eprintln!("xtask: stopping the local stack");
        drop(plane);
        anyhow::Ok(())
    })
}

/// What `up` prints once the stack runs.
fn banner(plane: &Plane, stage: Stage) -> String {
    let endpoint = &plane.endpoint;
    let s = stage.as_str();
    let o = &plane.outputs;
    format!(
        "local stack {stack} is up at {endpoint}\n\
         \n  functions  {handler}, {sweep} (from the deployed code, each under its own role)\
         \n  bus        {bus} (rules deliver with their retry policy and dead-letter queue)\
         \n  alarms     evaluated each minute, notifying {topic}\
         \n\npoint the commands at it, e.g.:\
         \n  cargo xtask status --stage {s} --endpoint-url {endpoint}\
         \n  cargo xtask send --stage {s} --endpoint-url {endpoint} --detail-type credits.granted \\\
         \n      --detail '{{\"grant_id\":\"g1\",\"account_id\":\"a1\",\"credits\":100}}'\
         \n  cargo xtask smoke --stage {s} --endpoint-url {endpoint}\
         \nmove its clock ahead (Lambda's retries, alarm periods, the 6-hour schedule):\
         \n  curl -X POST '{endpoint}/_local/clock/advance?seconds=300'\
         \nCtrl-C stops it.",
        stack = infra::stack_name(stage),
        handler = o.handler_function_name,
        sweep = o.sweep_function_name,
        bus = o.bus_name,
        topic = o.ops_alerts_topic_arn,
    )
}
