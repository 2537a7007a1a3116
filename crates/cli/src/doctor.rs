//! `cpbridge doctor`: checks the config and every connection the way startup uses them, and says in plain words
//! what to fix. The Counterpoint database and its `USER_` tables and trigger, the state store, the WooCommerce key
//! (read and write), the order webhooks (created on request with `--fix`), and the alert target.

use std::process::ExitCode;

use clap::Args;
use cpbridge_pipelines::webhooks::{HookState, WEBHOOK_PATH, order_hook_states, order_hook_write};
use cpbridge_store::{SqliteStore, StateStore as _};
use cpbridge_woo::{Replay, WooClient};
use reqwest::Method;

use crate::args::ConfigArg;
use crate::config::Config;
use crate::error::Error;
use cpbridge_pipelines::scheduler::JobName;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Create the missing order webhooks, delivering to this public address of cpbridge's webhook endpoint
    /// (e.g. https://cpbridge.example.com/webhooks/woocommerce).
    #[arg(long, value_name = "URL")]
    fix_webhooks: Option<String>,
    /// Send a test alert to `alerts.webhook_url`.
    #[arg(long)]
    test_alert: bool,
}

/// The findings, in order, each `Ok(what is fine)` or `Err(what to fix)`.
struct Findings(Vec<(&'static str, Result<String, String>)>);

impl Findings {
    fn add(&mut self, area: &'static str, result: Result<String, String>) {
        match &result {
            Ok(text) => println!("ok    {area}: {text}"),
            Err(text) => println!("FIX   {area}: {text}"),
        }
        self.0.push((area, result));
    }
}

/// `cpbridge doctor`.
///
/// # Errors
/// Never for a finding (those are printed, and the exit code is 2); only for an unreadable config file.
pub async fn run(args: DoctorArgs) -> crate::error::Result<ExitCode> {
    let path = &args.config.config;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e} (write one with `cpbridge init`)", path.display())))?;
    let mut findings = Findings(Vec::new());
    let config = match toml::from_str::<Config>(&text) {
        Ok(mut config) => {
            config.apply_env(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
            let problems = config.problems();
            if problems.is_empty() {
                findings.add("config", Ok(format!("{} reads cleanly", path.display())));
            } else {
                findings.add("config", Err(problems.join("; ")));
            }
            config
        }
        Err(e) => {
            findings.add("config", Err(format!("{}: {e}", path.display())));
            return Ok(ExitCode::from(2));
        }
    };

    match cpbridge_counterpoint::port::open(&config.counterpoint.url).await {
        Err(e) => findings.add("Counterpoint", Err(format!("{e}"))),
        Ok(cp) => match cp.verify_schema().await {
            Ok(report) if report.is_ok() => {
                findings.add("Counterpoint", Ok(format!("{}: every table, column and trigger is there", cp.target())));
                findings.add("document ids", Ok(report.doc_ids.to_string()));
            }
            Ok(report) => findings.add(
                "Counterpoint",
                Err(format!("{}: {report} (install cpbridge's tables with `cpbridge cp migrate`)", cp.target())),
            ),
            Err(e) => findings.add("Counterpoint", Err(format!("{e}"))),
        },
    }
    if let Ok(cp) = cpbridge_counterpoint::port::open(&config.counterpoint.url).await {
        match cp.inventory_change_backlog().await {
            Ok(backlog) => {
                let behind = backlog
                    .oldest_unconsumed
                    .map(|oldest| chrono::Utc::now().naive_utc() - oldest)
                    .filter(|age| *age > chrono::Duration::hours(1));
                let text = format!(
                    "USER_INV_CHANGES holds {} rows ({} not read yet{}); consumed rows are purged after a day",
                    backlog.rows,
                    backlog.unconsumed,
                    backlog.oldest_unconsumed.map(|at| format!(", the oldest from {at} UTC")).unwrap_or_default()
                );
                match behind {
                    None => findings.add("stock change feed", Ok(text)),
                    Some(age) => findings.add(
                        "stock change feed",
                        Err(format!("{text}: {} min behind (is `cpbridge run` up?)", age.num_minutes())),
                    ),
                }
            }
            Err(e) => findings.add("stock change feed", Err(format!("{e}"))),
        }
        match cp.price_groups().await {
            Ok(groups) => {
                let rules = cpbridge_core::pricing::PriceRules::new(groups);
                let problems = rules.problems();
                if problems.is_empty() {
                    findings.add("price rules", Ok("every price rule's filters can be read".into()));
                } else {
                    findings.add(
                        "price rules",
                        Err(format!("{} rule(s) are skipped until fixed: {}", problems.len(), problems.join("; "))),
                    );
                }
            }
            Err(e) => findings.add("price rules", Err(format!("{e}"))),
        }
        match cp.setup_problems(&crate::config::shop_setup(&config.orders)).await {
            Ok(problems) if problems.is_empty() => findings.add(
                "Counterpoint setup",
                Ok(format!(
                    "store {}, station {} (its own), drawer {}, user {} and every mapped pay code exist",
                    config.orders.store_id, config.orders.station_id, config.orders.drawer_id, config.orders.user_id
                )),
            ),
            Ok(problems) => findings.add("Counterpoint setup", Err(problems.join("; "))),
            Err(e) => findings.add("Counterpoint setup", Err(format!("{e}"))),
        }
    }

    match SqliteStore::open(&config.state.path).await {
        Ok(store) => match store.last_runs().await {
            Ok(_) => findings.add("state store", Ok(store.target())),
            Err(e) => findings.add("state store", Err(e.to_string())),
        },
        Err(e) => findings.add("state store", Err(e.to_string())),
    }

    findings.add("jobs", Ok(schedule(&config.schedule)));

    match WooClient::new(config.woo_config()) {
        Err(e) => findings.add("WooCommerce", Err(e.to_string())),
        Ok(woo) => check_woo(&woo, &config, &args, &mut findings).await,
    }

    if let Some(email) = &config.alerts.email {
        findings.add(
            "alert e-mail",
            Ok(format!(
                "to {} through {}:{} ({})",
                email.to.join(", "),
                email.smtp_host,
                email.smtp_port,
                email.security
            )),
        );
    }
    match (&config.alerts.webhook_url, args.test_alert) {
        (None, _) => findings.add("alerts", Ok("logged and kept in the state store (no alerts.webhook_url)".into())),
        (Some(_), false) => {
            findings.add("alerts", Ok("alerts.webhook_url is set (send a test with --test-alert)".into()));
        }
        (Some(url), true) => {
            let body = serde_json::json!({
                "kind": "test", "subject": "cpbridge doctor", "message": "a test alert from cpbridge doctor",
                "source": "cpbridge", "text": "cpbridge doctor: a test alert"
            });
            let sent = reqwest::Client::new().post(url).json(&body).send().await;
            match sent {
                Ok(r) if r.status().is_success() => findings.add("alerts", Ok("the test alert was accepted".into())),
                Ok(r) => findings.add("alerts", Err(format!("the alert webhook answered {}", r.status()))),
                Err(e) => findings.add("alerts", Err(format!("the alert webhook is unreachable: {}", e.without_url()))),
            }
        }
    }

    let failed = findings.0.iter().filter(|(_, r)| r.is_err()).count();
    println!("{}", if failed == 0 { "all good".to_owned() } else { format!("{failed} thing(s) to fix") });
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn check_woo(woo: &WooClient, config: &Config, args: &DoctorArgs, findings: &mut Findings) {
    // The address must be a WooCommerce REST API: its index names the wc/v3 namespace. A shop page, a WordPress
    // without WooCommerce or a proxy answers something else, and every later error would be about parsing it.
    match woo.get::<serde_json::Value>("", &[]).await {
        Ok(index) if index.get("namespace").and_then(serde_json::Value::as_str) == Some("wc/v3") => {}
        Ok(_) => {
            findings.add(
                "WooCommerce",
                Err(format!(
                    "{} answers, but not as WooCommerce's REST API (its /wp-json/wc/v3 index does not name wc/v3): \
                     set woocommerce.url to the site's address, without /shop or /wp-json",
                    config.woocommerce.url
                )),
            );
            return;
        }
        Err(e) if matches!(e.status(), Some(404 | 410)) => {
            findings.add(
                "WooCommerce",
                Err(format!(
                    "{} has no WooCommerce REST API: {}/wp-json/wc/v3 answers {}. Set woocommerce.url to the site's \
                     address (without /shop or /wp-json), and check that WooCommerce is active and pretty permalinks \
                     are on",
                    config.woocommerce.url,
                    config.woocommerce.url.trim_end_matches('/'),
                    e.status().unwrap_or_default()
                )),
            );
            return;
        }
        Err(e) if e.status().is_none() && e.to_string().contains("expected") => {
            findings.add(
                "WooCommerce",
                Err(format!(
                    "{} is not a WooCommerce REST API: /wp-json/wc/v3 answers with something that is not JSON (a \
                     web page?); set woocommerce.url to the site's address, without /shop or /wp-json",
                    config.woocommerce.url
                )),
            );
            return;
        }
        Err(_) => {} // The checks below say what is wrong (the key, the address, the network).
    }
    if let Err(e) = woo.page::<serde_json::Value>("/products", &[("per_page".into(), "1".into())], 1).await {
        let hint = match e.status() {
            Some(401 | 403) => " (the key or secret is wrong, or the key was revoked)",
            Some(404) => " (is this a WooCommerce store with pretty permalinks on?)",
            _ => "",
        };
        findings.add("WooCommerce", Err(format!("{}: {e}{hint}", config.woocommerce.url)));
        return;
    }
    // An empty batch writes nothing, but WooCommerce refuses it to a read-only key.
    let write: Result<serde_json::Value, _> =
        woo.send(Method::POST, "/products/batch", &serde_json::json!({}), Replay::Safe).await;
    match write {
        Ok(_) => findings.add("WooCommerce", Ok(format!("{}: the key can read and write", config.woocommerce.url))),
        Err(e) if matches!(e.status(), Some(401 | 403)) => findings
            .add("WooCommerce", Err(format!("the key can read but not write ({e}); give it Read/Write permission"))),
        Err(e) => findings.add("WooCommerce", Err(format!("a write check failed: {e}"))),
    }

    let hooks = match woo.webhooks().await {
        Ok(hooks) => hooks,
        Err(e) => {
            findings.add("webhooks", Err(format!("cannot list the webhooks: {e}")));
            return;
        }
    };
    check_refused_deliveries(woo, config, args, &hooks, findings).await;
    let states = order_hook_states(&hooks, None);
    let missing: Vec<&str> = states
        .iter()
        .filter(|(_, state)| !matches!(state, HookState::Active { .. }))
        .map(|(topic, _)| *topic)
        .collect();
    if missing.is_empty() {
        findings.add("webhooks", Ok("order.created and order.updated deliver to cpbridge".into()));
        return;
    }
    let Some(url) = &args.fix_webhooks else {
        let disabled = states.iter().filter(|(_, state)| matches!(state, HookState::Inactive { .. })).count();
        let note = if disabled > 0 { format!(" ({disabled} disabled or paused)") } else { String::new() };
        findings.add(
            "webhooks",
            Err(format!(
                "no active webhook for {}{note}; orders then arrive only by the poll. Run `cpbridge doctor \
                 --fix-webhooks https://<cpbridge address>{WEBHOOK_PATH}` to create them",
                missing.join(", ")
            )),
        );
        return;
    };
    for topic in missing {
        let created = woo.create_webhook(&order_hook_write(topic, url, &config.woocommerce.webhook_secret)).await;
        match created {
            Ok(hook) => findings.add("webhooks", Ok(format!("created webhook {} for {topic} to {url}", hook.id))),
            Err(e) => findings.add("webhooks", Err(format!("creating the {topic} webhook: {e}"))),
        }
    }
}

/// Deliveries the daemon refused for a bad signature in the last hour (kept in the state store): WooCommerce does not
/// show a webhook's secret, so this is how a wrong one shows. `--fix-webhooks` sets the configured secret on every
/// order webhook that delivers to cpbridge.
async fn check_refused_deliveries(
    woo: &WooClient,
    config: &Config,
    args: &DoctorArgs,
    hooks: &[cpbridge_woo::model::Webhook],
    findings: &mut Findings,
) {
    let Ok(store) = SqliteStore::open(&config.state.path).await else { return };
    let stored = store.watermark(cpbridge_server::REFUSED_DELIVERIES).await.ok().flatten().unwrap_or_default();
    let minute = chrono::Utc::now().timestamp() / 60;
    let refused: u64 = cpbridge_server::refused_per_minute(&stored, minute, 0).iter().map(|(_, n)| n).sum();
    if refused == 0 {
        findings.add("webhook signatures", Ok("no delivery was refused for its signature in the last hour".into()));
        return;
    }
    let Some(url) = &args.fix_webhooks else {
        findings.add(
            "webhook signatures",
            Err(format!(
                "{refused} webhook deliveries were refused for a bad signature in the last hour: the secret on the \
                 WooCommerce webhooks is not woocommerce.webhook_secret. Run `cpbridge doctor --fix-webhooks \
                 https://<cpbridge address>{WEBHOOK_PATH}` to set it"
            )),
        );
        return;
    };
    for hook in hooks.iter().filter(|h| h.delivery_url.ends_with(WEBHOOK_PATH) && h.topic.starts_with("order.")) {
        let write = order_hook_write(&hook.topic, url, &config.woocommerce.webhook_secret);
        let updated: Result<serde_json::Value, _> =
            woo.send(Method::PUT, &format!("/webhooks/{}", hook.id), &write, Replay::Safe).await;
        match updated {
            Ok(_) => {
                findings.add("webhook signatures", Ok(format!("set the configured secret on webhook {}", hook.id)))
            }
            Err(e) => {
                findings.add("webhook signatures", Err(format!("setting the secret on webhook {}: {e}", hook.id)))
            }
        }
    }
}

/// What `cpbridge run` will schedule, from the one list of jobs: each job's cadence, and the ones left to a person.
fn schedule(s: &crate::config::ScheduleSection) -> String {
    let (by_hand, scheduled): (Vec<JobName>, Vec<JobName>) =
        JobName::ALL.into_iter().partition(|job| crate::jobs::cadence_secs(s, *job) <= 0.0);
    let every: Vec<String> =
        scheduled.iter().map(|job| format!("{job} every {} s", crate::jobs::cadence_secs(s, *job))).collect();
    let mut text = format!("{} scheduled ({})", scheduled.len(), every.join(", "));
    if !by_hand.is_empty() {
        let names: Vec<&str> = by_hand.iter().map(|job| job.as_str()).collect();
        text.push_str(&format!("; by hand only (`cpbridge sync ...`): {}", names.join(", ")));
    }
    text
}
