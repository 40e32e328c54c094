//! Tests of the simulators across modules, one binary (polars links once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;
