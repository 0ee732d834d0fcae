//! Relist cost on a realistic large shape: "1M series, seed rules" — 2,000 metric names × 500 pods, as
//! the two `/api/v1/series` answers the seed's default rules ask for (cAdvisor and generic), read and
//! named through all six rules. Run: `cargo bench -p adapter-config --bench naming`.

use adapter_config::discovery::{Registry, name_rule};
use adapter_config::series_answer::read_answer;
use adapter_config::{ResourceMap, SeriesSet, rules};
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;

const NAMES: usize = 2_000;
const PODS: usize = 500;

/// The answer Prometheus gives for one seriesQuery: `names` × `PODS` label sets with realistic labels.
fn answer(names: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(names.len() * PODS * 140);
    out.push_str(r#"{"status":"success","data":["#);
    let mut first = true;
    for name in names {
        for pod in 0..PODS {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(
                out,
                r#"{{"__name__":"{name}","container":"app","endpoint":"https-metrics","instance":"10.0.{}.{}:10250","job":"kubelet","namespace":"ns-{}","pod":"web-{pod:05}","service":"kubelet"}}"#,
                pod / 250,
                pod % 250,
                pod % 20
            );
        }
    }
    out.push_str("]}");
    out.into_bytes()
}

/// A seeded, deterministic mix of counter, seconds-counter and gauge names.
fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match i % 3 {
            0 => format!("{prefix}metric_{i}_seconds_total"),
            1 => format!("{prefix}metric_{i}_total"),
            _ => format!("{prefix}metric_{i}_bytes"),
        })
        .collect()
}

fn relist(c: &mut Criterion) {
    let config = rules::load(
        "default-modern.yaml",
        include_str!("../rules/default-modern.yaml"),
    )
    .unwrap();
    let map = ResourceMap::standard();
    // The cAdvisor rules share one seriesQuery, the generic rules another; half the names each.
    let cadvisor = answer(&names("container_", NAMES / 2));
    let generic = answer(&names("app_", NAMES / 2));
    let answer_for = |query: &str| {
        if query.contains("^container_.*\",container") {
            &cadvisor
        } else {
            &generic
        }
    };

    let run = || {
        let mut sets: Vec<(String, SeriesSet)> = Vec::new();
        let mut outcomes = Vec::new();
        for rule in &config.rules {
            if !sets.iter().any(|(q, _)| *q == rule.series_query) {
                let mut set = SeriesSet::new();
                read_answer(answer_for(&rule.series_query), &mut set).unwrap();
                sets.push((rule.series_query.clone(), set));
            }
            let set = &sets
                .iter()
                .find(|(q, _)| *q == rule.series_query)
                .unwrap()
                .1;
            outcomes.push(name_rule(rule, set, &map));
        }
        Registry::assemble(&outcomes)
    };

    // Sanity: cAdvisor names are advertised for pods and namespaces (overrides); generic names also for
    // services and jobs, since the `<<.Resource>>` template turns the `service` and `job` labels into resources.
    let registry = run();
    assert_eq!(registry.custom.len(), NAMES / 2 * 2 + NAMES / 2 * 4);
    let bytes = cadvisor.len() + generic.len();
    eprintln!(
        "answers: {} series, {:.1} MB of JSON",
        NAMES * PODS,
        bytes as f64 / 1e6
    );

    let mut group = c.benchmark_group("relist");
    group.sample_size(10);
    group.bench_function(
        "1M series, seed rules: read answers + name + assemble",
        |b| b.iter(|| black_box(run())),
    );
    group.bench_function("1M series: read answers only", |b| {
        b.iter(|| {
            let mut set = SeriesSet::new();
            read_answer(&cadvisor, &mut set).unwrap();
            read_answer(&generic, &mut set).unwrap();
            black_box(set.total())
        })
    });
    let mut set = SeriesSet::new();
    read_answer(&generic, &mut set).unwrap();
    group.bench_function("500k series: name through one generic rule", |b| {
        b.iter(|| black_box(name_rule(&config.rules[3], &set, &map)))
    });
    group.finish();
}

criterion_group!(benches, relist);
criterion_main!(benches);
