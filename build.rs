//! Records the git commit copyhound is built from, for the provenance of every capture
//! (`COPYHOUND_GIT_COMMIT` at compile time). A packager building outside a git checkout
//! may set `COPYHOUND_GIT_COMMIT` themselves; without either, provenance names the
//! version alone.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=COPYHOUND_GIT_COMMIT");
    let commit = std::env::var("COPYHOUND_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]));
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it names (a
    // commit). Only paths that exist are named; naming a missing one would rebuild
    // every time.
    if let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) {
        let head = PathBuf::from(&git_dir).join("HEAD");
        if head.exists() {
            println!("cargo:rerun-if-changed={}", head.display());
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let reference = PathBuf::from(&common).join(branch);
            if reference.exists() {
                println!("cargo:rerun-if-changed={}", reference.display());
            }
        }
        let packed = PathBuf::from(&common).join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
    if let Some(commit) = commit {
        println!("cargo:rustc-env=COPYHOUND_GIT_COMMIT={commit}");
    }
}
