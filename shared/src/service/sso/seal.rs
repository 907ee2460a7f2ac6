//! Secrets Roster must use again (an OIDC client secret), sealed at rest with the server key:
//! AES-256-GCM with a random 96-bit nonce, the connection id as associated data (a sealed value
//! copied to another connection does not open). Stored as `v1:` + base64(nonce ‖ ciphertext ‖
//! tag). SCIM secrets, which Roster only compares, are hashed instead.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use rand::RngCore;

use crate::error::{DomainError, DomainResult};

/// The server's 256-bit sealing key. Its `Debug` does not print it.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}

impl SealKey {
    /// A new random key.
    pub fn random() -> SealKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        SealKey(k)
    }

    /// A key from its base64 text (32 bytes).
    pub fn from_base64(text: &str) -> Option<SealKey> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(SealKey)
    }

    /// The key as base64 text (to write a new key file).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Seals `secret` for the record `bound_to`.
    pub fn seal(&self, secret: &str, bound_to: &str) -> DomainResult<String> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            bound_to.as_bytes(),
            secret.as_bytes(),
            &mut tag,
        )
        .map_err(|e| DomainError::Internal(format!("sealing a secret: {e}")))?;
        let mut out = Vec::with_capacity(12 + ct.len() + 16);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    /// Opens a value [`SealKey::seal`] made for `bound_to`.
    pub fn open(&self, sealed: &str, bound_to: &str) -> DomainResult<String> {
        let fail = || {
            DomainError::Internal(
                "a stored secret does not open with this server's key (was the key changed?)".to_string(),
            )
        };
        let bytes = sealed.strip_prefix("v1:").and_then(|b| STANDARD.decode(b).ok()).ok_or_else(fail)?;
        if bytes.len() < 28 {
            return Err(fail());
        }
        let (nonce, rest) = bytes.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        let plain = decrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(nonce), bound_to.as_bytes(), ct, tag)
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_record() {
        let key = SealKey::random();
        let sealed = key.seal("s3cret", "conn-1").unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open(&sealed, "conn-1").unwrap(), "s3cret");
        assert!(key.open(&sealed, "conn-2").is_err());
        assert!(SealKey::random().open(&sealed, "conn-1").is_err());
        // Two seals of one secret differ (random nonce).
        assert_ne!(key.seal("s3cret", "conn-1").unwrap(), sealed);
        let text = key.to_base64();
        assert_eq!(SealKey::from_base64(&text).unwrap().open(&sealed, "conn-1").unwrap(), "s3cret");
        assert!(SealKey::from_base64("c2hvcnQ=").is_none());
    }
}
