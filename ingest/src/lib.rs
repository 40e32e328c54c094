//! riverwatch-ingest: MQTT in, decode (JSON, HJ 212), validate, dedup, durable store, canonical readings out.
