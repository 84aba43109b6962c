//! `cargo xtask bench-deploy`: how long synth and deploys take, printed as
//! figures (not a timed test: machines differ).
//!
//! Synth of every stage (mean of many runs), then, against a fresh moto
//! server: the first deploy of dev (the stack and the artifacts bucket are
//! created, the zips uploaded) and a no-op redeploy (nothing rebuilt,
//! uploaded or changed). The Lambdas are built once beforehand, and that
//! build is reported separately.

use std::time::{Duration, Instant};

use infra::{Stage, StageConfig};

use operator::aws::Clients;
use operator::commands::stack::ArchArg;
use operator::deploy::{self, DeployOptions, Outcome};
use testkit::emulator::moto::Moto;

#[derive(clap::Args)]
#[command(after_help = "Example:
  cargo xtask bench-deploy --synth-runs 500")]
pub(crate) struct Args {
    /// Synth runs per stage.
    #[arg(long, default_value_t = 200)]
    synth_runs: u32,
    /// Architecture to build and deploy (the emulator ignores it).
    #[arg(long, value_enum, default_value = "x86_64")]
    arch: ArchArg,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let runs = args.synth_runs.max(1);
    let mut figures: Vec<(String, String)> = Vec::new();
    for stage in Stage::ALL {
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..runs {
            bytes = std::hint::black_box(infra::synth(stage)).len();
        }
        figures.push((
            format!("synth {stage}"),
            format!(
                "{:.3} ms per template ({bytes} bytes, mean of {runs})",
                ms(started.elapsed() / runs)
            ),
        ));
    }
    let started = Instant::now();
    for stage in Stage::ALL {
        std::hint::black_box(infra::synth(stage));
    }
    figures.push((
        "synth all stages".into(),
        format!("{:.3} ms", ms(started.elapsed())),
    ));

    let tools = operator::base::tools::ensure()?;
    let mut config = StageConfig::for_stage(Stage::Dev);
    config.architecture = args.arch.into();
    let started = Instant::now();
    let built = operator::base::build::ensure_built(&tools, config.architecture)?;
    figures.push((
        "lambda build".into(),
        format!(
            "{:.1} s ({})",
            started.elapsed().as_secs_f64(),
            if built.rebuilt {
                "built"
            } else {
                "up to date, skipped"
            }
        ),
    ));

    let moto = Moto::start(&tools)?;
    let outputs = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    let mut opts = DeployOptions::new(config);
    opts.output.dir = outputs.clone();
    let result = tokio::runtime::Runtime::new()?.block_on(async {
        let clients = Clients::new(&testkit::emulator::sdk_config(&moto.endpoint).await);
        let started = Instant::now();
        let first = deploy::deploy(&clients, &tools, &opts, &operator::base::ui::Terminal).await?;
        let first_time = started.elapsed();
        let started = Instant::now();
        let again = deploy::deploy(&clients, &tools, &opts, &operator::base::ui::Terminal).await?;
        let again_time = started.elapsed();
        anyhow::ensure!(
            first.outcome == Outcome::Created,
            "first deploy: {}",
            first.summary()
        );
        anyhow::ensure!(
            again.outcome == Outcome::NoChanges,
            "redeploy: {}",
            again.summary()
        );
        Ok((first, first_time, again, again_time))
    });
    let _ = std::fs::remove_dir_all(&outputs);
    drop(moto);
    let (first, first_time, again, again_time) = result?;
    figures.push((
        "first deploy (fresh moto)".into(),
        format!(
            "{:.0} ms ({} resources, {} zips uploaded)",
            ms(first_time),
            first.changes.len(),
            first.uploaded
        ),
    ));
    figures.push((
        "no-op redeploy".into(),
        format!(
            "{:.0} ms (rebuilt: {}, uploaded: {})",
            ms(again_time),
            again.rebuilt,
            again.uploaded
        ),
    ));
    println!(
        "\nbench-deploy ({})",
        operator::base::build::arch_dir(opts.config.architecture)
    );
    let width = figures.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (what, figure) in figures {
        println!("  {what:<width$}  {figure}");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
