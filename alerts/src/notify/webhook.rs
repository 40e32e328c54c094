//! Webhooks: riverwatch's generic JSON, and the DingTalk (钉钉) and WeCom (企业微信) group
//! robots' markdown messages. The request body is rendered when the notification is queued
//! (stored in the outbox); the URL is looked up in the configuration by recipient id at
//! send time, so robot tokens never enter the database or the logs. Every body carries the
//! audit anchor of the notification's record (`audit_head` in the generic JSON, the last
//! line of the robots' markdown). A reply body is read up to [`MAX_REPLY_BYTES`] and no
//! further: a robot's answer is a few dozen bytes, and an endpoint streaming without end
//! must not hold a sender or fill its memory.

use std::time::Duration;

use serde_json::json;

use super::{Attempt, Deliver, templates};
use crate::config::{Routing, WebhookFormat};
use crate::model::{AlertView, Channel, Notification};
use crate::store::Outgoing;

/// The most of a webhook's reply body that is read (the rest is not received).
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// The body a webhook of the given format receives.
pub fn body(
    format: WebhookFormat,
    notification_kind: &str,
    markdown: &(String, String),
    views: &[AlertView],
) -> String {
    let v = match format {
        WebhookFormat::Generic => json!({
            "source": "riverwatch",
            "version": 1,
            "kind": notification_kind,
            "title": markdown.0,
            "audit_head": crate::audit::ANCHOR_PLACEHOLDER,
            "alerts": views,
        }),
        WebhookFormat::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": { "title": markdown.0, "text": markdown.1 },
        }),
        WebhookFormat::Wecom => json!({
            "msgtype": "markdown",
            "markdown": { "content": markdown.1 },
        }),
    };
    v.to_string()
}

/// Delivers webhook notifications.
pub struct WebhookNotifier {
    client: reqwest::Client,
    routing: Routing,
}

impl WebhookNotifier {
    /// A notifier for the configured recipients.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(routing: Routing, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("riverwatch-alerts")
            .build()?;
        Ok(Self { client, routing })
    }

    fn target(&self, n: &Notification) -> Option<(String, WebhookFormat)> {
        let (_, r) = self.routing.recipient(&n.recipient_id)?;
        r.webhook.as_ref().map(|w| (w.url.clone(), w.format))
    }
}

impl Deliver for WebhookNotifier {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn deliver(&self, out: &Outgoing) -> Attempt {
        let Some((url, format)) = self.target(&out.notification) else {
            return Attempt::Permanent(format!(
                "recipient `{}` has no webhook in the configuration any more",
                out.notification.recipient_id
            ));
        };
        let resp = self
            .client
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(out.body_text.clone())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(e.without_url().to_string()),
        };
        let status = resp.status();
        let text = read_bounded(resp, MAX_REPLY_BYTES).await;
        let reply = format!("HTTP {} {}", status.as_u16(), truncate(&text, 300));
        if status.is_success() {
            robot_answer(format, &text, reply)
        } else if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Attempt::Transient(reply)
        } else {
            Attempt::Permanent(reply)
        }
    }
}

/// Robots answer 200 with an `errcode`: 0 is success; rate limits (DingTalk 130101, WeCom
/// 45009) pass; other codes are configuration problems.
fn robot_answer(format: WebhookFormat, text: &str, reply: String) -> Attempt {
    if format == WebhookFormat::Generic {
        return Attempt::Delivered(reply);
    }
    let code = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("errcode").and_then(serde_json::Value::as_i64));
    match code {
        Some(0) => Attempt::Delivered(reply),
        Some(130_101 | 45_009) | None => Attempt::Transient(reply),
        Some(_) => Attempt::Permanent(reply),
    }
}

/// Up to `max` bytes of a reply body, as text; what follows is left unread (the connection
/// is dropped with the response). A body that breaks off keeps what arrived.
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while body.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(max - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The markdown pair (title, text) for robots.
pub use templates::markdown;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_bodies_have_their_formats() {
        let md = ("标题".to_string(), "### 标题\n内容".to_string());
        let d: serde_json::Value =
            serde_json::from_str(&body(WebhookFormat::Dingtalk, "firing", &md, &[])).unwrap();
        assert_eq!(d["msgtype"], "markdown");
        assert_eq!(d["markdown"]["title"], "标题");
        let w: serde_json::Value =
            serde_json::from_str(&body(WebhookFormat::Wecom, "firing", &md, &[])).unwrap();
        assert_eq!(w["markdown"]["content"], "### 标题\n内容");
        let g: serde_json::Value =
            serde_json::from_str(&body(WebhookFormat::Generic, "firing", &md, &[])).unwrap();
        assert_eq!(g["kind"], "firing");
        // The store puts the anchor of the notification's record in its place.
        assert_eq!(g["audit_head"], crate::audit::ANCHOR_PLACEHOLDER);
    }

    #[test]
    fn robot_error_codes_are_classified() {
        let ok = robot_answer(
            WebhookFormat::Dingtalk,
            r#"{"errcode":0,"errmsg":"ok"}"#,
            "r".into(),
        );
        assert_eq!(ok, Attempt::Delivered("r".into()));
        let limited = robot_answer(WebhookFormat::Wecom, r#"{"errcode":45009}"#, "r".into());
        assert!(matches!(limited, Attempt::Transient(_)));
        let bad = robot_answer(WebhookFormat::Dingtalk, r#"{"errcode":310000}"#, "r".into());
        assert!(matches!(bad, Attempt::Permanent(_)));
    }

    /// A webhook endpoint that answers 200 and then streams its body without end; returns
    /// its URL and the number of body bytes it managed to write before the client left.
    async fn endless_endpoint() -> (String, tokio::task::JoinHandle<u64>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut request).await.unwrap();
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            let mut written = 0u64;
            // Until the client closes the connection (or 1 GiB, which a bounded reader
            // never takes).
            while written < 1 << 30 {
                if sock.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
                written += 64 * 1024;
            }
            written
        });
        (url, server)
    }

    #[tokio::test]
    async fn an_endless_reply_body_is_read_only_up_to_the_bound() {
        use crate::config::{AlertsConfig, Webhook};
        use crate::model::{DeliveryStatus, NotificationKind, Role};
        let (url, server) = endless_endpoint().await;
        let mut config = AlertsConfig::default();
        let recipient = &mut config.routing.hlj.recipients[0];
        recipient.webhook = Some(Webhook {
            url,
            format: WebhookFormat::Generic,
        });
        let recipient_id = recipient.id.clone();
        // A generous timeout: the reply must end because of the bound, not the timeout.
        let notifier =
            WebhookNotifier::new(config.routing.clone(), Duration::from_secs(600)).unwrap();
        let now = chrono::Utc::now();
        let out = Outgoing {
            notification: Notification {
                id: 1,
                created_at: now,
                recipient_id,
                recipient_name: "黑龙江省生态环境厅应急值班室".into(),
                province: riverwatch_core::Province::Heilongjiang,
                role: Role::Equal,
                channel: Channel::Webhook,
                kind: NotificationKind::Firing,
                target: "webhook".into(),
                subject: "s".into(),
                alert_ids: vec!["a".into()],
                status: DeliveryStatus::Queued,
                attempts: 0,
                next_attempt_at: None,
                last_attempt_at: None,
                sent_at: None,
                expires_at: now,
                last_reply: None,
                message_id: "<m@x>".into(),
            },
            body_text: "{}".into(),
            body_html: String::new(),
        };
        let attempt = tokio::time::timeout(Duration::from_secs(60), notifier.deliver(&out))
            .await
            .expect("the delivery returns once the bound is read");
        let Attempt::Delivered(reply) = attempt else {
            panic!("a 200 from a generic webhook is delivered: {attempt:?}");
        };
        assert!(reply.starts_with("HTTP 200 xxx"), "{reply}");
        drop(notifier);
        let written = tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("the endpoint sees the client leave")
            .unwrap();
        // What the socket buffers hold beyond the bound, not the endpoint's gigabyte.
        assert!(written < 64 << 20, "{written} bytes were taken");
    }
}
