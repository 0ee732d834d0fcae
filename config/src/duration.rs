//! Durations in the two syntaxes the adapter meets: Prometheus' (`5m`, `1h30m`, `1d`, `1w`) in the rules
//! file's `window` and in range selectors, and Go's `Duration.String()` (`5m0s`) on the wire.

use std::time::Duration;

/// Why a Prometheus duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct Error {
    /// The text that failed.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Parses a Prometheus duration: one or more `<integer><unit>` with units `y w d h m s ms`, largest first.
pub fn parse_prometheus(input: &str) -> Result<Duration, Error> {
    let error = |reason| Error {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(error("empty duration"));
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("ms", 1),
        ("m", 60 * 1000),
        ("s", 1000),
    ];
    let mut rest = input;
    let mut total_ms: u64 = 0;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error("expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| error("number too large"))?;
        rest = &rest[digits..];
        let (rank, (unit, ms)) = UNITS
            .iter()
            .enumerate()
            .find(|(_, (unit, _))| rest.starts_with(unit))
            .ok_or_else(|| error("expected a unit (y w d h m s ms)"))?;
        // `ms` sorts before `m` only to be matched first; order of magnitude is what must decrease.
        let magnitude = [0, 1, 2, 3, 6, 4, 5][rank];
        if last_rank != usize::MAX && magnitude <= last_rank {
            return Err(error("units must go from largest to smallest, each once"));
        }
        last_rank = magnitude;
        rest = &rest[unit.len()..];
        total_ms = number
            .checked_mul(*ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| error("duration too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats like Go's `time.Duration.String()`: `5m0s`, `1h0m0s`, `30s`, `1.5s`, `500ms`, `0s`.
pub fn format_go(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, div));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / div` with the fraction's trailing zeros dropped, as Go prints it.
fn fraction(value: u128, div: u128) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations_parse_like_prometheus() {
        let cases = [
            ("5m", 300_000),
            ("30s", 30_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("250ms", 250),
            ("1m30s500ms", 90_500),
        ];
        for (input, ms) in cases {
            assert_eq!(
                parse_prometheus(input),
                Ok(Duration::from_millis(ms)),
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_prometheus_durations_are_rejected() {
        for input in ["", "5", "m", "5x", "1m1h", "1m1m", "-5m", "5 m", "1.5m"] {
            assert!(parse_prometheus(input).is_err(), "{input} should fail");
        }
    }

    #[test]
    fn go_duration_strings_match_go() {
        let cases = [
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(61_250), "1m1.25s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_go(duration), text);
        }
    }
}
