//! Release builds of the adapter lay out first the functions it runs while serving
//! (`link/hot-symbols.txt`, recorded by `scripts/hot-symbols.sh`), through lld's `--symbol-ordering-file`.
//!
//! Why: the kernel maps a binary's code 64 KiB around each page that runs (fault-around), and in a
//! whole-program-optimized binary the functions that run are scattered over most of its text, so idle RSS
//! grew with every dependency whether its code ran or not (the AWS SDK's credential chain, never run
//! without `sigv4`, added 1.8 MiB). Laid out together, the code that runs fills few pages: idle RSS
//! 21.5 → 12.9 MiB (BENCHMARKS.md). Only where lld is the linker by default (x86_64 Linux since Rust
//! 1.90); `ADAPTER_SYMBOL_ORDER=off` turns it off (for another linker).

fn main() {
    println!("cargo:rerun-if-changed=link/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=ADAPTER_SYMBOL_ORDER");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_by_default = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let off = std::env::var("ADAPTER_SYMBOL_ORDER").is_ok_and(|v| v == "off");
    if !(release && lld_by_default) || off {
        return;
    }
    let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("link/hot-symbols.txt");
    if order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names a later build no longer has (the file is regenerated now and then) are skipped.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
