//! What the adapter needs of a Prometheus-compatible backend, as a trait with two implementations: the
//! real HTTP client (serving issue) and the simulated one in [`crate::sim`].

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adapter_config::SeriesSet;
use adapter_config::label_discovery::LabelQuestion;
use futures_util::future::LocalBoxFuture;

pub use adapter_config::query_answer::{QueryResult, Sample};

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    /// The backend could not be reached or answered garbage.
    #[error("prometheus unavailable: {0}")]
    Unavailable(String),
    /// The backend answered an HTTP status the API does not use (a missing endpoint's 404, a 405): it
    /// refuses the call rather than being down.
    #[error("prometheus unavailable: bad_response: unknown response code {0}")]
    Status(u16),
    /// The backend answered with an error (`bad_data: parse error …`).
    #[error("prometheus error {error_type}: {message}")]
    Api {
        /// `errorType`.
        error_type: String,
        /// `error`.
        message: String,
    },
    /// No answer within the deadline.
    #[error("prometheus did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The backend's credentials could not be had (a token endpoint down, a secret file unreadable):
    /// `public` names the method, backend and step; `cause` says what went wrong there (no secret).
    #[error("{public}: {cause}")]
    Auth {
        /// `oauth2 for backend b: asking the token endpoint`: shown to API clients.
        public: String,
        /// What failed there: logged.
        cause: String,
    },
    /// The querier actor was restarting or gone.
    #[error("prometheus querier unavailable: {0}")]
    Mailbox(String),
}

impl PromError {
    /// Whether the backend understood the call and refused it (an API error or a status the API does
    /// not use), as opposed to being unreachable, slow or restarting.
    pub fn is_refusal(&self) -> bool {
        matches!(self, PromError::Api { .. } | PromError::Status(_))
    }
}

/// A Prometheus-compatible HTTP API, reduced to the calls the adapter makes. `tenant` is the value
/// of the backend's tenant header for this call, when it has one.
pub trait PromBackend {
    /// `/api/v1/series?match[]=…&start=…&end=…`, reduced to names and label names.
    fn series(
        &self,
        matcher: &str,
        start: f64,
        end: f64,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<SeriesSet, PromError>>;
    /// `/api/v1/labels` or `/api/v1/label/__name__/values` with `match[]`, over `[start, end]`.
    fn labels(
        &self,
        question: LabelQuestion,
        matcher: &str,
        start: f64,
        end: f64,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<Vec<String>, PromError>>;
    /// `/api/v1/query?query=…&time=…&timeout=…`.
    fn query(
        &self,
        promql: &str,
        time: f64,
        timeout: Duration,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<QueryResult, PromError>>;
}

/// Shared handle to a backend. Actors share one arbiter, so backends need not be `Send` (awc is not).
pub type SharedPromBackend = Rc<dyn PromBackend>;

/// One backend and the deadline of each call to it.
#[derive(Clone)]
pub struct BackendEntry {
    /// The client.
    pub client: SharedPromBackend,
    /// Per-call timeout (also sent as `timeout=`).
    pub timeout: Duration,
}

/// Builds the backends a (reloaded) rules file declares.
pub type BuildBackends = Rc<dyn Fn(&adapter_config::Config) -> Result<Backends, String>>;

/// Every backend the querier can call: the default one (`--prometheus-url`) and the rules file's
/// `backends:` by name; and how to build them anew when the rules file is reloaded.
#[derive(Clone)]
pub struct Backends {
    default: BackendEntry,
    named: HashMap<Arc<str>, BackendEntry>,
    builder: Option<BuildBackends>,
}

impl Backends {
    /// Only the default backend.
    pub fn single(client: SharedPromBackend, timeout: Duration) -> Self {
        Self {
            default: BackendEntry { client, timeout },
            named: HashMap::new(),
            builder: None,
        }
    }

    /// These backends, rebuilt by `builder` on reload.
    pub fn rebuilt_by(mut self, builder: BuildBackends) -> Self {
        self.builder = Some(builder);
        self
    }

    /// The backends of a reloaded `config`. Backends the new file no longer declares are kept, so that
    /// requests discovered with the previous rules still reach theirs until the next relist.
    pub fn rebuild(&self, config: &adapter_config::Config) -> Result<Backends, String> {
        let Some(builder) = &self.builder else {
            return Ok(self.clone());
        };
        let mut next = builder(config)?;
        for (name, entry) in &self.named {
            next.named
                .entry(name.clone())
                .or_insert_with(|| entry.clone());
        }
        next.builder = Some(builder.clone());
        Ok(next)
    }

    /// Adds (or replaces) the backend `name`.
    pub fn with(mut self, name: &str, client: SharedPromBackend, timeout: Duration) -> Self {
        self.named
            .insert(Arc::from(name), BackendEntry { client, timeout });
        self
    }

    /// The backend a route names (`None`: the default one).
    pub fn get(&self, name: Option<&str>) -> Option<&BackendEntry> {
        match name {
            None => Some(&self.default),
            Some(name) => self.named.get(name),
        }
    }
}
