//! The crawler's TLS verification, which also notes the certificate chain each server
//! presented, for the provenance of a capture.
//!
//! reqwest exposes only the server's own certificate of a connection (`TlsInfo`); a
//! court wants the chain. So the crawler's client gets a rustls configuration of ours:
//! the same provider (ring) and roots (webpki-roots) reqwest uses by itself, and a
//! verifier that delegates every decision to rustls's WebPKI verifier and, when it
//! accepts, notes the chain under the SHA-256 of the end-entity certificate. The
//! fetcher finds a response's chain by the fingerprint of the certificate `TlsInfo`
//! reports. Verification is exactly rustls's; nothing here accepts what it refuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// Chains kept at most; past it the log starts afresh (a capture needs only the chain
/// of its own connection, noted moments before).
const MAX_CHAINS: usize = 4096;

/// Certificates of one chain kept at most (real chains have two to four).
const MAX_CHAIN_LEN: usize = 10;

/// A chain as presented: DER certificates, the end entity first.
type Chain = Vec<Vec<u8>>;

/// The chains servers presented, by the SHA-256 of their end-entity certificate.
#[derive(Debug, Clone, Default)]
pub struct ChainLog(Arc<Mutex<HashMap<[u8; 32], Chain>>>);

impl ChainLog {
    /// The chain (end entity first, DER) whose end-entity certificate is `leaf`.
    pub fn chain_of(&self, leaf: &[u8]) -> Option<Chain> {
        let key: [u8; 32] = Sha256::digest(leaf).into();
        // A poisoned lock only means another thread panicked mid-insert; the map is
        // still a valid map.
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key).cloned()
    }

    fn note(&self, chain: Chain) {
        let Some(leaf) = chain.first() else { return };
        let key: [u8; 32] = Sha256::digest(leaf).into();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CHAINS && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, chain);
    }
}

/// rustls's WebPKI verifier, noting each accepted chain in a [`ChainLog`].
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    log: ChainLog,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .take(MAX_CHAIN_LEN)
            .map(|c| c.as_ref().to_vec())
            .collect();
        self.log.note(chain);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The crawler's client configuration: webpki-roots plus `extra_roots` (a fixture's test
/// CA), ring, TLS 1.2 and 1.3, chains noted in `log`.
///
/// # Errors
/// A message when the roots or the verifier cannot be built.
pub fn client_config(
    extra_roots: &[Vec<u8>],
    log: ChainLog,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| format!("extra root certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        // Not dangerous: every decision is the WebPKI verifier's (see the module).
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier { inner, log }))
        .with_no_client_auth())
}
