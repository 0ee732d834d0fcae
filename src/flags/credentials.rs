//! The `--prometheus-*` flags' backend's credentials, named after the file's blocks in upstream's flag
//! style: `backends.NAME.sigv4.roleArn` is `--prometheus-sigv4-role-arn`. They fill the same raw block a
//! file's backend has and are checked by the same code ([`backend_credentials::from_flags`]), so a
//! method behaves alike from either place.

use adapter_config::backend_credentials::{self, Credentials};
use adapter_config::raw;

/// Credentials for `--prometheus-url` (ours; upstream has only `--prometheus-token-file` and kubeconfigs).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialFlags {
    /// basicAuth: the user name.
    #[arg(long, default_value = "")]
    pub prometheus_basic_auth_username: String,
    /// basicAuth: the password's file, read at every call.
    #[arg(long, default_value = "")]
    pub prometheus_basic_auth_password_file: String,
    /// oauth2 (client credentials): the token endpoint.
    #[arg(long, default_value = "")]
    pub prometheus_oauth2_token_url: String,
    /// oauth2: the client id.
    #[arg(long, default_value = "")]
    pub prometheus_oauth2_client_id: String,
    /// oauth2: the client secret's file, read at every token fetch.
    #[arg(long, default_value = "")]
    pub prometheus_oauth2_client_secret_file: String,
    /// oauth2: scopes, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub prometheus_oauth2_scopes: Vec<String>,
    /// oauth2: extra form parameters of the token request, `name=value`, comma-separated or repeated.
    #[arg(long, value_delimiter = ',')]
    pub prometheus_oauth2_endpoint_params: Vec<String>,
    /// sigv4 (Amazon Managed Service for Prometheus) with the AWS SDK's credential chain; implied by any
    /// other --prometheus-sigv4-* flag.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub prometheus_sigv4: bool,
    /// sigv4: the region; default the SDK's region chain (AWS_REGION).
    #[arg(long, default_value = "")]
    pub prometheus_sigv4_region: String,
    /// sigv4: the signing service; default aps.
    #[arg(long, default_value = "")]
    pub prometheus_sigv4_service: String,
    /// sigv4: a role assumed with the chain's credentials.
    #[arg(long, default_value = "")]
    pub prometheus_sigv4_role_arn: String,
    /// sigv4: the external id the role asks for.
    #[arg(long, default_value = "")]
    pub prometheus_sigv4_external_id: String,
    /// sigv4: a profile of the shared config files.
    #[arg(long, default_value = "")]
    pub prometheus_sigv4_profile: String,
    /// googleIam (Google Cloud Managed Service for Prometheus) through the metadata server; implied by
    /// --prometheus-google-iam-credentials-file.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub prometheus_google_iam: bool,
    /// googleIam: a service-account key file instead of the metadata server.
    #[arg(long, default_value = "")]
    pub prometheus_google_iam_credentials_file: String,
    /// azureAd: AzurePublic (default), AzureChina or AzureGovernment.
    #[arg(long, default_value = "")]
    pub prometheus_azure_ad_cloud: String,
    /// azureAd through AKS workload identity (the webhook's AZURE_* variables); implied by any other
    /// --prometheus-azure-ad-workload-identity-* flag.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub prometheus_azure_ad_workload_identity: bool,
    /// azureAd workload identity: the client id; default AZURE_CLIENT_ID.
    #[arg(long, default_value = "")]
    pub prometheus_azure_ad_workload_identity_client_id: String,
    /// azureAd workload identity: the tenant id; default AZURE_TENANT_ID.
    #[arg(long, default_value = "")]
    pub prometheus_azure_ad_workload_identity_tenant_id: String,
    /// azureAd workload identity: the federated token file; default AZURE_FEDERATED_TOKEN_FILE.
    #[arg(long, default_value = "")]
    pub prometheus_azure_ad_workload_identity_token_file: String,
    /// azureAd through a managed identity (the instance metadata service); implied by
    /// --prometheus-azure-ad-managed-identity-client-id.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub prometheus_azure_ad_managed_identity: bool,
    /// azureAd managed identity: a user-assigned identity's client id.
    #[arg(long, default_value = "")]
    pub prometheus_azure_ad_managed_identity_client_id: String,
}

/// Whether any of `fields` is given.
fn any(fields: &[&str]) -> bool {
    fields.iter().any(|f| !f.is_empty())
}

impl CredentialFlags {
    /// The credentials these flags give, checked; an error names each flag at fault.
    pub fn credentials(&self, token_file: &str) -> anyhow::Result<Option<Credentials>> {
        let raw = self.as_raw(token_file);
        backend_credentials::from_flags(&raw, &flag_name).map_err(|errors| {
            let lines: Vec<String> = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.location, e.message))
                .collect();
            anyhow::anyhow!("{}", lines.join("; "))
        })
    }

    /// The flags as the file's backend block they stand for.
    fn as_raw(&self, token_file: &str) -> raw::Backend {
        let basic = any(&[
            &self.prometheus_basic_auth_username,
            &self.prometheus_basic_auth_password_file,
        ]);
        let oauth2 = any(&[
            &self.prometheus_oauth2_token_url,
            &self.prometheus_oauth2_client_id,
            &self.prometheus_oauth2_client_secret_file,
        ]) || !self.prometheus_oauth2_scopes.is_empty()
            || !self.prometheus_oauth2_endpoint_params.is_empty();
        let sigv4 = self.prometheus_sigv4
            || any(&[
                &self.prometheus_sigv4_region,
                &self.prometheus_sigv4_service,
                &self.prometheus_sigv4_role_arn,
                &self.prometheus_sigv4_external_id,
                &self.prometheus_sigv4_profile,
            ]);
        let google =
            self.prometheus_google_iam || any(&[&self.prometheus_google_iam_credentials_file]);
        let workload = self.prometheus_azure_ad_workload_identity
            || any(&[
                &self.prometheus_azure_ad_workload_identity_client_id,
                &self.prometheus_azure_ad_workload_identity_tenant_id,
                &self.prometheus_azure_ad_workload_identity_token_file,
            ]);
        let managed = self.prometheus_azure_ad_managed_identity
            || any(&[&self.prometheus_azure_ad_managed_identity_client_id]);
        let azure = workload || managed || any(&[&self.prometheus_azure_ad_cloud]);
        raw::Backend {
            token_file: token_file.to_string(),
            basic_auth: basic.then(|| raw::BasicAuth {
                username: self.prometheus_basic_auth_username.clone(),
                password_file: self.prometheus_basic_auth_password_file.clone(),
            }),
            oauth2: oauth2.then(|| raw::OAuth2 {
                token_url: self.prometheus_oauth2_token_url.clone(),
                client_id: self.prometheus_oauth2_client_id.clone(),
                client_secret_file: self.prometheus_oauth2_client_secret_file.clone(),
                scopes: self.prometheus_oauth2_scopes.clone(),
                endpoint_params: self
                    .prometheus_oauth2_endpoint_params
                    .iter()
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                        (name.to_string(), value.to_string())
                    })
                    .collect(),
            }),
            sigv4: sigv4.then(|| raw::Sigv4 {
                region: self.prometheus_sigv4_region.clone(),
                service: self.prometheus_sigv4_service.clone(),
                role_arn: self.prometheus_sigv4_role_arn.clone(),
                external_id: self.prometheus_sigv4_external_id.clone(),
                profile: self.prometheus_sigv4_profile.clone(),
            }),
            google_iam: google.then(|| raw::GoogleIam {
                credentials_file: self.prometheus_google_iam_credentials_file.clone(),
            }),
            azure_ad: azure.then(|| raw::AzureAd {
                cloud: self.prometheus_azure_ad_cloud.clone(),
                workload_identity: workload.then(|| raw::AzureWorkloadIdentity {
                    client_id: self.prometheus_azure_ad_workload_identity_client_id.clone(),
                    tenant_id: self.prometheus_azure_ad_workload_identity_tenant_id.clone(),
                    token_file: self
                        .prometheus_azure_ad_workload_identity_token_file
                        .clone(),
                }),
                managed_identity: managed.then(|| raw::AzureManagedIdentity {
                    client_id: self.prometheus_azure_ad_managed_identity_client_id.clone(),
                }),
            }),
            ..raw::Backend::default()
        }
    }
}

/// A file path's flag: `sigv4.roleArn` is `--prometheus-sigv4-role-arn`.
fn flag_name(path: &str) -> String {
    let mut flag = String::from("--prometheus-");
    for c in path.chars() {
        match c {
            '.' => flag.push('-'),
            c if c.is_ascii_uppercase() => {
                flag.push('-');
                flag.push(c.to_ascii_lowercase());
            }
            c => flag.push(c),
        }
    }
    flag
}

#[cfg(test)]
mod tests {
    use adapter_config::backend_credentials::{AzureIdentity, Credentials};

    fn parse(args: &[&str]) -> anyhow::Result<Option<Credentials>> {
        let args = std::iter::once("--config=r.yaml")
            .chain(args.iter().copied())
            .map(String::from);
        let flags = crate::flags::parse(args).expect("flags parse");
        flags.credentials.credentials(&flags.prometheus_token_file)
    }

    #[test]
    fn each_method_is_given_by_its_flags_and_checked_as_the_file_is() {
        assert_eq!(parse(&[]).unwrap(), None);
        let Some(Credentials::Sigv4(sigv4)) =
            parse(&["--prometheus-sigv4-region=eu-west-1"]).unwrap()
        else {
            panic!("sigv4")
        };
        assert_eq!(
            (sigv4.region.as_deref(), sigv4.service.as_str()),
            (Some("eu-west-1"), "aps")
        );
        assert!(matches!(
            parse(&["--prometheus-sigv4"]).unwrap(),
            Some(Credentials::Sigv4(_))
        ));
        assert!(matches!(
            parse(&["--prometheus-google-iam"]).unwrap(),
            Some(Credentials::GoogleIam(g)) if g.credentials_file.is_none()
        ));
        let Some(Credentials::AzureAd(azure)) =
            parse(&["--prometheus-azure-ad-managed-identity-client-id=c"]).unwrap()
        else {
            panic!("azureAd")
        };
        assert_eq!(
            azure.identity,
            AzureIdentity::Managed {
                client_id: Some("c".into())
            }
        );
        let Some(Credentials::OAuth2(oauth2)) = parse(&[
            "--prometheus-oauth2-token-url=https://idp/token",
            "--prometheus-oauth2-client-id=adapter",
            "--prometheus-oauth2-client-secret-file=/s",
            "--prometheus-oauth2-scopes=a,b",
            "--prometheus-oauth2-endpoint-params=audience=x",
        ])
        .unwrap() else {
            panic!("oauth2")
        };
        assert_eq!(oauth2.scopes, ["a", "b"]);
        assert_eq!(oauth2.endpoint_params, [("audience".into(), "x".into())]);

        // Problems are named by flag, as the file's are by key.
        let errors = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert_eq!(
            errors(&["--prometheus-basic-auth-username=u"]),
            "--prometheus-basic-auth-password-file: is required"
        );
        assert_eq!(
            errors(&["--prometheus-sigv4", "--prometheus-google-iam"]),
            "--prometheus-google-iam: sigv4, googleIam exclude each other: use one"
        );
        assert_eq!(
            errors(&[
                "--prometheus-token-file=/t",
                "--prometheus-azure-ad-workload-identity"
            ]),
            "--prometheus-token-file: tokenFile excludes azureAd: use one"
        );
        assert_eq!(
            errors(&["--prometheus-azure-ad-cloud=Mars"]),
            "--prometheus-azure-ad-cloud: \"Mars\": use AzurePublic, AzureChina or AzureGovernment; --prometheus-azure-ad: needs workloadIdentity or managedIdentity"
        );
    }
}
