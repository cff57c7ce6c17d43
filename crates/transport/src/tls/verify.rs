//! rustls verifiers for pinned raw public keys (RFC 7250): no certificates, no
//! authorities — a peer is who its Ed25519 key says, and the key is checked against a list.
//! The handshake signature is verified against the very key that was checked.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::key::PublicKey;
use super::trust::AuthorizedKeys;

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn key_of(der: &CertificateDer<'_>) -> Result<PublicKey, Error> {
    PublicKey::from_spki(der.as_ref())
        .ok_or(Error::InvalidCertificate(CertificateError::BadEncoding))
}

fn verify13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    let spki = SubjectPublicKeyInfoDer::from(cert.as_ref());
    verify_tls13_signature_with_raw_key(message, &spki, dss, &algorithms())
}

/// The client's check of the server: its key must be one of `pinned` (known_hosts, or a
/// fingerprint in the address), or, if nothing is pinned and `tofu`, anything.
#[derive(Debug)]
pub(crate) struct PinnedServer {
    pub pinned: Vec<PublicKey>,
    pub fingerprints: Vec<String>,
    pub tofu: bool,
    /// The key the server showed, for the error message or for recording it.
    pub seen: Mutex<Option<PublicKey>>,
}

impl PinnedServer {
    pub fn seen(&self) -> Option<PublicKey> {
        self.seen.lock().ok().and_then(|s| *s)
    }

    pub fn admits(&self, key: &PublicKey) -> bool {
        let fp = key.fingerprint();
        if self.pinned.contains(key) || self.fingerprints.contains(&fp) {
            return true;
        }
        self.tofu && self.pinned.is_empty() && self.fingerprints.is_empty()
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let key = key_of(end_entity)?;
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(key);
        }
        if self.admits(&key) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("TLS 1.2 is never offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The server's check of a client: its key must be in authorized_keys. Every client must
/// show one.
#[derive(Debug)]
pub(crate) struct AuthorizedClients {
    pub keys: Arc<AuthorizedKeys>,
}

impl ClientCertVerifier for AuthorizedClients {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let key = key_of(end_entity)?;
        if self.keys.principal(&key).is_some() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(key = %key.fingerprint(), "refused a client whose key is not authorized");
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::General("TLS 1.2 is never offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}
