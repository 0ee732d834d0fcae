//! Config findings: each names the file, the place in it (`rules[3].name.as`) and what is wrong, and a
//! load collects all of them instead of stopping at the first. **Errors** are what upstream refuses to
//! start with too; **warnings** are what upstream starts with and fails on later (an empty query, a
//! template reading a field that does not exist): a warning disables only its rule.

use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// Upstream refuses to start too: the file is not loaded.
    #[default]
    Error,
    /// Upstream starts and fails later: the rule it is in is disabled, everything else is served.
    Warning,
}

/// One problem found while loading a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in, as the caller named it.
    pub file: String,
    /// Where in the file: `rules[3].name.as`, `resourceRules.cpu.containerQuery`, or `line 4 column 7`.
    pub location: String,
    /// What is wrong, in lower case.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}: {}: {label}{}",
            self.file, self.location, self.message
        )
    }
}

/// Every problem found in one rules file, in file order: the errors, then the warnings.
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

/// Collects errors and warnings for one file while compiling, so each check can report and carry on.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(file: &'a str) -> Self {
        Self {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn finding(
        &self,
        location: impl Into<String>,
        message: impl Into<String>,
        severity: Severity,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            location: location.into(),
            message: message.into(),
            severity,
        }
    }

    pub(crate) fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        let error = self.finding(location, message, Severity::Error);
        self.errors.push(error);
    }

    /// Records a warning: upstream starts with this; the rule it is in will be disabled.
    pub(crate) fn warn(&mut self, location: impl Into<String>, message: impl Into<String>) {
        let warning = self.finding(location, message, Severity::Warning);
        self.warnings.push(warning);
    }

    /// How many errors so far (a step compares before and after to know whether it failed).
    pub(crate) fn errors(&self) -> usize {
        self.errors.len()
    }

    /// How many warnings so far (a rule compares before and after to know whether it is disabled).
    pub(crate) fn warnings(&self) -> usize {
        self.warnings.len()
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

    /// The value (given the warnings), or every error.
    pub(crate) fn finish<T>(
        self,
        value: impl FnOnce(Vec<ConfigError>) -> T,
    ) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value(self.warnings))
        } else {
            let mut all = self.errors;
            all.extend(self.warnings);
            Err(ConfigErrors(all))
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
