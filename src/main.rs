//! prometheus-adapter: wiring only. `check-config` and `explain` are offline tools; anything else is
//! upstream's command line and serves.
#![forbid(unsafe_code)]

/// jemalloc rather than glibc's malloc: glibc kept the ~46 MiB taken by 2,000 TLS connections after they
/// closed; jemalloc, as configured in `.cargo/config.toml`, returns it within a second or two.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod access_log;
mod api;
mod auth;
mod backends;
mod cli;
mod commands;
mod explain_client;
mod flags;
mod forward;
mod http2_connection;
mod kube_objects;
mod listener;
mod objects_file;
mod reload;
mod serve;
mod stream_limit;
mod telemetry;
mod time;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Exactly one crypto provider, before any TLS config is built (STACK trap 1).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if matches!(
        args.get(1).map(String::as_str),
        Some("check-config" | "explain")
    ) {
        return offline(cli::Cli::parse());
    }
    let flags = match flags::parse(args.into_iter().skip(1)) {
        Ok(flags) => flags,
        Err(error) => error.exit(),
    };
    init_logging(flags.verbosity, flags.log_format);
    api::status::show_causes(flags.verbosity >= 6);
    match serve::run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `--v` from which each request is logged.
pub const ACCESS_LOG_VERBOSITY: u8 = 4;

/// `--v` as upstream uses it: 0–1 info, 2–5 debug of the adapter, ≥ 4 also a line per request (the
/// access log), ≥ 6 every Prometheus request. Colours only when stderr is a terminal.
fn init_logging(verbosity: u8, format: flags::LogFormat) {
    use std::io::IsTerminal;
    let default = match verbosity {
        0..=1 => "info",
        2..=5 => "info,adapter_actors=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Span-close events are what make the access log print one line per request.
    let span_events = if verbosity >= ACCESS_LOG_VERBOSITY {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    let builder = tracing_subscriber::fmt()
        .with_span_events(span_events)
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        flags::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level beside timestamp, level and message; the enclosing request's span as
        // `span` (the access log's method, target, status, request_id).
        flags::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn offline(cli: cli::Cli) -> ExitCode {
    let result = match &cli.command {
        cli::Command::CheckConfig(args) => commands::check_config(args),
        cli::Command::Explain(args) => commands::explain(args),
    };
    match result {
        Ok(output) => {
            print!("{output}");
            if !output.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
