//! A headless Chromium driven over the Chrome DevTools Protocol: the browser started with
//! `--remote-debugging-port=0` (the port read from its `DevToolsActivePort` file), a page
//! target found through `/json/list`, and a small WebSocket client (RFC 6455: the upgrade,
//! masked text frames out, text and continuation frames in) that sends commands and reads
//! their answers, skipping the protocol's events.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The browser binary: `RIVERWATCH_CHROMIUM`, else Debian's `chromium`.
fn binary() -> PathBuf {
    std::env::var_os("RIVERWATCH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chromium"))
}

/// A headless Chromium with its own profile; killed when dropped.
pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts the browser and waits for its debugging port.
    pub async fn launch() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--mute-audio",
                "--lang=zh-CN",
                "--window-size=1440,1000",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install Debian's chromium (.ci/test does)",
                    binary().display()
                )
            });
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break port;
            }
            assert!(Instant::now() < deadline, "chromium never opened its port");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self {
            child,
            port,
            _profile: profile,
        }
    }

    /// The first page target, connected.
    pub async fn page(&self) -> Page {
        let targets: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{}/json/list", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws = targets
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let mut page = Page::connect(&ws).await;
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One page over its DevTools WebSocket.
pub struct Page {
    stream: TcpStream,
    next_id: u64,
}

impl Page {
    async fn connect(url: &str) -> Self {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = TcpStream::connect(host).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: cml2ZXJ3YXRjaC1icm93c2VyLQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "no WebSocket upgrade: {head}"
        );
        Self { stream, next_id: 0 }
    }

    async fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x8e];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next whole text message.
    async fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let b0 = self.stream.read_u8().await.unwrap();
            let b1 = self.stream.read_u8().await.unwrap();
            let len = match b1 & 0x7f {
                126 => u64::from(self.stream.read_u16().await.unwrap()),
                127 => self.stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mask = if b1 & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.stream.read_exact(&mut m).await.unwrap();
                Some(m)
            } else {
                None
            };
            let mut data = vec![0u8; usize::try_from(len).unwrap()];
            self.stream.read_exact(&mut data).await.unwrap();
            if let Some(m) = mask {
                data.iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b ^= m[i % 4]);
            }
            match b0 & 0x0f {
                0x0 | 0x1 => {
                    message.extend_from_slice(&data);
                    if b0 & 0x80 != 0 {
                        return String::from_utf8(message).unwrap();
                    }
                }
                0x8 => panic!("the browser closed the DevTools connection"),
                0x9 => {
                    // Ping: answer with a pong carrying the same data (masked, as a client).
                    let mut pong = vec![0x8a, 0x80 | data.len() as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&data);
                    self.stream.write_all(&pong).await.unwrap();
                }
                _ => {}
            }
        }
    }

    /// Sends a command and returns its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    /// Sends a command and returns its result or the browser's error.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.send(&msg).await;
        let answer = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let v: Value = serde_json::from_str(&self.receive().await).unwrap();
                if v["id"].as_u64() == Some(id) {
                    return v;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method}"));
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    /// Evaluates a JavaScript expression in the page (promises awaited) and returns its
    /// value; a thrown exception fails the test.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (it is then returned) or `timeout` passes.
    pub async fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let guarded = format!(
            "(() => {{ try {{ return ({expression}); }} catch (_) {{ return null; }} }})()"
        );
        loop {
            // While the page navigates (a sign-in, a redirect) the evaluation can land in the
            // document being left: the browser answers "Inspected target navigated or
            // closed", which is "not yet", not a failure.
            let v = match self
                .try_call(
                    "Runtime.evaluate",
                    json!({"expression": guarded, "returnByValue": true, "awaitPromise": true}),
                )
                .await
            {
                Ok(r) => r["result"]["value"].clone(),
                Err(e) if e.to_string().contains("navigated or closed") => Value::Null,
                Err(e) => panic!("Runtime.evaluate failed: {e}"),
            };
            let truthy =
                !(v.is_null() || v == Value::Bool(false) || v == json!(0) || v == json!(""));
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let body = self
                    .eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await;
                panic!("waited {timeout:?} in vain for {what}; the page shows: {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `url` and waits until the page's script says it is ready.
    pub async fn open(&mut self, url: &str, path: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for(
            &format!("{url} to be ready"),
            &format!(
                "location.pathname === {} && document.body.dataset.ready === '1'",
                json!(path)
            ),
            Duration::from_secs(30),
        )
        .await;
    }

    /// Saves a PNG of the whole page.
    pub async fn screenshot(&mut self, file: &Path) {
        let m = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &m["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1440.0);
        let height = size["height"].as_f64().unwrap_or(1000.0).min(4000.0);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, png).unwrap();
    }
}
