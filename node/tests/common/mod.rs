//! Helpers for tests that drive the real `smart` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn smart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smart"))
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = smart().args(args).output().expect("run smart");
    assert!(
        out.status.success(),
        "smart {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `smart init` into `root/net` with 3 hubs and `nodes` nodes; returns the
/// network folder.
pub fn init_network(root: &Path, nodes: usize) -> PathBuf {
    let dir = root.join("net");
    run_ok(&[
        "init",
        "--dir",
        s(&dir),
        "--hubs",
        "3",
        "--nodes",
        &nodes.to_string(),
    ]);
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `smart ledger verify --json` and returns (exit code, parsed JSON).
pub fn verify_json(data: &Path) -> (i32, serde_json::Value) {
    let out = smart()
        .args(["ledger", "verify", "--json", "--data", s(data)])
        .output()
        .expect("run verify");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}
