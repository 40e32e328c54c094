//! Where readings and dead letters go: the SQLite store (embedded default, and always the
//! home of dead letters) and the InfluxDB adapters.

pub mod influx;
pub mod sqlite;

pub use influx::{Influx1Reader, Influx1Store, Influx2Reader, Influx2Store, InfluxError};
pub use sqlite::{SqliteReader, SqliteStore};
