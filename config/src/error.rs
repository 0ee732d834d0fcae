//! Config errors: each names the file, the place in it (`rules[3].name.as`) and what is wrong, and a load
//! collects all of them instead of stopping at the first.

use std::fmt;

/// One problem found while loading a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in, as the caller named it.
    pub file: String,
    /// Where in the file: `rules[3].name.as`, `resourceRules.cpu.containerQuery`, or `line 4 column 7`.
    pub location: String,
    /// What is wrong, in lower case.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.location, self.message)
    }
}

/// Every problem found in one rules file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects errors for one file while compiling, so each check can report and carry on.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(file: &'a str) -> Self {
        Self {
            file,
            errors: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            location: location.into(),
            message: message.into(),
        });
    }

    /// Keeps the value of a fallible step, or records its error and returns `None`.
    pub(crate) fn check<T, E: fmt::Display>(
        &mut self,
        location: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(location, error.to_string());
                None
            }
        }
    }

    pub(crate) fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// regex's errors span several lines (the pattern, a caret, the cause); config errors are one line each.
pub(crate) fn regex_error(source: &str, error: &regex::Error) -> String {
    let text = error.to_string();
    let cause = text
        .lines()
        .last()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    format!("invalid regex {source:?}: {cause}")
}
