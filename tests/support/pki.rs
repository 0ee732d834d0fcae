//! Every certificate a test makes (rcgen): certificate authorities, client and serving certificates signed by
//! them, self-signed serving certificates.

use crate::support::env::Identity;

/// A certificate authority that signs client certificates.
pub struct Ca {
    pub issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

pub fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        issuer: rcgen::Issuer::new(params, key),
        pem,
    }
}

/// A client certificate: the chain and key for the rustls client, PEM files for kubectl.
pub struct Client {
    pub identity: Identity,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn client(ca: &Ca, cn: &str, org: Option<&str>) -> Client {
    let usage = rcgen::ExtendedKeyUsagePurpose::ClientAuth;
    let (cert, key) = issue(ca, &[], cn, org, usage);
    let der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    Client {
        identity: (vec![cert.der().clone()], der),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A serving certificate for `names` (DNS names or IPs) signed by `ca`, with `cn` as its subject: (cert PEM,
/// key PEM).
pub fn serving(ca: &Ca, cn: &str, names: &[&str]) -> (String, String) {
    let usage = rcgen::ExtendedKeyUsagePurpose::ServerAuth;
    let (cert, key) = issue(ca, names, cn, None, usage);
    (cert.pem(), key.serialize_pem())
}

/// A certificate signed by `ca` for `names`, with subject `cn` (and `org`), for `usage`; and its key.
fn issue(
    ca: &Ca,
    names: &[&str],
    cn: &str,
    org: Option<&str>,
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    if let Some(org) = org {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
    }
    params.extended_key_usages = vec![usage];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert, key)
}

/// A self-signed serving certificate for `names`: (cert PEM, key PEM).
pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let pair = rcgen::generate_simple_self_signed(names).unwrap();
    (pair.cert.pem(), pair.signing_key.serialize_pem())
}
