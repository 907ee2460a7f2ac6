//! Puts the commit the binary is built from into `roster --version` (`ROSTER_COMMIT`): from
//! `ROSTER_BUILD_COMMIT` if set (a build outside a git checkout, e.g. from a release tarball's
//! sources), else `git rev-parse`, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ROSTER_BUILD_COMMIT");
    let commit = std::env::var("ROSTER_BUILD_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ROSTER_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout), not on every build.
    // (Only files that exist: cargo runs the script every time for a missing one.)
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let reference = git(&["symbolic-ref", "-q", "HEAD"]);
        for file in ["HEAD".to_string(), "packed-refs".to_string()].into_iter().chain(reference) {
            let path = format!("{dir}/{file}");
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
