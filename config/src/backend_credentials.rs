//! How a backend's calls authenticate: the `basicAuth`, `oauth2`, `sigv4`, `googleIam` and `azureAd`
//! blocks of `backends.NAME` (Prometheus' own client blocks, in the file's camelCase), compiled and
//! checked. Only paths to secrets are held; the files are read when a call needs them.

use crate::backend_routes::check_url;
use crate::error::{Collector, ConfigErrors};
use crate::raw;

/// How a backend's calls authenticate. Secrets stay in their files: only the paths are held, the files
/// are read when a request needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic`, the password read from a file.
    Basic {
        /// The user name.
        username: String,
        /// The password's file.
        password_file: String,
    },
    /// `Authorization: Bearer` with a token from an OAuth 2.0 client-credentials grant.
    OAuth2(OAuth2),
    /// Every call signed with AWS Signature Version 4.
    Sigv4(Sigv4),
    /// `Authorization: Bearer` with a Google OAuth 2.0 token.
    GoogleIam(GoogleIam),
    /// `Authorization: Bearer` with a Microsoft Entra token.
    AzureAd(AzureAd),
}

/// A compiled `oauth2:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// The token endpoint (http or https).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret's file.
    pub client_secret_file: String,
    /// Scopes, sent space-separated.
    pub scopes: Vec<String>,
    /// Extra form parameters.
    pub endpoint_params: Vec<(String, String)>,
}

/// The signing service when `sigv4.service` is not given: Amazon Managed Service for Prometheus.
pub const DEFAULT_SIGV4_SERVICE: &str = "aps";

/// A compiled `sigv4:` block. Credentials come from the AWS SDK's default chain (environment, shared
/// config, web identity token file, container credentials endpoint, instance metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sigv4 {
    /// The region; `None` means the SDK's region chain.
    pub region: Option<String>,
    /// The signing service name.
    pub service: String,
    /// A role assumed with the chain's credentials.
    pub role_arn: Option<String>,
    /// The external id sent when assuming `role_arn`.
    pub external_id: Option<String>,
    /// A profile of the shared config files.
    pub profile: Option<String>,
}

/// The scope of Google tokens: reading Cloud Monitoring, which serves the Prometheus API.
pub const GOOGLE_MONITORING_READ: &str = "https://www.googleapis.com/auth/monitoring.read";

/// A compiled `googleIam:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleIam {
    /// A service-account key file; `None` means the metadata server.
    pub credentials_file: Option<String>,
}

/// A compiled `azureAd:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureAd {
    /// Which Azure cloud: its authority host and Azure Monitor's resource.
    pub cloud: AzureCloud,
    /// Where tokens come from.
    pub identity: AzureIdentity,
}

/// The Azure clouds Azure Monitor managed Prometheus runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureCloud {
    /// `AzurePublic`.
    Public,
    /// `AzureChina`.
    China,
    /// `AzureGovernment`.
    Government,
}

impl AzureCloud {
    /// Microsoft Entra's authority host in this cloud (overridden by `AZURE_AUTHORITY_HOST`).
    pub fn authority_host(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://login.microsoftonline.com/",
            AzureCloud::China => "https://login.chinacloudapi.cn/",
            AzureCloud::Government => "https://login.microsoftonline.us/",
        }
    }

    /// Azure Monitor's resource in this cloud; tokens are asked for its `/.default` scope.
    pub fn resource(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://prometheus.monitor.azure.com",
            AzureCloud::China => "https://prometheus.monitor.azure.cn",
            AzureCloud::Government => "https://prometheus.monitor.azure.us",
        }
    }
}

/// Where an `azureAd` backend's tokens come from; an empty field means the webhook's variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureIdentity {
    /// Workload identity: the federated token file exchanged at Entra (RFC 7523 client assertion).
    Workload {
        /// The client id; `None` means `AZURE_CLIENT_ID`.
        client_id: Option<String>,
        /// The tenant id; `None` means `AZURE_TENANT_ID`.
        tenant_id: Option<String>,
        /// The token file; `None` means `AZURE_FEDERATED_TOKEN_FILE`.
        token_file: Option<String>,
    },
    /// A managed identity through the instance metadata service.
    Managed {
        /// A user-assigned identity's client id; `None` for the system-assigned one.
        client_id: Option<String>,
    },
}

impl Credentials {
    /// The method's name in messages and metrics, as the file spells it.
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "basicAuth",
            Credentials::OAuth2(_) => "oauth2",
            Credentials::Sigv4(_) => "sigv4",
            Credentials::GoogleIam(_) => "googleIam",
            Credentials::AzureAd(_) => "azureAd",
        }
    }
}

/// The credentials of a backend given by flags rather than a file: `raw` holds what the flags say, and
/// `flag` names the flag of a field's path (`sigv4.roleArn`), so errors point at flags.
pub fn from_flags(
    raw: &raw::Backend,
    flag: &dyn Fn(&str) -> String,
) -> Result<Option<Credentials>, ConfigErrors> {
    let mut errors = Collector::new("flags");
    let credentials = compile(&mut errors, flag, raw);
    errors.finish(|_| credentials)
}

/// `Some(text)` unless it is empty.
fn given(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_string())
}

/// The backend's one authentication method, checked; `None` (and errors) when the file gives none or
/// several.
pub(crate) fn compile(
    errors: &mut Collector<'_>,
    at: &dyn Fn(&str) -> String,
    raw: &raw::Backend,
) -> Option<Credentials> {
    let given_methods: Vec<&str> = [
        ("basicAuth", raw.basic_auth.is_some()),
        ("oauth2", raw.oauth2.is_some()),
        ("sigv4", raw.sigv4.is_some()),
        ("googleIam", raw.google_iam.is_some()),
        ("azureAd", raw.azure_ad.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, is_given)| is_given.then_some(name))
    .collect();
    match given_methods.as_slice() {
        [] => return None,
        [_] if !raw.token_file.is_empty() => {
            errors.push(
                at("tokenFile"),
                format!("tokenFile excludes {}: use one", given_methods[0]),
            );
            return None;
        }
        [_] => {}
        [.., last] => {
            errors.push(
                at(last),
                format!("{} exclude each other: use one", given_methods.join(", ")),
            );
            return None;
        }
    }
    let required = |errors: &mut Collector<'_>, field: String, value: &str| {
        if value.trim().is_empty() {
            errors.push(field, "is required");
        }
    };
    if let Some(basic) = &raw.basic_auth {
        required(errors, at("basicAuth.username"), &basic.username);
        required(errors, at("basicAuth.passwordFile"), &basic.password_file);
        return Some(Credentials::Basic {
            username: basic.username.clone(),
            password_file: basic.password_file.clone(),
        });
    }
    if let Some(oauth2) = &raw.oauth2 {
        if let Err(message) = check_url(&oauth2.token_url) {
            errors.push(at("oauth2.tokenUrl"), message);
        }
        required(errors, at("oauth2.clientId"), &oauth2.client_id);
        required(
            errors,
            at("oauth2.clientSecretFile"),
            &oauth2.client_secret_file,
        );
        return Some(Credentials::OAuth2(OAuth2 {
            token_url: oauth2.token_url.clone(),
            client_id: oauth2.client_id.clone(),
            client_secret_file: oauth2.client_secret_file.clone(),
            scopes: oauth2.scopes.clone(),
            endpoint_params: oauth2
                .endpoint_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }));
    }
    if let Some(sigv4) = &raw.sigv4 {
        if !sigv4.external_id.is_empty() && sigv4.role_arn.is_empty() {
            errors.push(at("sigv4.externalId"), "needs roleArn");
        }
        return Some(Credentials::Sigv4(Sigv4 {
            region: given(&sigv4.region),
            service: given(&sigv4.service).unwrap_or_else(|| DEFAULT_SIGV4_SERVICE.to_string()),
            role_arn: given(&sigv4.role_arn),
            external_id: given(&sigv4.external_id),
            profile: given(&sigv4.profile),
        }));
    }
    if let Some(google) = &raw.google_iam {
        return Some(Credentials::GoogleIam(GoogleIam {
            credentials_file: given(&google.credentials_file),
        }));
    }
    let azure = raw.azure_ad.as_ref()?;
    let cloud = match azure.cloud.as_str() {
        "" | "AzurePublic" => AzureCloud::Public,
        "AzureChina" => AzureCloud::China,
        "AzureGovernment" => AzureCloud::Government,
        other => {
            errors.push(
                at("azureAd.cloud"),
                format!("{other:?}: use AzurePublic, AzureChina or AzureGovernment"),
            );
            AzureCloud::Public
        }
    };
    let identity = match (&azure.workload_identity, &azure.managed_identity) {
        (Some(workload), None) => AzureIdentity::Workload {
            client_id: given(&workload.client_id),
            tenant_id: given(&workload.tenant_id),
            token_file: given(&workload.token_file),
        },
        (None, Some(managed)) => AzureIdentity::Managed {
            client_id: given(&managed.client_id),
        },
        (Some(_), Some(_)) => {
            errors.push(
                at("azureAd.managedIdentity"),
                "workloadIdentity and managedIdentity exclude each other: use one",
            );
            return None;
        }
        (None, None) => {
            errors.push(at("azureAd"), "needs workloadIdentity or managedIdentity");
            return None;
        }
    };
    Some(Credentials::AzureAd(AzureAd { cloud, identity }))
}

#[cfg(test)]
mod tests {
    use super::Credentials;
    use crate::backend_routes::tests::{RULE, errors};
    use crate::rules::load;

    #[test]
    fn credentials_are_one_method_with_its_fields() {
        let config = load(
            "b.yaml",
            &format!(
                "backends:\n  amp: {{url: 'http://p/', oauth2: {{tokenUrl: 'https://login/token', clientId: c, clientSecretFile: /s, scopes: [a, b], endpointParams: {{audience: x}}}}}}\n  grafana: {{url: 'http://g/', basicAuth: {{username: u, passwordFile: /p}}}}\nrules:\n- seriesQuery: x\n{RULE}"
            ),
        )
        .expect("loads");
        let Some(Credentials::OAuth2(oauth2)) = &config.backends["amp"].credentials else {
            panic!("oauth2: {:?}", config.backends["amp"].credentials)
        };
        assert_eq!(
            (oauth2.scopes.clone(), oauth2.endpoint_params.clone()),
            (
                vec!["a".to_string(), "b".to_string()],
                vec![("audience".to_string(), "x".to_string())]
            )
        );
        assert_eq!(
            config.backends["grafana"].credentials,
            Some(Credentials::Basic {
                username: "u".into(),
                password_file: "/p".into()
            })
        );
        assert_eq!(
            errors(&format!(
                "backends:\n  a: {{url: 'http://a/', basicAuth: {{username: u, passwordFile: /p}}, oauth2: {{tokenUrl: 'http://t/'}}}}\n  b: {{url: 'http://b/', tokenFile: /t, basicAuth: {{username: u, passwordFile: /p}}}}\n  c: {{url: 'http://c/', basicAuth: {{username: u}}}}\n  d: {{url: 'http://d/', oauth2: {{tokenUrl: 'ftp://t', clientSecretFile: /s}}}}\nrules:\n- seriesQuery: x\n{RULE}"
            )),
            [
                "backends.a.oauth2: basicAuth, oauth2 exclude each other: use one",
                "backends.b.tokenFile: tokenFile excludes basicAuth: use one",
                "backends.c.basicAuth.passwordFile: is required",
                "backends.d.oauth2.tokenUrl: invalid URL \"ftp://t\": must be http:// or https:// with a host",
                "backends.d.oauth2.clientId: is required",
            ]
        );
    }

    #[test]
    fn cloud_methods_take_their_defaults_and_refuse_what_cannot_work() {
        let config = load(
            "b.yaml",
            "backends:\n  amp: {url: 'http://p/', sigv4: {region: us-east-1}}\n  amp2: {url: 'http://p/', sigv4: {service: x, roleArn: 'arn:aws:iam::1:role/r', externalId: e, profile: p}}\n  \
             gmp: {url: 'http://g/', googleIam: {}}\n  gmp2: {url: 'http://g/', googleIam: {credentialsFile: /k.json}}\n  \
             az: {url: 'http://a/', azureAd: {workloadIdentity: {}}}\n  az2: {url: 'http://a/', azureAd: {cloud: AzureChina, managedIdentity: {clientId: c}}}\n",
        )
        .expect("loads");
        let credentials = |name: &str| config.backends[name].credentials.clone().unwrap();
        assert_eq!(
            credentials("amp"),
            Credentials::Sigv4(super::Sigv4 {
                region: Some("us-east-1".into()),
                service: "aps".into(),
                role_arn: None,
                external_id: None,
                profile: None,
            })
        );
        let Credentials::Sigv4(amp2) = credentials("amp2") else {
            panic!()
        };
        assert_eq!(
            (amp2.region, amp2.service.as_str(), amp2.role_arn.as_deref()),
            (None, "x", Some("arn:aws:iam::1:role/r"))
        );
        assert_eq!(
            credentials("gmp"),
            Credentials::GoogleIam(super::GoogleIam {
                credentials_file: None
            })
        );
        assert_eq!(credentials("gmp2").method(), "googleIam");
        assert_eq!(
            credentials("az"),
            Credentials::AzureAd(super::AzureAd {
                cloud: super::AzureCloud::Public,
                identity: super::AzureIdentity::Workload {
                    client_id: None,
                    tenant_id: None,
                    token_file: None
                }
            })
        );
        let Credentials::AzureAd(az2) = credentials("az2") else {
            panic!()
        };
        assert_eq!(az2.cloud.resource(), "https://prometheus.monitor.azure.cn");
        // check-config names each backend's method (never a secret's path).
        assert!(
            crate::explain::summary(&config).ends_with(
                "backends: amp (1 URL, sigv4), amp2 (1 URL, sigv4), az (1 URL, azureAd), az2 (1 URL, azureAd), gmp (1 URL, googleIam), gmp2 (1 URL, googleIam)"
            ),
            "{}",
            crate::explain::summary(&config)
        );
        assert_eq!(
            errors(&format!(
                "backends:\n  a: {{url: 'http://a/', sigv4: {{}}, googleIam: {{}}, azureAd: {{managedIdentity: {{}}}}}}\n  b: {{url: 'http://b/', sigv4: {{externalId: e}}}}\n  \
                 c: {{url: 'http://c/', azureAd: {{cloud: Mars}}}}\n  d: {{url: 'http://d/', azureAd: {{workloadIdentity: {{}}, managedIdentity: {{}}}}}}\n  e: {{url: 'http://e/', tokenFile: /t, googleIam: {{}}}}\nrules:\n- seriesQuery: x\n{RULE}"
            )),
            [
                "backends.a.azureAd: sigv4, googleIam, azureAd exclude each other: use one",
                "backends.b.sigv4.externalId: needs roleArn",
                "backends.c.azureAd.cloud: \"Mars\": use AzurePublic, AzureChina or AzureGovernment",
                "backends.c.azureAd: needs workloadIdentity or managedIdentity",
                "backends.d.azureAd.managedIdentity: workloadIdentity and managedIdentity exclude each other: use one",
                "backends.e.tokenFile: tokenFile excludes googleIam: use one",
            ]
        );
    }
}
