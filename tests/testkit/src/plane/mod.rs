//! The local data plane (`cargo xtask up`): the stage's real template
//! deployed to moto, and around it what AWS runs and moto does not.
//!
//! One rule divides the work: **moto stores and matches, the plane runs.**
//! moto (with `emulator/plane_patches.py`) keeps every resource, matches
//! events to rules, evaluates nothing and delivers nothing to a function;
//! the plane runs the functions and everything with a timer or a retry:
//!
//! ```text
//!  operator commands, tests ──► front (the printed endpoint) ──► moto
//!        │ Lambda Invoke ─► lambda (functions, async retries, on-failure)
//!        │ a function's own calls ─► authorized against its role, then moto
//!  moto ──hook──► bus (EventBridge targets: retry policy, dead-letter queue)
//!  clock ─ each minute ─► telemetry (SQS metrics) ─► evaluator (alarms, SNS)
//!                     └─► scheduler (schedule rules: the sweep)
//! ```
//!
//! The pure parts, each checked against AWS's documentation (the page is
//! cited in each module): [`alarm`] (CloudWatch alarm evaluation), [`math`]
//! (metric math), [`emf`] (the embedded metric format), [`schedule`]
//! (`rate(...)` and `cron(...)`), [`clock`].
//!
//! `docs/local.md` has the table of every behaviour modelled, the AWS page
//! it follows, the test that shows it, and what is not modelled.

// The crate allows `unwrap` for its test tooling; the plane must not panic
// on what a function prints or an operator writes.
#![deny(clippy::unwrap_used)]

pub mod alarm;
pub mod bus;
pub mod clock;
pub mod control;
pub mod emf;
pub mod evaluator;
pub mod front;
pub mod hook;
pub mod iam;
pub mod invoke_async;
pub mod lambda;
pub mod math;
pub mod put_events;
pub mod schedule;
pub mod scheduler;
pub mod telemetry;
pub mod trace;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use infra::{StackOutputs, Stage, StageConfig};

use crate::emulator::moto::Moto;
use crate::http::Server;
use clock::{Clock, Work};

/// What to run.
#[derive(Clone, Debug)]
pub struct PlaneOptions {
    /// The stage whose template is deployed.
    pub stage: Stage,
    /// The port of the printed endpoint on 127.0.0.1 (0: one the system picks).
    pub port: u16,
    /// The functions' packages (`<dir>/<bin>/bootstrap.zip`), or `None` to
    /// build them for this machine with cargo-lambda, as a deploy does.
    pub artifacts: Option<PathBuf>,
    /// Where the plane unpacks the functions' code.
    pub state_dir: PathBuf,
    /// The stage's configuration instead of its stage file's (a test's
    /// producers, subscribers, reserved concurrency).
    pub config: Option<StageConfig>,
}

/// What every part of the plane shares.
#[derive(Clone)]
pub struct Ctx {
    pub clock: Clock,
    pub work: Work,
    /// The SDK clients the plane acts with, as the AWS services themselves
    /// (straight to moto).
    pub aws: Arc<control::ServiceClients>,
    pub moto: control::MotoControl,
    pub trace: trace::Trace,
    pub functions: lambda::Functions,
    pub stage: StageConfig,
    /// The account and region of the emulator.
    pub account: String,
    pub region: String,
}

impl Ctx {
    /// Moves the clock `by` ahead, a minute at a time, letting what each
    /// minute starts finish before the next (see [`clock`]).
    pub async fn advance(&self, by: Duration) {
        self.advance_in(by, Duration::from_secs(60)).await;
    }

    /// Moves the clock `by` ahead in steps of `step` (whole minutes),
    /// letting what each step starts finish before the next: a step longer
    /// than a minute samples the queues and evaluates the alarms once for
    /// the whole step, as if its minutes were one (days in seconds, for
    /// alarms whose periods are hours).
    pub async fn advance_in(&self, by: Duration, step: Duration) {
        let step_ms = i64::try_from(step.as_millis())
            .unwrap_or(i64::MAX)
            .max(clock::MINUTE_MS);
        let step_ms = step_ms - step_ms % clock::MINUTE_MS;
        let mut left = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        while left > 0 {
            let now = self.clock.now_ms();
            let next_minute = clock::minute_of(now) + step_ms;
            let step = (next_minute - now).clamp(1, left);
            self.clock.jump(step);
            if let Err(e) = self.moto.advance(step).await {
                eprintln!("local plane: moto's clock: {e:#}");
            }
            left -= step;
            self.settle().await;
        }
    }

    /// Waits until no delivery, invocation or evaluation is running.
    pub async fn settle(&self) {
        self.work
            .settled(Duration::from_millis(150), Duration::from_secs(120))
            .await;
    }
}

/// A running plane: stopped when dropped.
pub struct Plane {
    /// The endpoint to give every command (`--endpoint-url`).
    pub endpoint: String,
    /// The deployed stack's outputs.
    pub outputs: StackOutputs,
    pub ctx: Ctx,
    _front: Server,
    _hook: Server,
    _moto: Moto,
    ticker: tokio::task::JoinHandle<()>,
}

impl Drop for Plane {
    fn drop(&mut self) {
        self.ticker.abort();
        self.ctx.functions.stop_all();
    }
}

impl Plane {
    /// Starts moto behind the front, deploys the stage through the normal
    /// deploy path, discovers what it must run, and starts the minute tick.
    ///
    /// # Errors
    /// The tools, moto, the deploy or the discovery failed.
    pub async fn start(opts: PlaneOptions) -> anyhow::Result<Plane> {
        let tools = operator::base::tools::ensure()?;
        let stage = match opts.config.clone() {
            Some(config) => local_config(config),
            None => local_config(StageConfig::load(opts.stage).map_err(anyhow::Error::msg)?),
        };
        let clock = Clock::default();
        let work = Work::default();
        let hook_queue = hook::Queue::new(work.clone());
        let hook = hook::serve(hook_queue.clone()).await?;
        let moto = start_moto(&hook.endpoint()).await?;
        let aws = Arc::new(control::ServiceClients::new(&moto.endpoint).await);
        let ctx = Ctx {
            clock: clock.clone(),
            work,
            account: crate::emulator::ACCOUNT.to_owned(),
            region: crate::emulator::REGION.to_owned(),
            moto: control::MotoControl::new(&moto.endpoint),
            aws: aws.clone(),
            trace: trace::Trace::default(),
            functions: lambda::Functions::new(opts.state_dir.clone()),
            stage: stage.clone(),
        };
        let front = front::serve(opts.port, &moto.endpoint, ctx.clone()).await?;
        ctx.functions.set_front(&front.endpoint());
        let outputs = deploy(&tools, &stage, &front.endpoint(), opts.artifacts.clone()).await?;
        ctx.functions
            .discover(&ctx, &outputs, &front.endpoint())
            .await
            .context("read the deployed functions")?;
        hook::run(hook_queue, ctx.clone());
        let ticker = tokio::spawn(scheduler::tick(ctx.clone()));
        Ok(Plane {
            endpoint: front.endpoint(),
            outputs,
            ctx,
            _front: front,
            _hook: hook,
            _moto: moto,
            ticker,
        })
    }

    /// See [`Ctx::advance`].
    pub async fn advance(&self, by: Duration) {
        self.ctx.advance(by).await;
    }

    /// See [`Ctx::advance_in`].
    pub async fn advance_in(&self, by: Duration, step: Duration) {
        self.ctx.advance_in(by, step).await;
    }

    /// See [`Ctx::settle`].
    pub async fn settle(&self) {
        self.ctx.settle().await;
    }
}

/// The stage's configuration, built for this machine's architecture (the
/// functions run here).
fn local_config(mut config: StageConfig) -> StageConfig {
    config.architecture = infra::Architecture::X86_64;
    config
}

/// moto with the plane's patches, reporting to `hook`.
async fn start_moto(hook: &str) -> anyhow::Result<Moto> {
    let hook = hook.to_owned();
    tokio::task::spawn_blocking(move || {
        let tools = operator::base::tools::Tools::installed()?;
        Moto::start_with(&tools, 0, &[("LOCAL_PLANE_HOOK", hook.as_str())])
    })
    .await?
}

/// The stage deployed through the front with the normal deploy path.
async fn deploy(
    tools: &operator::base::tools::Tools,
    stage: &StageConfig,
    endpoint: &str,
    artifacts: Option<PathBuf>,
) -> anyhow::Result<StackOutputs> {
    use operator::deploy::plan::RequireApproval;
    use operator::deploy::{CodeSource, DeployOptions};
    let clients = operator::aws::Clients::new(&crate::emulator::sdk_config(endpoint).await);
    let mut opts = DeployOptions::new(stage.clone());
    opts.policy.yes = true;
    opts.policy.require_approval = RequireApproval::Never;
    opts.emulator_runs_functions = true;
    opts.output.dir = operator::root().join("target/cfn/local");
    if let Some(dir) = artifacts {
        opts.code = CodeSource::Build(operator::base::build::Source::Prebuilt(dir));
    }
    let recorder = operator::base::ui::Recorder::default();
    operator::deploy::deploy(&clients, tools, &opts, &recorder).await?;
    let outputs = operator::cfn::stack::outputs(&clients, &infra::stack_name(stage.stage)).await?;
    StackOutputs::from_outputs(&outputs).map_err(|e| anyhow::anyhow!("{e}"))
}
