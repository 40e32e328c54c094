//! Email with lettre: through an SMTP relay (`smtp://` with STARTTLS when offered or
//! required, `smtps://` with TLS from the first byte; credentials from
//! `RIVERWATCH_SMTP_USERNAME` / `RIVERWATCH_SMTP_PASSWORD`), or, the embedded default, as
//! `.eml` files in `<data-dir>/outbox/`. Each message is `multipart/alternative` (plain text
//! and HTML) with the notification's stable `Message-ID`, so a retried message is
//! recognisably the same message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::info;

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
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
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
                std::fs::create_dir_all(&dir).map_err(|source| EmailError::Outbox {
                    path: dir.clone(),
                    source,
                })?;
                let d = format!("outbox {}", dir.display());
                (Transport::File(AsyncFileTransport::new(&dir), dir), d)
            }
            EmailTransport::Smtp(url) => {
                let relay = |reason: String| EmailError::Relay {
                    url: redact_url(&url),
                    reason,
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| relay(e.to_string()))?
                    .timeout(Some(Duration::from_secs(config.smtp_timeout_secs)))
                    .hello_name(ClientId::Domain(domain_of(&from)));
                if let Some(c) = &config.smtp_credentials {
                    b = b.credentials(Credentials::new(c.username.clone(), c.password.clone()));
                }
                (
                    Transport::Smtp(b.build()),
                    format!("SMTP relay {}", redact_url(&url)),
                )
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
            Transport::File(_, dir) => Some(dir),
            Transport::Smtp(_) => None,
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
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(out.body_text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(out.body_html.clone()),
                ),
        )
        .map_err(|e| e.to_string())
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
            Transport::File(t, dir) => match t.send(message).await {
                Ok(id) => Attempt::Delivered(format!(
                    "written to {}",
                    dir.join(format!("{id}.eml")).display()
                )),
                Err(e) => Attempt::Transient(format!("outbox write failed: {e}")),
            },
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
