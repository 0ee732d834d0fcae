//! `sigv4`: AWS credentials from the AWS SDK's own default chain (environment, shared config and
//! profile, web identity token file as EKS IRSA sets it, the container credentials endpoint of ECS and
//! EKS Pod Identity, instance metadata), optionally a role assumed with them, and every request signed
//! with Signature Version 4 by `aws-sigv4` — the SDK's signer, not ours.
//!
//! The chain does not cache; the credentials' `Cached` does, until shortly before the
//! credentials expire (credentials without an expiry, such as environment keys, are asked for again every
//! [`STATIC_RENEWAL`], so a changed profile file is picked up). Endpoints move as the SDK allows
//! (`AWS_ENDPOINT_URL_STS`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`, …).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use adapter_config::backend_credentials::Sigv4;
use aws_config::Region;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::default_provider::region::DefaultRegionChain;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::backends::credentials::{Failure, renew_at};

/// How long credentials without an expiry are used before the chain is asked again.
pub const STATIC_RENEWAL: Duration = Duration::from_secs(300);

/// Where a `sigv4` backend's credentials come from.
pub struct Sigv4Source {
    settings: Sigv4,
    /// How long one fetch may take (the chain and STS have their own timeouts; this bounds them all).
    timeout: Duration,
}

/// Credentials, and the region and service requests are signed for.
pub struct AwsIdentity {
    credentials: aws_credential_types::Credentials,
    region: String,
    service: String,
}

impl std::fmt::Debug for AwsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // aws_credential_types::Credentials' own Debug redacts the secret; the access key id is not one.
        f.debug_struct("AwsIdentity")
            .field("access_key_id", &self.credentials.access_key_id())
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

impl Sigv4Source {
    /// The source of a `sigv4:` block; one fetch is bounded by `timeout`.
    pub fn new(settings: Sigv4, timeout: Duration) -> Self {
        Self { settings, timeout }
    }

    /// Credentials from the chain (and the role, if any) and when to renew them, within the timeout: a
    /// fetch that hangs would hold every call of the backend waiting on it.
    pub async fn fetch(&self) -> Result<(Rc<AwsIdentity>, tokio::time::Instant), Failure> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded())
            .await
            .unwrap_or_else(|_| {
                Err((
                    "fetching credentials",
                    format!("no answer within {:?}", self.timeout),
                ))
            })
    }

    async fn fetch_unbounded(&self) -> Result<(Rc<AwsIdentity>, tokio::time::Instant), Failure> {
        let settings = &self.settings;
        let region = match &settings.region {
            Some(region) => Region::new(region.clone()),
            None => {
                let mut chain = DefaultRegionChain::builder();
                if let Some(profile) = &settings.profile {
                    chain = chain.profile_name(profile);
                }
                chain.build().region().await.ok_or((
                    "finding the region",
                    "sigv4.region is not set and the AWS SDK's region chain (AWS_REGION, the profile) has none"
                        .to_string(),
                ))?
            }
        };
        let mut chain = DefaultCredentialsChain::builder().region(region.clone());
        if let Some(profile) = &settings.profile {
            chain = chain.profile_name(profile);
        }
        let chain = chain.build().await;
        let provider = match &settings.role_arn {
            Some(role_arn) => {
                let mut role = AssumeRoleProvider::builder(role_arn)
                    .session_name("prometheus-adapter")
                    .region(region.clone());
                if let Some(external_id) = &settings.external_id {
                    role = role.external_id(external_id);
                }
                SharedCredentialsProvider::new(role.build_from_provider(chain).await)
            }
            None => SharedCredentialsProvider::new(chain),
        };
        let asked = tokio::time::Instant::now();
        let step = if settings.role_arn.is_some() {
            "assuming roleArn"
        } else {
            "asking the AWS credential chain"
        };
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| (step, error_chain(&e)))?;
        #[allow(
            clippy::disallowed_methods,
            reason = "AWS expiries are wall-clock times"
        )]
        let left = credentials
            .expiry()
            .map(|expiry| expiry.duration_since(SystemTime::now()).unwrap_or_default());
        let renew = match left {
            Some(left) => renew_at(asked, left),
            None => asked + STATIC_RENEWAL,
        };
        let identity = AwsIdentity::new(credentials, region.as_ref(), &settings.service);
        Ok((Rc::new(identity), renew))
    }
}

impl AwsIdentity {
    /// `credentials` for signing requests to `service` in `region`.
    pub fn new(
        credentials: aws_credential_types::Credentials,
        region: &str,
        service: &str,
    ) -> Self {
        Self {
            credentials,
            region: region.to_string(),
            service: service.to_string(),
        }
    }

    /// The headers that sign a request (`authorization`, `x-amz-date`, and `x-amz-security-token` for
    /// temporary credentials). `url` must be exactly what is sent.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let identity = self.credentials.clone().into();
        #[allow(
            clippy::disallowed_methods,
            reason = "a signature's date is wall-clock time"
        )]
        let now = SystemTime::now();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let request =
            SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(body))
                .map_err(|e| format!("signing {url}: {}", error_chain(&e)))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("signing {url}: {}", error_chain(&e)))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

/// An error and its sources, as one line: the SDK's errors say little at the top.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
