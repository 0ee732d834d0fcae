//! Named backends (ours): the rules file's `backends:` map and the `backend:` a rule names, compiled and
//! checked, and the [`Route`] a request takes — which backend, and which tenant header value. Upstream
//! has one `--prometheus-url`; a file without `backends:` routes everything to it, unchanged.
//!
//! ```
//! let config = adapter_config::rules::load("r.yaml", r#"
//! backends:
//!   mimir:
//!     urls: ["http://mimir-a:8080/prometheus", "http://mimir-b:8080/prometheus"]
//!     tenant: {value: "team-<<.Namespace>>", fallback: "team-a|team-b"}
//! externalRules:
//! - seriesQuery: '{__name__="queue_depth"}'
//!   metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
//!   backend: mimir
//! "#).unwrap();
//! let rule = &config.external_rules[0];
//! let route = config.route(rule.backend.as_deref(), Some("a")).unwrap();
//! assert_eq!(route.tenant.as_deref(), Some("team-a"));
//! assert_eq!(config.route(rule.backend.as_deref(), None).unwrap().tenant.as_deref(), Some("team-a|team-b"));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend_credentials::{self, Credentials};
use crate::error::Collector;
use crate::label_discovery::RelistMode;
use crate::raw;
use crate::template::{self, Template};

/// The tenant header when `tenant.header` is not given (Mimir, Cortex, Loki).
pub const DEFAULT_TENANT_HEADER: &str = "X-Scope-OrgID";
/// How long a failed URL is skipped when `backoff` is not given.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(30);

/// A compiled `backends.NAME`.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Its key in `backends:`.
    pub name: String,
    /// Base URLs, tried in this order; at least one.
    pub urls: Vec<String>,
    /// Extra headers, validated.
    pub headers: Vec<(String, String)>,
    /// Bearer token file.
    pub token_file: Option<String>,
    /// CA bundle.
    pub ca_file: Option<String>,
    /// Client certificate and key.
    pub client_cert: Option<(String, String)>,
    /// Per-call timeout; `None` means `--prometheus-timeout`.
    pub timeout: Option<Duration>,
    /// POST for every call (otherwise GET, POST for long queries).
    pub post: bool,
    /// Extra query parameters for every call.
    pub query_params: Vec<(String, String)>,
    /// The tenant header, if any.
    pub tenant: Option<Tenant>,
    /// How long a failed URL is skipped.
    pub backoff: Duration,
    /// How discovery asks it; `None` means `--relist-mode`.
    pub relist_mode: Option<RelistMode>,
    /// Credentials sent with every call, besides `tokenFile`.
    pub credentials: Option<Credentials>,
}

/// A compiled `tenant:`.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Header name.
    pub header: String,
    /// The value template (reads `.Namespace` or nothing).
    value: Template,
    /// The value without a namespace (required when `value` reads `.Namespace`).
    fallback: Option<String>,
}

/// Which backend a call goes to, and with which tenant. `Route::default()` is `--prometheus-url`
/// without a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// The `backends:` key; `None` for `--prometheus-url`.
    pub backend: Option<Arc<str>>,
    /// The tenant header's value.
    pub tenant: Option<String>,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend.as_deref().unwrap_or("default"))?;
        if let Some(tenant) = &self.tenant {
            write!(f, " (tenant {tenant:?})")?;
        }
        Ok(())
    }
}

/// Why a request's tenant could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The rule names a backend the config does not have (only after a reload race).
    #[error("unknown backend {0:?}")]
    UnknownBackend(String),
    /// The rendered tenant is not a valid header value.
    #[error("invalid tenant for namespace {namespace:?} on backend {backend:?}: {reason}")]
    InvalidTenant {
        /// The backend.
        backend: String,
        /// The request's namespace, that the template rendered.
        namespace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Tenant {
    /// The value for a request in `namespace` (`None` or empty: cluster-scoped, or series discovery).
    pub fn value_for(&self, namespace: Option<&str>) -> Result<String, &'static str> {
        let namespace = namespace.filter(|n| !n.is_empty());
        let value = match (namespace, &self.fallback) {
            (None, Some(fallback)) => fallback.clone(),
            (namespace, _) => {
                let data = template::data([(
                    "Namespace",
                    gotmpl::Value::String(Arc::from(namespace.unwrap_or(""))),
                )]);
                self.value
                    .render(&data)
                    .map_err(|_| "the tenant template failed to render")?
            }
        };
        check_tenant(&value)?;
        Ok(value)
    }
}

/// A tenant must be a non-empty header value of visible ASCII: no CR/LF (header injection), no control
/// or non-ASCII characters, no spaces (no TSDB's tenant ids have them).
pub fn check_tenant(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err("it contains a line break");
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it contains a space, control or non-ASCII character");
    }
    Ok(())
}

/// RFC 9110 header names are tokens.
fn check_header_name(name: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("{name:?} is not a valid header name"));
    }
    Ok(())
}

/// Header values: visible ASCII, spaces and tabs; never CR or LF.
fn check_header_value(value: &str) -> Result<(), String> {
    if value
        .bytes()
        .any(|b| b == b'\r' || b == b'\n' || (b.is_ascii_control() && b != b'\t') || b >= 0x80)
    {
        return Err(format!(
            "{value:?} is not a valid header value (line breaks, control and non-ASCII characters are refused)"
        ));
    }
    Ok(())
}

pub(crate) fn check_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "invalid URL {url:?}: must be http:// or https:// with a host"
        ));
    }
    Ok(url.to_string())
}

fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// Compiles `backends:`, reporting every problem by `backends.NAME.field`.
pub(crate) fn compile(
    errors: &mut Collector<'_>,
    raw: &BTreeMap<String, raw::Backend>,
) -> BTreeMap<String, Backend> {
    let mut out = BTreeMap::new();
    for (name, backend) in raw {
        if let Some(compiled) = compile_one(errors, name, backend) {
            out.insert(name.clone(), compiled);
        }
    }
    out
}

fn compile_one(errors: &mut Collector<'_>, name: &str, raw: &raw::Backend) -> Option<Backend> {
    let at = |field: &str| format!("backends.{name}.{field}");
    let before = errors.errors();
    if name == "default" {
        errors.push(
            format!("backends.{name}"),
            "\"default\" is reserved: it names the --prometheus-url backend",
        );
    }
    let mut urls = Vec::new();
    if !raw.url.is_empty() {
        urls.extend(errors.check(&at("url"), check_url(&raw.url)));
    }
    for (i, url) in raw.urls.iter().enumerate() {
        urls.extend(errors.check(&at(&format!("urls[{i}]")), check_url(url)));
    }
    if raw.url.is_empty() && raw.urls.is_empty() {
        errors.push(at("url"), "a backend needs url or urls");
    }
    let mut headers = Vec::new();
    for (header, value) in &raw.headers {
        let here = at(&format!("headers.{header}"));
        let checked = check_header_name(header).and_then(|()| check_header_value(value));
        if errors.check(&here, checked).is_some() {
            headers.push((header.clone(), value.clone()));
        }
    }
    let duration = |errors: &mut Collector<'_>, field: &str, text: &str| {
        if text.is_empty() {
            return None;
        }
        match crate::duration::parse_prometheus(text) {
            Ok(d) if d.is_zero() => {
                errors.push(at(field), "must be more than 0");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(at(field), e.to_string());
                None
            }
        }
    };
    let timeout = duration(errors, "timeout", &raw.timeout);
    let backoff = duration(errors, "backoff", &raw.backoff).unwrap_or(DEFAULT_BACKOFF);
    let post = match raw.verb.as_str() {
        "" | "GET" => false,
        "POST" => true,
        other => {
            errors.push(at("verb"), format!("{other:?}: use GET or POST"));
            false
        }
    };
    let credentials = backend_credentials::compile(errors, &at, raw);
    let relist_mode = match raw.relist_mode.as_str() {
        "" => None,
        text => text
            .parse::<RelistMode>()
            .map_err(|e| errors.push(at("relistMode"), e))
            .ok(),
    };
    let client_cert = match (optional(&raw.cert_file), optional(&raw.key_file)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => {
            errors.push(at("keyFile"), "certFile needs keyFile");
            None
        }
        (None, Some(_)) => {
            errors.push(at("certFile"), "keyFile needs certFile");
            None
        }
    };
    let tenant = raw
        .tenant
        .as_ref()
        .and_then(|t| compile_tenant(errors, &at("tenant"), t));
    if errors.errors() > before {
        return None;
    }
    Some(Backend {
        name: name.to_string(),
        urls,
        headers,
        token_file: optional(&raw.token_file),
        ca_file: optional(&raw.ca_file),
        client_cert,
        timeout,
        post,
        query_params: raw
            .query_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tenant,
        backoff,
        relist_mode,
        credentials,
    })
}

fn compile_tenant(errors: &mut Collector<'_>, at: &str, raw: &raw::Tenant) -> Option<Tenant> {
    let header = if raw.header.is_empty() {
        DEFAULT_TENANT_HEADER.to_string()
    } else {
        errors.check(&format!("{at}.header"), check_header_name(&raw.header))?;
        raw.header.clone()
    };
    if raw.value.is_empty() {
        errors.push(format!("{at}.value"), "must not be empty");
        return None;
    }
    let value = errors.check(
        &format!("{at}.value"),
        Template::compile(&raw.value, &["Namespace"]),
    )?;
    let fallback = optional(&raw.fallback);
    if let Some(fallback) = &fallback {
        errors.check(
            &format!("{at}.fallback"),
            check_tenant(fallback).map_err(|r| format!("{fallback:?}: {r}")),
        )?;
    } else if value.uses("Namespace") {
        errors.push(
            format!("{at}.fallback"),
            "required when value reads .Namespace: series discovery and cluster-scoped requests have no namespace",
        );
        return None;
    }
    let tenant = Tenant {
        header,
        value,
        fallback,
    };
    if !tenant.value.uses("Namespace") {
        // A fixed value is checked once, here.
        let fixed = tenant.value_for(None);
        errors.check(
            &format!("{at}.value"),
            fixed.map_err(|r| format!("{:?}: {r}", raw.value)),
        )?;
    }
    Some(tenant)
}

/// Checks that `backend` (a rule's `backend:` at `at`) names a declared backend.
pub(crate) fn check_reference(
    errors: &mut Collector<'_>,
    at: &str,
    backend: &str,
    backends: &BTreeMap<String, raw::Backend>,
) -> Option<Option<String>> {
    if backend.is_empty() || backend == "default" {
        return Some(None);
    }
    if backends.contains_key(backend) {
        return Some(Some(backend.to_string()));
    }
    let declared: Vec<&str> = backends.keys().map(String::as_str).collect();
    errors.push(
        at,
        format!(
            "unknown backend {backend:?} (declared: {})",
            if declared.is_empty() {
                "none; add it under backends:".to_string()
            } else {
                declared.join(", ")
            }
        ),
    );
    None
}

impl crate::Config {
    /// The route of a request in `namespace` to a rule's `backend`: the backend, and its tenant.
    pub fn route(
        &self,
        backend: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<Route, RouteError> {
        let Some(name) = backend else {
            return Ok(Route::default());
        };
        let spec = self
            .backends
            .get(name)
            .ok_or_else(|| RouteError::UnknownBackend(name.to_string()))?;
        let tenant = spec
            .tenant
            .as_ref()
            .map(|t| {
                t.value_for(namespace)
                    .map_err(|reason| RouteError::InvalidTenant {
                        backend: name.to_string(),
                        namespace: namespace.unwrap_or_default().to_string(),
                        reason,
                    })
            })
            .transpose()?;
        Ok(Route {
            backend: Some(Arc::from(name)),
            tenant,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::load;

    /// A rule's query, for files whose point is elsewhere.
    pub(crate) const RULE: &str = "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n";

    /// Each load error of `yaml` as `location: message`; panics if it loads.
    pub(crate) fn errors(yaml: &str) -> Vec<String> {
        match load("b.yaml", yaml) {
            Ok(config) => panic!("loaded: {:?}", config.backends),
            Err(e) => {
                e.0.iter()
                    .map(|e| format!("{}: {}", e.location, e.message))
                    .collect()
            }
        }
    }

    #[test]
    fn files_without_backends_route_everything_to_the_flags_backend() {
        let config = load(
            "b.yaml",
            &format!("externalRules:\n- seriesQuery: 'x'\n{RULE}- seriesQuery: y\n  backend: default\n{RULE}"),
        )
        .unwrap();
        assert!(config.backends.is_empty());
        for rule in &config.external_rules {
            assert_eq!(rule.backend, None);
            assert_eq!(
                config.route(None, Some("a")).unwrap(),
                super::Route::default()
            );
        }
    }

    #[test]
    fn backends_compile_with_their_options_and_rules_name_them() {
        let config = load(
            "b.yaml",
            &format!(
                "backends:\n  thanos:\n    url: http://thanos:9090/\n    urls: ['http://thanos-b:9090/']\n    headers: {{X-A: b}}\n    timeout: 5s\n    verb: POST\n    queryParams: {{partial_response: 'true', dedup: 'true'}}\n    backoff: 1m\n\
                 rules:\n- seriesQuery: 'x{{namespace!=\"\"}}'\n  backend: thanos\n{RULE}\
                 resourceRules:\n  backend: thanos\n  cpu: {{containerQuery: 'a', nodeQuery: 'b', containerLabel: c}}\n  memory: {{containerQuery: 'a', nodeQuery: 'b', containerLabel: c}}\n"
            ),
        )
        .unwrap();
        let thanos = &config.backends["thanos"];
        assert_eq!(
            thanos.urls,
            ["http://thanos:9090/", "http://thanos-b:9090/"]
        );
        assert_eq!(thanos.headers, [("X-A".to_string(), "b".to_string())]);
        assert_eq!(thanos.timeout, Some(std::time::Duration::from_secs(5)));
        assert!(thanos.post);
        assert_eq!(thanos.query_params.len(), 2);
        assert_eq!(thanos.backoff, std::time::Duration::from_secs(60));
        assert_eq!(config.rules[0].backend.as_deref(), Some("thanos"));
        assert_eq!(
            config.resource_rules.as_ref().unwrap().backend.as_deref(),
            Some("thanos")
        );
        let route = config.route(Some("thanos"), Some("app")).unwrap();
        assert_eq!(route.backend.as_deref(), Some("thanos"));
        assert_eq!(route.tenant, None);
    }

    #[test]
    fn every_backend_problem_is_named_by_its_place() {
        assert_eq!(
            errors(&format!(
                "backends:\n  a: {{urls: ['ftp://x', 'http://ok/'], headers: {{'Bad Name': x, X-Inject: \"a\\r\\nX-Evil: 1\"}}, verb: PUT, timeout: 0s, certFile: c, relistMode: both}}\n  default: {{url: 'http://x/'}}\n  b: {{}}\n\
                 rules:\n- seriesQuery: x\n  backend: nope\n{RULE}"
            )),
            [
                "backends.a.urls[0]: invalid URL \"ftp://x\": must be http:// or https:// with a host",
                "backends.a.headers.Bad Name: \"Bad Name\" is not a valid header name",
                "backends.a.headers.X-Inject: \"a\\r\\nX-Evil: 1\" is not a valid header value (line breaks, control and non-ASCII characters are refused)",
                "backends.a.timeout: must be more than 0",
                "backends.a.verb: \"PUT\": use GET or POST",
                "backends.a.relistMode: \"both\": use auto, series or labels",
                "backends.a.keyFile: certFile needs keyFile",
                "backends.b.url: a backend needs url or urls",
                "backends.default: \"default\" is reserved: it names the --prometheus-url backend",
                "rules[0].backend: unknown backend \"nope\" (declared: a, b, default)",
            ]
        );
    }

    #[test]
    fn tenants_are_templated_per_namespace_checked_and_fall_back_without_one() {
        let config = load(
            "b.yaml",
            "backends:\n  mimir:\n    url: http://mimir/\n    tenant: {value: '<<.Namespace>>', fallback: 'a|b'}\n  fixed:\n    url: http://m/\n    tenant: {header: X-Tenant, value: ops}\n",
        )
        .unwrap();
        let tenant = |backend, ns| config.route(Some(backend), ns).map(|r| r.tenant.unwrap());
        assert_eq!(tenant("mimir", Some("app")).unwrap(), "app");
        assert_eq!(tenant("mimir", None).unwrap(), "a|b");
        assert_eq!(tenant("mimir", Some("")).unwrap(), "a|b");
        assert_eq!(tenant("fixed", Some("app")).unwrap(), "ops");
        assert_eq!(
            config.backends["fixed"].tenant.as_ref().unwrap().header,
            "X-Tenant"
        );
        assert_eq!(
            config.backends["mimir"].tenant.as_ref().unwrap().header,
            "X-Scope-OrgID"
        );
        for bad in ["a\r\nX-Evil: 1", "a b", "caf\u{e9}", "a\u{7f}"] {
            let error = tenant("mimir", Some(bad)).unwrap_err().to_string();
            assert!(
                error.starts_with("invalid tenant for namespace"),
                "{bad:?}: {error}"
            );
        }
        assert_eq!(
            config.route(Some("gone"), None),
            Err(super::RouteError::UnknownBackend("gone".into()))
        );
        assert_eq!(
            errors(
                "backends:\n  m:\n    url: http://m/\n    tenant: {value: '<<.Namespace>>'}\n  n:\n    url: http://m/\n    tenant: {value: 'a b', header: 'X:Y'}\n  o:\n    url: http://m/\n    tenant: {value: '<<.Pod>>'}\n"
            ),
            [
                "backends.m.tenant.fallback: required when value reads .Namespace: series discovery and cluster-scoped requests have no namespace",
                "backends.n.tenant.header: \"X:Y\" is not a valid header name",
                "backends.o.tenant.value: template references unknown field .Pod (available: .Namespace)",
            ]
        );
    }
}
