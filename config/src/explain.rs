//! Human-readable reports for `check-config` and `explain`.
