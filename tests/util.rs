//! Helpers: run the binary, find shared data.

use std::path::{Path, PathBuf};
use std::process::Output;

/// Held by every in-process training: libtorch's random generator is one per process, so two
/// trainings on parallel test threads would draw from each other's stream (and a test that
/// checks a seeded run repeats bit for bit would fail at random).
pub static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold [`TORCH_RNG`] for the guard's life (a test that panicked while holding it does not
/// poison the others: its lock is taken over).
pub fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cbrrel")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `cbrrel` with `args` from the repository root.
pub fn cbrrel(args: &[&str]) -> Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run cbrrel")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parse the one JSON object a `--format json` command prints.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// A file under the shared folder (`$CBRREL_SHARED`, else ../shared beside the clone, else
/// /work/shared), or `None` with a note on stderr when this machine has none of them. The
/// corpora are public but may not be copied into the repo, so a machine without them skips the
/// tests that read them rather than failing; the note says which were skipped.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(root) = std::env::var_os("CBRREL_SHARED") {
        roots.push(PathBuf::from(root));
    }
    roots.push(repo().join("..").join("shared"));
    roots.push(PathBuf::from("/work/shared"));
    for root in &roots {
        let p = root.join(rel);
        if p.exists() {
            return Some(p);
        }
    }
    eprintln!("skipped: {rel} not found under any of {roots:?}");
    None
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
