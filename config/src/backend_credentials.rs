//! How a backend's calls authenticate: the `basicAuth` and `oauth2` blocks of `backends.NAME`, compiled
//! and checked. Only paths to secrets are held; the files are read when a call needs them.

use crate::backend_routes::check_url;
use crate::error::Collector;
use crate::raw;

/// How a backend's calls authenticate (`basicAuth`, `oauth2`). Secrets stay in their files: only the
/// paths are held, the files are read when a request needs them.
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

impl Credentials {
    /// The method's name in messages and metrics: `basicAuth` or `oauth2`.
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "basicAuth",
            Credentials::OAuth2(_) => "oauth2",
        }
    }
}

pub(crate) fn compile(
    errors: &mut Collector<'_>,
    at: &dyn Fn(&str) -> String,
    raw: &raw::Backend,
) -> Option<Credentials> {
    let required = |errors: &mut Collector<'_>, field: String, value: &str| {
        if value.trim().is_empty() {
            errors.push(field, "is required");
        }
    };
    match (&raw.basic_auth, &raw.oauth2) {
        (Some(_), Some(_)) => {
            errors.push(
                at("oauth2"),
                "basicAuth and oauth2 exclude each other: use one",
            );
            None
        }
        (Some(_), None) | (None, Some(_)) if !raw.token_file.is_empty() => {
            errors.push(
                at("tokenFile"),
                "tokenFile excludes basicAuth and oauth2: use one",
            );
            None
        }
        (Some(basic), None) => {
            required(errors, at("basicAuth.username"), &basic.username);
            required(errors, at("basicAuth.passwordFile"), &basic.password_file);
            Some(Credentials::Basic {
                username: basic.username.clone(),
                password_file: basic.password_file.clone(),
            })
        }
        (None, Some(oauth2)) => {
            if let Err(message) = check_url(&oauth2.token_url) {
                errors.push(at("oauth2.tokenUrl"), message);
            }
            required(errors, at("oauth2.clientId"), &oauth2.client_id);
            required(
                errors,
                at("oauth2.clientSecretFile"),
                &oauth2.client_secret_file,
            );
            Some(Credentials::OAuth2(OAuth2 {
                token_url: oauth2.token_url.clone(),
                client_id: oauth2.client_id.clone(),
                client_secret_file: oauth2.client_secret_file.clone(),
                scopes: oauth2.scopes.clone(),
                endpoint_params: oauth2
                    .endpoint_params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }))
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Credentials;
    use crate::rules::load;

    const RULE: &str = "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n";

    fn errors(yaml: &str) -> Vec<String> {
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
                "backends.a.oauth2: basicAuth and oauth2 exclude each other: use one",
                "backends.b.tokenFile: tokenFile excludes basicAuth and oauth2: use one",
                "backends.c.basicAuth.passwordFile: is required",
                "backends.d.oauth2.tokenUrl: invalid URL \"ftp://t\": must be http:// or https:// with a host",
                "backends.d.oauth2.clientId: is required",
            ]
        );
    }
}
