//! A connection's client certificate chain, as the TLS layer accepted it (`server::client_certs` checks only
//! that the client holds the key), kept with the connection for every request on it, with its recent
//! verifications against each CA pool (`identity`).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

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
