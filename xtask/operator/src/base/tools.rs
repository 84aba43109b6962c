//! The pinned Python tools, in a project-local virtualenv (`.venv`, git-ignored).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// Where the tools live, and the `PATH` that puts them first.
pub struct Tools {
    pub bin: PathBuf,
}

impl Tools {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `PATH` with the virtualenv first (cargo-lambda finds zig there).
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin.clone()];
        if let Some(p) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(paths).expect("PATH entries are valid")
    }
}

impl Tools {
    /// The tools as installed, without installing anything (the tests use
    /// this: `cargo xtask test` installs them first).
    ///
    /// # Errors
    /// They are not installed.
    pub fn installed() -> anyhow::Result<Tools> {
        let bin = crate::root().join(".venv/bin");
        if !bin.join("moto_server").exists() {
            bail!(
                "{} has no moto_server: run `cargo xtask tools` (or `cargo xtask test`), which \
                 installs the pinned Python tools",
                bin.display()
            );
        }
        Ok(Tools { bin })
    }
}

/// Creates `.venv` and installs `xtask/requirements.txt` into it, unless the
/// installed set already matches the file (a hash stamp).
pub fn ensure() -> anyhow::Result<Tools> {
    let root = crate::root();
    let venv = root.join(".venv");
    let requirements = root.join("xtask/requirements.txt");
    let wanted =
        std::fs::read(&requirements).with_context(|| format!("read {}", requirements.display()))?;
    let hash = hex::encode(Sha256::digest(&wanted));
    let stamp = venv.join(".requirements.sha256");
    let bin = venv.join("bin");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(hash.as_str()) {
        return Ok(Tools { bin });
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if !bin.join("python").exists() {
        eprintln!("xtask: creating {} with {python}", venv.display());
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("run {python} (Python 3.11 with pip is required)"))?;
        if !status.success() {
            bail!("{python} -m venv {} failed", venv.display());
        }
    }
    eprintln!(
        "xtask: installing the pinned Python tools ({})",
        requirements.display()
    );
    let status = Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .context("run pip")?;
    if !status.success() {
        bail!("pip install -r {} failed", requirements.display());
    }
    std::fs::write(&stamp, hash)?;
    Ok(Tools { bin })
}
