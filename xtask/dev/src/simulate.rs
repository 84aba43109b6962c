//! `cargo xtask simulate`: runs the testkit's simulator (`testkit::sim`)
//! over seeds, against a moto server it starts.

use testkit::sim::{Size, describe, run};

/// `cargo xtask simulate`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask simulate                       # 20 random seeds
  cargo xtask simulate --seed 42 --seeds 1   # one history, at the default size
  cargo xtask simulate --seed 2 --seeds 1 --accounts 4 --jobs 60 --instances 4 --sweeps 2 --no-sdk-retries
                                             # a CI seed, exactly as CI ran it")]
pub(crate) struct Args {
    /// How many seeds to run (from --seed, or from a random one).
    #[arg(long, default_value_t = 20)]
    seeds: u32,
    /// The first seed (a failing run prints its seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Jobs per seed (each with a request, a terminal event, redeliveries).
    #[arg(long, default_value_t = 600)]
    jobs: usize,
    /// Concurrent handler instances.
    #[arg(long, default_value_t = 8)]
    instances: usize,
    /// Accounts the jobs are spread over (default: one per 25 jobs, at least 2).
    #[arg(long)]
    accounts: Option<usize>,
    /// Sweeps run during each history.
    #[arg(long, default_value_t = 3)]
    sweeps: usize,
    /// Turn the SDK's own retries off: every injected fault reaches the
    /// adapter's resends and read retries.
    #[arg(long)]
    no_sdk_retries: bool,
    /// Leave a third of the jobs without a terminal event, and their holds
    /// to the end (the sweeps do not expire them).
    #[arg(long)]
    holds_open: bool,
}

impl Args {
    fn size(&self) -> Size {
        Size {
            accounts: self.accounts.unwrap_or((self.jobs / 25).max(2)).max(1),
            jobs: self.jobs,
            instances: self.instances.max(1),
            sweeps: self.sweeps,
            sdk_retries: !self.no_sdk_retries,
            holds_open: self.holds_open,
        }
    }
}

/// Runs seeds against a moto server it starts; stops at the first failure.
///
/// # Errors
/// The failing seed and what it broke.
pub(crate) fn command(args: Args) -> anyhow::Result<()> {
    let tools = operator::base::tools::ensure()?;
    let moto = testkit::emulator::moto::Moto::start(&tools)?;
    let first = args.seed.unwrap_or_else(|| fastrand::u64(..1_000_000));
    let size = args.size();
    tokio::runtime::Runtime::new()?.block_on(async {
        for seed in first..first + u64::from(args.seeds.max(1)) {
            let report = run(&moto.endpoint, seed, size).await?;
            println!("{}", describe(&report));
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use testkit::sim::Size;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand)]
    enum Command {
        Simulate(Args),
    }

    /// The command a failing seed prints runs the same history: same seed,
    /// same size and conditions (CI's are not the command's default).
    #[test]
    fn a_failing_seed_prints_the_command_that_replays_it_exactly() {
        for seed in 1..=3 {
            let size = Size::ci(seed);
            let line = size.replay_command(seed);
            let words: Vec<&str> = line.split_whitespace().skip(1).collect();
            assert_eq!(words[0], "xtask");
            let Command::Simulate(args) = Cli::try_parse_from(&words).expect("it parses").command;
            assert_eq!(args.seed, Some(seed));
            assert_eq!(args.seeds, 1);
            assert_eq!(args.size(), size, "{line}");
        }
        assert!(!Size::ci(2).sdk_retries && Size::ci(3).holds_open);
    }
}
