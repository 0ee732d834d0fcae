//! The query parameters every metrics route may carry, read as Go's `url.Query().Get` reads them: the
//! first value of a repeated key wins, unknown keys (`pretty`, `limit`, …) are ignored. `watch=true` is a
//! 405 (these APIs have no watch) and a `timeout` that is not a Go duration a 400, as kube-apiserver
//! answers them.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use adapter_config::Selector;
use adapter_config::label_selector::Operator;
use futures_util::future::{Ready, ready};

use super::status::ApiError;

/// Query parameters.
#[derive(Debug, Default)]
pub struct Params {
    /// Objects' label selector (external: the metric selector).
    pub label_selector: String,
    /// Series label selector (custom).
    pub metric_label_selector: String,
    /// Only `metadata.name=` (and `metadata.namespace=`) are understood.
    pub field_selector: String,
}

impl Params {
    /// Parses a query string.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut params = Params::default();
        let mut seen = std::collections::HashSet::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(key.clone()) {
                continue;
            }
            match key.as_ref() {
                "labelSelector" => params.label_selector = value.into_owned(),
                "metricLabelSelector" => params.metric_label_selector = value.into_owned(),
                "fieldSelector" => params.field_selector = value.into_owned(),
                "watch" if value == "true" || value == "1" => {
                    return Err(ApiError::MethodNotAllowed(
                        "the server does not allow this method on the requested resource (watch)"
                            .into(),
                    ));
                }
                "timeout" if crate::flags::parse_go_duration(&value).is_err() => {
                    return Err(ApiError::BadRequest(format!(
                        "invalid timeout {value:?}: not a duration (e.g. 30s)"
                    )));
                }
                _ => {}
            }
        }
        Ok(params)
    }

    /// The objects' selector: every Kubernetes operator, `>`/`<` included.
    pub fn selector(&self) -> Result<Selector, ApiError> {
        parse_selector(&self.label_selector, "labelSelector")
    }

    /// `metricLabelSelector`, which becomes PromQL matchers.
    pub fn metric_selector(&self) -> Result<Selector, ApiError> {
        promql_selector(
            parse_selector(&self.metric_label_selector, "metricLabelSelector")?,
            "metricLabelSelector",
        )
    }

    /// External metrics' `labelSelector`, which becomes PromQL matchers.
    pub fn external_selector(&self) -> Result<Selector, ApiError> {
        promql_selector(self.selector()?, "labelSelector")
    }

    /// `metadata.name=X` from the field selector, if given.
    pub fn field_name(&self) -> Result<Option<String>, ApiError> {
        let mut name = None;
        for term in self.field_selector.split(',').filter(|t| !t.is_empty()) {
            let (key, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .ok_or_else(|| ApiError::BadRequest(format!("invalid field selector: {term}")))?;
            match key.trim() {
                "metadata.name" => name = Some(value.trim().to_string()),
                "metadata.namespace" => {}
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "field label not supported: {other}"
                    )));
                }
            }
        }
        Ok(name)
    }
}

pub(super) fn parse_selector(text: &str, what: &str) -> Result<Selector, ApiError> {
    Selector::parse(text).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
}

/// A selector that must become PromQL: `>` and `<` have no matcher there.
fn promql_selector(selector: Selector, what: &str) -> Result<Selector, ApiError> {
    if let Some(r) = selector
        .requirements
        .iter()
        .find(|r| matches!(r.operator, Operator::GreaterThan | Operator::LessThan))
    {
        let op = if r.operator == Operator::GreaterThan {
            ">"
        } else {
            "<"
        };
        return Err(ApiError::BadRequest(format!(
            "{what}: the operator '{op}' ({}{op}{}) cannot be matched in PromQL; it selects objects only",
            r.key,
            r.values.join(",")
        )));
    }
    Ok(selector)
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Params::parse(req.query_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_wins_as_in_go() {
        let p =
            Params::parse("labelSelector=app%3Dweb&labelSelector=app%3Ddb&pretty=true").unwrap();
        assert_eq!(p.label_selector, "app=web");
    }

    #[test]
    fn watch_and_bad_timeouts_are_refused() {
        assert!(matches!(
            Params::parse("watch=true"),
            Err(ApiError::MethodNotAllowed(_))
        ));
        assert!(Params::parse("watch=false").is_ok());
        assert!(matches!(
            Params::parse("timeout=abc"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(Params::parse("timeout=32s").is_ok());
    }

    #[test]
    fn greater_and_less_select_objects_but_not_series() {
        let p = Params::parse("labelSelector=tier%3E3&metricLabelSelector=size%3C2").unwrap();
        assert_eq!(
            p.selector().unwrap().requirements[0].operator,
            Operator::GreaterThan
        );
        let err = p.metric_selector().unwrap_err().to_string();
        assert!(
            err.contains("operator '<'") && err.contains("size<2"),
            "{err}"
        );
        assert!(
            p.external_selector()
                .unwrap_err()
                .to_string()
                .contains("'>'")
        );
    }
}
