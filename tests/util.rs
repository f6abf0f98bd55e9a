//! Helpers: run the binary, find shared data.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cbrrel")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cbrrel` with `args` from the repository root.
pub fn cbrrel(args: &[&str]) -> Output {
    std::process::Command::new(bin()).args(args).current_dir(repo()).output().expect("run cbrrel")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parse the one JSON object a `--format json` command prints.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// A file under ../shared/data, or `None` (with a note) when this machine has no shared folder.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = repo().join("..").join("shared").join(rel);
    if p.exists() {
        Some(p)
    } else {
        // CI runs with shared/ beside the clone: there a missing corpus is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "CI=true but {} is missing", p.display());
        eprintln!("skipped: {} not present", p.display());
        None
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
