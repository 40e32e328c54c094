//! riverwatch-console: HTTP API and the live web console.
