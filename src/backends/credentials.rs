//! A backend's `basicAuth` and `oauth2` (client credentials): the `Authorization` header of each call.
//!
//! Secrets live in their files and are read when needed — the password at every call (so a rotated file
//! is used at once), the client secret at every token fetch — and never appear in logs, errors or
//! `/debug/explain`: errors name the step and the file or endpoint, not what was read. OAuth 2.0 tokens
//! are cached until shortly before they expire, and calls that need one while it is fetched share the
//! fetch, so a backend under load asks its token endpoint once per token lifetime.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use adapter_config::backend_credentials::{Credentials as Config, OAuth2};
use base64::Engine;
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Shared};
use serde::Deserialize;

/// Why a call could not be authenticated: the step that failed and what went wrong there (no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} for backend {backend}: {step}: {detail}")]
pub struct AuthError {
    /// `basicAuth` or `oauth2`.
    pub method: &'static str,
    /// The backend's name.
    pub backend: String,
    /// Which step failed.
    pub step: &'static str,
    /// What went wrong there.
    pub detail: String,
}

/// Tokens are renewed this long before they expire (or at half their lifetime, if that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A step that failed and what went wrong there, before it is named by method and backend.
type Failure = (&'static str, String);

type Fetch = Shared<LocalBoxFuture<'static, Result<Token, Failure>>>;

#[derive(Debug, Clone)]
struct Token {
    header: String,
    renew_at: tokio::time::Instant,
}

/// A backend's credentials, ready to authenticate calls. Not `Send`: lives on the actors' thread.
pub struct Credentials {
    backend: String,
    method: &'static str,
    kind: Kind,
}

enum Kind {
    Basic {
        username: String,
        password_file: String,
    },
    OAuth2(Rc<TokenSource>),
}

/// Where an OAuth 2.0 backend's tokens come from, the one it holds, and the fetch in flight.
struct TokenSource {
    settings: OAuth2,
    client: awc::Client,
    timeout: Duration,
    token: RefCell<Option<Token>>,
    fetching: RefCell<Option<Fetch>>,
}

impl Credentials {
    /// Credentials of `backend`; token requests go through `client`, bounded by `timeout`.
    pub fn new(backend: &str, config: &Config, client: awc::Client, timeout: Duration) -> Self {
        let kind = match config {
            Config::Basic {
                username,
                password_file,
            } => Kind::Basic {
                username: username.clone(),
                password_file: password_file.clone(),
            },
            Config::OAuth2(settings) => Kind::OAuth2(Rc::new(TokenSource {
                settings: settings.clone(),
                client,
                timeout,
                token: RefCell::new(None),
                fetching: RefCell::new(None),
            })),
        };
        Self {
            backend: backend.to_string(),
            method: config.method(),
            kind,
        }
    }

    /// `basicAuth` or `oauth2`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The `Authorization` header value for the next call.
    pub async fn authorization(&self) -> Result<String, AuthError> {
        let header = match &self.kind {
            Kind::Basic {
                username,
                password_file,
            } => read_secret(password_file)
                .map(|password| {
                    let pair = format!("{username}:{password}");
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                    format!("Basic {encoded}")
                })
                .map_err(|e| ("reading passwordFile", e)),
            Kind::OAuth2(source) => source.bearer().await,
        };
        header.map_err(|(step, detail)| AuthError {
            method: self.method,
            backend: self.backend.clone(),
            step,
            detail,
        })
    }
}

impl TokenSource {
    /// The cached token while it is fresh; else the fetch in flight, or a new one that every caller
    /// waiting meanwhile shares. The fetch itself stores its token and clears itself when done.
    async fn bearer(self: &Rc<Self>) -> Result<String, Failure> {
        let now = tokio::time::Instant::now();
        if let Some(token) = self.token.borrow().as_ref().filter(|t| now < t.renew_at) {
            return Ok(token.header.clone());
        }
        let fetch = self
            .fetching
            .borrow_mut()
            .get_or_insert_with(|| {
                let this = self.clone();
                async move {
                    let fetched = this.fetch().await;
                    if let Ok(token) = &fetched {
                        *this.token.borrow_mut() = Some(token.clone());
                    }
                    this.fetching.borrow_mut().take();
                    fetched
                }
                .boxed_local()
                .shared()
            })
            .clone();
        fetch.await.map(|token| token.header)
    }

    /// One client-credentials grant (RFC 6749 §4.4), the secret in the form body.
    async fn fetch(&self) -> Result<Token, Failure> {
        let settings = &self.settings;
        let secret = read_secret(&settings.client_secret_file)
            .map_err(|e| ("reading clientSecretFile", e))?;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &settings.client_id),
            ("client_secret", &secret),
        ];
        let scope = settings.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(
            settings
                .endpoint_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let asked = tokio::time::Instant::now();
        let mut response = self
            .client
            .post(&settings.token_url)
            .timeout(self.timeout)
            .insert_header(("Accept", "application/json"))
            .send_form(&form)
            .await
            .map_err(|e| {
                (
                    "asking the token endpoint",
                    format!("{}: {e}", settings.token_url),
                )
            })?;
        let body = response
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| ("reading the token endpoint's answer", e.to_string()))?;
        let status = response.status();
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            (
                "reading the token endpoint's answer",
                format!(
                    "{}: HTTP {status}, not a token answer: {e}",
                    settings.token_url
                ),
            )
        })?;
        match answer {
            TokenAnswer {
                access_token: Some(access_token),
                expires_in,
                ..
            } if status.is_success() => {
                let lifetime = Duration::from_secs(expires_in.unwrap_or(3600));
                let renew_before = RENEW_BEFORE.min(lifetime / 2);
                Ok(Token {
                    header: format!("Bearer {access_token}"),
                    renew_at: asked + lifetime - renew_before,
                })
            }
            TokenAnswer { error, .. } => Err((
                "asking the token endpoint",
                format!(
                    "{}: HTTP {status}: {}",
                    settings.token_url,
                    error.unwrap_or_else(|| "no access_token in the answer".into())
                ),
            )),
        }
    }
}

/// What a token endpoint answers (RFC 6749 §5.1, §5.2): the token and its lifetime, or an error code.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    /// RFC 6749's error code (`invalid_client`): no secret in it.
    #[serde(default)]
    error: Option<String>,
}

/// A secret file's content, without its trailing newline.
fn read_secret(file: &str) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("{file}: {e}"))
}
