//! The two questions asked of kube-apiserver, each answer cached: TokenReview (who holds this bearer
//! token; authenticated and rejected answers cached for `--authentication-token-webhook-cache-ttl`) and
//! SubjectAccessReview (may this user do this; allowed and denied answers cached for their own TTLs).
//! Errors are not cached. Concurrent requests for one answer share one review. Every call has a timeout.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::attributes::Attributes;
use super::cache::TtlCache;
use super::identity::User;

/// How long one review may take (client-go's webhook default).
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);
/// Most distinct identities/questions remembered at once.
const CACHE_CAPACITY: usize = 16_384;

/// A decision with the reviewer's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The TTLs, from the upstream flags.
#[derive(Debug, Clone, Copy)]
pub struct Ttls {
    pub token: Duration,
    pub allowed: Duration,
    pub denied: Duration,
}

pub struct Reviews {
    telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
    authentication: kube::Client,
    authorization: kube::Client,
    ttls: Ttls,
    tokens: TtlCache<String, Option<User>>,
    decisions: TtlCache<String, Decision>,
}

impl Reviews {
    pub fn new(
        authentication: kube::Client,
        authorization: kube::Client,
        ttls: Ttls,
        telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
    ) -> Self {
        Self {
            telemetry,
            authentication,
            authorization,
            ttls,
            tokens: TtlCache::new(CACHE_CAPACITY),
            decisions: TtlCache::new(CACHE_CAPACITY),
        }
    }

    /// The user holding `token`, `None` when kube-apiserver says it is not valid.
    pub async fn token(&self, token: &str) -> Result<Option<User>, String> {
        let (answer, fetched) = self
            .tokens
            .get_or_fetch(
                token.to_string(),
                |_| self.ttls.token,
                || async {
                    let review = TokenReview {
                        spec: TokenReviewSpec {
                            token: Some(token.to_string()),
                            audiences: None,
                        },
                        ..Default::default()
                    };
                    let answer = self
                        .create(&self.authentication, &review, "token", "TokenReview")
                        .await?;
                    let status = answer.status.unwrap_or_default();
                    Ok(match (status.authenticated, status.user) {
                        (Some(true), Some(info)) => Some(
                            User {
                                name: info.username.unwrap_or_default(),
                                uid: info.uid.unwrap_or_default(),
                                groups: info.groups.unwrap_or_default(),
                                extra: info.extra.unwrap_or_default(),
                            }
                            .authenticated(),
                        ),
                        _ => None,
                    })
                },
            )
            .await;
        let user = answer?;
        let outcome = if user.is_some() {
            "authenticated"
        } else {
            "rejected"
        };
        self.telemetry
            .count_review("token", source(fetched), outcome);
        Ok(user)
    }

    /// Whether `user` may do what `attributes` describe.
    pub async fn access(&self, user: &User, attributes: &Attributes) -> Result<Decision, String> {
        let spec = spec(user, attributes);
        let key = serde_json::to_string(&spec).unwrap_or_default();
        let (answer, fetched) = self
            .decisions
            .get_or_fetch(
                key,
                |d: &Decision| {
                    if d.allowed {
                        self.ttls.allowed
                    } else {
                        self.ttls.denied
                    }
                },
                || async {
                    let review = SubjectAccessReview {
                        spec,
                        ..Default::default()
                    };
                    let answer = self
                        .create(
                            &self.authorization,
                            &review,
                            "access",
                            "SubjectAccessReview",
                        )
                        .await?;
                    let status = answer.status.unwrap_or_default();
                    Ok(Decision {
                        allowed: status.allowed && !status.denied.unwrap_or(false),
                        reason: status.reason.unwrap_or_default(),
                    })
                },
            )
            .await;
        let decision = answer?;
        let outcome = if decision.allowed {
            "allowed"
        } else {
            "denied"
        };
        self.telemetry
            .count_review("access", source(fetched), outcome);
        Ok(decision)
    }
}

/// Where an answer came from, for the review counter.
fn source(fetched: bool) -> &'static str {
    if fetched { "apiserver" } else { "cache" }
}

impl Reviews {
    /// Creates `review` (cluster-scoped) and returns kube-apiserver's answer, within `REVIEW_TIMEOUT`;
    /// failures are counted under `metric` and described with `kind`.
    async fn create<K>(
        &self,
        client: &kube::Client,
        review: &K,
        metric: &'static str,
        kind: &str,
    ) -> Result<K, String>
    where
        K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::all(client.clone());
        tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), review))
            .await
            .map_err(|_| format!("{kind} timed out after {REVIEW_TIMEOUT:?}"))
            .and_then(|answer| answer.map_err(|e| format!("{kind} failed: {e}")))
            .inspect_err(|_| self.telemetry.count_review(metric, "apiserver", "error"))
    }
}

/// The SubjectAccessReview spec for `user` doing `attributes`.
fn spec(user: &User, attributes: &Attributes) -> SubjectAccessReviewSpec {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (resource_attributes, non_resource_attributes) = match attributes {
        Attributes::Resource {
            verb,
            group,
            version,
            resource,
            subresource,
            name,
            namespace,
        } => (
            Some(ResourceAttributes {
                verb: some(verb),
                group: Some(group.clone()),
                version: some(version),
                resource: some(resource),
                subresource: some(subresource),
                name: some(name),
                namespace: some(namespace),
                ..Default::default()
            }),
            None,
        ),
        Attributes::NonResource { verb, path } => (
            None,
            Some(NonResourceAttributes {
                verb: some(verb),
                path: some(path),
            }),
        ),
    };
    SubjectAccessReviewSpec {
        user: some(&user.name),
        uid: some(&user.uid),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
        resource_attributes,
        non_resource_attributes,
    }
}
