//! Quantities: any f64 either has a canonical quantity string or is refused; never a panic, never `-9223…`.
use adapter_config::quantity::{Format, Milli};

/// One input: panics on a finding.
pub fn check(value: f64) {
    if let Ok(milli) = Milli::from_f64(value) {
        for format in [Format::DecimalSI, Format::BinarySI] {
            let text = milli.format(format);
            assert!(
                !text.is_empty() && !text.contains("9223372036854775808"),
                "{value} → {text}"
            );
        }
    }
}
