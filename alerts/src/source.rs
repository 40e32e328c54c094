//! The event subscription: `{prefix}/events/+` at QoS 1 with a persistent session under a
//! stable client id and manual acknowledgements. An event is acknowledged to the broker only
//! after the alert state it produced (and the notifications it queued) are committed, so a
//! crash loses nothing: the broker redelivers, and the store recognises the event id. The
//! subscription itself is core's [`Subscriber`]; this module adds the alert service's
//! counters.

use std::time::Duration;

use riverwatch_core::subscriber::SubscriberHooks;
pub use riverwatch_core::subscriber::{Inbound, Subscriber};

use crate::telemetry::Metrics;

/// Room for pending acks and requests on the subscriber connection.
pub const REQUEST_ROOM: usize = 10_000;

/// How long shutdown waits for the last acks.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl SubscriberHooks for Metrics {
    fn message(&self) {
        self.events.inc();
    }

    fn stale_ack(&self) {
        self.stale_acks.inc();
    }

    fn reconnect(&self) {
        self.reconnects.inc();
    }
}
