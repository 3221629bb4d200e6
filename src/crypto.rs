//! Access and refresh tokens at rest: AES-256-GCM under
//! `ADVOCATE_ENCRYPTION_KEY`. Every ciphertext names the key that made it
//! (a short fingerprint), so the key can be rotated: the previous key still
//! decrypts, `advocate rotate-key` re-encrypts under the new one. The shop's
//! domain is bound in as associated data, so a token copied to another
//! shop's row does not decrypt.
//!
//! Layout: `b"A1"` | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 2] = b"A1";
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// 32 bytes for AES-256-GCM. Never printed.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

/// A key that is not 32 bytes of base64.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}", EncryptionKey::EXPECTED)]
pub struct InvalidKey;

impl EncryptionKey {
    /// What a valid key looks like, for error messages.
    pub const EXPECTED: &'static str = "32 random bytes, base64 (openssl rand -base64 32)";

    pub fn parse(raw: &str) -> Result<Self, InvalidKey> {
        let bytes = BASE64.decode(raw.trim()).map_err(|_| InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey)?;
        Ok(Self(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// The raw key, for the cipher only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(redacted)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was made with a key that is not configured")]
    UnknownKey,
    #[error("ciphertext does not decrypt (wrong key, wrong shop, or tampered)")]
    Rejected,
}

struct Key {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl Key {
    fn new(key: &EncryptionKey) -> Self {
        let digest = Sha256::digest(key.expose());
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id,
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }
}

/// Encrypts with the current key; decrypts with the current or previous.
pub struct TokenCipher {
    current: Key,
    previous: Option<Key>,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenCipher(key {}, redacted)",
            hex::encode(self.current.id)
        )
    }
}

impl TokenCipher {
    pub fn new(current: &EncryptionKey, previous: Option<&EncryptionKey>) -> Self {
        Self {
            current: Key::new(current),
            previous: previous.map(Key::new),
        }
    }

    /// Encrypts `plaintext` for `shop` under the current key.
    pub fn encrypt(&self, shop: &str, plaintext: &str) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: shop.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn decrypt(&self, shop: &str, stored: &[u8]) -> Result<String, CryptoError> {
        if stored.len() <= HEADER_LEN || &stored[..MAGIC.len()] != MAGIC {
            return Err(CryptoError::Malformed);
        }
        let key_id = &stored[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == key_id)
            .ok_or(CryptoError::UnknownKey)?;
        let nonce = &stored[MAGIC.len() + KEY_ID_LEN..HEADER_LEN];
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &stored[HEADER_LEN..],
                    aad: shop.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Rejected)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Rejected)
    }

    /// True when `stored` was made with the current key.
    pub fn is_current(&self, stored: &[u8]) -> bool {
        stored.len() > HEADER_LEN
            && stored[MAGIC.len()..MAGIC.len() + KEY_ID_LEN] == self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let cipher = TokenCipher::new(&key(1), None);
        let sealed = cipher.encrypt("a.myshopify.com", "shpat_secret_token");
        assert!(!sealed.windows(6).any(|w| w == b"shpat_"));
        assert_eq!(
            cipher.decrypt("a.myshopify.com", &sealed).unwrap(),
            "shpat_secret_token"
        );
        assert_ne!(
            sealed,
            cipher.encrypt("a.myshopify.com", "shpat_secret_token"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn another_shop_or_a_flipped_bit_does_not_decrypt() {
        let cipher = TokenCipher::new(&key(1), None);
        let mut sealed = cipher.encrypt("a.myshopify.com", "token");
        assert_eq!(
            cipher.decrypt("b.myshopify.com", &sealed),
            Err(CryptoError::Rejected)
        );
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            cipher.decrypt("a.myshopify.com", &sealed),
            Err(CryptoError::Rejected)
        );
        assert_eq!(
            cipher.decrypt("a.myshopify.com", b"short"),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn the_previous_key_decrypts_during_rotation_and_an_unknown_one_does_not() {
        let old = TokenCipher::new(&key(1), None);
        let sealed = old.encrypt("a.myshopify.com", "token");
        let rotated = TokenCipher::new(&key(2), Some(&key(1)));
        assert_eq!(
            rotated.decrypt("a.myshopify.com", &sealed).unwrap(),
            "token"
        );
        assert!(!rotated.is_current(&sealed));
        let forgotten = TokenCipher::new(&key(2), None);
        assert_eq!(
            forgotten.decrypt("a.myshopify.com", &sealed),
            Err(CryptoError::UnknownKey)
        );
    }
}
