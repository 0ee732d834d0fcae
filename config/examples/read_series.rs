//! Streams a `/api/v1/series` answer from a file through the relist reader and prints what it kept, so
//! its memory can be measured on a large answer:
//! `/usr/bin/time -v cargo run --release -p adapter-config --example read_series -- series.json`.

use std::io::BufReader;

use adapter_config::SeriesSet;
use adapter_config::series_answer::read_answer_from;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_series FILE")?;
    let file = std::fs::File::open(&path)?;
    let mut set = SeriesSet::new();
    read_answer_from(BufReader::with_capacity(1 << 16, file), &mut set)?;
    println!(
        "{} series, {} distinct (name, label-name set) entries",
        set.total(),
        set.distinct()
    );
    Ok(())
}
