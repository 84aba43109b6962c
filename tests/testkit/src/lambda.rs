//! Starting a release Lambda binary the way Lambda does: an empty
//! environment, then the function's template environment, the variables
//! Lambda itself sets, and the emulator's endpoint.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::runtime_api::RuntimeApi;

/// The Lambda binary `bin`: in `$LAMBDA_BIN_DIR` (set by `cargo xtask
/// test`), else in `target/debug` (where `cargo test` builds them, for the
/// reconciler's own tests of its binaries).
pub fn binary(bin: &str) -> PathBuf {
    let dir = std::env::var_os("LAMBDA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| operator::root().join("target/debug"));
    let path = dir.join(bin);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo test --workspace --no-run` (cargo xtask test does)",
        path.display()
    );
    path
}

/// Starts `binary` as the function `function_name` polling `api`.
pub fn start(
    binary: &PathBuf,
    function_name: &str,
    memory_mb: u32,
    api: &RuntimeApi,
    template_env: &[(&str, String)],
) -> Child {
    let mut cmd = Command::new(binary);
    crate::emulator::lambda_env(
        &mut cmd,
        &api.address,
        function_name,
        memory_mb,
        crate::emulator::moto::shared_endpoint(),
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in template_env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}

/// Waits for a binary that must refuse to start; returns everything it printed.
pub fn refusal_output(child: Child) -> String {
    let out = child.wait_with_output().expect("wait for the binary");
    assert!(!out.status.success(), "the binary started anyway");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The handler's template environment for `stage` and `table`.
pub fn handler_env(stage: &str, table: &str) -> Vec<(&'static str, String)> {
    use reconciler_core::contract::handler_env;
    vec![
        (handler_env::STAGE, stage.into()),
        (handler_env::LEDGER_TABLE, table.into()),
    ]
}

/// The sweep's template environment for `stage` and `table`, without a
/// summarizer: a 6-hour hold timeout, stragglers expired.
pub fn sweep_env(stage: &str, table: &str) -> Vec<(&'static str, String)> {
    use reconciler_core::contract::sweep_env;
    vec![
        (sweep_env::STAGE, stage.into()),
        (sweep_env::LEDGER_TABLE, table.into()),
        (sweep_env::HOLD_TIMEOUT_SECONDS, "21600".into()),
        (sweep_env::STRAGGLER_ACTION, "expire".into()),
        (sweep_env::SUMMARIZER_BASE_URL, String::new()),
        (sweep_env::SUMMARIZER_MODEL, String::new()),
        (sweep_env::SUMMARIZER_API_KEY_PARAMETER, String::new()),
        (sweep_env::SUMMARIZER_TIMEOUT_MS, String::new()),
    ]
}
