//! Every fuzz target's check over every seed of its corpus (`tools/fuzz/seeds/<target>/`), each turned into
//! the target's input as libfuzzer-sys turns bytes into it: the corpus is exercised by every test run,
//! the long libFuzzer runs are `scripts/fuzz.sh`'s.

use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};

/// The seeds of `target`, as bytes; at least one.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds for {target}");
    seeds
}

/// Runs `check` over every seed of `target`, each as `T` the way the fuzz target receives it.
fn over_seeds<'a, T: Arbitrary<'a>>(target: &str, seeds: &'a [(PathBuf, Vec<u8>)], check: fn(T)) {
    for (path, bytes) in seeds {
        let Ok(input) = T::arbitrary_take_rest(Unstructured::new(bytes)) else {
            continue;
        };
        eprintln!("{target}: {}", path.display());
        check(input);
    }
}

macro_rules! seeds_of {
    ($($target:ident: $input:ty),* $(,)?) => {$(
        #[test]
        fn $target() {
            let seeds = seeds(stringify!($target));
            over_seeds::<$input>(stringify!($target), &seeds, adapter_fuzz_checks::$target::check);
        }
    )*};
}

seeds_of! {
    kubeconfig: &str,
    label_selector: &str,
    promql_quoting: &str,
    quantity: f64,
    query_answer: &[u8],
    rules_file: &str,
    series_answer: &[u8],
    series_selector: &str,
    template: &str,
    request: &[u8],
}
