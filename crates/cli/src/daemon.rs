//! `cpbridge run`: the daemon. The HTTP server (webhooks, pricing API, status page, metrics, health) and every job of
//! the registry ([`crate::jobs`]) under one cancellation token; each job stops only between runs, so a stop never
//! cuts a transaction short (and a kill is safe anyway, by design).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Context as _;
use clap::Args;
use cpbridge_server::{AppState, Server};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::args::ConfigArg;
use crate::heartbeat::Beat;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Listen here instead of `server.listen` (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// `cpbridge run`.
///
/// # Errors
/// When the config or a store is unusable, or the address cannot be bound.
pub async fn run_daemon(args: RunArgs) -> crate::error::Result<ExitCode> {
    let app = args.config.app().await?;
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("stopping: finishing the runs in progress (a second signal stops at once)");
        signal.cancel();
        shutdown_signal().await;
        std::process::exit(130);
    });
    app.bind(args.listen).await?.run(stop).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(windows)]
    {
        // Ctrl-C, Ctrl-Break, the console closing, and the system shutting down (a service manager's stop).
        use tokio::signal::windows;
        let (Ok(mut brk), Ok(mut close), Ok(mut shutdown)) =
            (windows::ctrl_break(), windows::ctrl_close(), windows::ctrl_shutdown())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = brk.recv() => {}
            _ = close.recv() => {}
            _ = shutdown.recv() => {}
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl App {
    /// Binds the HTTP server (`listen`, else `server.listen`; port 0 picks a free port) without serving yet.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(self, listen: Option<SocketAddr>) -> crate::error::Result<BoundApp> {
        let delivered = Arc::new(Notify::new());
        let pricing = (!self.config.pricing.api_keys.is_empty()).then(|| cpbridge_server::Pricing {
            source: self.pricing.clone(),
            keys: self.config.pricing.api_keys.clone(),
            currency: self.config.pricing.currency.clone(),
            requests_per_minute: self.config.pricing.requests_per_minute,
            windows: Arc::default(),
        });
        let state = AppState {
            pricing,
            alerts: Some(self.alerts.clone()),
            signatures: Arc::new(cpbridge_server::SignatureWatch::new(self.config.alerts.bad_signatures_per_minute)),
            status: Some(Arc::new(crate::status::DaemonStatus(crate::status::StatusInputs::of(&self)))),
            store: self.store.clone(),
            webhook_secret: self.config.woocommerce.webhook_secret.clone(),
            delivered: delivered.clone(),
        };
        let addr = listen.unwrap_or(self.config.server.listen);
        let server = Server::build(addr, state).await.with_context(|| format!("listening on {addr}"))?;
        let addr = server.local_addr()?;
        Ok(BoundApp { app: self, server, delivered, addr })
    }
}

/// The service with its address bound, ready to run.
pub struct BoundApp {
    app: App,
    server: Server,
    delivered: Arc<Notify>,
    pub addr: SocketAddr,
}

impl BoundApp {
    /// Runs the daemon until `stop` is cancelled: the HTTP server and every order job.
    ///
    /// # Errors
    /// When serving fails to start.
    pub async fn run(self, stop: CancellationToken) -> crate::error::Result<()> {
        let BoundApp { app: this, server, delivered, addr: bound } = self;
        println!("cpbridge listening on http://{bound}");
        println!("webhook endpoint: http://{bound}/webhooks/woocommerce");

        let mut tasks = JoinSet::new();
        let beat = Beat { clocks: this.clocks.clone(), store: this.store.clone() };
        {
            // The daemon's own heartbeat (`cpbridge status` from elsewhere reads it), and the watchdog that raises
            // an alert for a job whose run has gone on far past its cadence.
            let (beat, stop, alerts) = (beat.clone(), stop.clone(), this.alerts.clone());
            tasks.spawn(async move {
                loop {
                    beat.write(crate::heartbeat::DAEMON).await;
                    for (job, secs) in beat.clocks.stuck() {
                        let message = format!("its current run started {secs} s ago and has not ended; see the log");
                        alerts.raise("job_stuck", job.as_str(), &message).await;
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(crate::heartbeat::DAEMON_BEAT) => {}
                    }
                }
            });
        }
        {
            let stop = stop.clone();
            tasks.spawn(async move {
                if let Err(e) = server.run_until_stopped(async move { stop.cancelled().await }).await {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            });
        }
        // Every job, from the one list, run the same way.
        let clock: Arc<dyn cpbridge_pipelines::scheduler::RunClock> = Arc::new(beat.clone());
        let scheduler = cpbridge_pipelines::scheduler::Scheduler::new(clock, Arc::new(this.run_log()), stop.clone());
        let scheduled = scheduler.spawn_all(crate::jobs::registry(&this, delivered), &mut tasks);
        tracing::info!(jobs = scheduled.len(), "jobs scheduled");

        stop.cancelled().await;
        // Jobs finish the run they are in; after the grace period the rest is dropped, which is safe.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(20), drain).await.is_err() {
            tracing::warn!("some jobs were still running after 20 s; stopping them");
            tasks.abort_all();
        }
        Ok(())
    }
}
