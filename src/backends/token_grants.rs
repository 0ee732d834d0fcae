//! Where bearer tokens come from: an OAuth 2.0 client-credentials grant (`oauth2`), Google's metadata
//! server or a service-account key (`googleIam`), and Microsoft Entra through workload identity or a
//! managed identity (`azureAd`). Each is one HTTP request whose answer is RFC 6749's token answer;
//! they differ in where it goes and what it carries.
//!
//! The endpoints can be moved, as the clouds' own SDKs allow, so that tests (and emulators) can stand
//! in for them: `GCE_METADATA_HOST` (Google's metadata server), `AZURE_AUTHORITY_HOST` (Entra, as the
//! workload identity webhook sets it) and `AZURE_POD_IDENTITY_AUTHORITY_HOST` (the instance metadata
//! service, as MSAL reads it).

use std::time::Duration;

use adapter_config::backend_credentials::{
    AzureAd, AzureIdentity, Credentials as Config, GOOGLE_MONITORING_READ, OAuth2,
};
use serde::{Deserialize, Deserializer};

use crate::backends::credentials::{Failure, read_secret, renew_at};

/// Where a backend's bearer tokens come from.
pub struct Grant {
    kind: Kind,
    client: awc::Client,
    timeout: Duration,
}

enum Kind {
    ClientCredentials(OAuth2),
    GoogleMetadata,
    GoogleKey { file: String },
    Azure(AzureAd),
}

/// One request to a token endpoint: where, what it carries, and what to call it in errors.
struct TokenRequest {
    url: String,
    headers: Vec<(&'static str, &'static str)>,
    /// A form body (POST); `None` for a GET.
    form: Option<Vec<(String, String)>>,
    /// Which endpoint is asked, as errors name it.
    endpoint: Endpoint,
}

/// The endpoints tokens come from, as errors name them (with the steps that can fail there).
#[derive(Clone, Copy)]
enum Endpoint {
    OAuth,
    MetadataServer,
    Entra,
}

impl Endpoint {
    fn asking(self) -> &'static str {
        match self {
            Endpoint::OAuth => "asking the token endpoint",
            Endpoint::MetadataServer => "asking the metadata server",
            Endpoint::Entra => "asking Microsoft Entra",
        }
    }

    fn reading(self) -> &'static str {
        match self {
            Endpoint::OAuth => "reading the token endpoint's answer",
            Endpoint::MetadataServer => "reading the metadata server's answer",
            Endpoint::Entra => "reading Microsoft Entra's answer",
        }
    }
}

/// Google's metadata server when `GCE_METADATA_HOST` does not move it.
const GCE_METADATA_HOST: &str = "metadata.google.internal";
/// Azure's instance metadata service when `AZURE_POD_IDENTITY_AUTHORITY_HOST` does not move it.
const AZURE_IMDS: &str = "http://169.254.169.254";
/// The workload identity webhook's token file when neither the file nor the environment names one.
const AZURE_TOKEN_FILE: &str = "/var/run/secrets/azure/tokens/azure-identity-token";
/// How long a service-account key's assertion is valid (Google's maximum).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

impl Grant {
    /// The grant of a bearer-token method (`oauth2`, `googleIam`, `azureAd`); requests go through
    /// `client`, bounded by `timeout`.
    pub fn new(config: &Config, client: awc::Client, timeout: Duration) -> Self {
        let kind = match config {
            Config::OAuth2(settings) => Kind::ClientCredentials(settings.clone()),
            Config::GoogleIam(google) => match &google.credentials_file {
                Some(file) => Kind::GoogleKey { file: file.clone() },
                None => Kind::GoogleMetadata,
            },
            Config::AzureAd(azure) => Kind::Azure(azure.clone()),
            Config::Basic { .. } | Config::Sigv4(_) => {
                unreachable!("{} is not a bearer-token method", config.method())
            }
        };
        Self {
            kind,
            client,
            timeout,
        }
    }

    /// A new token and when to renew it.
    pub async fn fetch(&self) -> Result<(String, tokio::time::Instant), Failure> {
        let request = self.request()?;
        let asked = tokio::time::Instant::now();
        let mut call = match &request.form {
            Some(_) => self.client.post(&request.url),
            None => self.client.get(&request.url),
        }
        .timeout(self.timeout)
        .insert_header(("Accept", "application/json"));
        for header in &request.headers {
            call = call.insert_header(*header);
        }
        let (asking, reading) = (request.endpoint.asking(), request.endpoint.reading());
        let sent = match &request.form {
            Some(form) => call.send_form(form).await,
            None => call.send().await,
        };
        let mut response = sent.map_err(|e| (asking, format!("{}: {e}", request.url)))?;
        let body = response
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| (reading, e.to_string()))?;
        let status = response.status();
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            (
                reading,
                format!("{}: HTTP {status}, not a token answer: {e}", request.url),
            )
        })?;
        match answer {
            TokenAnswer {
                access_token: Some(access_token),
                expires_in,
                ..
            } if status.is_success() => {
                let lifetime = Duration::from_secs(expires_in.unwrap_or(3600));
                Ok((access_token, renew_at(asked, lifetime)))
            }
            TokenAnswer { error, .. } => Err((
                asking,
                format!(
                    "{}: HTTP {status}: {}",
                    request.url,
                    error.unwrap_or_else(|| "no access_token in the answer".into())
                ),
            )),
        }
    }

    /// The request this grant makes, its secrets read now (so a rotated file is used at the next fetch).
    fn request(&self) -> Result<TokenRequest, Failure> {
        match &self.kind {
            Kind::ClientCredentials(settings) => {
                let secret = read_secret(&settings.client_secret_file)
                    .map_err(|e| ("reading clientSecretFile", e))?;
                let mut form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", settings.client_id.clone()),
                    ("client_secret", secret),
                ];
                let scope = settings.scopes.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                let mut request = TokenRequest::post(&settings.token_url, form, Endpoint::OAuth);
                if let Some(form) = &mut request.form {
                    form.extend(settings.endpoint_params.iter().cloned());
                }
                Ok(request)
            }
            Kind::GoogleMetadata => {
                let host = env_or("GCE_METADATA_HOST", GCE_METADATA_HOST);
                let mut url = url::Url::parse(&format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                ))
                .map_err(|e| ("asking the metadata server", format!("{host}: {e}")))?;
                url.query_pairs_mut()
                    .append_pair("scopes", GOOGLE_MONITORING_READ);
                Ok(TokenRequest {
                    url: url.into(),
                    headers: vec![("Metadata-Flavor", "Google")],
                    form: None,
                    endpoint: Endpoint::MetadataServer,
                })
            }
            Kind::GoogleKey { file } => {
                let key = std::fs::read(file)
                    .map_err(|e| ("reading credentialsFile", format!("{file}: {e}")))?;
                let key: ServiceAccountKey = serde_json::from_slice(&key).map_err(|e| {
                    (
                        "reading credentialsFile",
                        format!("{file}: not a service-account key: {e}"),
                    )
                })?;
                let assertion = key
                    .assertion()
                    .map_err(|e| ("signing the key's assertion", format!("{file}: {e}")))?;
                Ok(TokenRequest::post(
                    &key.token_uri,
                    vec![
                        (
                            "grant_type",
                            "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                        ),
                        ("assertion", assertion),
                    ],
                    Endpoint::OAuth,
                ))
            }
            Kind::Azure(azure) => azure_request(azure),
        }
    }
}

impl TokenRequest {
    fn post(url: &str, form: Vec<(&str, String)>, endpoint: Endpoint) -> Self {
        Self {
            url: url.to_string(),
            headers: Vec::new(),
            form: Some(
                form.into_iter()
                    .map(|(name, value)| (name.to_string(), value))
                    .collect(),
            ),
            endpoint,
        }
    }
}

/// Microsoft Entra's token request: workload identity's client assertion (RFC 7523) at the tenant's
/// token endpoint, or the instance metadata service's managed identity.
fn azure_request(azure: &AzureAd) -> Result<TokenRequest, Failure> {
    let resource = azure.cloud.resource();
    match &azure.identity {
        AzureIdentity::Workload {
            client_id,
            tenant_id,
            token_file,
        } => {
            let given_or_env =
                |given: &Option<String>, variable: &str| given.clone().or_else(|| env(variable));
            let required = |given: &Option<String>, variable: &str, field: &'static str| {
                given_or_env(given, variable)
                    .ok_or((field, format!("not in the file and {variable} is not set")))
            };
            let client_id = required(client_id, "AZURE_CLIENT_ID", "finding clientId")?;
            let tenant_id = required(tenant_id, "AZURE_TENANT_ID", "finding tenantId")?;
            let token_file = given_or_env(token_file, "AZURE_FEDERATED_TOKEN_FILE")
                .unwrap_or_else(|| AZURE_TOKEN_FILE.to_string());
            let assertion =
                read_secret(&token_file).map_err(|e| ("reading the federated token file", e))?;
            let authority = env_or("AZURE_AUTHORITY_HOST", azure.cloud.authority_host());
            let url = format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            );
            Ok(TokenRequest::post(
                &url,
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", client_id),
                    ("scope", format!("{resource}/.default")),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                    ),
                    ("client_assertion", assertion),
                ],
                Endpoint::Entra,
            ))
        }
        AzureIdentity::Managed { client_id } => {
            let host = env_or("AZURE_POD_IDENTITY_AUTHORITY_HOST", AZURE_IMDS);
            let mut url = url::Url::parse(&format!(
                "{}/metadata/identity/oauth2/token",
                host.trim_end_matches('/')
            ))
            .map_err(|e| ("asking the metadata server", format!("{host}: {e}")))?;
            url.query_pairs_mut()
                .append_pair("api-version", "2018-02-01")
                .append_pair("resource", resource);
            if let Some(client_id) = client_id {
                url.query_pairs_mut().append_pair("client_id", client_id);
            }
            Ok(TokenRequest {
                url: url.into(),
                headers: vec![("Metadata", "true")],
                form: None,
                endpoint: Endpoint::MetadataServer,
            })
        }
    }
}

/// An environment variable, when it is set and not empty.
fn env(variable: &str) -> Option<String> {
    std::env::var(variable).ok().filter(|v| !v.is_empty())
}

/// An environment variable, or `default` when it is unset or empty.
fn env_or(variable: &str, default: &str) -> String {
    env(variable).unwrap_or_else(|| default.to_string())
}

/// The fields of a Google service-account key file that the JWT-bearer grant needs.
#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
}

/// The claims of the assertion a service account signs (RFC 7523 §3, Google's `scope` claim).
#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl ServiceAccountKey {
    /// The signed assertion (RS256 with the key's private key) exchanged for a token.
    fn assertion(&self) -> Result<String, String> {
        #[allow(clippy::disallowed_methods, reason = "a JWT's iat is wall-clock time")]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope: GOOGLE_MONITORING_READ,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        // The key's own error text says what is wrong with the PEM, not what it holds.
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.as_bytes())
            .map_err(|e| format!("private_key: {e}"))?;
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
    }
}

/// What a token endpoint answers (RFC 6749 §5.1, §5.2): the token and its lifetime, or an error code.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    /// Seconds; Azure's instance metadata service sends it as a string.
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
    /// RFC 6749's error code (`invalid_client`): no secret in it.
    #[serde(default)]
    error: Option<String>,
}

fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Seconds>::deserialize(deserializer)? {
        Some(Seconds::Number(n)) => Some(n),
        Some(Seconds::Text(text)) => text.trim().parse().ok(),
        None => None,
    })
}
