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

/// A `smart` process that is stopped (SIGINT, then SIGKILL after 30 s) if
/// the test panics before it ends, so no network outlives a failed test.
pub struct Running(Option<std::process::Child>);

impl Running {
    pub fn new(child: std::process::Child) -> Running {
        Running(Some(child))
    }

    pub fn pid(&self) -> String {
        self.0
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    pub fn interrupt(&self) {
        let _ = Command::new("kill").args(["-INT", &self.pid()]).status();
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.take().expect("running").wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `smart ARGS` with its stdout piped (stderr dropped): the process,
/// stopped if the test fails, and a reader of its stdout.
pub fn spawn_smart(args: &[&str]) -> (Running, std::io::BufReader<std::process::ChildStdout>) {
    let mut child = smart()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smart");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    (Running::new(child), out)
}
