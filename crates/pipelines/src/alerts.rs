//! Alerts: an operator hears about a dead order, a database that is down, or a write-back that keeps failing.
//!
//! Every alert is logged and recorded in the state store (the status page lists them). When a webhook URL is set,
//! it is also POSTed there as JSON (`{"kind", "subject", "message", "at", "text"}`; `text` is what Slack's incoming
//! webhooks show). Delivery never blocks a pipeline. No storm: the same kind of alert about the same subject goes
//! out at most once per `repeat_after` (an hour by default), however often the condition is seen.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cpbridge_store::StateStore;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde_json::json;

/// When alerts go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRules {
    /// The same kind and subject is raised again only after this long (default one hour).
    pub repeat_after: chrono::Duration,
    /// A job alerts after failing this many runs in a row (default 3); an unreachable database, a refused
    /// WooCommerce key and a state store that fails alert at once.
    pub failures_in_a_row: usize,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules { repeat_after: chrono::Duration::hours(1), failures_in_a_row: 3 }
    }
}

/// Where alert e-mails go, and how (the `[alerts.email]` settings).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub smtp_host: String,
    /// 587 by default (submission with STARTTLS); 465 for implicit TLS.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// `starttls` (default), `tls`, or `none` (only for a relay on the same machine or network).
    #[serde(default = "default_security")]
    pub security: String,
    #[serde(default)]
    pub username: String,
    /// env `CPBRIDGE_SMTP_PASSWORD`.
    #[serde(default, deserialize_with = "secret")]
    pub password: cpbridge_woo::Secret,
    /// The sender, e.g. `cpbridge <cpbridge@shop.example.com>`.
    pub from: String,
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_security() -> String {
    "starttls".into()
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<cpbridge_woo::Secret, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(cpbridge_woo::Secret::new)
}

/// An SMTP transport with its envelope, built once.
#[derive(Clone)]
struct EmailTarget {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailSettings {
    /// Every problem with these settings, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.smtp_host.trim().is_empty() {
            problems.push("alerts.email.smtp_host must not be empty".into());
        }
        if !matches!(self.security.as_str(), "starttls" | "tls" | "none") {
            problems.push(format!("alerts.email.security must be starttls, tls or none, not {:?}", self.security));
        }
        if self.from.parse::<Mailbox>().is_err() {
            problems.push(format!("alerts.email.from is not an address: {:?}", self.from));
        }
        if self.to.is_empty() {
            problems.push("alerts.email.to must name at least one address".into());
        }
        for to in &self.to {
            if to.parse::<Mailbox>().is_err() {
                problems.push(format!("alerts.email.to: {to:?} is not an address"));
            }
        }
        problems
    }

    fn target(&self) -> Result<EmailTarget, String> {
        let builder = match self.security.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.smtp_host).map_err(|e| e.to_string())?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.smtp_host),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.smtp_host).map_err(|e| e.to_string())?,
        };
        let mut builder = builder.port(self.smtp_port).timeout(Some(Duration::from_secs(20)));
        if !self.username.is_empty() {
            builder = builder.credentials(Credentials::new(self.username.clone(), self.password.expose().to_owned()));
        }
        let from = self.from.parse::<Mailbox>().map_err(|e| format!("alerts.email.from: {e}"))?;
        let to: Result<Vec<Mailbox>, String> =
            self.to.iter().map(|t| t.parse::<Mailbox>().map_err(|e| format!("alerts.email.to: {e}"))).collect();
        Ok(EmailTarget { transport: builder.build(), from, to: to? })
    }
}

impl EmailTarget {
    async fn send(&self, subject: &str, body: String) -> Result<(), String> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.header(ContentType::TEXT_PLAIN).body(body).map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("the alert e-mail was not sent: {e}"))
    }
}

/// Sends alerts.
#[derive(Clone)]
pub struct Alerter {
    store: Arc<dyn StateStore>,
    webhook_url: Option<String>,
    email: Option<EmailTarget>,
    http: reqwest::Client,
    rules: AlertRules,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token (Slack's do), so it is not shown.
        f.debug_struct("Alerter").field("webhook", &self.webhook_url.is_some()).finish()
    }
}

impl Alerter {
    /// An alerter with its targets. An e-mail target that cannot be built is logged and left out (the config
    /// check reports it first).
    pub fn new(
        store: Arc<dyn StateStore>,
        webhook_url: Option<String>,
        email: Option<&EmailSettings>,
        rules: AlertRules,
    ) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let email = email.and_then(|settings| match settings.target() {
            Ok(target) => Some(target),
            Err(e) => {
                tracing::error!("alert e-mail is off: {e}");
                None
            }
        });
        Alerter { store, webhook_url: webhook_url.filter(|u| !u.trim().is_empty()), email, http, rules }
    }

    pub fn rules(&self) -> AlertRules {
        self.rules
    }

    /// Raises an alert unless one of the same kind about the same subject ever went out: for a condition that stays
    /// and is shown on the status page, where an hourly reminder would only be noise. Returns whether it went out.
    pub async fn raise_once(&self, kind: &str, subject: &str, message: &str) -> bool {
        match self.store.last_alert_at(kind, subject).await {
            Ok(Some(_)) => false,
            _ => {
                self.raise(kind, subject, message).await;
                true
            }
        }
    }

    /// Raises an alert: logs it, records it, and posts it in the background; unless the same kind about the same
    /// subject went out within `repeat_after`, when it is only logged.
    pub async fn raise(&self, kind: &str, subject: &str, message: &str) {
        let at = Utc::now().naive_utc();
        if let Ok(Some(last)) = self.store.last_alert_at(kind, subject).await
            && at - last < self.rules.repeat_after
        {
            tracing::warn!(alert = kind, subject, "{subject}: {message} (alerted at {last}; not repeated yet)");
            return;
        }
        tracing::error!(alert = kind, subject, "{subject}: {message}");
        let id = match self.store.record_alert(kind, subject, message, at).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "the alert could not be recorded");
                return;
            }
        };
        if self.webhook_url.is_none() && self.email.is_none() {
            return;
        }
        let body = json!({
            "kind": kind, "subject": subject, "message": message, "at": at, "source": "cpbridge",
            "text": format!("cpbridge {kind}: {subject}: {message}"),
        });
        let mail_subject = format!("cpbridge {kind}: {subject}");
        let mail_body = format!("{message}\n\nkind: {kind}\nabout: {subject}\nat: {at} UTC\n");
        let (this, store) = (self.clone(), self.store.clone());
        tokio::spawn(async move {
            let mut errors = Vec::new();
            if let Some(url) = &this.webhook_url {
                match this.http.post(url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => errors.push(format!("the alert webhook answered {}", r.status())),
                    Err(e) => errors.push(format!("the alert webhook is unreachable: {}", e.without_url())),
                }
            }
            if let Some(email) = &this.email
                && let Err(e) = email.send(&mail_subject, mail_body).await
            {
                errors.push(e);
            }
            let result = if errors.is_empty() { Ok(Utc::now().naive_utc()) } else { Err(errors.join("; ")) };
            if let Err(e) = &result {
                tracing::warn!("{e}");
            }
            if let Err(e) = store.alert_delivered(id, result).await {
                tracing::warn!(error = %e, "the alert delivery could not be recorded");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpbridge_store::SqliteStore;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

    /// A minimal SMTP server on loopback that keeps the DATA of each message.
    async fn smtp_server() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let messages: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let kept = messages.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 localhost ESMTP test\r\n").await;
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(body) = data.as_mut() {
                            if line == "." {
                                kept.lock().expect("lock").push(data.take().unwrap_or_default());
                                let _ = write.write_all(b"250 queued\r\n").await;
                            } else {
                                body.push_str(&line);
                                body.push('\n');
                            }
                            continue;
                        }
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250-localhost\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                data = Some(String::new());
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        (port, messages)
    }

    #[tokio::test]
    async fn an_alert_is_mailed_once_and_its_delivery_recorded() {
        let (port, messages) = smtp_server().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.expect("store"));
        let email = EmailSettings {
            smtp_host: "127.0.0.1".into(),
            smtp_port: port,
            security: "none".into(),
            username: String::new(),
            password: cpbridge_woo::Secret::default(),
            from: "cpbridge <cpbridge@shop.example.test>".into(),
            to: vec!["ops@shop.example.test".into()],
        };
        assert!(email.problems().is_empty(), "{:?}", email.problems());
        let alerter = Alerter::new(store.clone(), None, Some(&email), AlertRules::default());
        alerter.raise("order_dead", "WooCommerce order 57", "unknown SKU X").await;
        alerter.raise("order_dead", "WooCommerce order 57", "unknown SKU X").await;
        let start = std::time::Instant::now();
        while messages.lock().expect("lock").is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "the e-mail arrives");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = messages.lock().expect("lock").clone();
        assert_eq!(sent.len(), 1, "the repeat within the hour is not sent");
        assert!(sent[0].contains("Subject: cpbridge order_dead: WooCommerce order 57"), "{}", sent[0]);
        assert!(sent[0].contains("unknown SKU X") && sent[0].contains("To: ops@shop.example.test"), "{}", sent[0]);
        let recorded = store.alerts(10).await.expect("alerts");
        assert_eq!(recorded.len(), 1);
        let start = std::time::Instant::now();
        while store.alerts(1).await.expect("alerts")[0].delivered_at.is_none() {
            assert!(start.elapsed() < Duration::from_secs(5), "the delivery is recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[test]
    fn bad_email_settings_are_named() {
        let email = EmailSettings {
            smtp_host: String::new(),
            smtp_port: 587,
            security: "ssl".into(),
            username: String::new(),
            password: cpbridge_woo::Secret::default(),
            from: "not an address".into(),
            to: Vec::new(),
        };
        let problems = email.problems().join("\n");
        for key in ["smtp_host", "security", "from", "alerts.email.to"] {
            assert!(problems.contains(key), "{key}: {problems}");
        }
    }
}
