//! A real InfluxDB 1.x server (Debian's `influxdb`, installed by `.ci/test`) on free
//! loopback ports with its data in a temporary folder, killed when dropped. A missing
//! `influxd` fails the test that needs it.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `influxd` with one database.
pub struct Influxd {
    child: Child,
    dir: PathBuf,
    http_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Influxd {
    /// Starts `influxd` under `dir`, waits until it answers `/ping`, and creates `database`.
    pub async fn start(dir: &Path, database: &str) -> Self {
        let binary = ["/usr/bin/influxd", "/usr/local/bin/influxd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("influxd (InfluxDB 1.x) is not installed: apt-get install -y influxdb");
        let (http_port, rpc_port) = (free_port(), free_port());
        let d = dir.display();
        let config = format!(
            "reporting-enabled = false\n\
             bind-address = \"127.0.0.1:{rpc_port}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{http_port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n"
        );
        let config_path = dir.join("influxd.conf");
        std::fs::write(&config_path, config).unwrap();
        let log = File::create(dir.join("influxd.log")).unwrap();
        let child = Command::new(binary)
            .arg("-config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            dir: dir.to_path_buf(),
            http_port,
        };
        server.wait_ready().await;
        let http = reqwest::Client::new();
        let statement = format!("CREATE DATABASE \"{database}\"");
        let r = http
            .post(format!("{}/query", server.url()))
            .form(&[("q", statement.as_str())])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(
            status.is_success() && !body.contains("\"error\""),
            "{statement}: {status} {body}"
        );
        server
    }

    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/ping", self.url())).send().await
                && r.status().as_u16() == 204
            {
                return;
            }
            let log = || std::fs::read_to_string(self.dir.join("influxd.log")).unwrap_or_default();
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("influxd exited with {status}:\n{}", log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "influxd did not answer /ping within 30 s:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
