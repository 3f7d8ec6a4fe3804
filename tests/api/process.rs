//! The real `roomgate` binary as a child process, with its output read line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `roomgate` and everything it has printed so far.
pub struct Binary {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

/// A free loopback port (bound and released; another process could take it, but only ours run).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Binary {
    /// Starts `roomgate ARGS` in `dir` with exactly the given roomgate variables set.
    pub fn start(args: &[&str], dir: &std::path::Path, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_roomgate"));
        command
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            let ours = [
                "ENABLEX_",
                "EMBED_",
                "DATABASE_",
                "ROOMGATE_",
                "JWT_",
                "RATE_",
                "RECONCILE_",
                "SWEEP_",
                "BACKGROUND_JOBS",
                "IDEMPOTENCY_",
                "REQUEST_TIMEOUT_SECS",
                "CORS_",
                "SHUTDOWN_",
                "SANDBOX_",
                "LOG_",
                "RUST_LOG",
            ];
            if ours.iter().any(|p| name.starts_with(p)) {
                command.env_remove(name);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start roomgate");
        let (tx, lines) = mpsc::channel::<String>();
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [out, err] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line so far, or from now on (for at most `within`), that contains `text`.
    /// It blocks on the reader threads' channel, woken by each line; on a multi-threaded
    /// runtime the worker is handed over first, so tasks the child talks to (a sandbox) run on.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_threaded {
            tokio::task::block_in_place(|| self.wait_for_blocking(text, within))
        } else {
            self.wait_for_blocking(text, within)
        }
    }

    /// Starts `roomgate ARGS` listening on a free loopback port (its `ROOMGATE_LISTEN` is set
    /// here) and waits until it listens. A port taken between choosing and binding it (other
    /// tests run at the same time) is retried with another, up to three times.
    pub fn start_listening(
        args: &[&str],
        dir: &std::path::Path,
        env: &[(&str, String)],
    ) -> (Self, u16) {
        let mut tries = 0;
        loop {
            tries += 1;
            let port = free_port();
            let mut vars = env.to_vec();
            vars.push(("ROOMGATE_LISTEN", format!("127.0.0.1:{port}")));
            let mut binary = Self::start(args, dir, &vars);
            let listening = binary.wait_for_either("roomgate listening", "cannot listen");
            if listening || tries == 3 {
                binary.wait_for("roomgate listening", Duration::from_secs(1));
                return (binary, port);
            }
        }
    }

    /// Whether `yes` shows up before `no` (waiting at most 30 s).
    fn wait_for_either(&mut self, yes: &str, no: &str) -> bool {
        let line = self.wait_for_blocking_either(&[yes, no], Duration::from_secs(30));
        line.contains(yes)
    }

    fn wait_for_blocking(&mut self, text: &str, within: Duration) -> String {
        self.wait_for_blocking_either(&[text], within)
    }

    fn wait_for_blocking_either(&mut self, texts: &[&str], within: Duration) -> String {
        let text = texts.join("' or '");
        if let Some(line) = self
            .seen
            .iter()
            .find(|l| texts.iter().any(|t| l.contains(t)))
        {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if texts.iter().any(|t| line.contains(t)) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "roomgate never printed '{text}'; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "roomgate did not stop within {within:?} of SIGTERM"
            );
            // std's Child cannot wait with a timeout: its exit is polled, within a deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything printed, once the process has ended.
    pub fn all_lines(mut self) -> Vec<String> {
        // The readers end when the process's pipes close.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
