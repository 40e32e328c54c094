//! End-to-end tests across services with real brokers, stores and mail servers.
