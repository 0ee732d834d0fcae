//! prometheus-adapter: wiring only. `check-config` and `explain` are offline tools; anything else is
//! upstream's command line and serves.
#![forbid(unsafe_code)]

/// jemalloc rather than glibc's malloc: glibc kept the ~46 MiB taken by 2,000 TLS connections after they
/// closed; jemalloc, as configured in `.cargo/config.toml`, returns it within a second or two.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    prometheus_adapter::run()
}
