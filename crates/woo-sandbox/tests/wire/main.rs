//! The WooCommerce client against the sandbox over real loopback HTTP, and the sandbox against the captured
//! fixtures. One test binary, because linking is slow.

mod client;
mod fixtures;
mod store_rules;

use std::time::Duration;

use cpbridge_woo::{Credentials, RetryPolicy, WooClient, WooConfig};
use cpbridge_woo_sandbox::{Sandbox, SandboxConfig};

pub const KEY: &str = "ck_test_0123456789";
pub const SECRET: &str = "cs_test_9876543210";

/// A running sandbox on an ephemeral loopback port; stopped when dropped.
pub struct Running {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn(config: SandboxConfig) -> Running {
    let sandbox = Sandbox::build(config).await.expect("sandbox builds");
    let base = format!("http://127.0.0.1:{}", sandbox.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = sandbox
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await;
    });
    Running { base, stop: Some(stop), task: Some(task) }
}

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig::local(Credentials::new(KEY, SECRET))
}

/// A client with short retry waits, so that fault tests finish quickly.
pub fn client(base: &str) -> WooClient {
    let mut config = WooConfig::new(base, Credentials::new(KEY, SECRET));
    config.retry = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_millis(50),
    };
    config.timeout = Duration::from_secs(10);
    WooClient::new(config).expect("client builds")
}
