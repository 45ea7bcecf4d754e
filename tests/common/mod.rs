//! Helpers shared by the integration tests that drive the `agora` binary.

#![allow(dead_code, reason = "each test file uses a subset of these")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root, where scenario paths in the tests are relative to.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `agora` binary, started in the repository root.
pub fn agora() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agora"));
    cmd.current_dir(repo_root());
    cmd
}

/// `agora run SCENARIO --out OUT -q EXTRA...`, which must succeed.
pub fn agora_run_to(out: &Path, scenario: &str, extra: &[&str]) {
    let o = agora()
        .args(["run", scenario, "--out", out.to_str().unwrap(), "-q"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{scenario} {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs a scenario into `dir/name` and returns that run folder.
pub fn agora_run(dir: &Path, name: &str, scenario: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    agora_run_to(&out, scenario, extra);
    out
}
