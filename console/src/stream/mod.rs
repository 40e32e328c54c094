//! The live feed: [`source`] takes readings, evaluation events and alert changes from the
//! broker into the [`feed`] ring, and [`sse`] serves them at `GET /api/v1/stream` as
//! server-sent events with resumption.

pub mod feed;
pub mod source;
pub mod sse;
