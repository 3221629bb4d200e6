//! Session tokens (App Bridge, checkout and customer-account extensions):
//! HS256 JWTs signed with the client secret. A token is accepted only with a
//! valid signature (current or previous secret), `aud` equal to our client
//! id, `exp`/`nbf` within 10 s of leeway, and `dest` a shop whose admin URL
//! is the `iss` (when `iss` is present).

use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::ShopDomain;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 10;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    dest: String,
    sub: Option<String>,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    pub shop: ShopDomain,
    /// The user (admin) or the customer GID (checkout, when logged in).
    pub sub: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SessionTokenError {
    #[error("session token is malformed")]
    Malformed,
    #[error("session token signature is invalid")]
    BadSignature,
    #[error("session token has expired")]
    Expired,
    #[error("session token is not valid yet")]
    NotYetValid,
    #[error("session token is for another app")]
    WrongAudience,
    #[error("session token names no valid shop")]
    BadShop,
}

pub struct SessionTokenVerifier {
    keys: Vec<DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for SessionTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionTokenVerifier(redacted)")
    }
}

impl SessionTokenVerifier {
    pub fn new(api_key: &str, secret: &SecretString, previous: Option<&SecretString>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[api_key]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
        let keys = std::iter::once(secret)
            .chain(previous)
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()))
            .collect();
        Self { keys, validation }
    }

    pub fn verify(&self, token: &str) -> Result<SessionToken, SessionTokenError> {
        let mut last = SessionTokenError::BadSignature;
        for key in &self.keys {
            match decode::<Claims>(token, key, &self.validation) {
                Ok(data) => return Self::shop_of(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => SessionTokenError::BadSignature,
                        ErrorKind::ExpiredSignature => SessionTokenError::Expired,
                        ErrorKind::ImmatureSignature => SessionTokenError::NotYetValid,
                        ErrorKind::InvalidAudience => SessionTokenError::WrongAudience,
                        ErrorKind::InvalidAlgorithm => SessionTokenError::BadSignature,
                        _ => SessionTokenError::Malformed,
                    };
                    // Only a signature mismatch is worth trying the other key.
                    if last != SessionTokenError::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn shop_of(claims: Claims) -> Result<SessionToken, SessionTokenError> {
        let host = |url: &str| -> Option<String> {
            let rest = url.strip_prefix("https://")?;
            Some(rest.split('/').next()?.to_owned())
        };
        let dest = host(&claims.dest).ok_or(SessionTokenError::BadShop)?;
        let shop = ShopDomain::parse(&dest).map_err(|_| SessionTokenError::BadShop)?;
        if let Some(iss) = &claims.iss {
            match host(iss) {
                Some(iss_host) if iss_host.eq_ignore_ascii_case(shop.as_str()) => {}
                _ => return Err(SessionTokenError::BadShop),
            }
        }
        Ok(SessionToken {
            shop,
            sub: claims.sub,
        })
    }
}

/// Signs a session token as Shopify would (tests, the local stand-in and the
/// sandbox).
pub fn sign_session_token(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "client-secret";
    const SHOP: &str = "https://a-shop.myshopify.com";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims() -> serde_json::Value {
        json!({
            "iss": format!("{SHOP}/admin"), "dest": SHOP, "aud": "client-id", "sub": "42",
            "exp": now() + 60, "nbf": now() - 5, "iat": now() - 5, "jti": "j", "sid": "s"
        })
    }

    fn with(changes: serde_json::Value) -> serde_json::Value {
        let mut c = claims();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn verifier() -> SessionTokenVerifier {
        SessionTokenVerifier::new(
            "client-id",
            &SECRET.to_owned().into(),
            Some(&"old-secret".to_owned().into()),
        )
    }

    #[test]
    fn each_kind_of_token_gets_its_answer() {
        let v = verifier();
        let ok = v.verify(&sign_session_token(SECRET, &claims())).unwrap();
        assert_eq!(ok.shop.as_str(), "a-shop.myshopify.com");
        assert_eq!(ok.sub.as_deref(), Some("42"));

        let cases = [
            (
                sign_session_token("wrong", &claims()),
                SessionTokenError::BadSignature,
            ),
            (
                sign_session_token(SECRET, &with(json!({"aud": "another-app"}))),
                SessionTokenError::WrongAudience,
            ),
            (
                sign_session_token(SECRET, &with(json!({"exp": now() - 30}))),
                SessionTokenError::Expired,
            ),
            (
                sign_session_token(SECRET, &with(json!({"nbf": now() + 30}))),
                SessionTokenError::NotYetValid,
            ),
            (
                sign_session_token(SECRET, &with(json!({"dest": "https://evil.example.com"}))),
                SessionTokenError::BadShop,
            ),
            (
                sign_session_token(
                    SECRET,
                    &with(json!({"iss": "https://other-shop.myshopify.com/admin"})),
                ),
                SessionTokenError::BadShop,
            ),
            ("not.a.token".to_owned(), SessionTokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected:?}");
        }
    }

    #[test]
    fn leeway_covers_a_few_seconds_of_clock_skew() {
        let v = verifier();
        assert!(v
            .verify(&sign_session_token(
                SECRET,
                &with(json!({"exp": now() - 5}))
            ))
            .is_ok());
        assert!(v
            .verify(&sign_session_token(
                SECRET,
                &with(json!({"nbf": now() + 5}))
            ))
            .is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = B64.encode(claims().to_string());
        assert!(verifier().verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn a_token_signed_with_the_previous_secret_passes_during_rotation() {
        let token = sign_session_token("old-secret", &claims());
        assert!(verifier().verify(&token).is_ok());
        let no_previous = SessionTokenVerifier::new("client-id", &SECRET.to_owned().into(), None);
        assert_eq!(
            no_previous.verify(&token),
            Err(SessionTokenError::BadSignature)
        );
    }
}
