//! Email with lettre: through an SMTP relay (`smtp://`, plain unless `?tls=opportunistic`
//! or `?tls=required` asks for STARTTLS, `smtps://` with TLS from the first byte; credentials from
//! `RIVERWATCH_SMTP_USERNAME` / `RIVERWATCH_SMTP_PASSWORD`), or, the embedded default, as
//! `.eml` files in `<data-dir>/outbox/` (folder 0700, files 0600 whatever the umask; one file
//! per Message-ID, written whole and renamed into place, so a retry replaces it). Each
//! message is `multipart/alternative` (plain text and HTML) with the notification's stable
//! `Message-ID`, so a retried message is recognisably the same message; a notification with
//! an attachment (a report's workbook) is `multipart/mixed` around that alternative and the
//! file. Relays (`smtp://` and `smtps://`) are reached over sockets with TCP_NODELAY
//! ([`super::relay`]), or with `smtp_nodelay = false` through lettre's pooled transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::info;

use super::relay::{NoDelayRelay, RelayError, parse_smtp_url};
use super::{Attempt, Deliver};
use crate::config::{AlertsConfig, EmailTransport, redact_url};
use crate::model::Channel;
use crate::store::Outgoing;

/// The folder of `.eml` files under the data directory.
pub const OUTBOX: &str = "outbox";

/// An email transport that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// The relay URL is not usable.
    #[error("SMTP relay {url}: {reason}")]
    Relay {
        /// The URL without credentials.
        url: String,
        /// Why.
        reason: String,
    },
    /// The sender address is not usable.
    #[error("sender address `{0}` is not a mail address")]
    From(String),
    /// The outbox folder cannot be created.
    #[error("cannot create the outbox {path}: {source}")]
    Outbox {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

enum Transport {
    Relay(NoDelayRelay),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The outbox folder.
    File(PathBuf),
}

/// Delivers email notifications.
pub struct SmtpNotifier {
    transport: Transport,
    from: Mailbox,
    description: String,
}

impl SmtpNotifier {
    /// Builds the transport the configuration asks for (no connection is made yet).
    ///
    /// # Errors
    /// A bad relay URL or sender, or an outbox folder that cannot be created.
    pub fn new(config: &AlertsConfig, data_dir: &Path) -> Result<Self, EmailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailError::From(config.from.clone()))?;
        let (transport, description) = match config.transport() {
            EmailTransport::Outbox => {
                let dir = data_dir.join(OUTBOX);
                riverwatch_core::files::create_private_dir(&dir).map_err(|e| {
                    EmailError::Outbox {
                        path: e.path,
                        source: e.source,
                    }
                })?;
                let d = format!("outbox {}", dir.display());
                (Transport::File(dir), d)
            }
            EmailTransport::Smtp(url) => {
                let relay = |reason: String| EmailError::Relay {
                    url: redact_url(&url),
                    reason,
                };
                let hello = ClientId::Domain(domain_of(&from));
                let timeout = Duration::from_secs(config.smtp_timeout_secs);
                let credentials = config
                    .smtp_credentials
                    .as_ref()
                    .map(|c| Credentials::new(c.username.clone(), c.password.clone()));
                let description = format!("SMTP relay {}", redact_url(&url));
                if let Some((host, port, starttls)) =
                    parse_smtp_url(&url).filter(|_| config.smtp_nodelay)
                {
                    let relay =
                        NoDelayRelay::new(host, port, starttls, hello, credentials, timeout);
                    (Transport::Relay(relay), description)
                } else {
                    let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                        .map_err(|e| relay(e.to_string()))?
                        .timeout(Some(timeout))
                        .hello_name(hello);
                    if let Some(c) = credentials {
                        b = b.credentials(c);
                    }
                    (Transport::Smtp(b.build()), description)
                }
            }
        };
        info!(transport = %description, "Email transport ready.");
        Ok(Self {
            transport,
            from,
            description,
        })
    }

    /// Where email goes, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The outbox folder when email goes to files.
    pub fn outbox(&self) -> Option<&Path> {
        match &self.transport {
            Transport::File(dir) => Some(dir),
            Transport::Smtp(_) | Transport::Relay(_) => None,
        }
    }

    fn message(&self, out: &Outgoing) -> Result<Message, String> {
        let n = &out.notification;
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(n.subject.clone())
            .message_id(Some(n.message_id.clone()))
            .date_now();
        for addr in n.target.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let to: Mailbox = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not a mail address"))?;
            b = b.to(to);
        }
        let alternative = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(out.body_text.clone()),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(out.body_html.clone()),
            );
        let body = match &out.attachment {
            None => alternative,
            Some(a) => {
                let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                    format!(
                        "attachment {}: content type `{}`: {e}",
                        a.file_name, a.content_type
                    )
                })?;
                MultiPart::mixed().multipart(alternative).singlepart(
                    Attachment::new(a.file_name.clone()).body(a.bytes.clone(), content_type),
                )
            }
        };
        b.multipart(body).map_err(|e| e.to_string())
    }
}

/// The domain of the sender, used for `EHLO` and Message-IDs.
pub fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_string()
}

impl Deliver for SmtpNotifier {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn deliver(&self, out: &Outgoing) -> Attempt {
        let message = match self.message(out) {
            Ok(m) => m,
            Err(e) => return Attempt::Permanent(e),
        };
        match &self.transport {
            Transport::File(dir) => {
                let path = dir.join(format!("{}.eml", file_stem(&out.notification.message_id)));
                let bytes = message.formatted();
                let shown = path.display().to_string();
                let written = tokio::task::spawn_blocking(move || {
                    riverwatch_core::files::replace_private(&path, &bytes)
                })
                .await;
                match written {
                    Ok(Ok(())) => Attempt::Delivered(format!("written to {shown}")),
                    Ok(Err(e)) => Attempt::Transient(format!("outbox write failed: {e}")),
                    Err(e) => Attempt::Transient(format!("outbox write failed: {e}")),
                }
            }
            Transport::Relay(r) => {
                let bytes = message.formatted();
                match r.send(message.envelope(), &bytes).await {
                    Ok(resp) => {
                        let text: Vec<&str> = resp.message().collect();
                        Attempt::Delivered(format!("{} {}", resp.code(), text.join(" ")))
                    }
                    Err(RelayError::Smtp(e)) => classify(&e),
                    Err(e) => Attempt::Transient(e.to_string()),
                }
            }
            Transport::Smtp(t) => match t.send(message).await {
                Ok(resp) => {
                    let text: Vec<&str> = resp.message().collect();
                    Attempt::Delivered(format!("{} {}", resp.code(), text.join(" ")))
                }
                Err(e) => classify(&e),
            },
        }
    }
}

/// A file name from a Message-ID: its letters, digits, `.`, `-`, `_` and `@`; anything else
/// (the angle brackets among them) becomes `_`.
fn file_stem(message_id: &str) -> String {
    let stem: String = message_id
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() || stem.starts_with('.') {
        format!("m{stem}")
    } else {
        stem
    }
}

/// Permanent SMTP refusals fail the notification, except authentication problems, which
/// an operator fixes while the notification waits; everything else is retried.
fn classify(e: &lettre::transport::smtp::Error) -> Attempt {
    let code = e.status().map(|c| c.to_string());
    let text = match &code {
        Some(c) => format!("{c} {e}"),
        None => e.to_string(),
    };
    let auth = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
    if e.is_permanent() && !auth {
        Attempt::Permanent(text)
    } else {
        Attempt::Transient(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryStatus, Notification, NotificationKind, Role};
    use chrono::Utc;
    use riverwatch_core::Province;

    #[tokio::test]
    async fn without_a_relay_email_goes_to_eml_files_in_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let config = AlertsConfig::default();
        assert!(
            config.smtp_url.is_none(),
            "the embedded default writes to the outbox"
        );
        let notifier = SmtpNotifier::new(&config, dir.path()).unwrap();
        let outbox = dir.path().join(OUTBOX);
        assert_eq!(notifier.outbox(), Some(outbox.as_path()));
        let now = Utc::now();
        let out = Outgoing {
            notification: Notification {
                id: 7,
                created_at: now,
                recipient_id: "jl-duty".into(),
                recipient_name: "吉林省生态环境厅应急值班室".into(),
                province: Province::Jilin,
                role: Role::Equal,
                channel: Channel::Email,
                kind: NotificationKind::Firing,
                target: "duty@jl.example.org, night@jl.example.org".into(),
                subject: "【告警·严重】蔡家沟（拉林河） 氨氮超标".into(),
                alert_ids: vec!["29b50280d8b6".into()],
                status: DeliveryStatus::Queued,
                attempts: 0,
                next_attempt_at: None,
                last_attempt_at: None,
                sent_at: None,
                expires_at: now,
                last_reply: None,
                message_id: "<rw-7-29b50280d8b6@riverwatch.example.org>".into(),
            },
            body_text: "监测值：1.62 mg/L".into(),
            body_html: "<p>监测值：1.62 mg/L</p>".into(),
            attachment: None,
        };
        let Attempt::Delivered(reply) = notifier.deliver(&out).await else {
            panic!("written to the outbox");
        };
        assert!(reply.starts_with("written to "), "{reply}");
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        let mail = riverwatch_testkit::parse_mail(&raw);
        assert_eq!(mail.subject, "【告警·严重】蔡家沟（拉林河） 氨氮超标");
        assert!(mail.text.contains("监测值：1.62 mg/L"), "{}", mail.text);
        assert!(mail.html.contains("<p>监测值"), "{}", mail.html);
        assert!(raw.contains("rw-7-29b50280d8b6@riverwatch.example.org"));
        assert!(raw.contains("duty@jl.example.org") && raw.contains("night@jl.example.org"));
        // Private whatever the umask: the folder 0700, the email 0600.
        #[cfg(unix)]
        {
            use riverwatch_core::files::mode_of;
            assert_eq!(mode_of(&outbox).unwrap(), 0o700);
            assert_eq!(mode_of(&files[0]).unwrap(), 0o600);
        }
        // A retry of the same notification replaces its file.
        assert!(matches!(
            notifier.deliver(&out).await,
            Attempt::Delivered(_)
        ));
        assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
    }
}
