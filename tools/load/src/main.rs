//! `adapter-load`: fixed-concurrency load over HTTP/2 (by ALPN) or HTTP/1.1, printing p50/p90/p99/max,
//! rate and status counts on one line.
//!
//! ```text
//! adapter-load --url https://127.0.0.1:6443/apis/... [--url ...] -c 32 (-n 2000 | -d 10s)
//!     [--http1] [--cacert CA] [--cert CRT --key KEY] [--accept TYPE] [--warmup 20] [--label NAME]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use adapter_load::{Options, Plan, Protocol, Stop};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "adapter-load",
    about = "HTTP/2 and HTTP/1.1 load the way Go clients send it"
)]
struct Args {
    /// URL to request; repeat for a round-robin mix (one endpoint per run).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Concurrent requests.
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Requests in all (else --duration).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// How long to run, in seconds, when -n is not given.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Offer HTTP/1.1 only.
    #[arg(long)]
    http1: bool,
    /// CA to verify the server with (default: accept any certificate).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Client key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Accept header.
    #[arg(long)]
    accept: Option<String>,
    /// Unmeasured requests per worker first.
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Printed before the figures.
    #[arg(long, default_value = "")]
    label: String,
    /// A fixed rate in requests per second over all workers (default: as fast as answers come).
    #[arg(long)]
    rate: Option<f64>,
    /// Each request asks every --url at once and ends when all answered (the Prometheus baseline of an
    /// adapter request that runs several queries at once).
    #[arg(long)]
    together: bool,
    /// Runtime threads for the client.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan {
        urls: args.urls,
        concurrency: args.concurrency,
        stop: match args.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::After(Duration::from_secs_f64(args.duration)),
        },
        warmup: args.warmup,
        rate: args.rate,
        together: args.together,
        options: Options {
            protocol: if args.http1 {
                Protocol::Http1
            } else {
                Protocol::Auto
            },
            ca: args.cacert,
            identity: args.cert.zip(args.key),
            accept: args.accept,
            timeout: Duration::from_secs(30),
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(adapter_load::run(&plan))?;
    println!(
        "{:<44} c={:<3} {}",
        args.label,
        plan.concurrency,
        report.line()
    );
    for (error, n) in &report.errors {
        eprintln!("  {n} × {error}");
    }
    Ok(())
}
