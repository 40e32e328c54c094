//! riverwatch-alerts: Alert lifecycle, routing to both provinces, notifiers and the durable alert store.
