//! The rules file exactly as upstream's YAML reads it (`pkg/config/config.go`), strictly: an unknown or
//! duplicate key is an error. Nothing here is validated beyond YAML shape; [`crate::rules::compile`] does that.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// The whole rules file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsDiscoveryConfig {
    /// `custom.metrics.k8s.io` rules.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<DiscoveryRule>,
    /// `external.metrics.k8s.io` rules.
    #[serde(default, deserialize_with = "null_as_default")]
    pub external_rules: Vec<DiscoveryRule>,
    /// `metrics.k8s.io` rules; the key's presence enables the group.
    #[serde(default)]
    pub resource_rules: Option<ResourceRules>,
    /// Ours: named Prometheus-compatible backends that rules route to with `backend:`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backends: BTreeMap<String, Backend>,
}

/// One entry of `backends:` (ours; upstream has a single `--prometheus-url`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backend {
    /// The base URL (as `--prometheus-url`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub url: String,
    /// Replicas of one TSDB, tried in order (failover); with `url`, `url` comes first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub urls: Vec<String>,
    /// Extra headers sent with every call.
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, String>,
    /// A bearer token file, re-read on every call.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_file: String,
    /// CA bundle for `https` URLs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ca_file: String,
    /// Client certificate.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cert_file: String,
    /// Client key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key_file: String,
    /// Per-call timeout; default `--prometheus-timeout`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub timeout: String,
    /// `GET` or `POST`; default `GET` (POST for long queries either way).
    #[serde(default, deserialize_with = "null_as_default")]
    pub verb: String,
    /// Extra query parameters for every call (Thanos' `partial_response`, `dedup`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub query_params: BTreeMap<String, String>,
    /// A tenant header, fixed or templated from the request.
    #[serde(default)]
    pub tenant: Option<Tenant>,
    /// How long a failed URL is skipped; default 30s.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backoff: String,
    /// How discovery asks this backend: `auto`, `series` or `labels`; default `--relist-mode`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub relist_mode: String,
    /// HTTP basic authentication (Prometheus' `basic_auth`).
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// OAuth 2.0 client credentials (Prometheus' `oauth2`).
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// AWS Signature Version 4 (Prometheus' `sigv4`): Amazon Managed Service for Prometheus.
    #[serde(default)]
    pub sigv4: Option<Sigv4>,
    /// Google OAuth 2.0 tokens (Prometheus' `google_iam`): Google Cloud Managed Service for Prometheus.
    #[serde(default)]
    pub google_iam: Option<GoogleIam>,
    /// Microsoft Entra tokens (Prometheus' `azuread`): Azure Monitor managed Prometheus.
    #[serde(default)]
    pub azure_ad: Option<AzureAd>,
}

/// `backends.NAME.sigv4`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sigv4 {
    /// The AWS region; default the SDK's region chain (`AWS_REGION`, the profile).
    #[serde(default, deserialize_with = "null_as_default")]
    pub region: String,
    /// The signing service name; default `aps`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub service: String,
    /// A role assumed with the chain's credentials.
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_arn: String,
    /// The external id the role's trust policy asks for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub external_id: String,
    /// A profile of the shared config files.
    #[serde(default, deserialize_with = "null_as_default")]
    pub profile: String,
}

/// `backends.NAME.googleIam`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GoogleIam {
    /// A service-account key (JSON); without it, the metadata server (GKE workload identity).
    #[serde(default, deserialize_with = "null_as_default")]
    pub credentials_file: String,
}

/// `backends.NAME.azureAd`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureAd {
    /// `AzurePublic` (default), `AzureChina` or `AzureGovernment`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cloud: String,
    /// AKS workload identity: a federated token file exchanged for an Entra token.
    #[serde(default)]
    pub workload_identity: Option<AzureWorkloadIdentity>,
    /// A managed identity, through the instance metadata service.
    #[serde(default)]
    pub managed_identity: Option<AzureManagedIdentity>,
}

/// `backends.NAME.azureAd.workloadIdentity`; each field defaults to what the workload identity
/// webhook injects (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureWorkloadIdentity {
    /// The application (client) id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_id: String,
    /// The directory (tenant) id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tenant_id: String,
    /// The projected service-account token, re-read at every token fetch.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_file: String,
}

/// `backends.NAME.azureAd.managedIdentity`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureManagedIdentity {
    /// A user-assigned identity's client id; empty for the system-assigned identity.
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_id: String,
}

/// `backends.NAME.basicAuth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicAuth {
    /// The user name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub username: String,
    /// A file holding the password, re-read when it changes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub password_file: String,
}

/// `backends.NAME.oauth2`: the client-credentials grant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OAuth2 {
    /// The token endpoint.
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_url: String,
    /// The client id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_id: String,
    /// A file holding the client secret, re-read at every token fetch.
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_secret_file: String,
    /// Scopes asked for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
    /// Extra form parameters of the token request (`audience`, `resource`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoint_params: BTreeMap<String, String>,
}

/// `backends.NAME.tenant`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tenant {
    /// Header name; default `X-Scope-OrgID`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub header: String,
    /// The value, a template over `.Namespace` (`<<.Namespace>>`) or fixed text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    /// The value when the request has no namespace (series discovery, nodes, namespaces).
    #[serde(default, deserialize_with = "null_as_default")]
    pub fallback: String,
}

/// One entry of `rules` or `externalRules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscoveryRule {
    /// Series selector sent verbatim as `match[]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub series_query: String,
    /// Filters on the series name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub series_filters: Vec<RegexFilter>,
    /// How labels map to Kubernetes resources.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceMapping,
    /// How series names become API metric names.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: NameMapping,
    /// The PromQL template run per request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metrics_query: String,
    /// Ours: the name of the `backends:` entry this rule reads; empty for `--prometheus-url`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backend: String,
    /// Ours: the quantity answered when Prometheus has no sample (`"0"`); empty: upstream's answer.
    #[serde(default, deserialize_with = "null_as_default")]
    pub missing_value: String,
}

/// `{is: re}` or `{isNot: re}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexFilter {
    /// The name must match.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is: String,
    /// The name must not match.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_not: String,
}

/// `resources:` of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceMapping {
    /// Label template over `.Group` and `.Resource`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub template: String,
    /// Label name → resource.
    #[serde(default, deserialize_with = "null_as_default")]
    pub overrides: BTreeMap<String, GroupResource>,
    /// External rules only: whether the request namespace becomes a matcher (default true).
    #[serde(default)]
    pub namespaced: Option<bool>,
}

/// A `{group, resource}` pair as written in an override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupResource {
    /// API group; empty for the core group (or any group, by discovery priority).
    #[serde(default, deserialize_with = "null_as_default")]
    pub group: String,
    /// Resource, singular or plural.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource: String,
}

/// `name:` of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NameMapping {
    /// Regex over the series name; empty means everything.
    #[serde(default, deserialize_with = "null_as_default")]
    pub matches: String,
    /// Expansion template (`$1`, `${1}_per_second`).
    #[serde(default, deserialize_with = "null_as_default", rename = "as")]
    pub as_: String,
}

/// `resourceRules:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceRules {
    /// CPU rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu: ResourceRule,
    /// Memory rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory: ResourceRule,
    /// Prometheus duration reported as the API window.
    #[serde(default, deserialize_with = "null_as_default")]
    pub window: String,
    /// Ours: the `backends:` entry both queries read; empty for `--prometheus-url`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backend: String,
}

/// `resourceRules.cpu` or `resourceRules.memory`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceRule {
    /// Template for pods' containers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_query: String,
    /// Template for nodes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub node_query: String,
    /// How labels map to resources.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceMapping,
    /// The label that holds the container name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_label: String,
}

/// Go's yaml.v2 decodes an explicit `null` into the zero value; serde would reject it.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses a rules file's text. The error carries serde-saphyr's line and column.
pub fn parse(text: &str) -> Result<MetricsDiscoveryConfig, serde_saphyr::Error> {
    if text.trim().is_empty() {
        return Ok(MetricsDiscoveryConfig::default());
    }
    serde_saphyr::from_str(text)
}
