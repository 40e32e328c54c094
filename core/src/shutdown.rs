//! Clean shutdown: one root cancellation token, tasks spawned through a tracker under a
//! name, and a bounded wait that logs what is still running.
//!
//! Services stop in order because the data flows that way: sources stop taking input when
//! the token fires and drop their senders; writers drain their channels, commit and ack;
//! notifiers drain last. Nothing is spawned detached.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shutdown coordination for one process.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    pending: Arc<Mutex<BTreeMap<u64, String>>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

/// Removes a task's name from the pending list when the task ends, however it ends.
struct PendingGuard {
    pending: Arc<Mutex<BTreeMap<u64, String>>>,
    id: u64,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        // std Mutex: held for a map removal only, never across an await.
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&self.id);
        }
    }
}

impl Shutdown {
    /// A fresh coordinator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token services watch; cancelled when shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Begins shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Spawns a named task on the tracker; its name is listed while shutdown waits for it.
    pub fn spawn<F>(&self, name: &str, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, name.to_string());
        }
        let guard = PendingGuard {
            pending: self.pending.clone(),
            id,
        };
        self.tracker.spawn(async move {
            let _guard = guard;
            fut.await
        })
    }

    /// Names of the tasks still running.
    pub fn pending(&self) -> Vec<String> {
        self.pending
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits for every tracked task to end, up to `deadline`, logging the ones still running
    /// every 5 s. Returns the names still running at the deadline (empty when all ended).
    pub async fn join(&self, deadline: Duration) -> Vec<String> {
        self.tracker.close();
        let wait = self.tracker.wait();
        tokio::pin!(wait);
        let give_up = tokio::time::sleep(deadline);
        tokio::pin!(give_up);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut wait => return Vec::new(),
                () = &mut give_up => {
                    let left = self.pending();
                    tracing::error!(pending = ?left, "Shutdown deadline passed; stopping anyway.");
                    return left;
                }
                _ = tick.tick() => {
                    tracing::info!(pending = ?self.pending(), "Waiting for services to stop.");
                }
            }
        }
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_waits_for_tasks_that_watch_the_token() {
        let sd = Shutdown::new();
        let token = sd.token();
        let flushed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flushed.clone();
        sd.spawn("writer", async move {
            token.cancelled().await;
            f.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        assert_eq!(sd.pending(), vec!["writer".to_string()]);
        sd.trigger();
        let left = sd.join(Duration::from_secs(5)).await;
        assert!(left.is_empty());
        assert!(flushed.load(std::sync::atomic::Ordering::SeqCst));
        assert!(sd.pending().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn join_reports_tasks_that_miss_the_deadline() {
        let sd = Shutdown::new();
        sd.spawn("stuck", std::future::pending::<()>());
        sd.trigger();
        let left = sd.join(Duration::from_secs(30)).await;
        assert_eq!(left, vec!["stuck".to_string()]);
    }
}
