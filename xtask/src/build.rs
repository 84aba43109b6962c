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
use infra::stack::params;
use sha2::{Digest, Sha256};

use crate::tools::Tools;

/// One Lambda function of the stack: its binary and its code-key parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Short name: the first segment of its S3 key (`handler/<sha256>.zip`).
    pub name: &'static str,
    /// The cargo binary (`[[bin]]` of the `reconciler` package).
    pub bin: &'static str,
    /// The template parameter receiving its S3 key.
    pub code_key_parameter: &'static str,
}

/// The stack's functions, in a fixed order.
pub const FUNCTIONS: [Function; 2] = [
    Function {
        name: "handler",
        bin: "reconciler-handler",
        code_key_parameter: params::HANDLER_CODE_KEY,
    },
    Function {
        name: "sweep",
        bin: "reconciler-sweep",
        code_key_parameter: params::SWEEP_CODE_KEY,
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
    root.join("target")
        .join(target_triple(arch))
        .join("release")
        .join(bin)
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
    let zips = FUNCTIONS
        .iter()
        .zip(zip_paths)
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
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Built {
        arch,
        rebuilt: !up_to_date,
        zips,
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
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(crate::root())
        .output()
        .with_context(|| format!("run {rustc} --print sysroot"))?;
    if !out.status.success() {
        bail!("{rustc} --print sysroot failed");
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir())
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
    Ok(hex(&hasher.finalize()))
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

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a zip's *content*: each entry's name, Unix mode, compression
/// method, CRC and stored bytes, in name order. Timestamps and the archive's
/// layout are left out, so re-zipping identical code gives the same hash
/// (and so the same S3 key).
///
/// # Errors
/// Not a zip (or a ZIP64 one, which a Lambda package never needs).
pub fn zip_content_sha256(zip: &[u8]) -> anyhow::Result<String> {
    let mut entries = zip_entries(zip)?;
    entries.sort_by(|a, b| a.name.cmp(b.name));
    let mut hasher = Sha256::new();
    for e in entries {
        hasher.update((e.name.len() as u64).to_le_bytes());
        hasher.update(e.name);
        hasher.update(e.unix_mode.to_le_bytes());
        hasher.update(e.method.to_le_bytes());
        hasher.update(e.crc32.to_le_bytes());
        hasher.update(e.uncompressed_size.to_le_bytes());
        hasher.update((e.data.len() as u64).to_le_bytes());
        hasher.update(e.data);
    }
    Ok(hex(&hasher.finalize()))
}

/// One entry of a zip's central directory.
struct ZipEntry<'a> {
    name: &'a [u8],
    unix_mode: u16,
    method: u16,
    crc32: u32,
    uncompressed_size: u32,
    /// The stored (possibly compressed) bytes.
    data: &'a [u8],
}

fn zip_entries(zip: &[u8]) -> anyhow::Result<Vec<ZipEntry<'_>>> {
    let u16_at = |at: usize| -> anyhow::Result<u16> {
        zip.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .context("truncated zip")
    };
    let u32_at = |at: usize| -> anyhow::Result<u32> {
        zip.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .context("truncated zip")
    };
    const EOCD: u32 = 0x0605_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    const LOCAL: u32 = 0x0403_4b50;
    // The end-of-central-directory record: the last 22 bytes, plus a comment.
    let earliest = zip.len().saturating_sub(22 + usize::from(u16::MAX));
    let eocd = (earliest..=zip.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(at).ok() == Some(EOCD))
        .context("not a zip: no end-of-central-directory record")?;
    let count = u16_at(eocd + 10)?;
    let central_offset = u32_at(eocd + 16)?;
    if count == u16::MAX || central_offset == u32::MAX {
        bail!("ZIP64 archives are not supported");
    }
    let mut at = central_offset as usize;
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        if u32_at(at)? != CENTRAL {
            bail!("corrupt zip: bad central directory entry at {at}");
        }
        let method = u16_at(at + 10)?;
        let crc32 = u32_at(at + 16)?;
        let compressed_size = u32_at(at + 20)? as usize;
        let uncompressed_size = u32_at(at + 24)?;
        let name_len = usize::from(u16_at(at + 28)?);
        let extra_len = usize::from(u16_at(at + 30)?);
        let comment_len = usize::from(u16_at(at + 32)?);
        let external_attributes = u32_at(at + 38)?;
        let local = u32_at(at + 42)? as usize;
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .context("truncated zip")?;
        if u32_at(local)? != LOCAL {
            bail!(
                "corrupt zip: bad local header for {}",
                String::from_utf8_lossy(name)
            );
        }
        let data_start =
            local + 30 + usize::from(u16_at(local + 26)?) + usize::from(u16_at(local + 28)?);
        let data = zip
            .get(data_start..data_start + compressed_size)
            .context("truncated zip data")?;
        entries.push(ZipEntry {
            name,
            unix_mode: (external_attributes >> 16) as u16,
            method,
            crc32,
            uncompressed_size,
            data,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) zip of `files`, with the given DOS time stamp.
    pub(crate) fn stored_zip(files: &[(&str, &[u8])], dos_time: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let crc = crc32(data);
            let header = |sig: u32, central_entry: bool| {
                let mut h = Vec::new();
                h.extend(sig.to_le_bytes());
                if central_entry {
                    h.extend(0x031e_u16.to_le_bytes()); // made by: Unix
                }
                h.extend(20_u16.to_le_bytes()); // version needed
                h.extend(0_u16.to_le_bytes()); // flags
                h.extend(0_u16.to_le_bytes()); // method: stored
                h.extend(dos_time.to_le_bytes());
                h.extend(0x5a21_u16.to_le_bytes()); // date
                h.extend(crc.to_le_bytes());
                h.extend((data.len() as u32).to_le_bytes());
                h.extend((data.len() as u32).to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend(0_u16.to_le_bytes()); // extra
                if central_entry {
                    h.extend(0_u16.to_le_bytes()); // comment
                    h.extend(0_u16.to_le_bytes()); // disk
                    h.extend(0_u16.to_le_bytes()); // internal attributes
                    h.extend((0o100_755_u32 << 16).to_le_bytes());
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(header(0x0403_4b50, false));
            out.extend(*data);
            central.extend(header(0x0201_4b50, true));
        }
        let central_offset = out.len() as u32;
        out.extend(&central);
        out.extend(0x0605_4b50_u32.to_le_bytes());
        out.extend([0, 0, 0, 0]);
        out.extend((files.len() as u16).to_le_bytes());
        out.extend((files.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(central_offset.to_le_bytes());
        out.extend(0_u16.to_le_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0_u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn the_zip_hash_ignores_timestamps_and_order_but_not_content() {
        let a = stored_zip(&[("bootstrap", b"binary v1"), ("README", b"x")], 0x1000);
        let later = stored_zip(&[("README", b"x"), ("bootstrap", b"binary v1")], 0x7000);
        let changed = stored_zip(&[("bootstrap", b"binary v2"), ("README", b"x")], 0x1000);
        let renamed = stored_zip(&[("bootstrap2", b"binary v1"), ("README", b"x")], 0x1000);
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
        let truncated = &stored_zip(&[("bootstrap", b"abc")], 0)[5..];
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
            Path::new("/w/target/x86_64-unknown-linux-gnu/release/reconciler-handler")
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
