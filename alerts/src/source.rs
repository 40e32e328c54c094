//! The event subscription: `{prefix}/events/+` at QoS 1 with a persistent session under a
//! stable client id and manual acknowledgements. An event is acknowledged to the broker only
//! after the alert state it produced (and the notifications it queued) are committed, so a
//! crash loses nothing: the broker redelivers, and the store recognises the event id. The
//! subscription itself is core's acking subscriber; this module adds the alert service's
//! counters.

use std::time::Duration;

use riverwatch_core::mqtt::SubscriberHooks;
pub use riverwatch_core::mqtt::{BrokerMessage, PacketAck, Subscriber};

use crate::telemetry::Metrics;

/// Events buffered between the subscription and the processor.
pub const CHANNEL_MESSAGES: usize = 256;

/// How long shutdown waits for the last acks.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

impl SubscriberHooks for Metrics {
    fn received(&self, messages: usize) {
        self.events.add(messages as u64);
    }

    fn stale_ack(&self) {
        self.stale_acks.inc();
    }

    fn reconnect(&self) {
        self.reconnects.inc();
    }
}
