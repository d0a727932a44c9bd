//! `diff --old-git REV`: the rule directory as it is at a git revision, written out to a
//! temporary directory so that it is read like any other (`load::CompiledRules`).

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// The files directly inside `dir` as they are at `rev`, in a new temporary directory.
/// Subdirectories are left out, as a rule directory's are; so are symlinks.
///
/// # Errors
///
/// When `dir` is not in a git work tree, or `rev` does not name a revision that has it.
pub fn rules_at(dir: &Path, rev: &str) -> Result<TempDir, String> {
    let prefix = git(dir, &["rev-parse", "--show-prefix"])?;
    let prefix = String::from_utf8_lossy(&prefix).trim().to_owned();
    let tree = format!("{rev}:{prefix}");
    let listing = git(dir, &["ls-tree", "--full-tree", "-z", &tree])?;
    let out = tempfile::Builder::new()
        .prefix("rulehook-old-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        // `<mode> <type> <object>\t<name>`
        let Some((info, name)) = entry.split_once('\t') else {
            continue;
        };
        let mut fields = info.split(' ');
        let (mode, kind, object) = (fields.next(), fields.next(), fields.next());
        let regular = matches!(mode, Some("100644" | "100755")) && kind == Some("blob");
        let rule_like = name.ends_with(".yaml") || name.ends_with(".yml");
        if !regular || !rule_like || name.contains('/') || name.starts_with('.') {
            continue;
        }
        let Some(object) = object else { continue };
        let content = git(dir, &["cat-file", "blob", object])?;
        std::fs::write(out.path().join(name), content)
            .map_err(|e| format!("cannot write {name} from {rev}: {e}"))?;
    }
    Ok(out)
}

/// Runs `git -C dir args...`; its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
