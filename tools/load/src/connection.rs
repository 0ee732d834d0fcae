//! One client connection the way the adapter's real callers hold one: TLS with ALPN offering `h2` (Go's
//! net/http, which the aggregator, the HPA controller and kubectl use, takes HTTP/2 whenever the server
//! offers it), `TCP_NODELAY` (Go sets it on every connection), keep-alive, an optional client certificate.
//! An HTTP/2 connection is shared by many concurrent requests, as Go's transport shares it; an HTTP/1.1
//! connection carries one request at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Which protocol to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 when the server offers it by ALPN (plain `http://` is always HTTP/1.1), as Go does.
    Auto,
    /// HTTP/1.1 only: ALPN offers nothing else.
    Http1,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// Protocol choice.
    pub protocol: Protocol,
    /// CA bundle to verify the server with; `None` accepts any server certificate (benchmarks against
    /// self-signed serving certificates).
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// `Accept` header, if any.
    pub accept: Option<String>,
    /// Bound on connecting and on each request.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            protocol: Protocol::Auto,
            ca: None,
            identity: None,
            accept: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Where a URL points: scheme, host and port; the rest of the URL is the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub tls: bool,
    /// Host as written.
    pub host: String,
    /// Port (443/80 by default).
    pub port: u16,
}

impl Endpoint {
    /// Splits `https://host:port/path?query` into the endpoint and `/path?query`.
    pub fn parse(url: &str) -> anyhow::Result<(Endpoint, String)> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("{url}: only http:// and https:// URLs are supported");
        };
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .with_context(|| format!("{url}: bad port {port:?}"))?,
            ),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            bail!("{url}: no host");
        }
        Ok((
            Endpoint {
                tls,
                host: host.to_string(),
                port,
            },
            target.to_string(),
        ))
    }

    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

enum Sender {
    Http1(http1::SendRequest<Empty<Bytes>>),
    Http2(http2::SendRequest<Empty<Bytes>>),
}

/// An open connection.
pub struct Connection {
    sender: Sender,
    base: String,
    authority: String,
    accept: Option<String>,
    timeout: Duration,
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Bytes,
}

impl Connection {
    /// Connects, handshakes TLS (for `https`) and HTTP.
    pub async fn open(endpoint: &Endpoint, options: &Options) -> anyhow::Result<Connection> {
        tokio::time::timeout(options.timeout, Self::connect(endpoint, options))
            .await
            .map_err(|_| anyhow!("connecting to {}: timed out", endpoint.authority()))?
    }

    async fn connect(endpoint: &Endpoint, options: &Options) -> anyhow::Result<Connection> {
        let authority = endpoint.authority();
        let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        tcp.set_nodelay(true)?;
        let scheme = if endpoint.tls { "https" } else { "http" };
        let base = format!("{scheme}://{authority}");
        let sender = if endpoint.tls {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(options)?));
            let name = ServerName::try_from(endpoint.host.clone())
                .with_context(|| format!("{}: not a valid server name", endpoint.host))?;
            let stream = connector
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {authority}"))?;
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            handshake(TokioIo::new(stream), h2).await?
        } else {
            handshake(TokioIo::new(tcp), false).await?
        };
        Ok(Connection {
            sender,
            base,
            authority,
            accept: options.accept.clone(),
            timeout: options.timeout,
        })
    }

    /// The protocol the server agreed to.
    pub fn protocol(&self) -> &'static str {
        match self.sender {
            Sender::Http1(_) => "http/1.1",
            Sender::Http2(_) => "h2",
        }
    }

    /// Another handle on the same connection, for HTTP/2 (streams are multiplexed); `None` for HTTP/1.1.
    pub fn share(&self) -> Option<Connection> {
        match &self.sender {
            Sender::Http2(sender) => Some(Connection {
                sender: Sender::Http2(sender.clone()),
                base: self.base.clone(),
                authority: self.authority.clone(),
                accept: self.accept.clone(),
                timeout: self.timeout,
            }),
            Sender::Http1(_) => None,
        }
    }

    /// GET `target` (`/path?query`) and read the whole answer, within the timeout.
    pub async fn get(&mut self, target: &str) -> anyhow::Result<Answer> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.request(target))
            .await
            .map_err(|_| anyhow!("GET {target}: no answer within {timeout:?}"))?
    }

    /// GET `target` and return its status and unread body, within the timeout: for tests of clients that
    /// do not read their answers (an unread HTTP/2 body holds the server's flow-control window).
    pub async fn head(&mut self, target: &str) -> anyhow::Result<(u16, hyper::body::Incoming)> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.send(target))
            .await
            .map_err(|_| anyhow!("GET {target}: no answer within {timeout:?}"))?
            .map(|response| (response.status().as_u16(), response.into_body()))
    }

    async fn send(
        &mut self,
        target: &str,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let mut builder = http::Request::get(match self.sender {
            // h2 needs :scheme and :authority, taken from an absolute URI.
            Sender::Http2(_) => format!("{}{target}", self.base),
            Sender::Http1(_) => target.to_string(),
        });
        if let Sender::Http1(_) = self.sender {
            builder = builder.header(http::header::HOST, &self.authority);
        }
        if let Some(accept) = &self.accept {
            builder = builder.header(http::header::ACCEPT, accept);
        }
        let request = builder.body(Empty::<Bytes>::new())?;
        Ok(match &mut self.sender {
            Sender::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::Http2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
        })
    }

    async fn request(&mut self, target: &str) -> anyhow::Result<Answer> {
        let response = self.send(target).await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}

async fn handshake<T>(io: TokioIo<T>, h2: bool) -> anyhow::Result<Sender>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(connection);
        Ok(Sender::Http2(sender))
    } else {
        let (sender, connection) = http1::handshake(io).await?;
        tokio::spawn(connection);
        Ok(Sender::Http1(sender))
    }
}

fn tls_config(options: &Options) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &options.ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading CA file {}", ca.display()))?
            {
                roots.add(cert?)?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider))),
    };
    let mut config = match &options.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading client certificate {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading client key {}", key.display()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match options.protocol {
        Protocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Protocol::Http1 => vec![b"http/1.1".to_vec()],
    };
    Ok(config)
}

/// Accepts any server certificate but still checks the handshake signatures (for self-signed
/// benchmark servers; `--cacert` verifies properly).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_endpoint_and_target() {
        let (endpoint, target) =
            Endpoint::parse("https://127.0.0.1:6443/apis/x?labelSelector=a%3Db").unwrap();
        assert_eq!(
            endpoint,
            Endpoint {
                tls: true,
                host: "127.0.0.1".into(),
                port: 6443
            }
        );
        assert_eq!(target, "/apis/x?labelSelector=a%3Db");
        let (endpoint, target) = Endpoint::parse("http://prom").unwrap();
        assert_eq!(
            (endpoint.port, endpoint.tls, target.as_str()),
            (80, false, "/")
        );
        assert!(Endpoint::parse("ftp://x/").is_err());
        assert!(Endpoint::parse("https://h:notaport/").is_err());
        assert!(Endpoint::parse("https://:1/").is_err());
    }
}
