//! A user error of the `cargo xtask` binary is one line (what is wrong, what
//! to do), also with `RUST_BACKTRACE=1` set, as many Rust developers keep
//! it: backtraces are for real bugs, or `-v`.

use std::process::Command;

/// `cargo xtask deploy --stage dev` (arm64) where the arm64 standard library
/// is not installed: a fake `rustc` reports an empty sysroot, so the test
/// does not depend on what this machine has installed.
#[tokio::test]
async fn a_missing_rust_target_is_one_line_even_with_rust_backtrace() {
    let dir = std::env::temp_dir().join(format!("xtask-no-target-{}", std::process::id()));
    let sysroot = dir.join("sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let rustc = dir.join("rustc");
    std::fs::write(&rustc, format!("#!/bin/sh\necho {}\n", sysroot.display())).unwrap();
    let mut permissions = std::fs::metadata(&rustc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&rustc, permissions).unwrap();

    let endpoint = testkit::emulator::moto::shared_endpoint().to_owned();
    let mut cmd = Command::new(testkit::lambda::binary("xtask"));
    cmd.args([
        "deploy",
        "--stage",
        "dev",
        "--endpoint-url",
        &endpoint,
        "--yes",
    ])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", &dir)
    .env("AWS_CONFIG_FILE", dir.join("no-config"))
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .env("AWS_REGION", "us-east-1")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env("RUSTC", &rustc)
    .env("RUST_BACKTRACE", "1");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("rustup target add aarch64-unknown-linux-gnu")
            && errors[0].contains("--arch x86_64"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("stack backtrace") && !stderr.contains("   0: "),
        "no backtrace for a user error:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
