//! Checking a scenario against the registry: its stations, parameters, plume reaches and
//! event times, each problem reported with what it names.

use riverwatch_core::registry::{Registry, Station};

use super::{FaultDef, PlumeDef, Scenario, parse_month_day};
use crate::error::{Error, Result};

impl Scenario {
    /// Checks the scenario against the registry: stations, parameters, rivers, seasons,
    /// intervals and event settings.
    ///
    /// # Errors
    /// [`Error::InvalidScenario`] naming the first problem.
    pub fn validate(&self, registry: &Registry) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(&self.name, m));
        if self.selected(registry).is_empty() {
            return bad("no station of the registry is selected".into());
        }
        for field in [
            &self.seasons.ice_on,
            &self.seasons.ice_off,
            &self.seasons.heating_start,
            &self.seasons.heating_end,
        ] {
            if parse_month_day(field).is_none() {
                return bad(format!("season date `{field}` is not MM-DD"));
            }
        }
        let intervals = [
            self.intervals.water_secs,
            self.intervals.air_secs,
            self.intervals.outfall_secs,
            self.intervals.hydrology_secs,
        ];
        if intervals.iter().flatten().any(|&s| s == 0)
            || self.intervals.station.values().any(|&s| s == 0)
        {
            return bad("reporting intervals must be at least 1 s".into());
        }
        for id in self.intervals.station.keys() {
            self.station(registry, id)?;
        }
        for cn in self.publish.cn.values() {
            if cn != "2011" && cn != "2061" {
                return bad(format!("command code `{cn}` is not 2011 or 2061"));
            }
        }
        for p in &self.plumes {
            self.validate_plume(registry, p)?;
        }
        for e in &self.air_episodes {
            if e.daily_pm25.iter().any(|v| !v.is_finite() || *v < 0.0)
                || !(e.pm25_fraction_of_pm10 > 0.0 && e.pm25_fraction_of_pm10 <= 1.0)
            {
                return bad(format!(
                    "air episode {}: daily_pm25 must be ≥ 0 and pm25_fraction_of_pm10 in (0, 1]",
                    e.id
                ));
            }
        }
        for u in &self.upsets {
            let s = self.station(registry, &u.station)?;
            for code in u.peak.keys() {
                self.param_of(s, code)?;
            }
            if u.ramp_up_hours < 0.0 || u.plateau_hours < 0.0 || u.ramp_down_hours < 0.0 {
                return bad(format!("upset at {}: negative duration", u.station));
            }
        }
        for f in &self.floods {
            let s = self.station(registry, &f.station)?;
            if s.warning_level_m.is_none() || !s.reports("LEVEL") {
                return bad(format!(
                    "flood at {}: the station needs LEVEL and a warning level",
                    f.station
                ));
            }
            if f.rise_hours <= 0.0 || f.recession_hours <= 0.0 {
                return bad(format!("flood at {}: durations must be > 0", f.station));
            }
        }
        for f in &self.faults {
            let s = self.station(registry, f.station())?;
            for code in f.parameters() {
                self.param_of(s, code)?;
            }
            if let FaultDef::Flag { values, .. } = f {
                for code in values.keys() {
                    self.param_of(s, code)?;
                }
            }
        }
        Ok(())
    }

    fn validate_plume(&self, registry: &Registry, p: &PlumeDef) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(&self.name, format!("plume {}: {m}", p.id)));
        if registry.river(&p.river).is_none() {
            return bad(format!("unknown river `{}`", p.river));
        }
        if p.reaches.is_empty() || p.loads.is_empty() {
            return bad("needs at least one [[plume.reach]] and one [[plume.load]]".into());
        }
        for r in &p.reaches {
            if registry.river(&r.river).is_none() {
                return bad(format!("reach on unknown river `{}`", r.river));
            }
            if !(r.velocity_kmh > 0.0 && r.flow_m3s > 0.0 && r.to_km > r.from_km) {
                return bad(format!(
                    "reach {} {}–{} km needs velocity > 0, flow > 0 and to_km > from_km",
                    r.river, r.from_km, r.to_km
                ));
            }
        }
        for l in &p.loads {
            if registry.parameter(&l.parameter).is_none() {
                return bad(format!("unknown parameter `{}`", l.parameter));
            }
            if l.mass_kg.is_nan() || l.mass_kg <= 0.0 || l.decay_per_day < 0.0 {
                return bad("mass_kg must be > 0 and decay_per_day ≥ 0".into());
            }
        }
        if p.spread_initial_hours.is_nan()
            || p.spread_initial_hours <= 0.0
            || p.spread_per_hour < 0.0
            || p.release_hours < 0.0
        {
            return bad("spread_initial_hours must be > 0, the others ≥ 0".into());
        }
        if p.emergency_interval_secs == Some(0) {
            return bad("emergency_interval_secs must be ≥ 1".into());
        }
        Ok(())
    }

    fn station<'r>(&self, registry: &'r Registry, id: &str) -> Result<&'r Station> {
        registry
            .station(id)
            .filter(|s| self.stations.selects(s.id.as_str()))
            .ok_or_else(|| {
                Error::invalid(
                    &self.name,
                    format!("station `{id}` is not in the registry or not selected"),
                )
            })
    }

    fn param_of(&self, station: &Station, code: &str) -> Result<()> {
        if station.reports(code) {
            Ok(())
        } else {
            Err(Error::invalid(
                &self.name,
                format!("station {} does not report `{code}`", station.id),
            ))
        }
    }
}
