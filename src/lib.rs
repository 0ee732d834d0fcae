//! prometheus-adapter: a drop-in replacement for kubernetes-sigs/prometheus-adapter serving
//! `custom.metrics.k8s.io`, `external.metrics.k8s.io` and `metrics.k8s.io` from Prometheus. The binary
//! (src/main.rs) only picks the allocator and calls [`run`]; the modules are public so the fuzz targets
//! (tools/fuzz) can drive the HTTP side and the kubeconfig readers as the binary does.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod backends;
pub mod commands;
pub mod flags;
pub mod groups;
pub mod reload;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod time;

use std::process::ExitCode;

use clap::Parser;

/// The command line: upstream's flags serve; `check-config` and `explain` are offline tools.
pub fn run() -> ExitCode {
    // Exactly one crypto provider, before any TLS config is built: with both ring and aws-lc-rs in the
    // tree, rustls cannot pick one and its config builders panic.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if matches!(
        args.get(1).map(String::as_str),
        Some("check-config" | "explain")
    ) {
        return offline(commands::cli::Cli::parse());
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

fn offline(cli: commands::cli::Cli) -> ExitCode {
    let result = match &cli.command {
        commands::cli::Command::CheckConfig(args) => commands::check_config(args),
        commands::cli::Command::Explain(args) => commands::explain(args),
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
