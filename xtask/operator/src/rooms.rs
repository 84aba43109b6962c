//! The rooms keep their doors one-way: every top-level module of the crate
//! is a room with a rank, and a file may import only rooms of a lower rank
//! (and its own); a command may not import another command. This test
//! reads every `.rs` file's `crate::…` and `super::…` paths (doc links
//! included: a link is a dependency too) and names each file and path that
//! breaks the rule. See ARCHITECTURE.md, "The operator library's rooms".

use std::path::Path;

use crate::runbook_check::rust_files;

/// Each room and its rank: a room imports only rooms of a lower rank. Rooms
/// of one rank do not import each other. `root` is `lib.rs`'s workspace
/// root, below every room.
const RANKS: [(&str, u8); 9] = [
    ("root", 0),
    ("base", 1),
    ("aws", 2),
    ("cfn", 3),
    ("artifacts", 3),
    ("models", 4),
    ("policy", 4),
    ("deploy", 5),
    ("commands", 6),
];

/// The modules at the crate's root that are no room: this test and the
/// runbook's (tests only; no room imports them).
const NOT_ROOMS: [&str; 3] = ["lib", "rooms", "runbook_check"];

fn rank(room: &str) -> Option<u8> {
    RANKS.iter().find(|(r, _)| *r == room).map(|(_, n)| *n)
}

/// The module path of a source file: `commands/status/mod.rs` is
/// `commands::status`, `cfn/stack.rs` is `cfn::stack`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every path `text` names from the crate's root (`crate::a::b`, and
/// `super::…` resolved against `module`), as its first two segments.
fn imports(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        let mut rest = &text[at..];
        if let Some(after) = rest.strip_prefix("crate::") {
            rest = after;
        } else {
            base = module.to_vec();
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
        }
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(list) => list[..list.find('}').unwrap_or(list.len())]
                .split(',')
                .map(|n| ident(n.trim()))
                .collect(),
            None => vec![ident(rest)],
        };
        for name in names.into_iter().filter(|n| !n.is_empty() && *n != "self") {
            let mut path = base.clone();
            path.push(name.to_owned());
            if let Some(second) = rest
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix("::"))
                .map(ident)
                .filter(|s| !s.is_empty())
            {
                path.push(second.to_owned());
            }
            path.truncate(2);
            found.push(path);
        }
    }
    found
}

/// What is wrong with `module` importing `path`, if anything; `commands`
/// are the command modules.
fn violation(module: &[String], path: &[String], commands: &[String]) -> Option<String> {
    let (room, target) = (module.first()?, path.first()?);
    let (from, to) = (rank(room)?, rank(target)?);
    if room != target && to >= from {
        return Some(format!(
            "the {room} room (rank {from}) imports the {target} room (rank {to})"
        ));
    }
    let command = |m: &[String]| {
        m.get(1)
            .filter(|c| m[0] == "commands" && commands.contains(c))
            .cloned()
    };
    match (room.as_str(), command(module), command(path)) {
        ("commands", Some(own), Some(other)) if own != other => Some(format!(
            "the {own} command imports the {other} command: share it through a room below"
        )),
        ("commands", None, Some(other)) if module.len() == 1 => Some(format!(
            "what the commands share imports the {other} command"
        )),
        _ => None,
    }
}

#[test]
fn every_room_imports_only_rooms_below_it_and_no_command_another() {
    let src = crate::root().join("xtask/operator/src");
    let commands: Vec<String> = std::fs::read_dir(src.join("commands"))
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|name| name != "mod")
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_of(relative);
        if module.len() == 1 && NOT_ROOMS.contains(&module[0].as_str()) {
            continue;
        }
        assert!(
            rank(&module[0]).is_some(),
            "{}: the module {} has no rank in rooms.rs",
            relative.display(),
            module[0]
        );
        let text = std::fs::read_to_string(file).unwrap();
        for path in imports(&module, &text) {
            if let Some(why) = violation(&module, &path, &commands) {
                broken.push(format!(
                    "{}: {}: {why}",
                    relative.display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(files.len() > 40, "only {} files read", files.len());
    assert!(
        broken.is_empty(),
        "doors that open upward:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn paths_are_resolved_from_the_root_and_from_super() {
    let module = |m: &str| m.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        imports(
            &module("cfn::stack"),
            "use crate::aws::{Clients, sdk_error};"
        ),
        [module("aws")]
    );
    assert_eq!(
        imports(&module("cfn::stack"), "use crate::{aws::Clients, base};"),
        [module("aws"), module("base")]
    );
    assert_eq!(
        imports(
            &module("commands::status::render"),
            "use super::super::ledger::x; use super::report::Y;"
        ),
        [module("commands::ledger"), module("commands::status")]
    );
    assert_eq!(
        imports(
            &module("deploy::run"),
            "use super::{self, plan::StackPlan};"
        ),
        [module("deploy::plan")]
    );
    assert!(imports(&module("base::ui"), "let x = my_crate::deploy::y;").is_empty());
}

#[test]
fn upward_doors_and_commands_importing_commands_are_named() {
    let module = |m: &str| m.split("::").map(str::to_owned).collect::<Vec<_>>();
    let commands = ["ledger".to_owned(), "status".to_owned()];
    let check = |from: &str, path: &str| violation(&module(from), &module(path), &commands);
    assert_eq!(
        check("cfn::stack", "deploy::plan").as_deref(),
        Some("the cfn room (rank 3) imports the deploy room (rank 5)")
    );
    assert_eq!(
        check("cfn::stack", "artifacts::Bucket").as_deref(),
        Some("the cfn room (rank 3) imports the artifacts room (rank 3)"),
        "rooms of one rank do not import each other"
    );
    assert_eq!(check("deploy::run", "models::code"), None);
    assert_eq!(check("deploy::run", "deploy::plan"), None);
    assert_eq!(check("models::code", "root"), None);
    assert!(
        check("commands::status::render", "commands::ledger")
            .is_some_and(|why| why.contains("the status command imports the ledger command"))
    );
    assert_eq!(check("commands::status::render", "commands::status"), None);
    assert_eq!(check("commands::ledger", "commands::Console"), None);
    assert!(check("commands", "commands::ledger").is_some());
    assert_eq!(
        check("commands::status", "models::ledger"),
        None,
        "a model, not the command"
    );
}
