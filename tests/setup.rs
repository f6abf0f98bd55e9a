//! `make setup`'s system-package check (pipeline/setup-system.sh), run against a fake package
//! list so the test never installs anything: a newcomer missing a package must learn which one
//! and the exact apt-get command before anything compiles.
use std::path::Path;
use std::process::Command;

/// What pipeline/setup-system.sh checks, libclang-dev first.
const EVERY_PACKAGE: [&str; 9] = [
    "libclang-dev",
    "g++",
    "make",
    "python3",
    "python3-venv",
    "chromium",
    "nodejs",
    "fonts-noto-cjk",
    "xz-utils",
];

/// Runs the check with `installed` as the dpkg database and installing disabled.
fn check_with(installed: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("installed.txt");
    std::fs::write(&list, installed.join("\n") + "\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/setup-system.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("CBRREL_INSTALLED_PACKAGES", &list)
        .env("CBRREL_SETUP_CHECK_ONLY", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_package_is_named_with_the_command_that_installs_it() {
    let (ok, stderr) = check_with(&EVERY_PACKAGE[1..]);
    assert!(!ok, "the check passed without libclang-dev: {stderr}");
    assert!(
        stderr.contains("missing system packages the build needs: libclang-dev"),
        "{stderr}"
    );
    assert!(
        stderr.contains("apt-get install -y libclang-dev"),
        "{stderr}"
    );

    let (ok, stderr) = check_with(&["make", "python3", "nodejs"]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "apt-get install -y libclang-dev g++ python3-venv chromium fonts-noto-cjk xz-utils"
        ),
        "{stderr}"
    );
}

#[test]
fn a_machine_with_every_package_passes_the_check() {
    let (ok, stderr) = check_with(&EVERY_PACKAGE);
    assert!(ok, "{stderr}");
    assert!(
        stderr.is_empty(),
        "the check printed on a complete machine: {stderr}"
    );
}
