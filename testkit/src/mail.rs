//! Decoding of the emails lettre sends (MIME multipart, base64 and quoted-printable bodies,
//! RFC 2047 subjects), so tests can assert on the Chinese text, and a count of Message-IDs
//! to find duplicates.

use crate::smtp::Received;

/// A decoded email: headers, subject, Message-ID, and the plain-text and HTML parts.
#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    /// Header fields (name as sent, unfolded value).
    pub headers: Vec<(String, String)>,
    /// The decoded subject.
    pub subject: String,
    /// The Message-ID header.
    pub message_id: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
}

impl ParsedMail {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (headers, body)
}

/// Decodes a message as lettre writes it.
pub fn parse_mail(raw: &str) -> ParsedMail {
    let (headers, body) = split_headers(raw);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut mail = ParsedMail {
        subject: decode_words(&get("Subject")),
        message_id: get("Message-ID"),
        ..ParsedMail::default()
    };
    collect_parts(
        &get("Content-Type"),
        &get("Content-Transfer-Encoding"),
        body,
        &mut mail,
    );
    mail.headers = headers;
    mail
}

fn collect_parts(content_type: &str, encoding: &str, body: &str, mail: &mut ParsedMail) {
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let Some(boundary) = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .map(|b| b.trim_matches('"').to_string())
        else {
            return;
        };
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.trim_start_matches(['\r', '\n']);
            let (h, b) = split_headers(part);
            let get = |name: &str| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            collect_parts(
                &get("Content-Type"),
                &get("Content-Transfer-Encoding"),
                b,
                mail,
            );
        }
        return;
    }
    let text = decode_body(encoding, body);
    if lower.starts_with("text/html") {
        mail.html = text;
    } else if lower.starts_with("text/plain") || lower.is_empty() {
        mail.text = text;
    }
}

fn decode_body(encoding: &str, body: &str) -> String {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(&base64_decode(&compact)).into_owned()
        }
        "quoted-printable" => String::from_utf8_lossy(&qp_decode(body, false)).into_owned(),
        _ => body.replace("\r\n", "\n"),
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn qp_decode(s: &str, underscore_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(b'\n');
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); whitespace between
/// adjacent encoded words is dropped.
pub fn decode_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut last_was_word = false;
    while !rest.is_empty() {
        match rest.find("=?") {
            Some(start) => {
                let before = &rest[..start];
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                let after = &rest[start + 2..];
                let parts: Vec<&str> = after.splitn(3, '?').collect();
                if parts.len() == 3
                    && let Some(end) = parts[2].find("?=")
                {
                    let data = &parts[2][..end];
                    let bytes = if parts[1].eq_ignore_ascii_case("b") {
                        base64_decode(data)
                    } else {
                        qp_decode(data, true)
                    };
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    let consumed = start + 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
                    rest = &rest[consumed..];
                    last_was_word = true;
                    continue;
                }
                out.push_str("=?");
                rest = &rest[start + 2..];
                last_was_word = false;
            }
            None => {
                out.push_str(rest);
                break;
            }
        }
    }
    out
}

/// Counts occurrences of each Message-ID: duplicates are messages delivered twice.
pub fn message_id_counts(received: &[Received]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in received {
        *out.entry(r.parsed().message_id).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_mime() {
        let raw = "Subject: =?utf-8?b?6JSh5a625rKf?= =?utf-8?q?_NH3N?=\r\nMessage-ID: <m1@x>\r\nContent-Type: multipart/alternative;\r\n boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n5rCo5rCu\r\n--B\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=E6=B0=A8=E6=B0=AE</p>\r\n--B--\r\n";
        let m = parse_mail(raw);
        assert_eq!(m.subject, "蔡家沟 NH3N");
        assert_eq!(m.message_id, "<m1@x>");
        assert_eq!(m.text, "氨氮");
        assert!(m.html.contains("<p>氨氮</p>"));
    }
}
