//! Building the Lambdas with cargo-lambda, once per change of their inputs.
//!
//! Each architecture builds into its own directory, `target/lambda/<arch>/`
//! (`<bin>/bootstrap.zip` per function), so an x86_64 build never overwrites an
//! arm64 one. Next to the zips, `.inputs.sha256` records a fingerprint of
//! everything the build reads ([`inputs_fingerprint`]); while it matches and
//! the zips exist, `cargo lambda build` is not run again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, bail};
use infra::Architecture;
use infra::stack::{ids, params};
use sha2::{Digest, Sha256};

use crate::base::tools::Tools;

/// One Lambda function of the stack: its binary and its code-key parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Short name: the first segment of its S3 key (`handler/<sha256>.zip`).
    pub name: &'static str,
    /// The cargo binary (`[[bin]]` of the `reconciler` package).
    pub bin: &'static str,
    /// The template parameter receiving its S3 key.
    pub code_key_parameter: &'static str,
    /// Its logical id in the template.
    pub logical_id: &'static str,
}

/// The stack's functions, in a fixed order.
pub const FUNCTIONS: [Function; 2] = [
    Function {
        name: "handler",
        bin: "reconciler-handler",
        code_key_parameter: params::HANDLER_CODE_KEY,
        logical_id: ids::HANDLER_FUNCTION,
    },
    Function {
        name: "sweep",
        bin: "reconciler-sweep",
        code_key_parameter: params::SWEEP_CODE_KEY,
        logical_id: ids::SWEEP_FUNCTION,
    },
];

/// The cargo package holding [`FUNCTIONS`].
pub const PACKAGE: &str = "reconciler";

/// The directory name of an architecture's build: `arm64` or `x86_64`.
pub fn arch_dir(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Arm64 => "arm64",
        Architecture::X86_64 => "x86_64",
    }
}

/// The Rust target triple cargo-lambda builds for `arch`.
pub fn target_triple(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        Architecture::X86_64 => "x86_64-unknown-linux-gnu",
    }
}

/// cargo-lambda's flag for `arch`.
fn cargo_lambda_flag(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Arm64 => "--arm64",
        Architecture::X86_64 => "--x86-64",
    }
}

/// `target/lambda/<arch>`: where cargo-lambda writes this architecture's zips.
pub fn lambda_dir(root: &Path, arch: Architecture) -> PathBuf {
    root.join("target/lambda").join(arch_dir(arch))
}

/// The release binary cargo-lambda leaves in cargo's target directory (what
/// the end-to-end tests run): `target/<triple>/release/<bin>`.
pub fn release_binary(root: &Path, arch: Architecture, bin: &str) -> PathBuf {
    target_dir(root)
        .join(target_triple(arch))
        .join("release")
        .join(bin)
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`):
/// where cargo-lambda, run by cargo, leaves the binaries.
pub fn target_dir(root: &Path) -> PathBuf {
    target_dir_from(root, std::env::var_os("CARGO_TARGET_DIR"))
}

fn target_dir_from(root: &Path, cargo_target_dir: Option<std::ffi::OsString>) -> PathBuf {
    cargo_target_dir
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A built deployment package.
#[derive(Clone, Debug)]
pub struct Zip {
    /// The function it holds.
    pub function: Function,
    /// `target/lambda/<arch>/<bin>/bootstrap.zip`.
    pub path: PathBuf,
    /// SHA-256 of the zip's content (see [`zip_content_sha256`]), lowercase hex.
    pub sha256: String,
}

/// The result of [`ensure_built`].
#[derive(Clone, Debug)]
pub struct Built {
    /// The architecture built for.
    pub arch: Architecture,
    /// `false`: the inputs were unchanged and the existing zips were reused.
    pub rebuilt: bool,
    /// One zip per entry of [`FUNCTIONS`], in that order.
    pub zips: Vec<Zip>,
}

/// Where a deploy's code comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// Built here with cargo-lambda (release profile) for the stage's
    /// architecture; skipped while its inputs are unchanged.
    #[default]
    Build,
    /// Packages built elsewhere (CI, another machine), laid out as
    /// cargo-lambda lays them out: `<dir>/<bin>/bootstrap.zip` per function.
    Prebuilt(PathBuf),
}

/// The packages of `source`: built (or reused) for `arch`, or read from a
/// prebuilt directory.
///
/// # Errors
/// See [`ensure_built`]; a prebuilt directory missing a package.
pub fn packages(tools: &Tools, arch: Architecture, source: &Source) -> anyhow::Result<Built> {
    match source {
        Source::Build => ensure_built(tools, arch),
        Source::Prebuilt(dir) => {
            let paths = FUNCTIONS
                .iter()
                .map(|f| {
                    let path = dir.join(f.bin).join("bootstrap.zip");
                    if path.is_file() {
                        Ok(path)
                    } else {
                        bail!(
                            "{} is missing: --artifacts needs <dir>/<bin>/bootstrap.zip for {}",
                            path.display(),
                            FUNCTIONS.map(|f| f.bin).join(" and ")
                        )
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Built {
                arch,
                rebuilt: false,
                zips: hashed(paths)?,
            })
        }
    }
}

/// Fails now, before any AWS call, if [`packages`] could not deliver.
///
/// # Errors
/// What is missing and how to get it.
pub fn check_source(tools: &Tools, arch: Architecture, source: &Source) -> anyhow::Result<()> {
    match source {
        Source::Build => check_buildable(tools, arch),
        Source::Prebuilt(dir) if dir.is_dir() => Ok(()),
        Source::Prebuilt(dir) => bail!("--artifacts {}: no such directory", dir.display()),
    }
}

fn hashed(paths: Vec<PathBuf>) -> anyhow::Result<Vec<Zip>> {
    FUNCTIONS
        .iter()
        .zip(paths)
        .map(|(function, path)| {
            let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            let sha256 = zip_content_sha256(&bytes)
                .with_context(|| format!("read the zip {}", path.display()))?;
            Ok(Zip {
                function: *function,
                path,
                sha256,
            })
        })
        .collect()
}

/// Serializes builds within a process (tests deploy in parallel).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds both functions for `arch` unless the zips exist and their inputs are
/// unchanged; returns the zips with their content hashes.
///
/// # Errors
/// A missing zig or Rust target (before anything is built, with what to
/// do), a failed build, or an unreadable zip.
pub fn ensure_built(tools: &Tools, arch: Architecture) -> anyhow::Result<Built> {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = crate::root();
    let dir = lambda_dir(&root, arch);
    let stamp = dir.join(".inputs.sha256");
    let BuildState {
        fingerprint,
        zip_paths,
        up_to_date,
    } = build_state(&root, arch)?;
    if up_to_date {
        eprintln!(
            "build: {} unchanged since the last build, not rebuilt ({})",
            arch_dir(arch),
            dir.display()
        );
    } else {
        preflight(tools, arch)?;
        let _ = std::fs::remove_file(&stamp);
        run_cargo_lambda(tools, &root, arch, &dir)?;
        for path in &zip_paths {
            if !path.is_file() {
                bail!(
                    "cargo lambda build succeeded but {} is missing",
                    path.display()
                );
            }
        }
        std::fs::write(&stamp, &fingerprint)
            .with_context(|| format!("write {}", stamp.display()))?;
    }
    Ok(Built {
        arch,
        rebuilt: !up_to_date,
        zips: hashed(zip_paths)?,
    })
}

/// What is on disk for an architecture's build.
struct BuildState {
    fingerprint: String,
    zip_paths: Vec<PathBuf>,
    /// The stamp matches the inputs and every output exists.
    up_to_date: bool,
}

fn build_state(root: &Path, arch: Architecture) -> anyhow::Result<BuildState> {
    let dir = lambda_dir(root, arch);
    let fingerprint = inputs_fingerprint(root, arch)?;
    let zip_paths: Vec<PathBuf> = FUNCTIONS
        .iter()
        .map(|f| dir.join(f.bin).join("bootstrap.zip"))
        .collect();
    let stamp = std::fs::read_to_string(dir.join(".inputs.sha256")).ok();
    let up_to_date = stamp.as_deref() == Some(fingerprint.as_str())
        && zip_paths.iter().all(|p| p.is_file())
        && FUNCTIONS
            .iter()
            .all(|f| release_binary(root, arch, f.bin).is_file());
    Ok(BuildState {
        fingerprint,
        zip_paths,
        up_to_date,
    })
}

/// Fails now, before any AWS call, if [`ensure_built`] would have to build
/// and cannot (see [`preflight`]); passes when the build is up to date.
///
/// # Errors
/// What is missing and how to get it.
pub fn check_buildable(tools: &Tools, arch: Architecture) -> anyhow::Result<()> {
    if build_state(&crate::root(), arch)?.up_to_date {
        return Ok(());
    }
    preflight(tools, arch)
}

fn run_cargo_lambda(
    tools: &Tools,
    root: &Path,
    arch: Architecture,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(tools.tool("cargo-lambda"));
    cmd.args(["lambda", "build", "--release", "--output-format", "zip"])
        .arg("--lambda-dir")
        .arg(dir)
        .arg(cargo_lambda_flag(arch))
        .args(["--package", PACKAGE]);
    for function in FUNCTIONS {
        cmd.args(["--bin", function.bin]);
    }
    eprintln!(
        "build: cargo lambda build --release {} for {} (this takes a few minutes on a cold target/)",
        cargo_lambda_flag(arch),
        FUNCTIONS.map(|f| f.bin).join(", ")
    );
    let status = cmd
        .current_dir(root)
        .env("PATH", tools.path_env())
        .status()
        .context("start cargo-lambda (run `cargo xtask tools`)")?;
    if !status.success() {
        bail!(
            "cargo lambda build {} failed ({status})",
            cargo_lambda_flag(arch)
        );
    }
    Ok(())
}

/// Fails, before any build, when cargo-lambda could not build for `arch`:
/// zig missing, or the Rust standard library for the target not installed.
///
/// # Errors
/// What is missing and how to get it.
pub fn preflight(tools: &Tools, arch: Architecture) -> anyhow::Result<()> {
    if !tools.tool("cargo-lambda").exists() {
        bail!(
            "cargo-lambda is missing from {}: run `cargo xtask tools`",
            tools.bin.display()
        );
    }
    if !zig_available(tools) {
        bail!(
            "zig is missing: cargo-lambda needs it to link Lambda binaries. Run `cargo xtask tools` \
             (installs the pinned `ziglang` into .venv), or put `zig` on PATH"
        );
    }
    let triple = target_triple(arch);
    if !rust_target_installed(triple)? {
        bail!(
            "the Rust target {triple} ({arch} Lambdas) is not installed for this toolchain: run \
             `rustup target add {triple}`, or deploy another architecture with `--arch {other}`",
            arch = arch_dir(arch),
            other = match arch {
                Architecture::Arm64 => "x86_64",
                Architecture::X86_64 => "arm64",
            }
        );
    }
    Ok(())
}

/// `zig` on the tools' `PATH`, or a `python3` there that has the `ziglang`
/// package (cargo-lambda accepts either).
fn zig_available(tools: &Tools) -> bool {
    let path = tools.path_env();
    let find = |name: &str| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    if find("zig").is_some() {
        return true;
    }
    find("python3").is_some_and(|python| {
        Command::new(python)
            .args(["-c", "import ziglang"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether the toolchain's sysroot has the standard library for `triple`
/// (what `rustup target list --installed` reports, without needing rustup).
fn rust_target_installed(triple: &str) -> anyhow::Result<bool> {
    Ok(sysroot()?
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir())
}

/// The toolchain's sysroot (`rustc --print sysroot`, in the workspace, so
/// `rust-toolchain.toml` picks the toolchain).
///
/// # Errors
/// rustc could not run.
pub fn sysroot() -> anyhow::Result<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(crate::root())
        .output()
        .with_context(|| format!("run {rustc} --print sysroot"))?;
    if !out.status.success() {
        bail!("{rustc} --print sysroot failed");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A fingerprint of everything a Lambda build reads: the architecture, the
/// lock file, the workspace manifest (release profile), the toolchain pin,
/// the pinned tools, and every file under `functions/`.
///
/// # Errors
/// An unreadable input file.
pub fn inputs_fingerprint(root: &Path, arch: Architecture) -> anyhow::Result<String> {
    let mut files: Vec<PathBuf> = [
        "Cargo.lock",
        "Cargo.toml",
        "rust-toolchain.toml",
        "xtask/requirements.txt",
    ]
    .iter()
    .map(|f| root.join(f))
    .filter(|p| p.is_file())
    .collect();
    collect_files(&root.join("functions"), &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(format!("arch={}\n", arch_dir(arch)));
    for file in files {
        let content = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
        let relative = file.strip_prefix(root).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// SHA-256 of a Lambda package's *content*: each entry's name, Unix mode and
/// bytes, in name order. Timestamps, compression and the archive's layout are
/// left out, so re-zipping identical code gives the same hash (and so the
/// same S3 key).
///
/// # Errors
/// Not a readable zip.
pub fn zip_content_sha256(zip: &[u8]) -> anyhow::Result<String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).context("not a zip")?;
    let mut names = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<Vec<String>, _>>()
        .context("read the zip's entry names")?;
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        let mut entry = archive
            .by_name(&name)
            .with_context(|| format!("read the zip entry {name}"))?;
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .with_context(|| format!("read the zip entry {name}"))?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(entry.unix_mode().unwrap_or(0).to_le_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(&data);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A zip of `files` (compressed or stored), stamped with `minute`.
    pub(crate) fn zip_of(files: &[(&str, &[u8])], minute: u8, compressed: bool) -> Vec<u8> {
        use std::io::Write;
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let time = zip::DateTime::from_date_and_time(2026, 1, 1, 0, minute, 0).unwrap();
        let options = zip::write::SimpleFileOptions::default()
            .unix_permissions(0o755)
            .last_modified_time(time)
            .compression_method(if compressed {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            });
        for (name, data) in files {
            out.start_file(*name, options).unwrap();
            out.write_all(data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn the_zip_hash_ignores_timestamps_and_order_but_not_content() {
        let a = zip_of(&[("bootstrap", b"binary v1"), ("README", b"x")], 1, false);
        let later = zip_of(&[("README", b"x"), ("bootstrap", b"binary v1")], 7, true);
        let changed = zip_of(&[("bootstrap", b"binary v2"), ("README", b"x")], 1, false);
        let renamed = zip_of(&[("bootstrap2", b"binary v1"), ("README", b"x")], 1, false);
        assert_ne!(a, later, "the archives differ byte for byte");
        let hash = |z: &[u8]| zip_content_sha256(z).unwrap();
        assert_eq!(hash(&a), hash(&later));
        assert_ne!(hash(&a), hash(&changed));
        assert_ne!(hash(&a), hash(&renamed));
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn a_non_zip_is_refused() {
        let error = zip_content_sha256(b"not a zip at all, just some bytes").unwrap_err();
        assert!(error.to_string().contains("not a zip"), "{error}");
        let truncated = &zip_of(&[("bootstrap", b"abc")], 0, false)[5..];
        assert!(zip_content_sha256(truncated).is_err());
    }

    #[test]
    fn architectures_build_into_their_own_directories() {
        let root = Path::new("/w");
        assert_eq!(
            lambda_dir(root, Architecture::Arm64),
            Path::new("/w/target/lambda/arm64")
        );
        assert_eq!(
            lambda_dir(root, Architecture::X86_64),
            Path::new("/w/target/lambda/x86_64")
        );
        assert_eq!(
            release_binary(root, Architecture::X86_64, "reconciler-handler"),
            target_dir(root).join("x86_64-unknown-linux-gnu/release/reconciler-handler")
        );
    }

    #[test]
    fn the_target_directory_is_cargos() {
        let root = Path::new("/w");
        assert_eq!(target_dir_from(root, None), Path::new("/w/target"));
        assert_eq!(
            target_dir_from(root, Some("/cache/t".into())),
            Path::new("/cache/t")
        );
    }

    #[test]
    fn the_fingerprint_depends_on_the_architecture() {
        let root = crate::root();
        let arm = inputs_fingerprint(&root, Architecture::Arm64).unwrap();
        let x86 = inputs_fingerprint(&root, Architecture::X86_64).unwrap();
        assert_ne!(arm, x86);
    }

    #[test]
    fn the_functions_match_the_template_parameters() {
        let template = infra::synth(infra::Stage::Dev);
        for function in FUNCTIONS {
            assert!(
                template.contains(function.code_key_parameter),
                "{}",
                function.name
            );
        }
    }
}
