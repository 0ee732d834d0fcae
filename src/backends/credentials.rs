//! A backend's credentials (`basicAuth`, `oauth2`, `sigv4`, `googleIam`, `azureAd`): what each call
//! carries to authenticate.
//!
//! Secrets live in their files and are read when needed — the password at every call (so a rotated file
//! is used at once), a client secret, key or federated token at every fetch — and never appear in logs,
//! errors or `/debug/explain`: errors name the step and the file or endpoint, not what was read. Tokens
//! and AWS credentials are cached until shortly before they expire, and calls that need them while they
//! are fetched share the fetch (`Cached`), so a backend under load asks its token endpoint once per
//! token lifetime.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use adapter_config::backend_credentials::Credentials as Config;
use base64::Engine;
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Shared};

use crate::backends::sigv4::{AwsIdentity, Sigv4Source};
use crate::backends::token_grants::Grant;

/// Why a call could not be authenticated: the step that failed and what went wrong there (no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} for backend {backend}: {step}: {detail}")]
pub struct AuthError {
    /// The method as the file spells it (`oauth2`, `sigv4`, …).
    pub method: &'static str,
    /// The backend's name.
    pub backend: String,
    /// Which step failed.
    pub step: &'static str,
    /// What went wrong there.
    pub detail: String,
}

impl AuthError {
    /// The method, backend and step, without the detail: what an API client is told.
    pub fn public(&self) -> String {
        format!(
            "{} for backend {}: {}",
            self.method, self.backend, self.step
        )
    }
}

/// A step that failed and what went wrong there, before it is named by method and backend.
pub(crate) type Failure = (&'static str, String);

/// Credentials are renewed this long before they expire (or at half their lifetime, if that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// When credentials that last `lifetime` from `asked` are renewed.
pub(crate) fn renew_at(asked: tokio::time::Instant, lifetime: Duration) -> tokio::time::Instant {
    asked + lifetime - RENEW_BEFORE.min(lifetime / 2)
}

/// What a call carries, for the credentials' state when it was made.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// The `Authorization` header's value.
    Header(String),
    /// AWS credentials: each request is signed with its method, URL and body.
    Sigv4(Rc<AwsIdentity>),
}

impl Authorization {
    /// The headers to add to a request with this `method`, `url` (already encoded, as sent) and `body`.
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        match self {
            Authorization::Header(value) => Ok(vec![("Authorization".into(), value.clone())]),
            Authorization::Sigv4(identity) => identity.sign(method, url, body),
        }
    }
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
    Bearer {
        grant: Rc<Grant>,
        token: Rc<Cached<String>>,
    },
    Sigv4 {
        source: Rc<Sigv4Source>,
        identity: Rc<Cached<Rc<AwsIdentity>>>,
    },
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
            Config::Sigv4(settings) => Kind::Sigv4 {
                source: Rc::new(Sigv4Source::new(settings.clone(), timeout)),
                identity: Rc::default(),
            },
            Config::OAuth2(_) | Config::GoogleIam(_) | Config::AzureAd(_) => Kind::Bearer {
                grant: Rc::new(Grant::new(config, client, timeout)),
                token: Rc::default(),
            },
        };
        Self {
            backend: backend.to_string(),
            method: config.method(),
            kind,
        }
    }

    /// The method as the file spells it.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// What the next call carries.
    pub async fn authorization(&self) -> Result<Authorization, AuthError> {
        let authorization = match &self.kind {
            Kind::Basic {
                username,
                password_file,
            } => read_secret(password_file)
                .map(|password| {
                    let pair = format!("{username}:{password}");
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                    Authorization::Header(format!("Basic {encoded}"))
                })
                .map_err(|e| ("reading passwordFile", e)),
            Kind::Bearer { grant, token } => {
                let grant = grant.clone();
                token
                    .get(move || async move { grant.fetch().await }.boxed_local())
                    .await
                    .map(|token| Authorization::Header(format!("Bearer {token}")))
            }
            Kind::Sigv4 { source, identity } => {
                let source = source.clone();
                identity
                    .get(move || async move { source.fetch().await }.boxed_local())
                    .await
                    .map(Authorization::Sigv4)
            }
        };
        authorization.map_err(|(step, detail)| AuthError {
            method: self.method,
            backend: self.backend.clone(),
            step,
            detail,
        })
    }
}

/// A fetch's result: the value and when to renew it.
type Fetched<T> = Result<(T, tokio::time::Instant), Failure>;

/// A value that expires (a token, AWS credentials), the one held and the fetch in flight.
pub(crate) struct Cached<T> {
    held: RefCell<Option<(T, tokio::time::Instant)>>,
    fetching: RefCell<Option<Shared<LocalBoxFuture<'static, Fetched<T>>>>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            held: RefCell::new(None),
            fetching: RefCell::new(None),
        }
    }
}

impl<T: Clone + 'static> Cached<T> {
    /// The value held while it is fresh; else the fetch in flight, or a new one (`fetch()`) that every
    /// caller waiting meanwhile shares. The fetch stores its value and clears itself when done.
    pub(crate) async fn get(
        self: &Rc<Self>,
        fetch: impl FnOnce() -> LocalBoxFuture<'static, Fetched<T>>,
    ) -> Result<T, Failure> {
        let now = tokio::time::Instant::now();
        if let Some((value, _)) = self.held.borrow().as_ref().filter(|(_, at)| now < *at) {
            return Ok(value.clone());
        }
        let shared = self
            .fetching
            .borrow_mut()
            .get_or_insert_with(|| {
                let this = self.clone();
                let fetch = fetch();
                async move {
                    let fetched = fetch.await;
                    if let Ok(held) = &fetched {
                        *this.held.borrow_mut() = Some(held.clone());
                    }
                    this.fetching.borrow_mut().take();
                    fetched
                }
                .boxed_local()
                .shared()
            })
            .clone();
        shared.await.map(|(value, _)| value)
    }
}

/// A secret file's content, without its trailing newline.
pub(crate) fn read_secret(file: &str) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("{file}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::{Cached, renew_at};

    /// A fetch that takes a second and counts itself; `fail` makes it fail.
    fn fetch(
        count: &Rc<Cell<u32>>,
        lifetime: Duration,
        fail: bool,
    ) -> impl FnOnce() -> futures_util::future::LocalBoxFuture<
        'static,
        Result<(u32, tokio::time::Instant), super::Failure>,
    > {
        let count = count.clone();
        move || {
            async move {
                let asked = tokio::time::Instant::now();
                tokio::time::sleep(Duration::from_secs(1)).await;
                count.set(count.get() + 1);
                if fail {
                    return Err(("asking", "down".to_string()));
                }
                Ok((count.get(), renew_at(asked, lifetime)))
            }
            .boxed_local()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_share_one_fetch_and_the_value_is_renewed_before_it_expires() {
        let cache: Rc<Cached<u32>> = Rc::default();
        let count = Rc::new(Cell::new(0));
        let hour = Duration::from_secs(3600);
        // Ten callers while the first fetch is in flight: one fetch, one value.
        let values =
            futures_util::future::join_all((0..10).map(|_| cache.get(fetch(&count, hour, false))))
                .await;
        assert!(values.iter().all(|v| v == &Ok(1)), "{values:?}");
        assert_eq!(count.get(), 1);
        // Held until a minute before it expires (asked at 0, expires at 1 h).
        tokio::time::advance(hour - Duration::from_secs(62)).await;
        assert_eq!(cache.get(fetch(&count, hour, false)).await, Ok(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(fetch(&count, hour, false)).await, Ok(2));
        assert_eq!(count.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_is_not_held_and_short_lifetimes_renew_at_half() {
        let cache: Rc<Cached<u32>> = Rc::default();
        let count = Rc::new(Cell::new(0));
        let short = Duration::from_secs(10);
        assert!(cache.get(fetch(&count, short, true)).await.is_err());
        // The next call fetches again rather than repeating the failure.
        assert_eq!(cache.get(fetch(&count, short, false)).await, Ok(2));
        // A 10 s token (asked 1 s before it arrived) is renewed 5 s after it was asked.
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(cache.get(fetch(&count, short, false)).await, Ok(2));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(fetch(&count, short, false)).await, Ok(3));
    }
}
