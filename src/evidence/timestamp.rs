//! RFC 3161 trusted timestamps: a time-stamp authority (TSA) signs "this SHA-256 existed
//! at this time", so the date of an evidence file rests on a third party, not only on
//! copyhound's clock.
//!
//! This module builds the `TimeStampReq`, checks the `TimeStampResp` and verifies a token
//! offline; [`request`] at the bottom is the one function that talks to the network (a
//! plain HTTP POST of `application/timestamp-query`, RFC 3161 §3.4). It never touches the
//! store or the evidence files: queueing, retries and the `.tsr` files are
//! [`super::stamping`].
//!
//! What a token must satisfy to be accepted ([`verify`]), each failure named by its own
//! [`TimestampError`] variant:
//! - the CMS `SignedData` carries a `TSTInfo` (content type `id-ct-TSTInfo`) whose
//!   message imprint is the SHA-256 of the file;
//! - exactly one signer, with signed attributes holding `content-type` (`id-ct-TSTInfo`)
//!   and `message-digest` (the digest of the `TSTInfo` bytes), and a valid signature
//!   over those attributes with the signing certificate's key;
//! - a `signing-certificate` (ESSCertID, SHA-1) or `signing-certificate-v2` (ESSCertIDv2)
//!   attribute whose first entry is the hash of that very certificate, so a certificate
//!   cannot be swapped for another with the same key;
//! - the signing certificate has a critical extended key usage of exactly
//!   `id-kp-timeStamping` (RFC 3161 §2.3), and chains to one of the configured trust
//!   anchors with every certificate valid at the token's `genTime`.
//!
//! Why rustls-webpki for the chain and the signature: it is the path builder rustls
//! trusts for every TLS connection copyhound already makes, it takes the validation time
//! and an extended key usage as arguments (`verify_for_usage` at `genTime` with
//! `id-kp-timeStamping`, required of every CA in the path that states usages; the
//! signer's own critical, sole time-stamping usage is checked here), it rejects unknown critical
//! extensions, and its `verify_signature` checks RSA PKCS#1 v1.5 and ECDSA signatures
//! with *ring*, the same primitives as the chain. A hand-written path check over the
//! `rsa` and `p256` crates would duplicate that with more room for mistakes. The
//! RustCrypto `x509-tsp`, `cms` and `x509-cert` types do the parsing, which webpki does
//! not offer for CMS.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use der::{Any, Decode, Encode, Sequence};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde::Serialize;
use sha2::Digest;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// A TSA reply larger than this is refused: real replies are a few kilobytes (a token and
/// a short certificate chain).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// A trust anchor file larger than this is refused (a CA bundle is well under a
/// megabyte).
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Certificates accepted inside one token; a chain is a handful.
const MAX_TOKEN_CERTS: usize = 16;

/// How far a fresh token's `genTime` may lie from copyhound's clock: a TSA whose time is
/// this far off is not trusted to date evidence.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8), DER contents, as webpki wants it.
const ID_KP_TIME_STAMPING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ID_SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a timestamp could not be had or does not verify. Each verification failure has its
/// own variant so `verify-evidence` names exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("no time-stamp authority configured ([evidence] tsa_urls)")]
    NotConfigured,
    #[error("{path}: trust anchors: {message}")]
    TrustAnchors { path: String, message: String },
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: the TSA refused the request (status {status}{detail})")]
    Refused {
        url: String,
        status: String,
        detail: String,
    },
    #[error("malformed timestamp: {0}")]
    Malformed(String),
    #[error(
        "message imprint mismatch: the token is over {found}, the file's SHA-256 is {expected}"
    )]
    ImprintMismatch { expected: String, found: String },
    #[error("the token's message imprint uses {0}, not SHA-256")]
    ImprintAlgorithm(String),
    #[error("nonce mismatch: the reply does not answer this request")]
    NonceMismatch,
    #[error("content type mismatch: {0}")]
    ContentType(String),
    #[error("signed attribute {0} is missing")]
    MissingAttribute(&'static str),
    #[error("message-digest attribute does not match the TSTInfo: the token was altered")]
    MessageDigestMismatch,
    #[error("no signing certificate in the token (was certReq false?)")]
    NoSignerCertificate,
    #[error("signing certificate mismatch: {0}")]
    SignerCertificateMismatch(String),
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("not a time-stamping certificate: {0}")]
    NotTimestampingCertificate(String),
    #[error("expired signer: a certificate of the chain expired on {not_after}, before the token's time {gen_time}")]
    ExpiredSigner { not_after: String, gen_time: String },
    #[error("signer not yet valid: a certificate of the chain is valid from {not_before}, after the token's time {gen_time}")]
    SignerNotYetValid {
        not_before: String,
        gen_time: String,
    },
    #[error("untrusted chain: {0}")]
    UntrustedChain(String),
    #[error(
        "the TSA's time {gen_time} is more than {MAX_CLOCK_SKEW:?} from this machine's clock {now}"
    )]
    ClockSkew { gen_time: String, now: String },
}

/// The certificates a token's chain must end in (`[evidence] tsa_ca_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchors {
    certs: Vec<CertificateDer<'static>>,
    /// Where they were read from, for messages.
    pub source: String,
}

impl TrustAnchors {
    /// Reads PEM certificates from `path`.
    ///
    /// # Errors
    /// [`TimestampError::TrustAnchors`] naming the file when it cannot be read, is too
    /// large, holds no certificate or one webpki cannot use as an anchor.
    pub fn load(path: &std::path::Path) -> Result<TrustAnchors, TimestampError> {
        let err = |message: String| TimestampError::TrustAnchors {
            path: path.display().to_string(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .len();
        if len > MAX_CA_FILE_BYTES {
            return Err(err(format!("larger than {MAX_CA_FILE_BYTES} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        TrustAnchors::from_pem(&bytes, &path.display().to_string())
    }

    /// Parses PEM certificates; `source` names them in errors.
    ///
    /// # Errors
    /// As [`TrustAnchors::load`].
    pub fn from_pem(pem: &[u8], source: &str) -> Result<TrustAnchors, TimestampError> {
        let err = |message: String| TimestampError::TrustAnchors {
            path: source.to_string(),
            message,
        };
        let mut certs = Vec::new();
        for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert = cert.map_err(|e| err(format!("certificate {}: {e}", i + 1)))?;
            webpki::anchor_from_trusted_cert(&cert)
                .map_err(|e| err(format!("certificate {}: {e}", i + 1)))?;
            certs.push(cert);
        }
        if certs.is_empty() {
            return Err(err("no PEM certificate in the file".into()));
        }
        Ok(TrustAnchors {
            certs,
            source: source.to_string(),
        })
    }

    /// How many certificates there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true for a value built by [`TrustAnchors::load`].
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The subjects, for `check-config`.
    pub fn subjects(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| {
                Certificate::from_der(c.as_ref())
                    .map(|c| c.tbs_certificate.subject.to_string())
                    .unwrap_or_else(|_| "?".into())
            })
            .collect()
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The signing certificate's subject (RFC 4514), e.g. `CN=Example TSA,O=Example`.
    pub tsa_name: String,
    /// The time the TSA vouches for.
    pub gen_time: DateTime<Utc>,
    /// The token's serial number, lower-case hex.
    pub serial: String,
    /// The TSA's policy OID.
    pub policy: String,
    /// The TSA's stated accuracy, e.g. `1s`, when it states one.
    pub accuracy: Option<String>,
    /// The imprint's hash algorithm (always `SHA-256` once verified).
    pub hash_algorithm: String,
    /// The end of the signing certificate's validity: after it, verifiers that check at
    /// the present time (such as `openssl ts -verify`) reject the token; see README on
    /// re-timestamping.
    pub signer_not_after: DateTime<Utc>,
    /// The certificates of the verified path, signer first, then up to the anchor.
    pub chain: Vec<String>,
}

/// A token the TSA granted for one digest, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The whole DER `TimeStampResp`: what is written to `<file>.tsr` (the form
    /// `openssl ts -reply -in` and `openssl ts -verify -in` read).
    pub response_der: Vec<u8>,
    /// The DER `TimeStampToken` (a CMS `ContentInfo`) inside it.
    pub token_der: Vec<u8>,
    /// The TSA that granted it.
    pub tsa_url: String,
    pub info: TokenInfo,
}

/// A `TimeStampReq` for a SHA-256 digest: version 1, the imprint, the nonce, `certReq`
/// true so that the token carries the signing certificate.
///
/// # Errors
/// [`TimestampError::Malformed`] when the nonce is not a valid positive integer encoding
/// (see [`new_nonce`]).
pub fn build_request(digest: &[u8; 32], nonce: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let malformed = |e: der::Error| TimestampError::Malformed(format!("request: {e}"));
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(digest.to_vec()).map_err(malformed)?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce).map_err(malformed)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(malformed)
}

/// Eight random bytes as a positive, minimally encoded INTEGER: the first byte is in
/// 0x01..=0x7f, so the TSA echoes exactly these bytes back.
pub fn new_nonce() -> [u8; 8] {
    let mut nonce = [0u8; 8];
    // A failing system RNG leaves zeros: the nonce is then predictable, which weakens only
    // the replay check of this one request (the signature and imprint still bind the
    // token), so it is not worth losing the evidence's timestamp over.
    if getrandom::fill(&mut nonce).is_err() {
        tracing::warn!("system random number generator failed; timestamp nonce is fixed");
    }
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    nonce
}

/// Checks a TSA's reply to the request with `nonce` for `digest`: status granted, then
/// everything [`verify`] checks at `genTime`, then the nonce.
///
/// # Errors
/// [`TimestampError::Refused`] for a status other than granted (`url` names the TSA),
/// otherwise the failure of verification.
pub fn check_response(
    response_der: &[u8],
    digest: &[u8; 32],
    nonce: &[u8],
    anchors: &TrustAnchors,
    url: &str,
) -> Result<Token, TimestampError> {
    let (token_der, tst) = token_of_response(response_der, url)?;
    let info = verify_token_der(&token_der, digest, anchors)?;
    match &tst.nonce {
        Some(n) if n.as_bytes() == nonce => {}
        _ => return Err(TimestampError::NonceMismatch),
    }
    Ok(Token {
        response_der: response_der.to_vec(),
        token_der,
        tsa_url: url.to_string(),
        info,
    })
}

/// A stored `TimeStampResp` (a `.tsr` file) verified as [`verify`] does, returned whole;
/// `url` is recorded as the TSA's. No nonce is checked: the request is long gone.
///
/// # Errors
/// As [`verify`].
pub fn verify_response(
    response_der: &[u8],
    digest: &[u8; 32],
    anchors: &TrustAnchors,
    url: &str,
) -> Result<Token, TimestampError> {
    let (token_der, _) = token_of_response(response_der, url)?;
    let info = verify_token_der(&token_der, digest, anchors)?;
    Ok(Token {
        response_der: response_der.to_vec(),
        token_der,
        tsa_url: url.to_string(),
        info,
    })
}

/// The token inside a `TimeStampResp` whose status is granted, and its `TSTInfo`.
fn token_of_response(response_der: &[u8], url: &str) -> Result<(Vec<u8>, TstInfo), TimestampError> {
    let resp = TimeStampResp::from_der(response_der)
        .map_err(|e| TimestampError::Malformed(format!("TimeStampResp: {e}")))?;
    use cmpv2::status::PkiStatus;
    if !matches!(
        resp.status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        let text: Vec<String> = resp
            .status
            .status_string
            .iter()
            .flatten()
            .map(|s| s.as_str().chars().take(200).collect())
            .collect();
        let mut detail = String::new();
        if !text.is_empty() {
            detail.push_str(&format!(": {}", text.join("; ")));
        }
        if let Some(info) = resp.status.fail_info {
            detail.push_str(&format!(", failure {info:?}"));
        }
        return Err(TimestampError::Refused {
            url: url.to_string(),
            status: format!("{:?}", resp.status.status),
            detail,
        });
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TimestampError::Malformed("granted reply without a token".into()))?;
    let token_der = token
        .to_der()
        .map_err(|e| TimestampError::Malformed(format!("token: {e}")))?;
    let (_, tst) = signed_data_and_tst(&token)?;
    Ok((token_der, tst))
}

/// Verifies a timestamp offline against the file's SHA-256 `digest`: accepts a DER
/// `TimeStampResp` (a `.tsr` file) or a bare DER `TimeStampToken`.
///
/// # Errors
/// The [`TimestampError`] naming the first check that fails.
pub fn verify(
    der: &[u8],
    digest: &[u8; 32],
    anchors: &TrustAnchors,
) -> Result<TokenInfo, TimestampError> {
    if der.len() > MAX_RESPONSE_BYTES {
        return Err(TimestampError::Malformed(format!(
            "larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    // A response is SEQUENCE { SEQUENCE status, ContentInfo }, a token is SEQUENCE { OID,
    // [0] ... }: only a token decodes as a ContentInfo.
    let token_der = if ContentInfo::from_der(der).is_ok() {
        der.to_vec()
    } else {
        token_of_response(der, "timestamp file")?.0
    };
    verify_token_der(&token_der, digest, anchors)
}

fn verify_token_der(
    token_der: &[u8],
    digest: &[u8; 32],
    anchors: &TrustAnchors,
) -> Result<TokenInfo, TimestampError> {
    let token = ContentInfo::from_der(token_der)
        .map_err(|e| TimestampError::Malformed(format!("TimeStampToken: {e}")))?;
    let (sd, tst) = signed_data_and_tst(&token)?;

    // The imprint first: the most likely failure is a file that changed.
    if tst.message_imprint.hash_algorithm.oid != ID_SHA256 {
        return Err(TimestampError::ImprintAlgorithm(
            tst.message_imprint.hash_algorithm.oid.to_string(),
        ));
    }
    let found = tst.message_imprint.hashed_message.as_bytes();
    if found != digest {
        return Err(TimestampError::ImprintMismatch {
            expected: hex::encode(digest),
            found: hex::encode(found),
        });
    }

    let signer = single_signer(&sd)?;
    let certs = token_certificates(&sd)?;
    let signer_cert = find_signer_certificate(signer, &certs)?;
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("no TSTInfo in the token".into()))?;
    check_signed_attributes(signer, econtent.value(), &signer_cert.1)?;
    let signed_attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or(TimestampError::MissingAttribute("signed attributes"))?
        .to_der()
        .map_err(|e| TimestampError::Malformed(format!("signed attributes: {e}")))?;

    let gen_time = tst.gen_time.to_unix_duration();
    let gen_time_utc = to_utc(gen_time);
    check_timestamping_eku(&signer_cert.0)?;

    let ee_der = CertificateDer::from(signer_cert.1.clone());
    let ee = webpki::EndEntityCert::try_from(&ee_der)
        .map_err(|e| TimestampError::UntrustedChain(format!("signing certificate: {e}")))?;
    check_signature(&ee, signer, &signed_attrs)?;

    let anchors_parsed: Vec<TrustAnchor<'_>> = anchors
        .certs
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let intermediates: Vec<CertificateDer<'static>> = certs
        .iter()
        .filter(|(_, der)| der != &signer_cert.1)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors_parsed,
            &intermediates,
            UnixTime::since_unix_epoch(gen_time),
            // The signer's own usage is checked strictly by `check_timestamping_eku`;
            // along the chain a CA that states usages must include time-stamping, and
            // one that states none is not limited (many TSA intermediates carry no
            // extended key usage, and `required` would reject them all).
            webpki::KeyUsage::required_if_present(ID_KP_TIME_STAMPING_DER),
            None,
            None,
        )
        .map_err(|e| chain_error(e, &gen_time_utc))?;
    let mut chain = vec![signer_cert.0.tbs_certificate.subject.to_string()];
    for c in path.intermediate_certificates() {
        chain.push(
            Certificate::from_der(c.der().as_ref())
                .map(|c| c.tbs_certificate.subject.to_string())
                .unwrap_or_else(|_| "?".into()),
        );
    }
    chain.push(format!(
        "trust anchor from {} (subject DER {})",
        anchors.source,
        subject_of_anchor(anchors, path.anchor())
    ));

    Ok(TokenInfo {
        tsa_name: signer_cert.0.tbs_certificate.subject.to_string(),
        gen_time: gen_time_utc,
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        accuracy: tst.accuracy.as_ref().map(|a| {
            let s = a.seconds.unwrap_or(0);
            let ms = a.millis.unwrap_or(0);
            let us = a.micros.unwrap_or(0);
            format!("{s}s {ms}ms {us}µs")
        }),
        hash_algorithm: "SHA-256".into(),
        signer_not_after: to_utc(
            signer_cert
                .0
                .tbs_certificate
                .validity
                .not_after
                .to_unix_duration(),
        ),
        chain,
    })
}

/// The anchor's subject in readable form (matched back to the PEM certificate).
fn subject_of_anchor(anchors: &TrustAnchors, anchor: &TrustAnchor<'_>) -> String {
    for c in &anchors.certs {
        if let Ok(a) = webpki::anchor_from_trusted_cert(c) {
            if a.subject.as_ref() == anchor.subject.as_ref() {
                if let Ok(cert) = Certificate::from_der(c.as_ref()) {
                    return cert.tbs_certificate.subject.to_string();
                }
            }
        }
    }
    "?".into()
}

fn to_utc(d: Duration) -> DateTime<Utc> {
    DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default()
}

fn chain_error(e: webpki::Error, gen_time: &DateTime<Utc>) -> TimestampError {
    let at = |t: UnixTime| {
        to_utc(Duration::from_secs(t.as_secs())).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let gen = gen_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match e {
        webpki::Error::CertExpired { not_after, .. } => TimestampError::ExpiredSigner {
            not_after: at(not_after),
            gen_time: gen,
        },
        webpki::Error::CertNotValidYet { not_before, .. } => TimestampError::SignerNotYetValid {
            not_before: at(not_before),
            gen_time: gen,
        },
        webpki::Error::RequiredEkuNotFoundContext(_) => TimestampError::NotTimestampingCertificate(
            "a certificate of the chain does not allow id-kp-timeStamping".into(),
        ),
        webpki::Error::UnknownIssuer => TimestampError::UntrustedChain(
            "the signing certificate does not chain to a configured trust anchor".into(),
        ),
        other => TimestampError::UntrustedChain(other.to_string()),
    }
}

/// The `SignedData` of a token and its `TSTInfo`, with the content types checked.
fn signed_data_and_tst(token: &ContentInfo) -> Result<(SignedData, TstInfo), TimestampError> {
    if token.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::ContentType(format!(
            "the token is {} , not CMS SignedData",
            token.content_type
        )));
    }
    let sd: SignedData = token
        .content
        .decode_as()
        .map_err(|e| TimestampError::Malformed(format!("SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::ContentType(format!(
            "the signed content is {}, not id-ct-TSTInfo",
            sd.encap_content_info.econtent_type
        )));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("no TSTInfo in the token".into()))?;
    let tst = TstInfo::from_der(econtent.value())
        .map_err(|e| TimestampError::Malformed(format!("TSTInfo: {e}")))?;
    Ok((sd, tst))
}

fn single_signer(sd: &SignedData) -> Result<&SignerInfo, TimestampError> {
    let mut signers = sd.signer_infos.0.iter();
    match (signers.next(), signers.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => Err(TimestampError::Malformed("no signer in the token".into())),
        (Some(_), Some(_)) => Err(TimestampError::Malformed(
            "more than one signer in the token (RFC 3161 allows one)".into(),
        )),
    }
}

/// The X.509 certificates carried in the token, parsed and as DER.
fn token_certificates(sd: &SignedData) -> Result<Vec<(Certificate, Vec<u8>)>, TimestampError> {
    let mut out = Vec::new();
    for choice in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(cert) = choice {
            if out.len() == MAX_TOKEN_CERTS {
                return Err(TimestampError::Malformed(format!(
                    "more than {MAX_TOKEN_CERTS} certificates in the token"
                )));
            }
            let der = cert
                .to_der()
                .map_err(|e| TimestampError::Malformed(format!("certificate: {e}")))?;
            out.push((cert.clone(), der));
        }
    }
    Ok(out)
}

fn find_signer_certificate<'c>(
    signer: &SignerInfo,
    certs: &'c [(Certificate, Vec<u8>)],
) -> Result<&'c (Certificate, Vec<u8>), TimestampError> {
    let found = certs.iter().find(|(cert, _)| match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            cert.tbs_certificate.issuer == ias.issuer
                && cert.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own.0 == ski.0),
    });
    found.ok_or(TimestampError::NoSignerCertificate)
}

/// `ESSCertID` (RFC 2634 §5.4.1): the SHA-1 of the signing certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificate` (RFC 2634 §5.4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// `ESSCertIDv2` (RFC 5035 §4): the hash algorithm defaults to SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// The single value of a signed attribute, if present.
fn attribute(signer: &SignerInfo, oid: ObjectIdentifier) -> Option<&Any> {
    signer
        .signed_attrs
        .as_ref()?
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| a.values.iter().next())
}

fn hash(oid: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, TimestampError> {
    Ok(match *oid {
        ID_SHA1 => sha1::Sha1::digest(data).to_vec(),
        ID_SHA256 => sha2::Sha256::digest(data).to_vec(),
        ID_SHA384 => sha2::Sha384::digest(data).to_vec(),
        ID_SHA512 => sha2::Sha512::digest(data).to_vec(),
        ref other => {
            return Err(TimestampError::UnsupportedAlgorithm(format!(
                "digest {other}"
            )))
        }
    })
}

/// `content-type`, `message-digest` and the signing certificate's ESS identifier.
fn check_signed_attributes(
    signer: &SignerInfo,
    tst_der: &[u8],
    signer_cert_der: &[u8],
) -> Result<(), TimestampError> {
    let content_type = attribute(signer, ID_CONTENT_TYPE)
        .ok_or(TimestampError::MissingAttribute("content-type"))?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| TimestampError::Malformed(format!("content-type attribute: {e}")))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::ContentType(format!(
            "the content-type attribute is {content_type}, not id-ct-TSTInfo"
        )));
    }
    if signer.digest_alg.oid == ID_SHA1 {
        return Err(TimestampError::UnsupportedAlgorithm(
            "SHA-1 signer digest (too weak to vouch for evidence)".into(),
        ));
    }
    let message_digest = attribute(signer, ID_MESSAGE_DIGEST)
        .ok_or(TimestampError::MissingAttribute("message-digest"))?
        .decode_as::<OctetString>()
        .map_err(|e| TimestampError::Malformed(format!("message-digest attribute: {e}")))?;
    if message_digest.as_bytes() != hash(&signer.digest_alg.oid, tst_der)?.as_slice() {
        return Err(TimestampError::MessageDigestMismatch);
    }
    if let Some(v2) = attribute(signer, ID_SIGNING_CERTIFICATE_V2) {
        let sc: SigningCertificateV2 = v2.decode_as().map_err(|e| {
            TimestampError::Malformed(format!("signing-certificate-v2 attribute: {e}"))
        })?;
        let first = sc.certs.first().ok_or_else(|| {
            TimestampError::SignerCertificateMismatch("signing-certificate-v2 is empty".into())
        })?;
        let alg = first.hash_algorithm.as_ref().map_or(ID_SHA256, |a| a.oid);
        if first.cert_hash.as_bytes() != hash(&alg, signer_cert_der)?.as_slice() {
            return Err(TimestampError::SignerCertificateMismatch(
                "ESSCertIDv2 does not identify the certificate that signed".into(),
            ));
        }
    } else if let Some(v1) = attribute(signer, ID_SIGNING_CERTIFICATE) {
        let sc: SigningCertificate = v1.decode_as().map_err(|e| {
            TimestampError::Malformed(format!("signing-certificate attribute: {e}"))
        })?;
        let first = sc.certs.first().ok_or_else(|| {
            TimestampError::SignerCertificateMismatch("signing-certificate is empty".into())
        })?;
        if first.cert_hash.as_bytes() != sha1::Sha1::digest(signer_cert_der).as_slice() {
            return Err(TimestampError::SignerCertificateMismatch(
                "ESSCertID does not identify the certificate that signed".into(),
            ));
        }
    } else {
        return Err(TimestampError::MissingAttribute(
            "signing-certificate (ESSCertID or ESSCertIDv2)",
        ));
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one extended key usage,
/// `id-kp-timeStamping`, and the extension is critical. webpki checks that the usage is
/// present along the chain; this checks the stricter form on the signer.
fn check_timestamping_eku(cert: &Certificate) -> Result<(), TimestampError> {
    let ext = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| {
            TimestampError::NotTimestampingCertificate(
                "the signing certificate has no extended key usage".into(),
            )
        })?;
    if !ext.critical {
        return Err(TimestampError::NotTimestampingCertificate(
            "the extended key usage extension is not critical".into(),
        ));
    }
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
        .map_err(|e| TimestampError::Malformed(format!("extended key usage: {e}")))?;
    if eku.0 != [ID_KP_TIME_STAMPING] {
        return Err(TimestampError::NotTimestampingCertificate(format!(
            "extended key usage is {:?}, not only id-kp-timeStamping",
            eku.0.iter().map(ToString::to_string).collect::<Vec<_>>()
        )));
    }
    Ok(())
}

/// The webpki algorithms that may have made this signature, by the signer's signature
/// and digest algorithms; the key in the certificate picks among them.
fn candidate_algorithms(
    signer: &SignerInfo,
) -> Result<Vec<&'static dyn SignatureVerificationAlgorithm>, TimestampError> {
    use webpki::ring as alg;
    let sig = signer.signature_algorithm.oid;
    let dig = signer.digest_alg.oid;
    let rsa = |d: ObjectIdentifier| -> Option<&'static dyn SignatureVerificationAlgorithm> {
        match d {
            ID_SHA256 => Some(alg::RSA_PKCS1_2048_8192_SHA256),
            ID_SHA384 => Some(alg::RSA_PKCS1_2048_8192_SHA384),
            ID_SHA512 => Some(alg::RSA_PKCS1_2048_8192_SHA512),
            _ => None,
        }
    };
    let found: Vec<&'static dyn SignatureVerificationAlgorithm> = match sig {
        ID_RSA_ENCRYPTION => rsa(dig).into_iter().collect(),
        ID_SHA256_WITH_RSA => rsa(ID_SHA256).into_iter().collect(),
        ID_SHA384_WITH_RSA => rsa(ID_SHA384).into_iter().collect(),
        ID_SHA512_WITH_RSA => rsa(ID_SHA512).into_iter().collect(),
        ID_ECDSA_WITH_SHA256 => vec![alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ID_ECDSA_WITH_SHA384 => vec![alg::ECDSA_P256_SHA384, alg::ECDSA_P384_SHA384],
        ID_ED25519 => vec![alg::ED25519],
        _ => Vec::new(),
    };
    if found.is_empty() {
        return Err(TimestampError::UnsupportedAlgorithm(format!(
            "signature {sig} with digest {dig}"
        )));
    }
    Ok(found)
}

fn check_signature(
    ee: &webpki::EndEntityCert<'_>,
    signer: &SignerInfo,
    signed_attrs_der: &[u8],
) -> Result<(), TimestampError> {
    let signature = signer.signature.as_bytes();
    // Several candidates may be tried (ECDSA over P-256 or P-384); those that do not fit
    // the key say so, and the error of the one that fits is the one to report.
    let mut fitting_error = None;
    for alg in candidate_algorithms(signer)? {
        match ee.verify_signature(alg, signed_attrs_der, signature) {
            Ok(()) => return Ok(()),
            Err(
                webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
                | webpki::Error::UnsupportedSignatureAlgorithmContext(_),
            ) => {}
            Err(e) => fitting_error = Some(e),
        }
    }
    Err(match fitting_error {
        Some(e) => TimestampError::BadSignature(format!(
            "the signature over the signed attributes does not verify ({e})"
        )),
        None => TimestampError::UnsupportedAlgorithm(format!(
            "signature {} does not fit the signing certificate's key",
            signer.signature_algorithm.oid
        )),
    })
}

// ---------------------------------------------------------------------------------------
// The network edge.
// ---------------------------------------------------------------------------------------

/// What [`request`] needs: the TSAs in order, their trust anchors and the timeout of one
/// HTTP exchange. Built from `[evidence]` by `EvidenceSettings::tsa`.
#[derive(Debug, Clone)]
pub struct TsaClient {
    pub urls: Vec<url::Url>,
    pub anchors: TrustAnchors,
    pub timeout: Duration,
}

/// A TSA's URL without user name and password (commercial TSAs may take credentials
/// in the URL): the form used in logs, errors and the store.
pub fn display_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    // Both setters fail only for URLs that cannot have credentials, which then have
    // none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Asks the configured TSAs in order for a token over `digest` and returns the first
/// token that checks out; the errors of every TSA tried when none does.
///
/// # Errors
/// [`TimestampError::NotConfigured`] without TSAs; otherwise the last TSA's error (all of
/// them are logged at warn).
pub async fn request(client: &TsaClient, digest: &[u8; 32]) -> Result<Token, TimestampError> {
    let mut last = TimestampError::NotConfigured;
    for url in &client.urls {
        match request_one(client, url, digest).await {
            Ok(token) => return Ok(token),
            Err(e) => {
                tracing::warn!(tsa = %display_url(url), error = %e, "timestamp request failed");
                last = e;
            }
        }
    }
    Err(last)
}

async fn request_one(
    client: &TsaClient,
    url: &url::Url,
    digest: &[u8; 32],
) -> Result<Token, TimestampError> {
    let shown = display_url(url);
    let transport = |message: String| TimestampError::Transport {
        url: shown.clone(),
        message,
    };
    let nonce = new_nonce();
    let body = build_request(digest, &nonce)?;
    // No redirects: a POST turned into a GET by a 302 would not carry the query, and a TSA
    // that moved is a configuration to fix, not to follow silently.
    let http = reqwest::Client::builder()
        .timeout(client.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("copyhound/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| transport(format!("http client: {e}")))?;
    let sent_at = Utc::now();
    let mut resp = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
        .body(body)
        .send()
        .await
        .map_err(|e| transport(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(transport(format!("HTTP status {}", resp.status())));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport(format!("reading the reply: {e}")))?
    {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(transport(format!(
                "reply larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let token = check_response(&bytes, digest, &nonce, &client.anchors, &shown)?;
    let now = Utc::now();
    let skew = chrono::Duration::from_std(MAX_CLOCK_SKEW).unwrap_or_default();
    if token.info.gen_time < sent_at - skew || token.info.gen_time > now + skew {
        return Err(TimestampError::ClockSkew {
            gen_time: token.info.gen_time.to_rfc3339(),
            now: now.to_rfc3339(),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encodes_imprint_nonce_and_cert_req() {
        let digest = [7u8; 32];
        let nonce = [0x11, 2, 3, 4, 5, 6, 7, 8];
        let der = build_request(&digest, &nonce).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA256);
        assert_eq!(req.message_imprint.hashed_message.as_bytes(), &digest);
        assert_eq!(req.nonce.unwrap().as_bytes(), &nonce);
        assert!(req.cert_req);
    }

    #[test]
    fn nonces_are_positive_minimal_integers() {
        for _ in 0..64 {
            let n = new_nonce();
            assert!((0x01..=0x7f).contains(&n[0]), "{n:?}");
            assert_eq!(Int::new(&n).unwrap().as_bytes(), &n);
        }
        assert_ne!(new_nonce(), new_nonce());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let anchors_err = TrustAnchors::from_pem(b"not pem", "x.pem").unwrap_err();
        assert!(matches!(anchors_err, TimestampError::TrustAnchors { .. }));
        // A real anchor is not needed to reject garbage before any chain work.
        let fake = TrustAnchors {
            certs: Vec::new(),
            source: "none".into(),
        };
        for bytes in [&b""[..], b"\x30\x00", b"\x30\x03\x02\x01\x00", &[0xff; 64]] {
            let e = verify(bytes, &[0; 32], &fake).unwrap_err();
            assert!(
                matches!(e, TimestampError::Malformed(_)),
                "{bytes:?}: {e:?}"
            );
        }
    }

    // A token made once by `openssl ts -reply` (RSA, ESSCertID, the CA in the token)
    // over `testdata/token-data.txt`, with nonce 0x298602e2e0882e67. It verifies at its
    // genTime forever, so these tests need no openssl; tests/it/timestamps.rs makes
    // fresh ones against a live TSA.
    const TOKEN: &[u8] = include_bytes!("testdata/token.tsr");
    const DATA: &[u8] = include_bytes!("testdata/token-data.txt");
    const CA: &[u8] = include_bytes!("testdata/tsa-ca.pem");
    const OTHER_CA: &[u8] = include_bytes!("testdata/other-ca.pem");
    const NONCE: [u8; 8] = [0x29, 0x86, 0x02, 0xe2, 0xe0, 0x88, 0x2e, 0x67];

    fn digest() -> [u8; 32] {
        sha2::Sha256::digest(DATA).into()
    }

    fn anchors() -> TrustAnchors {
        TrustAnchors::from_pem(CA, "tsa-ca.pem").unwrap()
    }

    /// The token with `from` replaced by `to` (same length) at its only occurrence.
    fn patched(from: &[u8], to: &[u8]) -> Vec<u8> {
        let at: Vec<usize> = TOKEN
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| *w == from)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "{from:?} occurs {} times", at.len());
        let mut out = TOKEN.to_vec();
        out[at[0]..at[0] + to.len()].copy_from_slice(to);
        out
    }

    #[test]
    fn a_real_token_verifies_and_says_who_and_when() {
        let info = verify(TOKEN, &digest(), &anchors()).unwrap();
        assert_eq!(info.tsa_name, "O=Copyhound Tests,CN=Copyhound Test TSA");
        assert_eq!(info.gen_time.to_rfc3339(), "2026-12-05T06:30:43+00:00");
        assert_eq!(info.serial, "03");
        assert_eq!(info.policy, "1.2.3.4.1");
        assert_eq!(info.hash_algorithm, "SHA-256");
        assert_eq!(info.chain.len(), 2, "{:?}", info.chain);
        assert!(info.chain[1].contains("CN=Copyhound Test Root CA"));
        let token = check_response(TOKEN, &digest(), &NONCE, &anchors(), "t").unwrap();
        // The bare token inside the response verifies the same.
        assert_eq!(
            verify(&token.token_der, &digest(), &anchors()).unwrap(),
            info
        );
    }

    #[test]
    fn each_fault_is_named() {
        let mut other = digest();
        other[0] ^= 1;
        assert!(matches!(
            verify(TOKEN, &other, &anchors()),
            Err(TimestampError::ImprintMismatch { .. })
        ));
        assert_eq!(
            check_response(TOKEN, &digest(), &[0x01, 2, 3], &anchors(), "t").unwrap_err(),
            TimestampError::NonceMismatch
        );
        // The TSA's time, changed in the TSTInfo: its digest no longer matches.
        let e = verify(
            &patched(b"20261205063043Z", b"20251205063043Z"),
            &digest(),
            &anchors(),
        );
        assert_eq!(e.unwrap_err(), TimestampError::MessageDigestMismatch);
        // The signing-time attribute changed: the signature no longer covers it.
        let e = verify(
            &patched(b"\x17\x0d261205063043Z", b"\x17\x0d251205063043Z"),
            &digest(),
            &anchors(),
        );
        assert!(matches!(e, Err(TimestampError::BadSignature(_))), "{e:?}");
        let other_ca = TrustAnchors::from_pem(OTHER_CA, "other-ca.pem").unwrap();
        let e = verify(TOKEN, &digest(), &other_ca);
        assert!(matches!(e, Err(TimestampError::UntrustedChain(_))), "{e:?}");
        // Cut short anywhere: malformed or mismatched, never a panic.
        for len in (0..TOKEN.len()).step_by(97) {
            assert!(verify(&TOKEN[..len], &digest(), &anchors()).is_err());
        }
    }

    #[test]
    fn refused_status_is_named() {
        // TimeStampResp { status { rejection(2), statusString { "no" }, failInfo badAlg } }
        let der = [
            0x30, 0x0f, 0x30, 0x0d, 0x02, 0x01, 0x02, 0x30, 0x04, 0x0c, 0x02, b'n', b'o', 0x03,
            0x02, 0x07, 0x80,
        ];
        let fake = TrustAnchors {
            certs: Vec::new(),
            source: "none".into(),
        };
        let e = check_response(&der, &[0; 32], &[1], &fake, "http://tsa.example/").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, TimestampError::Refused { .. }), "{e:?}");
        assert!(text.contains("Rejection") && text.contains("no"), "{text}");
    }
}
