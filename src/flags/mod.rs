//! Upstream's command line: every adapter, framework, generic API server and logging flag, with
//! upstream's defaults. Flags that do nothing here are accepted so existing manifests keep working; the
//! klog flags upstream removed in v0.11.0 are accepted as warnings. Stray positional arguments (the Helm
//! chart passes `/adapter`) are ignored, as upstream.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub mod credentials;

/// Serving flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "prometheus-adapter",
    version,
    about = "Serve the Kubernetes metrics APIs from Prometheus",
    // As Go's pflag: a flag given twice takes the last value (a chart's args plus extraArguments);
    // list flags (--prometheus-header, …) still collect every value.
    args_override_self = true
)]
pub struct ServeFlags {
    /// Rules file (upstream's --config; required).
    #[arg(long, default_value = "")]
    pub config: String,
    /// Base URL of Prometheus or a compatible API.
    #[arg(long, default_value = "https://localhost")]
    pub prometheus_url: String,
    /// GET or POST (POST is used anyway when a query is long).
    #[arg(long, default_value = "GET")]
    pub prometheus_verb: String,
    /// Extra request headers, `Name=Value`, repeatable.
    #[arg(long = "prometheus-header")]
    pub prometheus_headers: Vec<String>,
    /// Bearer token file, re-read when it changes.
    #[arg(long, default_value = "")]
    pub prometheus_token_file: String,
    /// CA bundle for Prometheus' certificate.
    #[arg(long, default_value = "")]
    pub prometheus_ca_file: String,
    /// Client certificate for Prometheus.
    #[arg(long, default_value = "")]
    pub prometheus_client_tls_cert_file: String,
    /// Client key for Prometheus.
    #[arg(long, default_value = "")]
    pub prometheus_client_tls_key_file: String,
    /// Use the pod's service account token and cluster CA for Prometheus.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub prometheus_auth_incluster: bool,
    /// A kubeconfig whose auth and TLS settings reach Prometheus (its server URL is ignored).
    #[arg(long, default_value = "")]
    pub prometheus_auth_config: String,
    /// Per-query timeout, also sent to Prometheus (ours; upstream has none).
    #[arg(long, value_parser = parse_go_duration, default_value = "30s")]
    pub prometheus_timeout: Duration,
    /// Period between discovery relists.
    #[arg(long, value_parser = parse_go_duration, default_value = "10m")]
    pub metrics_relist_interval: Duration,
    /// Discovery look-back; 0 means the relist interval.
    #[arg(long, value_parser = parse_go_duration, default_value = "0s")]
    pub metrics_max_age: Duration,
    /// How discovery asks backends (ours): `labels` asks the label endpoints which metric names carry
    /// which resource labels, at a fraction of the backend's cost; `series` asks for every series, as
    /// upstream; `auto` asks labels of backends that honour `match[]` there, series of the others.
    #[arg(long, default_value = "auto")]
    pub relist_mode: adapter_config::label_discovery::RelistMode,
    /// Value cache (ours, off by default): identical PromQL within this age is answered from memory.
    #[arg(long, value_parser = parse_go_duration, default_value = "0s")]
    pub metrics_cache_ttl: Duration,
    /// Value cache (ours, off by default): when Prometheus fails or times out, answer with the last good
    /// value up to this age instead of a 503.
    #[arg(long, value_parser = parse_go_duration, default_value = "0s")]
    pub metrics_serve_stale_for: Duration,
    /// Value cache: most answers kept.
    #[arg(long, default_value_t = 10_000)]
    pub metrics_cache_max_entries: usize,
    /// Value cache: most bytes kept (estimated).
    #[arg(long, default_value_t = 16 << 20)]
    pub metrics_cache_max_bytes: usize,
    /// Credentials for `--prometheus-url`: `--prometheus-basic-auth-*`, `--prometheus-oauth2-*`,
    /// `--prometheus-sigv4-*`, `--prometheus-google-iam-*`, `--prometheus-azure-ad-*`.
    #[command(flatten)]
    pub credentials: credentials::CredentialFlags,
    /// Refuse to start (and to reload) on warnings too: what upstream starts with but fails on later.
    /// By default a warning disables only its rule.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub strict_config: bool,
    /// Serve HTTP/1.1 only.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub disable_http2: bool,

    /// Kubernetes objects (YAML manifests) to serve instead of a cluster: the embedded object source.
    #[arg(long)]
    pub objects: Option<PathBuf>,
    /// kubeconfig of the cluster whose objects are listed; empty means in-cluster (or `KUBECONFIG`).
    #[arg(long, default_value = "")]
    pub lister_kubeconfig: String,
    /// How often the resource map is rediscovered (CRDs installed later); 0: every relist interval.
    #[arg(long, value_parser = parse_go_duration, default_value = "0s")]
    pub discovery_interval: Duration,
    /// Kubernetes client rate limit.
    #[arg(long, default_value_t = 5.0)]
    pub client_qps: f32,
    /// Kubernetes client burst.
    #[arg(long, default_value_t = 10)]
    pub client_burst: u32,

    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: String,
    /// HTTPS port; 0 disables serving.
    #[arg(long, default_value_t = 443)]
    pub secure_port: u16,
    /// Where a self-signed certificate is kept when no serving pair is given.
    #[arg(long, default_value = "apiserver.local.config/certificates")]
    pub cert_dir: PathBuf,
    /// Serving certificate (reloaded when it changes).
    #[arg(long, default_value = "")]
    pub tls_cert_file: String,
    /// Serving key.
    #[arg(long, default_value = "")]
    pub tls_private_key_file: String,
    /// Cipher suites (IANA names), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,
    /// `cert,key[:name,...]`: a pair served to clients asking for one of the names (SNI); repeatable.
    #[arg(long)]
    pub tls_sni_cert_key: Vec<String>,
    /// VersionTLS12 or VersionTLS13.
    #[arg(long, default_value = "")]
    pub tls_min_version: String,

    /// Ask kube-apiserver who callers are (TokenReview) and what they may do (SubjectAccessReview).
    /// `false` is for running without a cluster (the `--objects` demo): callers then need a certificate
    /// from `--client-ca-file` if one is given, and every request is allowed. Never the default.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub delegated_auth: bool,
    /// kubeconfig for TokenReviews and the ConfigMap lookup; empty means in-cluster.
    #[arg(long, default_value = "")]
    pub authentication_kubeconfig: String,
    /// How long TokenReview answers are cached.
    #[arg(long, value_parser = parse_go_duration, default_value = "10s")]
    pub authentication_token_webhook_cache_ttl: Duration,
    /// Do not read `kube-system/extension-apiserver-authentication` for missing CA settings.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub authentication_skip_lookup: bool,
    /// Start even if that ConfigMap cannot be read.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub authentication_tolerate_lookup_failure: bool,
    /// CA for client certificates (user = CN, groups = O).
    #[arg(long, default_value = "")]
    pub client_ca_file: String,
    /// CA of the front proxy (kube-aggregator) whose X-Remote-* headers are trusted.
    #[arg(long, default_value = "")]
    pub requestheader_client_ca_file: String,
    /// Headers naming the user (first non-empty wins).
    #[arg(long, value_delimiter = ',', default_value = "x-remote-user")]
    pub requestheader_username_headers: Vec<String>,
    /// Headers naming groups.
    #[arg(long, value_delimiter = ',', default_value = "x-remote-group")]
    pub requestheader_group_headers: Vec<String>,
    /// Header prefixes for extra user attributes.
    #[arg(long, value_delimiter = ',', default_value = "x-remote-extra-")]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// CNs the front proxy's certificate may have; empty means any certificate from its CA.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// kubeconfig for SubjectAccessReviews; empty means in-cluster.
    #[arg(long, default_value = "")]
    pub authorization_kubeconfig: String,
    /// How long allowed decisions are cached.
    #[arg(long, value_parser = parse_go_duration, default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long denied decisions are cached.
    #[arg(long, value_parser = parse_go_duration, default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
    /// Paths served without authentication or authorization (exact, or a prefix ending in `*`).
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,

    /// Router mode (ours): requests for metrics of GROUP that the rules do not serve go to another
    /// aggregated metrics server, `GROUP=https://host:port` (repeatable), e.g. KEDA's for
    /// `external.metrics.k8s.io` or metrics-server for `metrics.k8s.io`. Discovery lists theirs and ours.
    #[arg(long = "forward-unknown-metrics-to")]
    pub forward_unknown_metrics_to: Vec<String>,
    /// CA bundle for the forwarding targets' certificates (default: the system roots).
    #[arg(long, default_value = "")]
    pub forward_ca_file: String,
    /// Our front-proxy client certificate for the forwarding targets (they trust it as
    /// kube-apiserver's, and the caller's identity in X-Remote-User/-Group/-Extra-*).
    #[arg(long, default_value = "")]
    pub forward_client_cert_file: String,
    /// Its key.
    #[arg(long, default_value = "")]
    pub forward_client_key_file: String,
    /// Deadline of every forwarded call.
    #[arg(long, value_parser = parse_go_duration, default_value = "10s")]
    pub forward_timeout: Duration,

    /// HTTP/2 streams a client may have open on one connection, advertised in SETTINGS as upstream's is,
    /// and enforced: a stream beyond it (from a client that ignores the setting) is refused with
    /// REFUSED_STREAM at once. 0 means 100.
    #[arg(long, default_value_t = 0)]
    pub http2_max_streams_per_connection: usize,

    /// Verbosity (klog `-v`).
    #[arg(short = 'v', long = "v", default_value_t = 0)]
    pub verbosity: u8,
    /// Log lines as `text` (default) or `json`: one object per line with timestamp, level, message, the
    /// event's fields, and the request's (method, target, status, request_id) when it is inside one.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Flags accepted for compatibility and ignored (see `IGNORED_FLAGS`).
    #[arg(skip)]
    pub ignored: Vec<String>,
    /// Stray positional arguments, ignored as upstream does.
    #[arg(hide = true, num_args = 0..)]
    pub positional: Vec<String>,
}

/// Upstream flags (generic API server, audit, profiling, and the removed klog flags)
/// that are accepted with a warning and otherwise ignored.
pub const IGNORED_FLAGS: &[&str] = &[
    "logtostderr",
    "alsologtostderr",
    "log-dir",
    "log-file",
    "log-file-max-size",
    "one-output",
    "stderrthreshold",
    "skip-headers",
    "skip-log-headers",
    "add-dir-header",
    "log-backtrace-at",
    "vmodule",
    "log-flush-frequency",
    "permit-port-sharing",
    "permit-address-sharing",
    "profiling",
    "contention-profiling",
    "debug-socket-path",
    "enable-priority-and-fairness",
    "audit-policy-file",
    "audit-log-path",
    "audit-log-maxage",
    "audit-log-maxbackup",
    "audit-log-maxsize",
    "audit-log-format",
    "audit-log-version",
    "audit-log-compress",
    "audit-log-mode",
    "audit-webhook-config-file",
    "audit-webhook-initial-backoff",
    "audit-webhook-mode",
    "audit-webhook-version",
];

/// Parses `args` (without the program name), setting aside the ignored flags first.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServeFlags, clap::Error> {
    let mut kept = vec!["prometheus-adapter".to_string()];
    let mut ignored = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let name = arg
            .trim_start_matches('-')
            .split('=')
            .next()
            .unwrap_or_default()
            .to_string();
        let is_ignored = arg.starts_with("--")
            && (IGNORED_FLAGS.contains(&name.as_str())
                || name.starts_with("audit-log-batch")
                || name.starts_with("audit-log-truncate")
                || name.starts_with("audit-webhook-batch")
                || name.starts_with("audit-webhook-truncate"));
        if !is_ignored {
            kept.push(arg);
            continue;
        }
        // `--flag value`: take the value too, unless it looks like the next flag or the flag is boolean-ish.
        if !arg.contains('=')
            && let Some(next) = args.peek()
            && !next.starts_with('-')
            && !matches!(
                name.as_str(),
                "logtostderr"
                    | "alsologtostderr"
                    | "one-output"
                    | "skip-headers"
                    | "skip-log-headers"
                    | "add-dir-header"
                    | "profiling"
                    | "contention-profiling"
                    | "permit-port-sharing"
                    | "permit-address-sharing"
                    | "enable-priority-and-fairness"
                    | "audit-log-compress"
            )
        {
            args.next();
        }
        ignored.push(name);
    }
    let mut flags = ServeFlags::try_parse_from(kept)?;
    flags.ignored = ignored;
    if flags.metrics_max_age.is_zero() {
        flags.metrics_max_age = flags.metrics_relist_interval;
    }
    Ok(flags)
}

/// Go durations: `30s`, `1m`, `1h30m`, `500ms`, `0`.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {text:?}: unknown unit")),
        };
        rest = &rest[unit_len..];
        total = Duration::try_from_secs_f64(number * seconds)
            .ok()
            .and_then(|part| total.checked_add(part))
            .filter(|total| *total <= MAX_GO_DURATION)
            .ok_or_else(|| format!("invalid duration {text:?}: out of range"))?;
    }
    Ok(total)
}

/// Go's `time.Duration` is an i64 of nanoseconds (about 292 years); `ParseDuration` refuses beyond it.
const MAX_GO_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colour only on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_flag_given_twice_takes_the_last_value_as_pflag() {
        let flags = parse(
            [
                "--config=a.yaml",
                "--metrics-relist-interval=30s",
                "--metrics-relist-interval=10s",
                "--v=2",
                "--v=6",
            ]
            .into_iter()
            .map(String::from),
        )
        .unwrap();
        assert_eq!(flags.metrics_relist_interval, Duration::from_secs(10));
        assert_eq!(flags.verbosity, 6);
        let headers = parse(
            ["--prometheus-header=A: 1", "--prometheus-header=B: 2"]
                .into_iter()
                .map(String::from),
        )
        .unwrap();
        assert_eq!(
            headers.prometheus_headers.len(),
            2,
            "list flags keep every value"
        );
    }
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn upstream_manifests_parse() {
        let flags = parse(args(
            "/adapter --cert-dir=/var/run/serving-cert --config=/etc/adapter/config.yaml --logtostderr=true \
             --metrics-relist-interval=1m --prometheus-url=https://prometheus.monitoring.svc:9090/ --secure-port=6443 \
             --tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256 --v=10 --logtostderr \
             --requestheader-allowed-names front-proxy-client --profiling",
        ))
        .unwrap();
        assert_eq!(flags.config, "/etc/adapter/config.yaml");
        assert_eq!(flags.secure_port, 6443);
        assert_eq!(flags.metrics_relist_interval, Duration::from_secs(60));
        assert_eq!(
            flags.metrics_max_age,
            Duration::from_secs(60),
            "max age defaults to the relist interval"
        );
        assert_eq!(flags.verbosity, 10);
        assert_eq!(flags.tls_cipher_suites.len(), 2);
        assert_eq!(flags.positional, ["/adapter"]);
        assert_eq!(flags.ignored, ["logtostderr", "logtostderr", "profiling"]);
        assert_eq!(flags.requestheader_allowed_names, ["front-proxy-client"]);
        assert!(flags.delegated_auth, "delegated auth is the default");
    }

    #[test]
    fn defaults_are_upstreams() {
        let flags = parse(Vec::new()).unwrap();
        assert_eq!(flags.prometheus_url, "https://localhost");
        assert_eq!(flags.prometheus_verb, "GET");
        assert_eq!(flags.secure_port, 443);
        assert_eq!(flags.metrics_relist_interval, Duration::from_secs(600));
        assert_eq!(
            flags.cert_dir,
            PathBuf::from("apiserver.local.config/certificates")
        );
        assert_eq!(
            flags.authorization_always_allow_paths,
            ["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(flags.requestheader_username_headers, ["x-remote-user"]);
        assert_eq!(
            flags.authentication_token_webhook_cache_ttl,
            Duration::from_secs(10)
        );
        assert!(flags.delegated_auth);
        assert!(
            !parse(args("--delegated-auth=false"))
                .unwrap()
                .delegated_auth
        );
    }

    #[test]
    fn unknown_flags_and_bad_values_are_errors() {
        assert!(parse(args("--no-such-flag")).is_err());
        assert!(parse(args("--metrics-relist-interval=5x")).is_err());
        assert!(parse(args("--secure-port=-1")).is_err());
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("5d").is_err());
        // Found by fuzzing (a request's `timeout=`): beyond a Duration it was a panic; beyond Go's 292
        // years Go refuses.
        for huge in ["388888888881777777777s", "2562048h", "9223372036s1s"] {
            let error = parse_go_duration(huge).unwrap_err();
            assert!(error.contains("out of range"), "{huge}: {error}");
        }
        assert!(parse_go_duration("2562047h").is_ok());
        assert_eq!(
            parse_go_duration("9223372036s"),
            Ok(Duration::from_secs(9_223_372_036))
        );
    }
}
