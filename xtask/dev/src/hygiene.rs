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

/// The workspace's crates by floor, lowest first: a crate may depend only
/// on crates of lower floors (ARCHITECTURE.md, "Rooms and doors"). The
/// operator's binary (`xtask`) and the testkit share a floor, so neither
/// can pull in the other: the operator's build never compiles the fault
/// proxy or the simulator.
const FLOORS: &[(&str, u8)] = &[
    ("reconciler-core", 0),
    ("reconciler", 1),
    ("infra", 1),
    ("operator", 2),
    ("xtask", 3),
    ("testkit", 3),
    ("xtask-dev", 4),
    ("e2e", 4),
];

/// Every dependency between workspace crates that does not point to a
/// lower floor, and every crate without a floor (pure).
fn rooms(packages: &[Package]) -> Vec<String> {
    let floor = |name: &str| FLOORS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
    let mut findings = Vec::new();
    for p in packages {
        let Some(own) = floor(&p.name) else {
            findings.push(format!(
                "{}: a crate without a floor (add it to hygiene::FLOORS and ARCHITECTURE.md)",
                p.name
            ));
            continue;
        };
        for (declared, _, kind) in &p.dependencies {
            if let Some(theirs) = floor(declared)
                && theirs >= own
            {
                findings.push(format!(
                    "{}: its {kind} dependency `{declared}` is on floor {theirs}, not below its own ({own})",
                    p.name
                ));
            }
        }
    }
    findings
}

/// Runs the checks on the workspace at `root`.
///
/// # Errors
/// Every finding, one per line.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let packages = workspace_packages(root)?;
    let sources: BTreeMap<PathBuf, String> = packages
        .iter()
        .flat_map(|p| rust_files(&p.dir))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            (f, text)
        })
        .collect();
    let mut findings = rooms(&packages);
    findings.extend(unused_dependencies(&packages, &sources));
    findings.extend(unused_public_items(&packages, &sources));
    if findings.is_empty() {
        eprintln!(
            "hygiene: {} packages, {} source files: every dependency points down and is used, every public item is used",
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

/// Whether `text` names the crate `ident` as the first segment of a path
/// or in a `use` (`std::time::` is not the crate `time`).
fn names(text: &str, ident: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
        .any(|line| {
            let a_use = line.starts_with("use ") || line.starts_with("pub use ");
            line.match_indices(ident).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = &line[at + ident.len()..];
                let boundary_before =
                    before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
                boundary_before && (after.starts_with("::") || (a_use && after.starts_with(';')))
            })
        })
}

/// How many times `text` uses the item `name` of `kind` (pure): a function
/// as a call or a path (`name(`, `name::<`, `::name` or `.name` followed by
/// `(`), anything else as a whole word; its own declaration excluded.
fn uses(text: &str, kind: &str, name: &str) -> usize {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = &text[..*at];
            let after = &text[at + name.len()..];
            if before.chars().next_back().is_some_and(word)
                || after.chars().next().is_some_and(word)
            {
                return false;
            }
            let declared = before.trim_end().ends_with(kind)
                && before.trim_end()[..before.trim_end().len() - kind.len()]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !word(c));
            if declared {
                return false;
            }
            if kind == "fn" {
                let called = after.starts_with('(') || after.starts_with("::<");
                // Passed by path (`.map(Self::name)`, `module::name`).
                let by_path = before.ends_with("::") && !after.starts_with('!');
                // Passed by its bare name as an argument (`.map(name)`).
                let passed = (before.ends_with('(') || before.ends_with(", "))
                    && (after.starts_with(')') || after.starts_with(','));
                called || by_path || passed
            } else {
                true
            }
        })
        .count()
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

/// The public items a library declares: `(kind, name)`, outside test modules.
fn public_items(text: &str) -> Vec<(&'static str, String)> {
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
                    items.push((kind, name));
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
            for (kind, name) in public_items(text) {
                if kind == "mod" {
                    // A module is used by what it holds.
                    continue;
                }
                let used: usize = sources.values().map(|t| uses(t, kind, &name)).sum();
                if used == 0 {
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

    fn package(name: &str, deps: &[(&str, &str)]) -> Package {
        Package {
            name: name.to_owned(),
            dir: PathBuf::from(name),
            dependencies: deps
                .iter()
                .map(|(d, kind)| ((*d).to_owned(), d.replace('-', "_"), (*kind).to_owned()))
                .collect(),
            lib_root: None,
        }
    }

    #[test]
    fn a_crate_depends_only_on_lower_floors() {
        let fine = [
            package(
                "operator",
                &[("reconciler", "normal"), ("anyhow", "normal")],
            ),
            package("e2e", &[("testkit", "dev"), ("operator", "dev")]),
        ];
        assert!(rooms(&fine).is_empty(), "{:?}", rooms(&fine));
        let up = [package("operator", &[("testkit", "normal")])];
        assert_eq!(
            rooms(&up),
            ["operator: its normal dependency `testkit` is on floor 3, not below its own (2)"]
        );
        // Same floor: the operator's binary may not pull in the testkit.
        assert_eq!(rooms(&[package("xtask", &[("testkit", "dev")])]).len(), 1);
        assert_eq!(
            rooms(&[package("newcomer", &[])]),
            ["newcomer: a crate without a floor (add it to hygiene::FLOORS and ARCHITECTURE.md)"]
        );
    }

    #[test]
    fn a_crate_is_named_by_a_path_or_a_use() {
        assert!(names("use serde_json::Value;", "serde_json"));
        assert!(names("let v = serde_json::json!({});", "serde_json"));
        assert!(names("use anyhow;", "anyhow"));
        assert!(!names("let my_serde_json = 1;", "serde_json"));
        assert!(!names("serde_json_extra::x()", "serde_json"));
        assert!(!names("// serde_json is nice", "serde_json"));
        assert!(!names("/// the settle time; the marker", "time"));
        assert!(!names("at the same time; then", "time"));
    }

    #[test]
    fn public_items_are_found_outside_test_modules() {
        let text = "pub fn a() {}\npub(crate) fn b() {}\npub struct C;\n    pub async fn d() {}\n\
                    pub const fn e() {}\npub const F: u8 = 1;\n#[cfg(test)]\nmod tests { pub fn g() {} }\n";
        let items = public_items(text);
        let names: Vec<&str> = items.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["a", "C", "d", "e", "F"]);
    }

    #[test]
    fn std_time_is_not_the_time_crate() {
        assert!(!names("use std::time::Duration;", "time"));
        assert!(!names("tokio::time::sleep(d)", "time"));
        assert!(names("time::OffsetDateTime::now_utc()", "time"));
    }

    #[test]
    fn a_function_is_used_when_called_or_passed_not_when_a_variable_shares_its_name() {
        let text =
            "pub fn client(&self) -> &Client { &self.client }\nlet client = x;\nclient.send();";
        assert_eq!(
            uses(text, "fn", "client"),
            0,
            "a field and a variable are not calls"
        );
        assert_eq!(uses("ledger.client()", "fn", "client"), 1);
        assert_eq!(uses("items.map(Ledger::client)", "fn", "client"), 1);
        assert_eq!(uses("x::<u8>(); client::<u8>()", "fn", "client"), 1);
        assert_eq!(uses("items.map(client).collect()", "fn", "client"), 1);
        assert_eq!(uses("f(a, client, b)", "fn", "client"), 1);
        assert_eq!(
            uses("pub struct Page;\nlet p: Page = Page;", "struct", "Page"),
            2
        );
    }
}
