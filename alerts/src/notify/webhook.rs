//! Webhooks: riverwatch's generic JSON, and the DingTalk (钉钉) and WeCom (企业微信) group
//! robots' markdown messages. The request body is rendered when the notification is queued
//! (stored in the outbox); the URL is looked up in the configuration by recipient id at
//! send time, so robot tokens never enter the database or the logs. Every body carries the
//! audit anchor of the notification's record (`audit_head` in the generic JSON, the last
//! line of the robots' markdown).

use std::time::Duration;

use serde_json::json;

use super::{Attempt, Deliver, templates};
use crate::config::{Routing, WebhookFormat};
use crate::model::{AlertView, Channel, Notification};
use crate::store::Outgoing;

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
        let text = resp.text().await.unwrap_or_default();
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
}
