//! Kubernetes quantities as the metrics APIs serialize them: a value becomes an integer count of
//! thousandths (`int64(v × 1000)`, truncated toward zero, as upstream does), printed in canonical
//! DecimalSI (`500m`, `10`, `2k`) or BinarySI (`1Mi`, `3100`) form.
//!
//! Unlike upstream, a value with no integer form (NaN, ±Inf, beyond ±9.2e15) is an error the caller
//! must decide about, never `-9223372036854775808m`.

use std::fmt::Write;

/// A value that has no quantity form.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("value {0} cannot be represented as a quantity")]
pub struct NotRepresentable(pub f64);

/// Which canonical form to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Powers of 1000: `m`, ``, `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSI,
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei` (for memory).
    BinarySI,
}

/// A quantity held as thousandths of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Milli(pub i64);

impl Milli {
    /// `int64(v × 1000)`, truncated toward zero; NaN, ±Inf and overflow are errors.
    pub fn from_f64(value: f64) -> Result<Self, NotRepresentable> {
        let milli = (value * 1000.0).trunc();
        // i64::MAX as f64 rounds up to 2^63, so the bound is exclusive.
        if milli.is_finite() && milli >= i64::MIN as f64 && milli < i64::MAX as f64 {
            Ok(Self(milli as i64))
        } else {
            Err(NotRepresentable(value))
        }
    }

    /// The canonical Kubernetes string in `format`.
    pub fn format(self, format: Format) -> String {
        let Milli(milli) = self;
        if milli % 1000 != 0 {
            return format!("{milli}m");
        }
        let whole = milli / 1000;
        match format {
            // Kubernetes prints BinarySI values inside (-1024, 1024) in decimal form to avoid confusion.
            Format::BinarySI if whole.unsigned_abs() >= 1024 => binary(whole),
            _ => decimal(whole),
        }
    }
}

/// Reads a Kubernetes quantity as written in a rules file (`0`, `1.5`, `250m`, `2k`, `1Ki`, `1e3`): a
/// signed decimal number and one suffix — DecimalSI `n u m k M G T P E`, BinarySI `Ki Mi Gi Ti Pi Ei`, or a
/// decimal exponent `e`/`E` — as `resource.ParseQuantity` accepts them. Finite values only.
pub fn parse(text: &str) -> Result<f64, String> {
    let invalid = || format!("{text:?} is not a quantity (e.g. 0, 1.5, 250m, 2k, 1Ki)");
    let number_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(number_end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    // Fractions divide (`250m` is 250 / 1000, exactly 0.25), multiples multiply.
    let value = match suffix {
        "n" => value / 1e9,
        "u" => value / 1e6,
        "m" => value / 1e3,
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().map_err(|_| invalid())?;
            if power < 0 {
                value / 10f64.powi(-power)
            } else {
                value * 10f64.powi(power)
            }
        }
        _ => value * multiple(suffix).ok_or_else(invalid)?,
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid())
    }
}

/// The factor of a DecimalSI or BinarySI suffix of a whole multiple (`""` is 1).
fn multiple(suffix: &str) -> Option<f64> {
    Some(match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    })
}

fn decimal(whole: i64) -> String {
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut mantissa = whole;
    let mut exponent = 0;
    while mantissa != 0 && mantissa % 1000 == 0 && exponent + 1 < SUFFIXES.len() {
        mantissa /= 1000;
        exponent += 1;
    }
    let mut out = mantissa.to_string();
    out.push_str(SUFFIXES[exponent]);
    out
}

fn binary(whole: i64) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut mantissa = whole;
    let mut exponent = 0;
    while mantissa % 1024 == 0 && exponent + 1 < SUFFIXES.len() {
        mantissa /= 1024;
        exponent += 1;
    }
    let mut out = String::new();
    let _ = write!(out, "{mantissa}{}", SUFFIXES[exponent]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: f64) -> String {
        Milli::from_f64(v).unwrap().format(Format::DecimalSI)
    }

    fn bin(v: f64) -> String {
        Milli::from_f64(v).unwrap().format(Format::BinarySI)
    }

    #[test]
    fn quantities_are_read_as_kubernetes_writes_them() {
        for (text, want) in [
            ("0", 0.0),
            ("1.5", 1.5),
            ("-2", -2.0),
            ("+3", 3.0),
            ("250m", 0.25),
            ("2k", 2000.0),
            ("1Ki", 1024.0),
            ("1Mi", 1048576.0),
            ("1e3", 1000.0),
            ("5E-1", 0.5),
            (".5", 0.5),
            ("100n", 1e-7),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for text in [
            "", "zero", "1.2.3", "1x", "m", "-", "1e", "1KI", "1e999", " 1",
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains("is not a quantity"), "{text}: {error}");
        }
    }

    #[test]
    fn decimal_si_is_canonical() {
        let cases = [
            (10.0, "10"),
            (10.5, "10500m"),
            (0.5, "500m"),
            (2000.0, "2k"),
            (1500.0, "1500"),
            (1e9, "1G"),
            (-0.5, "-500m"),
            (0.0, "0"),
            (-0.0, "0"),
            (0.0004, "0"),
            (0.0016, "1m"),
            (-0.0016, "-1m"),
            (1e15, "1P"),
            (5e15, "5P"),
            (123_456_000.0, "123456k"),
            (1.2, "1200m"),
        ];
        for (value, text) in cases {
            assert_eq!(dec(value), text, "{value}");
        }
    }

    #[test]
    fn binary_si_is_canonical() {
        let cases = [
            (3100.0, "3100"),
            (1_048_576.0, "1Mi"),
            (2048.0, "2Ki"),
            (1536.0, "1536"),
            (1000.0, "1k"),
            (500.0, "500"),
            (0.5, "500m"),
            (1023.0, "1023"),
            (1024.0, "1Ki"),
            (-2048.0, "-2Ki"),
            (47_185_920.0, "45Mi"),
            (1_073_741_824.0 * 3.0, "3Gi"),
            (1025.5, "1025500m"),
        ];
        for (value, text) in cases {
            assert_eq!(bin(value), text, "{value}");
        }
    }

    #[test]
    fn values_without_an_integer_form_are_errors() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e16, -1e16] {
            assert!(Milli::from_f64(value).is_err(), "{value}");
        }
        assert_eq!(
            Milli::from_f64(9.2e15),
            Ok(Milli(9_200_000_000_000_000_000))
        );
    }
}
