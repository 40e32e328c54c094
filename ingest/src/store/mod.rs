//! Where readings and dead letters go: the SQLite store (embedded default, and always the
//! home of dead letters) and the InfluxDB adapters.

pub mod sqlite;

pub use sqlite::{SqliteReader, SqliteStore};
