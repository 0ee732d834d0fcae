//! Client certificates at the TLS layer. Go's apiserver asks for a certificate without requiring one and
//! checks it later against each CA pool (client CA, requestheader CA), so a certificate from either — or
//! from neither, for a caller that authenticates with a token — completes the handshake. rustls' own
//! verifier rejects unknown CAs during the handshake (STACK trap 4), so this one checks only that the
//! client holds the certificate's key (the handshake signature); the chain is verified per pool in
//! `identity`. The accepted chain is kept with the connection for every request on it.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, SignatureScheme};

/// Accepts any client certificate whose handshake signature verifies; never requires one.
#[derive(Debug)]
pub struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCertificate {
    pub fn new(provider: &rustls::crypto::CryptoProvider) -> Arc<Self> {
        Arc::new(Self {
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go and curl clients then send whatever certificate they were given.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// How long a chain's verification against one pool is reused on its connection: the front proxy keeps a
/// few long-lived connections, and re-verifying its chain for every request costs more than the request.
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A verification: which pool, when, and its outcome.
type Verification = (u64, tokio::time::Instant, Result<(), String>);

/// The client's certificate chain (leaf first), when it presented one, with its recent verifications.
#[derive(Debug)]
pub struct PeerCertificates {
    pub chain: Vec<CertificateDer<'static>>,
    /// (pool id, when, outcome) of recent verifications; a rotated pool has a new id.
    verified: std::sync::Mutex<Vec<Verification>>,
}

impl PeerCertificates {
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Self {
        Self {
            chain,
            verified: Default::default(),
        }
    }

    /// Whether the chain verifies against `pool`, reusing an answer younger than `VERIFIED_FOR`.
    pub fn verify(&self, pool: &super::trust::CaPool) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.retain(|(_, at, _)| now.duration_since(*at) < VERIFIED_FOR);
        if let Some((_, _, outcome)) = verified.iter().find(|(id, ..)| *id == pool.id) {
            return outcome.clone();
        }
        let outcome = pool.verify(&self.chain);
        verified.push((pool.id, now, outcome.clone()));
        outcome
    }
}

/// The listener's connect hook: the peer's chain, for every request on the connection (and its
/// verifications shared by them).
pub fn of_connection(session: &rustls::ServerConnection) -> Option<Arc<PeerCertificates>> {
    let chain = session
        .peer_certificates()
        .filter(|chain| !chain.is_empty())?;
    Some(Arc::new(PeerCertificates::new(
        chain.iter().map(|c| c.clone().into_owned()).collect(),
    )))
}

/// The chain of the connection `req` came on, when its client presented one.
pub fn of_request(req: &actix_web::dev::ServiceRequest) -> Option<Arc<PeerCertificates>> {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<Option<Arc<PeerCertificates>>>()
        .cloned()
        .flatten()
}
