//! Checks `cargo xtask test` runs that the compiler cannot: no dependency is
//! declared and unused, and no public item of a library crate is unused by
//! the whole workspace (the compiler's `dead_code` stops at a crate's public
//! API; `unreachable_pub` keeps the rest honest).
//!
//! Both are text searches over the workspace's sources, so they are cheap
//! and a little conservative: a name used anywhere else counts as used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

/// Dependencies declared for their features or their side effects, never
/// named in code. Each needs a reason.
const USED_WITHOUT_A_NAME: &[(&str, &str, &str)] = &[(
    "reconciler",
    "rustls",
    "selects the aws-lc-rs crypto provider and TLS 1.2 for hyper-rustls",
)];

/// Runs both checks on the workspace at `root`.
///
/// # Errors
/// Every finding, one per line.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let packages = workspace_packages(root)?;
    let sources: BTreeMap<PathBuf, String> = packages
        .iter()
        .flat_map(|p| rust_files(&p.dir))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            (f, text)
        })
        .collect();
    let mut findings = unused_dependencies(&packages, &sources);
    findings.extend(unused_public_items(&packages, &sources));
    if findings.is_empty() {
        eprintln!(
            "hygiene: {} packages, {} source files: every dependency and public item is used",
            packages.len(),
            sources.len()
        );
        return Ok(());
    }
    bail!("hygiene:\n  {}", findings.join("\n  "))
}

/// One workspace member, as `cargo metadata` describes it.
struct Package {
    name: String,
    dir: PathBuf,
    /// `(crate name as code spells it, kind)`: kind is `normal`, `dev` or `build`.
    dependencies: Vec<(String, String, String)>,
    /// The library's source root, if the package has a library.
    lib_root: Option<PathBuf>,
}

fn workspace_packages(root: &Path) -> anyhow::Result<Vec<Package>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    let metadata: Value = serde_json::from_slice(&out.stdout).context("parse cargo metadata")?;
    let mut packages = Vec::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let dependencies = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let declared = d["name"].as_str().unwrap_or_default().to_owned();
                let spelled = d["rename"].as_str().unwrap_or(&declared).replace('-', "_");
                let kind = d["kind"].as_str().unwrap_or("normal").to_owned();
                (declared, spelled, kind)
            })
            .collect();
        let lib_root = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })
            .and_then(|t| t["src_path"].as_str())
            .map(PathBuf::from);
        packages.push(Package {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            dir,
            dependencies,
            lib_root,
        });
    }
    Ok(packages)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                // Nested packages are scanned as themselves.
                if name != "target" && !path.join("Cargo.toml").is_file() {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether `text` names `ident` as a path segment or in a `use`.
fn names(text: &str, ident: &str) -> bool {
    text.match_indices(ident).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + ident.len()..];
        let boundary_before = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary_before && (after.starts_with("::") || after.starts_with(';'))
    })
}

fn unused_dependencies(packages: &[Package], sources: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut findings = Vec::new();
    for p in packages {
        let files: Vec<(&PathBuf, &String)> = sources
            .iter()
            .filter(|(f, _)| f.starts_with(&p.dir))
            .filter(|(f, _)| {
                !packages.iter().any(|other| {
                    other.dir != p.dir && other.dir.starts_with(&p.dir) && f.starts_with(&other.dir)
                })
            })
            .collect();
        let in_src = |ident: &str| {
            files
                .iter()
                .any(|(f, text)| f.starts_with(p.dir.join("src")) && names(text, ident))
        };
        let anywhere = |ident: &str| files.iter().any(|(_, text)| names(text, ident));
        for (declared, spelled, kind) in &p.dependencies {
            if USED_WITHOUT_A_NAME
                .iter()
                .any(|(package, dep, _)| *package == p.name && dep == declared)
            {
                continue;
            }
            let used = match kind.as_str() {
                "normal" => in_src(spelled),
                _ => anywhere(spelled),
            };
            if !used {
                findings.push(format!(
                    "{}: the {kind} dependency `{declared}` is never used (remove it from {}/Cargo.toml)",
                    p.name,
                    p.dir.display()
                ));
            }
        }
    }
    findings
}

/// The public items a library declares: `(name, file)`, outside test modules.
fn public_items(text: &str) -> Vec<String> {
    const KINDS: [&str; 8] = [
        "fn", "struct", "enum", "trait", "const", "static", "type", "mod",
    ];
    let mut items = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        // Test modules sit at the end of a file, after this attribute.
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let Some(rest) = line.strip_prefix("pub ") else {
            continue;
        };
        let rest = rest
            .trim_start_matches("async ")
            .trim_start_matches("const fn ");
        let rest = if line.starts_with("pub const fn ") {
            format!("fn {rest}")
        } else {
            rest.to_owned()
        };
        for kind in KINDS {
            if let Some(after) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')) {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    items.push(name);
                }
            }
        }
    }
    items
}

fn unused_public_items(packages: &[Package], sources: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut findings = BTreeSet::new();
    for p in packages.iter().filter(|p| p.lib_root.is_some()) {
        let src = p.dir.join("src");
        for (file, text) in sources.iter().filter(|(f, _)| f.starts_with(&src)) {
            for name in public_items(text) {
                let uses: usize = sources
                    .values()
                    .map(|t| {
                        t.match_indices(name.as_str())
                            .filter(|(at, _)| {
                                let before = t[..*at].chars().next_back();
                                let after = t[at + name.len()..].chars().next();
                                before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                                    && after.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                            })
                            .count()
                    })
                    .sum();
                if uses <= 1 {
                    let relative = file.strip_prefix(&p.dir).unwrap_or(file);
                    findings.insert(format!(
                        "{}: the public item `{name}` ({}) is used nowhere in the workspace (remove it)",
                        p.name,
                        relative.display()
                    ));
                }
            }
        }
    }
    findings.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_is_named_by_a_path_or_a_use() {
        assert!(names("use serde_json::Value;", "serde_json"));
        assert!(names("let v = serde_json::json!({});", "serde_json"));
        assert!(names("use anyhow;", "anyhow"));
        assert!(!names("let my_serde_json = 1;", "serde_json"));
        assert!(!names("serde_json_extra::x()", "serde_json"));
        assert!(!names("// serde_json is nice", "serde_json"));
    }

    #[test]
    fn public_items_are_found_outside_test_modules() {
        let text = "pub fn a() {}\npub(crate) fn b() {}\npub struct C;\n    pub async fn d() {}\n\
                    pub const fn e() {}\npub const F: u8 = 1;\n#[cfg(test)]\nmod tests { pub fn g() {} }\n";
        assert_eq!(public_items(text), ["a", "C", "d", "e", "F"]);
    }
}
