//! TLS to the modem. Its certificate cannot be verified the usual way (self-signed, a MAC
//! address as CN, no SAN, a 1024-bit RSA key on the CGNV4), so, as in the original, it is
//! pinned by fingerprint: the hash of the leaf certificate's DER, chosen by the pin's
//! length (MD5, SHA-1, SHA-256), colons and case ignored. The handshake signature is
//! always verified, with ring's legacy 1024-bit RSA PKCS#1 algorithms allowed (TLS 1.2),
//! so a pinned certificate cannot be replayed by someone without its key.

use std::sync::{Arc, Mutex, PoisonError};

use md5::Digest as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// An expected certificate fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pin({})", colon_hex(&self.bytes))
    }
}

impl Pin {
    /// `A3:2E:…` or `a32e…`: 16 bytes (MD5), 20 (SHA-1) or 32 (SHA-256).
    pub fn parse(s: &str) -> Result<Self, String> {
        let hexits: String = s
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let bytes = hex::decode(hexits.to_ascii_lowercase())
            .map_err(|_| format!("fingerprint {s:?} is not hexadecimal"))?;
        match bytes.len() {
            16 | 20 | 32 => Ok(Self { bytes }),
            n => Err(format!(
                "fingerprint of invalid length: {n} bytes (MD5 16, SHA-1 20, SHA-256 32)"
            )),
        }
    }

    fn digest(&self, der: &[u8]) -> Vec<u8> {
        match self.bytes.len() {
            16 => md5::Md5::digest(der).to_vec(),
            20 => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
                .as_ref()
                .to_vec(),
            _ => sha256(der),
        }
    }

    pub fn matches(&self, der: &[u8]) -> bool {
        let got = self.digest(der);
        // Constant time, as urllib3's assert_fingerprint.
        got.len() == self.bytes.len()
            && got
                .iter()
                .zip(&self.bytes)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// Lower-case colon hex, the original's log format.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// RSA PKCS#1 with keys from 1024 bits (ring's legacy algorithms), for the modem.
#[derive(Debug)]
struct LegacyRsa {
    params: &'static ring::signature::RsaParameters,
    signature_alg_id: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for LegacyRsa {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.params, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn fips(&self) -> bool {
        false
    }
}

static RSA_PKCS1_SHA256_1024: LegacyRsa = LegacyRsa {
    params: &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};
static RSA_PKCS1_SHA512_1024: LegacyRsa = LegacyRsa {
    params: &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
};

/// The provider's algorithms plus 1024-bit RSA PKCS#1 (SHA-256, SHA-512).
static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P256_SHA384,
        webpki::ring::ECDSA_P384_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::ED25519,
        &RSA_PKCS1_SHA256_1024,
        &RSA_PKCS1_SHA512_1024,
        webpki::ring::RSA_PKCS1_2048_8192_SHA384,
        webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[
                webpki::ring::ECDSA_P384_SHA384,
                webpki::ring::ECDSA_P256_SHA384,
            ],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[
                webpki::ring::ECDSA_P256_SHA256,
                webpki::ring::ECDSA_P384_SHA256,
            ],
        ),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (SignatureScheme::RSA_PKCS1_SHA512, &[&RSA_PKCS1_SHA512_1024]),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[webpki::ring::RSA_PKCS1_2048_8192_SHA384],
        ),
        (SignatureScheme::RSA_PKCS1_SHA256, &[&RSA_PKCS1_SHA256_1024]),
    ],
};

/// Checks the pin (if any) and remembers the SHA-256 fingerprint it saw.
#[derive(Debug)]
pub struct PinVerifier {
    pin: Option<Pin>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl PinVerifier {
    pub fn new(pin: Option<Pin>) -> Arc<Self> {
        Arc::new(Self {
            pin,
            seen: Mutex::new(None),
        })
    }

    /// SHA-256 fingerprint of the certificate the server presented, once connected.
    pub fn seen_sha256(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            .map(colon_hex)
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(sha256(end_entity));
        match &self.pin {
            Some(pin) if !pin.matches(end_entity) => Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: the target presented {}",
                colon_hex(&pin.digest(end_entity))
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &ALGORITHMS)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &ALGORITHMS)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ALGORITHMS.supported_schemes()
    }
}

/// A client config that verifies with `verifier` (TLS 1.2 and 1.3, ring).
pub fn client_config(verifier: Arc<PinVerifier>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_by_length_case_and_colons() {
        let der = b"not really a certificate";
        let sha = colon_hex(&sha256(der));
        for form in [sha.clone(), sha.to_uppercase(), sha.replace(':', "")] {
            assert!(Pin::parse(&form).expect("pin").matches(der), "{form}");
        }
        let sha1 =
            colon_hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref());
        assert!(Pin::parse(&sha1).expect("sha1").matches(der));
        let md5 = colon_hex(&md5::Md5::digest(der));
        assert!(Pin::parse(&md5).expect("md5").matches(der));
        assert!(!Pin::parse(&sha).expect("pin").matches(b"another"));
        assert!(
            Pin::parse("AB:CD")
                .expect_err("short")
                .starts_with("fingerprint of invalid length")
        );
        assert!(Pin::parse("zz").is_err());
    }
}
