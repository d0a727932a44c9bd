//! Records the git commit the binary is built from, for `--version`, the start-up log line
//! and `rulehook_build_info`: two replicas of one version tag can still run different code.
//!
//! `RULEHOOK_COMMIT`, when set, wins (an image built from a source tarball has no `.git`);
//! otherwise `git rev-parse`; otherwise `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RULEHOOK_COMMIT");
    let commit = std::env::var("RULEHOOK_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RULEHOOK_COMMIT={}", commit.trim());
    // Built again when the checked-out commit changes: HEAD itself, and the branch it names.
    for path in ["HEAD", "packed-refs"] {
        if let Some(file) = git_path(path) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git_path(&r)) {
        println!("cargo:rerun-if-changed={}", branch.display());
    }
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// Where git keeps `path` of this repository (worktrees keep HEAD apart from refs).
fn git_path(path: &str) -> Option<PathBuf> {
    git(&["rev-parse", "--git-path", path])
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
