//! HMAC-SHA256 signatures Shopify puts on what it sends us. Every comparison
//! is constant time, and every check tries the current client secret and then
//! the previous one, so a secret rotation never rejects a genuine request.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The app's client secrets, keyed once so each check only hashes the message.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} secrets, redacted)", self.keys.len())
    }
}

impl Signer {
    pub fn new(current: &SecretString, previous: Option<&SecretString>) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|secret| {
                HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC accepts keys of any length")
            })
            .collect();
        Self { keys }
    }

    /// Checks a webhook's `X-Shopify-Hmac-Sha256` header (base64) against the
    /// raw body bytes.
    pub fn verify_webhook(&self, body: &[u8], header: &str) -> bool {
        self.verify_webhook_chunks(&[body], header)
    }

    /// [`Signer::verify_webhook`] over a body held as the chunks it arrived
    /// in, so a body not yet known to be Shopify's is never copied whole.
    pub fn verify_webhook_chunks(&self, chunks: &[impl AsRef<[u8]>], header: &str) -> bool {
        // No trimming: HTTP already strips the header's surrounding
        // whitespace, and anything else is not what Shopify sent.
        let Ok(expected) = BASE64.decode(header) else {
            return false;
        };
        self.verify(chunks, &expected)
    }

    /// Checks a lowercase-hex signature (OAuth query `hmac`, app proxy
    /// `signature`) over an already canonicalised message. Shopify writes
    /// lowercase hex and nothing around it; any other spelling is refused,
    /// as Shopify's own libraries refuse it.
    pub fn verify_hex(&self, message: &[u8], signature: &str) -> bool {
        if signature
            .bytes()
            .any(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return false;
        }
        let Ok(expected) = hex::decode(signature) else {
            return false;
        };
        self.verify(&[message], &expected)
    }

    fn verify(&self, chunks: &[impl AsRef<[u8]>], expected: &[u8]) -> bool {
        // Every key is tried, whichever matches, so timing does not tell
        // which secret signed the message.
        self.keys.iter().fold(false, |ok, key| {
            let mut mac = key.clone();
            for chunk in chunks {
                mac.update(chunk.as_ref());
            }
            mac.verify_slice(expected).is_ok() | ok
        })
    }

    /// Signs with the current secret, base64, as Shopify signs webhooks.
    pub fn sign_webhook(&self, body: &[u8]) -> String {
        BASE64.encode(self.tag(body))
    }

    /// Signs with the current secret, lowercase hex.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.tag(message))
    }

    fn tag(&self, message: &[u8]) -> Vec<u8> {
        let mut mac = self.keys[0].clone();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str) -> Signer {
        Signer::new(&SecretString::from(secret.to_owned()), None)
    }

    #[test]
    fn vector_w1_shopify_app_js() {
        let s = signer("test_secret_key");
        assert!(s.verify_webhook(
            br#"{"foo": "bar"}"#,
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        ));
        assert!(!s.verify_webhook(
            br#"{"foo":"bar"}"#,
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        ));
    }

    #[test]
    fn vector_w1_holds_however_the_body_was_split() {
        let s = signer("test_secret_key");
        let header = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";
        let body: &[u8] = br#"{"foo": "bar"}"#;
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert!(s.verify_webhook_chunks(&[a, b], header), "cut at {cut}");
        }
        assert!(s.verify_webhook_chunks(&[body], header));
        assert!(!s.verify_webhook_chunks(&[&body[1..]], header));
        assert!(!s.verify_webhook_chunks(&[body], "not base64"));
        let rotated = Signer::new(
            &SecretString::from("new-secret".to_owned()),
            Some(&SecretString::from("test_secret_key".to_owned())),
        );
        assert!(rotated.verify_webhook_chunks(&[&body[..3], &body[3..]], header));
    }

    #[test]
    fn vector_w2_shopify_api_php() {
        let s = signer("7008c5f4da4718b9b45d26d3fcbbb157");
        assert_eq!(
            s.sign_webhook(br#"{"foo":"bar"}"#),
            "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY="
        );
    }

    #[test]
    fn previous_secret_is_accepted_during_rotation() {
        let old = signer("old-secret");
        let rotated = Signer::new(
            &SecretString::from("new-secret".to_owned()),
            Some(&SecretString::from("old-secret".to_owned())),
        );
        let header = old.sign_webhook(b"{}");
        assert!(rotated.verify_webhook(b"{}", &header));
        assert!(!signer("new-secret").verify_webhook(b"{}", &header));
    }

    #[test]
    fn garbage_signatures_fail_closed() {
        let s = signer("k");
        for bad in ["", "not base64!", "AAAA", "ZZZZ=="] {
            assert!(!s.verify_webhook(b"{}", bad));
        }
        assert!(!s.verify_hex(b"m", "zz"));
    }
}
