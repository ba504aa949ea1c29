//! `TestCli`: a temp directory with its own store, and the real `escamap` binary pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestCli {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl TestCli {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("store.db");
        Self { dir, db }
    }

    /// The binary, with `--db` pointing at this test's store and a clean environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_escamap"));
        c.env_remove("ESCAMAP_DB")
            .env_remove("RUST_LOG")
            .arg("--db")
            .arg(&self.db)
            .current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("escamap runs")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "escamap {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "escamap {args:?} should have failed");
        String::from_utf8(out.stderr).expect("utf-8 output")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write test file");
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    pub fn total(&self) -> u64 {
        self.json(&["stats", "--json"])["total_escalations"]
            .as_u64()
            .expect("a count")
    }
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path).expect("read output file")
}
