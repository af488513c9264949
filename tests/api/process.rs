//! The real binary as a server process: started with only the variables a
//! test gives it, from an empty directory (no `.env`), its standard output
//! in a file the test can read, stopped by a signal.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::helpers::status_within;

/// A free loopback port (the usual bind-and-release; another process could take it, rarely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `axum-supabase-auth serve`.
pub struct Server {
    child: tokio::process::Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    dir: PathBuf,
}

impl Server {
    /// Starts `serve` on a free port with `vars` alone and waits (≤ 10 s) for `/healthz`.
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        let server = Self::spawn(vars);
        let up = status_within(server.addr.as_str(), "/healthz", 200, Duration::from_secs(10)).await;
        assert_eq!(
            up,
            200,
            "the server did not start:\n{}{}",
            server.stdout(),
            server.stderr()
        );
        server
    }

    /// Starts `serve` on a free port with `vars` alone, without waiting.
    pub fn spawn(vars: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let dir = std::env::temp_dir().join(format!("asa-proc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let stdout = std::fs::File::create(dir.join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_axum-supabase-auth"))
            .arg("serve")
            .env_clear()
            .env("BIND_ADDR", &addr)
            .envs(vars.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { child, addr, dir }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the server wrote to standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    /// What the server wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `HUP`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// The exit status of a server that stops by itself, within 10 s.
    pub async fn exited(&mut self) -> ExitStatus {
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server exits within 10 s")
            .unwrap()
    }

    /// SIGTERM, and the exit status within 10 s.
    pub async fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server stops within 10 s of SIGTERM")
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
