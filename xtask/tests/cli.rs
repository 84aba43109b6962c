//! The `cargo xtask` binary itself: what its help says, and that a user
//! error is one line (with `RUST_BACKTRACE=1` too, as many developers keep
//! it). Cargo builds the binary for these tests (`CARGO_BIN_EXE_xtask`), in
//! the test build: the end-to-end tests that sign in through profiles run it
//! from there.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env("XTASK_DEV", dev_binary());
    cmd
}

/// The developer tasks' binary, which `cargo xtask` runs for `test`, `run`,
/// `simulate`…: built next to `xtask` by the workspace's test build
/// (`cargo xtask test`, `cargo test --workspace`).
fn dev_binary() -> std::path::PathBuf {
    let xtask = std::path::Path::new(env!("CARGO_BIN_EXE_xtask"));
    let dev = xtask.with_file_name("xtask-dev");
    assert!(
        dev.is_file(),
        "{} is missing: build it (`cargo build -p xtask-dev`) or run the workspace's tests",
        dev.display()
    );
    dev
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The subcommands `cargo xtask <path> --help` lists (none: a leaf).
fn subcommands(path: &[&str]) -> Vec<String> {
    let mut args = path.to_vec();
    args.push("--help");
    let (help, _) = text(&xtask(&args).output().unwrap());
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command path, nested ones too (`ledger statement`, `dlq list`).
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut todo: Vec<Vec<String>> = subcommands(&[]).into_iter().map(|c| vec![c]).collect();
    while let Some(path) = todo.pop() {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        for child in subcommands(&refs) {
            let mut nested = path.clone();
            nested.push(child);
            todo.push(nested);
        }
        paths.push(path);
    }
    paths.sort();
    paths
}

#[test]
fn help_says_cargo_xtask_and_every_command_ends_with_examples() {
    let paths = command_paths();
    let joined: Vec<String> = paths.iter().map(|p| p.join(" ")).collect();
    for expected in [
        "test",
        "run",
        "simulate",
        "bench",
        "deploy",
        "diff",
        "destroy",
        "releases",
        "rollback",
        "drift",
        "status",
        "ledger statement",
        "ledger job",
        "ledger adjust",
        "dlq list",
        "dlq replay",
    ] {
        assert!(
            joined.iter().any(|c| c == expected),
            "{expected} in {joined:?}"
        );
    }
    for path in &paths {
        let command = path.join(" ");
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = xtask(&args).output().unwrap();
        let (help, _) = text(&out);
        assert!(out.status.success(), "{command} --help");
        assert!(
            help.contains(&format!("Usage: cargo xtask {command}")),
            "{command}: {help}"
        );
        assert!(
            help.contains("Example"),
            "{command} --help has no example:\n{help}"
        );
        assert!(
            help.contains(&format!("cargo xtask {command}")),
            "{command}'s examples run it: {help}"
        );
    }
}

/// Standard error of a command that failed on its first AWS call: the
/// line saying where it was going (`where_to`, printed before the call),
/// then one error line and nothing else; the error line.
fn where_then_one_error<'a>(stderr: &'a str, where_to: &str) -> &'a str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "where, then one error line, not:\n{stderr}");
    assert!(lines[0].starts_with(where_to), "where first:\n{stderr}");
    assert!(lines[1].starts_with("error: "), "{stderr}");
    lines[1]
}

#[test]
fn no_credentials_is_one_line_that_says_what_to_do_even_with_rust_backtrace() {
    let home = std::env::temp_dir().join(format!("xtask-no-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    for args in [
        &["status", "--stage", "dev", "--region", "eu-west-1"][..],
        &["releases", "--stage", "dev", "--region", "eu-west-1"][..],
        &[
            "destroy",
            "--stage",
            "dev",
            "--region",
            "eu-west-1",
            "--yes",
        ][..],
    ] {
        let out = xtask(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_CONFIG_FILE", home.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let error = where_then_one_error(&stderr, "cc-agent-reconciler-dev: region eu-west-1");
        assert!(error.contains("credentials"), "{stderr}");
        assert!(
            error.contains("aws sso login") || error.contains("AWS_ACCESS_KEY_ID"),
            "says what to do: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn no_region_is_one_line_that_says_where_to_give_one() {
    let home = std::env::temp_dir().join(format!("xtask-no-region-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = xtask(&["status", "--stage", "dev"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not:\n{stderr}");
    assert!(lines[0].contains("--region"), "{stderr}");
    let _ = std::fs::remove_dir_all(&home);
}

/// A command line that was not understood exits 64, distinct from 2 ("a
/// person is needed") and 1 (a command that failed); help exits 0.
#[test]
fn usage_errors_have_their_own_exit_code() {
    for args in [
        &["status"][..],
        &["statsu", "--stage", "dev"][..],
        &["status", "--stage", "qa"][..],
        &["sweep", "--stage", "dev", "--older-than", "soon"][..],
        &["status", "--stage", "dev", "--color", "sometimes"][..],
        &["test", "--no-such-option"][..],
        &["simulate", "--seeds", "many"][..],
    ] {
        let out = xtask(args).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    let out = xtask(&["status", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// The commands that read or write a deployed stage, with what each needs
/// on its command line (the stage and AWS options are added).
const STAGE_COMMANDS: [&[&str]; 18] = [
    &["status"],
    &["status", "--json"],
    &["releases"],
    &["rollback", "--yes"],
    &["drift"],
    &["destroy", "--yes"],
    &["logs", "--since", "1h"],
    &["ledger", "statement", "acme"],
    &["ledger", "job", "job-1"],
    &[
        "ledger",
        "adjust",
        "acme",
        "--credits",
        "5",
        "--reason",
        "r",
        "--yes",
    ],
    &["ledger", "repair", "acme", "--dry-run"],
    &["sweep", "--dry-run"],
    &["dlq", "list"],
    &["dlq", "replay", "--all", "--dry-run"],
    &["unrouted", "list"],
    &["replay", "--from", "2h", "--to", "1h", "--dry-run"],
    &["smoke", "--yes"],
    &[
        "send",
        "--detail-type",
        "video.requested",
        "--detail",
        "{}",
        "--yes",
    ],
];

/// Runs `cargo xtask <command> --stage dev <extra>` with no AWS
/// configuration but `env`, and checks what it said: it failed (exit 1),
/// in one error line, last, containing `expected`; before it at most the
/// notes of where it was going; never a panic, a backtrace or a `Debug`
/// dump.
fn fails_in_one_line(command: &[&str], extra: &[&str], env: &[(&str, String)], expected: &str) {
    let home = std::env::temp_dir().join(format!("xtask-walk-{}", std::process::id()));
    let mut args: Vec<&str> = command.to_vec();
    args.extend(["--stage", "dev"]);
    args.extend(extra);
    let mut cmd = xtask(&args);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("XTASK_DEV", dev_binary())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_BACKTRACE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (_, stderr) = text(&out);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let said = format!("{args:?} said:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("error: ")),
        "{said}"
    );
    let errors = lines.iter().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "one error line: {said}");
    assert!(lines.len() <= 3, "notes of where, then the error: {said}");
    assert!(
        lines.last().unwrap().contains(expected),
        "{expected:?}: {said}"
    );
    for marker in ["panicked", "backtrace", "Some(", "{ ", "kind:", "\\n"] {
        assert!(!stderr.contains(marker), "no {marker:?}: {said}");
    }
    assert!(lines.iter().all(|l| l.len() < 500), "short lines: {said}");
}

/// Every stage command with a broken stage file, no credentials, a dead
/// endpoint and a hung one: one line each, no panic, no SDK dump, no hang
/// (the hung endpoint answers nothing; `--timeout 1s` gives up on it).
#[test]
fn every_command_fails_in_one_line_on_bad_input() {
    let stages = std::env::temp_dir().join(format!("xtask-bad-stage-{}", std::process::id()));
    std::fs::create_dir_all(&stages).unwrap();
    std::fs::write(
        stages.join("dev.toml"),
        "account = \"1\"\nlog_retention_days = \n",
    )
    .unwrap();
    let broken = [("XTASK_STAGES_DIR", stages.display().to_string())];
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    // Accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming() {
            held.push(stream);
        }
    });
    let dead = "http://127.0.0.1:1";
    let hung_line = format!("{hung_url} did not answer within 1 s");
    std::thread::scope(|scope| {
        for command in STAGE_COMMANDS {
            let (broken, keys, hung_url, hung_line) = (&broken, &keys, &hung_url, &hung_line);
            scope.spawn(move || {
                let region = ["--region", "eu-west-1"];
                fails_in_one_line(command, &region, broken, "dev.toml");
                fails_in_one_line(command, &region, &[], "no AWS credentials found");
                let at_dead = ["--endpoint-url", dead];
                fails_in_one_line(
                    command,
                    &at_dead,
                    keys,
                    "127.0.0.1:1 refused the connection",
                );
                let at_hung = ["--endpoint-url", hung_url.as_str(), "--timeout", "1s"];
                fails_in_one_line(command, &at_hung, keys, hung_line);
            });
        }
    });
    fails_in_one_line(
        &["synth"],
        &["--out", "target/never"],
        &broken,
        "not valid TOML at line 2",
    );
    let _ = std::fs::remove_dir_all(&stages);
}

/// A read in a region the stage file does not pin is refused before any
/// call, naming the region to pass (the endpoint below would refuse every
/// connection: the refusal comes first).
#[test]
fn a_read_in_the_wrong_region_is_told_the_pinned_one() {
    let stages = std::env::temp_dir().join(format!("xtask-pinned-{}", std::process::id()));
    std::fs::create_dir_all(&stages).unwrap();
    std::fs::write(stages.join("dev.toml"), "region = \"us-east-1\"\n").unwrap();
    let env = [
        ("XTASK_STAGES_DIR", stages.display().to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    for command in [&["status"][..], &["releases"][..], &["dlq", "list"][..]] {
        let extra = [
            "--region",
            "eu-west-1",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ];
        fails_in_one_line(
            command,
            &extra,
            &env,
            "stage dev is pinned to us-east-1: pass --region us-east-1",
        );
    }
    let _ = std::fs::remove_dir_all(&stages);
}
