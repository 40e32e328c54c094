use riverwatch_simulators::OutputFormat;

use super::util::{at_cst, config, generate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_gives_identical_files_and_payloads_another_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, seed) in [("a.csv", 11), ("b.csv", 11), ("c.csv", 12)] {
        let mut c = config("sensor-faults", seed, OutputFormat::Mixed);
        c.out = Some(dir.path().join(name));
        let summary = riverwatch_simulators::run(c, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
        assert!(summary.readings > 1000, "{summary:?}");
        let csv = std::fs::read(dir.path().join(name)).unwrap();
        let manifest = std::fs::read(summary.manifest.unwrap()).unwrap();
        outputs.push((csv, manifest));
    }
    assert_eq!(outputs[0].0, outputs[1].0, "CSV differs for one seed");
    assert_eq!(outputs[0].1, outputs[1].1, "manifest differs for one seed");
    assert_ne!(outputs[0].0, outputs[2].0, "another seed gave the same CSV");

    // The JSON and HJ 212 payloads too.
    let (_, a, _) = generate(&config("baseline", 5, OutputFormat::Mixed));
    let (_, b, _) = generate(&config("baseline", 5, OutputFormat::Mixed));
    let (_, c, _) = generate(&config("baseline", 6, OutputFormat::Mixed));
    assert!(
        a.iter().any(|m| m.topic.contains("/hj212/"))
            && a.iter().any(|m| m.topic.contains("/obs/"))
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn values_are_a_function_of_time_not_of_the_start() {
    // A run started a day later gives the same values for the times both runs cover.
    let mut early = config("baseline", 3, OutputFormat::Json);
    early.duration = Some(std::time::Duration::from_secs(3 * 86_400));
    let mut late = early.clone();
    late.start = Some(at_cst("2026-06-09 00:00"));
    late.duration = Some(std::time::Duration::from_secs(2 * 86_400));
    let (a, _, _) = generate(&early);
    let (b, _, _) = generate(&late);
    let from = at_cst("2026-06-09 00:00");
    let shared: Vec<_> = a.iter().filter(|r| r.time >= from).collect();
    assert!(!shared.is_empty());
    assert_eq!(shared.len(), b.len());
    for (x, y) in shared.iter().zip(&b) {
        assert_eq!(
            (&x.station, &x.parameter, x.time),
            (&y.station, &y.parameter, y.time)
        );
        assert_eq!(x.value, y.value, "{} {} {}", x.station, x.parameter, x.time);
    }
}
