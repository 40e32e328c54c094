use std::sync::Arc;

use chrono::{DateTime, Utc};
use riverwatch_core::registry::Registry;
use riverwatch_simulators::encode::OutMessage;
use riverwatch_simulators::recording::Row;
use riverwatch_simulators::simulate::generate_all;
use riverwatch_simulators::{Manifest, OutputFormat, Scenario, SimulateConfig};

pub fn registry() -> Arc<Registry> {
    Arc::new(Registry::builtin().unwrap())
}

pub fn config(scenario: &str, seed: u64, format: OutputFormat) -> SimulateConfig {
    let mut c = SimulateConfig::new(Scenario::builtin(scenario).unwrap(), registry());
    c.seed = seed;
    c.format = format;
    c
}

pub fn generate(config: &SimulateConfig) -> (Vec<Row>, Vec<OutMessage>, Manifest) {
    generate_all(config).unwrap()
}

pub fn rows_of<'a>(rows: &'a [Row], station: &str, parameter: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.station == station && r.parameter == parameter)
        .collect()
}

pub fn at_cst(s: &str) -> DateTime<Utc> {
    riverwatch_core::time::parse_time(s).unwrap()
}
