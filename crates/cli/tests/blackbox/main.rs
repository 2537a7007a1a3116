//! Black-box tests: they run the real `cpbridge` binary and look only at what it prints and what it leaves on disk.
//! One test binary for the whole CLI, because linking is slow on small machines.

mod alerts;
mod cp;
mod demo;
mod hostile;
mod library;
mod order_flows;
mod orders;
mod pricing;
mod sandbox;
mod status;
mod sync;
mod webhooks;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `cpbridge` with the given arguments, without any `CPBRIDGE_*` variables from the caller's environment.
pub fn cpbridge(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cpbridge"));
    command.args(args).env_remove("CPBRIDGE_CP_URL").env_remove("CPBRIDGE_LOG");
    command.output().expect("the cpbridge binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn db_arg(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// A `cpbridge sandbox` process, killed when dropped.
pub struct Running {
    pub child: Child,
    pub base: String,
    pub key: String,
    pub secret: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cpbridge sandbox --port 0` with `extra` flags and reads its banner.
pub fn start_sandbox(extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpbridge"))
        .args(["sandbox", "--port", "0"])
        .args(extra)
        .env_remove("CPBRIDGE_SANDBOX_KEY")
        .env_remove("CPBRIDGE_SANDBOX_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cpbridge sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut key, mut secret) = (String::new(), String::new(), String::new());
    // The banner is three to four lines; read at most ten.
    for _ in 0..10 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("sandbox listening on ") {
            base = url.trim().to_owned();
        } else if let Some(k) = line.strip_prefix("consumer key:") {
            key = k.trim().to_owned();
        } else if let Some(s) = line.strip_prefix("consumer secret:") {
            secret = s.trim().to_owned();
        } else if line.starts_with("auth:") {
            break;
        }
    }
    assert!(base.starts_with("http://127.0.0.1:"), "banner names the address: {base:?}");
    Running { child, base, key, secret }
}

/// A WooCommerce order id as the client takes it.
pub fn woo_order(id: u64) -> cpbridge_core::WooOrderId {
    cpbridge_core::WooOrderId::try_from(id).expect("a WooCommerce order id")
}
