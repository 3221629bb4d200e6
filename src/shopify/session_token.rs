//! Session tokens: HS256 JWTs Shopify signs with the app's client secret.
//! There are two shapes, staff (admin, POS) and shopper (extension), and
//! each guard has its own verifier and accepts one shape only, because a
//! shopper must never act as the merchant:
//!
//! - **admin** (App Bridge, the embedded page): `iss` = `https://{shop}/admin`,
//!   `dest` = `https://{shop}`, `sub` = the staff user's numeric id;
//!   [`AdminTokenVerifier`].
//! - **POS** (a POS UI extension): the admin shape, for the user signed in
//!   to Shopify POS; [`PosTokenVerifier`], a verifier of its own.
//! - **extension** (checkout, thank-you / order-status, customer account):
//!   no `iss`, `dest` = `{shop}` (Shopify's docs show it without a scheme;
//!   `https://{shop}` is accepted too), `sub` absent or
//!   `gid://shopify/Customer/{id}`; [`ExtensionTokenVerifier`].
//!
//! Both: the signature must be HS256 (no other algorithm, `none` included)
//! by the current or the previous client secret, `aud` must be our client
//! id, and `exp` and `nbf` are required and checked with [`LEEWAY_SECS`] of
//! clock skew. Everything is refused unless it matches; no claim is trusted
//! before the signature is.

use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::ShopDomain;
use crate::loyalty::CustomerId;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 10;

/// The claims both kinds are read from; which are required depends on the kind.
#[derive(Debug, Deserialize)]
struct Claims {
    /// Shopify sends one string; a list (which the JWT library would
    /// accept when it contains our client id) is refused. A missing `aud`
    /// is reported by the JWT library's required-claims check.
    #[serde(default)]
    aud: serde_json::Value,
    iss: Option<String>,
    dest: String,
    sub: Option<String>,
}

/// A verified admin (App Bridge) token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub shop: ShopDomain,
    /// The staff member's numeric user id (`sub`).
    pub user_id: u64,
}

/// A verified extension token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionToken {
    pub shop: ShopDomain,
    /// The logged-in buyer (`sub` = `gid://shopify/Customer/{id}`), when
    /// Shopify says there is one.
    pub customer_id: Option<i64>,
}

/// Why a token was refused. The texts name the rule, never the token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SessionTokenError {
    #[error("session token is malformed")]
    Malformed,
    #[error("session token signature is invalid")]
    BadSignature,
    #[error("session token is not signed with HS256")]
    WrongAlgorithm,
    #[error("session token has expired")]
    Expired,
    #[error("session token is not valid yet")]
    NotYetValid,
    #[error("session token is for another app")]
    WrongAudience,
    #[error("session token lacks a required claim")]
    MissingClaim,
    #[error("session token names no valid shop")]
    BadShop,
    #[error("session token's issuer is not the admin of its destination shop")]
    BadIssuer,
    #[error("an extension token was presented where an admin token is required")]
    NotAnAdminToken,
    #[error("an admin token was presented where an extension token is required")]
    NotAnExtensionToken,
    #[error("session token's subject is not of the expected kind")]
    BadSubject,
}

/// Checks signature, algorithm, audience and times; shared by both kinds.
struct JwtCheck {
    keys: Vec<DecodingKey>,
    validation: Validation,
}

impl JwtCheck {
    fn new(api_key: &str, secret: &SecretString, previous: Option<&SecretString>) -> Self {
        // `Validation::new` allows exactly the one algorithm: a token whose
        // header says none, HS512 or RS256 is refused before any key is used.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[api_key]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
        let keys = std::iter::once(secret)
            .chain(previous)
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()))
            .collect();
        Self { keys, validation }
    }

    fn claims(&self, token: &str) -> Result<Claims, SessionTokenError> {
        let mut last = SessionTokenError::BadSignature;
        for key in &self.keys {
            match decode::<Claims>(token, key, &self.validation) {
                Ok(data) if data.claims.aud.is_string() => return Ok(data.claims),
                Ok(_) => return Err(SessionTokenError::WrongAudience),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => SessionTokenError::BadSignature,
                        ErrorKind::ExpiredSignature => SessionTokenError::Expired,
                        ErrorKind::ImmatureSignature => SessionTokenError::NotYetValid,
                        ErrorKind::InvalidAudience => SessionTokenError::WrongAudience,
                        ErrorKind::MissingRequiredClaim(_) => SessionTokenError::MissingClaim,
                        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                            SessionTokenError::WrongAlgorithm
                        }
                        _ => SessionTokenError::Malformed,
                    };
                    // Only a signature mismatch is worth trying the other key:
                    // the other checks do not depend on it.
                    if last != SessionTokenError::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

impl std::fmt::Debug for JwtCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtCheck({} secrets, redacted)", self.keys.len())
    }
}

/// The shop a bare host names, exactly (no path, port, user or spaces).
fn shop_of_host(host: &str) -> Result<ShopDomain, SessionTokenError> {
    let shop = ShopDomain::parse(host).map_err(|_| SessionTokenError::BadShop)?;
    // `ShopDomain::parse` trims; a token's claim must be the domain itself.
    if host.eq_ignore_ascii_case(shop.as_str()) {
        Ok(shop)
    } else {
        Err(SessionTokenError::BadShop)
    }
}

/// Verifies App Bridge tokens; used by the admin guard only.
#[derive(Debug)]
pub struct AdminTokenVerifier(JwtCheck);

impl AdminTokenVerifier {
    pub fn new(api_key: &str, secret: &SecretString, previous: Option<&SecretString>) -> Self {
        Self(JwtCheck::new(api_key, secret, previous))
    }

    pub fn verify(&self, token: &str) -> Result<AdminToken, SessionTokenError> {
        let (shop, user_id) = staff_claims(self.0.claims(token)?)?;
        Ok(AdminToken { shop, user_id })
    }
}

/// The shop and staff user of a token of the admin shape (App Bridge and
/// POS ID tokens): `iss` = `https://{shop}/admin` for the shop of
/// `dest` = `https://{shop}`, `sub` a numeric user id.
fn staff_claims(claims: Claims) -> Result<(ShopDomain, u64), SessionTokenError> {
    // No `iss` is the mark of an extension token.
    let iss = claims.iss.ok_or(SessionTokenError::NotAnAdminToken)?;
    let host = claims
        .dest
        .strip_prefix("https://")
        .ok_or(SessionTokenError::BadShop)?;
    let shop = shop_of_host(host)?;
    let iss_shop = iss
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix("/admin"))
        .ok_or(SessionTokenError::BadIssuer)?;
    if !iss_shop.eq_ignore_ascii_case(shop.as_str()) {
        return Err(SessionTokenError::BadIssuer);
    }
    let user_id = claims
        .sub
        .as_deref()
        .and_then(parse_decimal_id)
        .ok_or(SessionTokenError::BadSubject)?;
    Ok((shop, user_id))
}

/// A verified POS UI extension token: the staff account signed in to
/// Shopify POS, in `shop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosToken {
    pub shop: ShopDomain,
    /// The Shopify user logged in to POS (`sub`); POS gives no token to a
    /// user without permission to use the app.
    pub user_id: u64,
}

/// Verifies POS UI extension tokens (`shopify.session.getSessionToken()`);
/// used by the POS guard only. Shopify issues them as the same OpenID
/// Connect ID token as App Bridge (the admin shape: `iss`, `dest`, a
/// numeric `sub`; Shopify's app libraries exchange them for an access token
/// like an admin token), so the checks are the admin ones. It is a verifier
/// of its own so the POS routes accept nothing else: above all no
/// extension token, whose holder is a shopper and could otherwise spend
/// any customer's points at the till.
#[derive(Debug)]
pub struct PosTokenVerifier(JwtCheck);

impl PosTokenVerifier {
    pub fn new(api_key: &str, secret: &SecretString, previous: Option<&SecretString>) -> Self {
        Self(JwtCheck::new(api_key, secret, previous))
    }

    pub fn verify(&self, token: &str) -> Result<PosToken, SessionTokenError> {
        let (shop, user_id) = staff_claims(self.0.claims(token)?)?;
        Ok(PosToken { shop, user_id })
    }
}

/// Verifies checkout, order-status and customer-account extension tokens;
/// used by the extension guard only.
#[derive(Debug)]
pub struct ExtensionTokenVerifier(JwtCheck);

impl ExtensionTokenVerifier {
    pub fn new(api_key: &str, secret: &SecretString, previous: Option<&SecretString>) -> Self {
        Self(JwtCheck::new(api_key, secret, previous))
    }

    pub fn verify(&self, token: &str) -> Result<ExtensionToken, SessionTokenError> {
        let claims = self.0.claims(token)?;
        // Extension tokens carry no `iss`; one that does is an admin token
        // (or something else) and has no business here.
        if claims.iss.is_some() {
            return Err(SessionTokenError::NotAnExtensionToken);
        }
        let host = claims.dest.strip_prefix("https://").unwrap_or(&claims.dest);
        let shop = shop_of_host(host)?;
        let customer_id = match claims.sub.as_deref() {
            None => None,
            Some(sub) => {
                let id = CustomerId::of_gid(sub)
                    .map(CustomerId::get)
                    .ok_or(SessionTokenError::BadSubject)?;
                Some(id)
            }
        };
        Ok(ExtensionToken { shop, customer_id })
    }
}

/// A positive id written in plain decimal digits (no sign, no spaces).
fn parse_decimal_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|id| *id > 0)
}

/// Signs a session token (tests, the local stand-in, the sandbox and the
/// bench). Callers pass the claims of one of the two documented shapes:
/// [`admin_claims`] or [`extension_claims`].
pub fn sign_session_token(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The claims of an admin token as App Bridge issues it, valid from `now`
/// for `ttl_secs`.
pub fn admin_claims(
    shop: &str,
    api_key: &str,
    user_id: u64,
    now: i64,
    ttl_secs: i64,
) -> serde_json::Value {
    serde_json::json!({
        "iss": format!("https://{shop}/admin"),
        "dest": format!("https://{shop}"),
        "aud": api_key,
        "sub": user_id.to_string(),
        "exp": now + ttl_secs,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": hex::encode(rand::random::<[u8; 12]>()),
        "sid": hex::encode(rand::random::<[u8; 12]>()),
    })
}

/// The claims of an extension token as Shopify documents it: no `iss`,
/// `dest` the bare shop domain, `sub` the buyer's GID only when logged in.
pub fn extension_claims(
    shop: &str,
    api_key: &str,
    customer_id: Option<i64>,
    now: i64,
    ttl_secs: i64,
) -> serde_json::Value {
    let mut claims = serde_json::json!({
        "dest": shop,
        "aud": api_key,
        "exp": now + ttl_secs,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": hex::encode(rand::random::<[u8; 12]>()),
    });
    if let Some(id) = customer_id {
        claims["sub"] = CustomerId(id).gid().into();
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
    use serde_json::json;

    const SECRET: &str = "client-secret";
    const SHOP: &str = "a-shop.myshopify.com";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn admin() -> serde_json::Value {
        admin_claims(SHOP, "client-id", 42, now(), 60)
    }

    fn extension(customer: Option<i64>) -> serde_json::Value {
        extension_claims(SHOP, "client-id", customer, now(), 60)
    }

    fn with(mut claims: serde_json::Value, changes: serde_json::Value) -> serde_json::Value {
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn secrets() -> (SecretString, SecretString) {
        (SECRET.to_owned().into(), "old-secret".to_owned().into())
    }

    fn admin_verifier() -> AdminTokenVerifier {
        let (current, previous) = secrets();
        AdminTokenVerifier::new("client-id", &current, Some(&previous))
    }

    fn extension_verifier() -> ExtensionTokenVerifier {
        let (current, previous) = secrets();
        ExtensionTokenVerifier::new("client-id", &current, Some(&previous))
    }

    fn sign(claims: &serde_json::Value) -> String {
        sign_session_token(SECRET, claims)
    }

    /// A token with any header, signed with HMAC-SHA256 over what it says.
    fn with_header(header: &str, claims: &serde_json::Value) -> String {
        use hmac::{Hmac, Mac};
        let message = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(message.as_bytes());
        format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn the_documented_admin_shape_passes_the_admin_verifier_only() {
        let token = sign(&admin());
        assert_eq!(
            admin_verifier().verify(&token),
            Ok(AdminToken {
                shop: ShopDomain::parse(SHOP).unwrap(),
                user_id: 42
            })
        );
        assert_eq!(
            extension_verifier().verify(&token),
            Err(SessionTokenError::NotAnExtensionToken)
        );
    }

    #[test]
    fn the_documented_extension_shape_passes_the_extension_verifier_only() {
        for claims in [
            extension(Some(820982911946154508)),
            with(
                extension(Some(7)),
                json!({"dest": format!("https://{SHOP}")}),
            ),
        ] {
            let token = sign(&claims);
            let verified = extension_verifier().verify(&token).unwrap();
            assert_eq!(verified.shop.as_str(), SHOP);
            assert!(verified.customer_id.is_some());
            assert_eq!(
                admin_verifier().verify(&token),
                Err(SessionTokenError::NotAnAdminToken)
            );
        }
        let logged_out = extension_verifier()
            .verify(&sign(&extension(None)))
            .unwrap();
        assert_eq!(logged_out.customer_id, None);
    }

    #[test]
    fn each_broken_admin_token_gets_its_answer() {
        let cases = [
            (
                sign_session_token("wrong", &admin()),
                SessionTokenError::BadSignature,
            ),
            (
                sign(&with(admin(), json!({"aud": "another-app"}))),
                SessionTokenError::WrongAudience,
            ),
            (
                sign(&with(admin(), json!({"aud": null}))),
                SessionTokenError::MissingClaim,
            ),
            (
                sign(&with(admin(), json!({"aud": ["client-id", "other"]}))),
                SessionTokenError::WrongAudience,
            ),
            (
                sign(&with(admin(), json!({"exp": now() - 30}))),
                SessionTokenError::Expired,
            ),
            (
                sign(&with(admin(), json!({"exp": null}))),
                SessionTokenError::MissingClaim,
            ),
            (
                sign(&with(admin(), json!({"nbf": now() + 30}))),
                SessionTokenError::NotYetValid,
            ),
            (
                sign(&with(admin(), json!({"nbf": null}))),
                SessionTokenError::MissingClaim,
            ),
            (
                sign(&with(admin(), json!({"dest": "https://evil.example.com"}))),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(admin(), json!({"dest": SHOP}))),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(admin(), json!({"dest": format!("https://{SHOP}/x")}))),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(
                    admin(),
                    json!({"iss": "https://other-shop.myshopify.com/admin"}),
                )),
                SessionTokenError::BadIssuer,
            ),
            (
                sign(&with(admin(), json!({"iss": format!("https://{SHOP}")}))),
                SessionTokenError::BadIssuer,
            ),
            (
                sign(&with(admin(), json!({"iss": null}))),
                SessionTokenError::NotAnAdminToken,
            ),
            (
                sign(&with(admin(), json!({"sub": "gid://shopify/Customer/5"}))),
                SessionTokenError::BadSubject,
            ),
            (
                sign(&with(admin(), json!({"sub": "-1"}))),
                SessionTokenError::BadSubject,
            ),
            (
                sign(&with(admin(), json!({"sub": null}))),
                SessionTokenError::BadSubject,
            ),
            (
                with_header(r#"{"alg":"HS512","typ":"JWT"}"#, &admin()),
                SessionTokenError::WrongAlgorithm,
            ),
            (
                with_header(r#"{"alg":"RS256","typ":"JWT"}"#, &admin()),
                SessionTokenError::WrongAlgorithm,
            ),
            ("not.a.token".to_owned(), SessionTokenError::Malformed),
        ];
        let v = admin_verifier();
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected:?}");
        }
    }

    #[test]
    fn each_broken_extension_token_gets_its_answer() {
        let cases = [
            (
                sign_session_token("wrong", &extension(None)),
                SessionTokenError::BadSignature,
            ),
            (
                sign(&with(extension(None), json!({"aud": "another-app"}))),
                SessionTokenError::WrongAudience,
            ),
            (
                sign(&with(extension(None), json!({"exp": now() - 30}))),
                SessionTokenError::Expired,
            ),
            (
                sign(&with(extension(None), json!({"nbf": now() + 30}))),
                SessionTokenError::NotYetValid,
            ),
            (
                sign(&with(extension(None), json!({"dest": "evil.example.com"}))),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(
                    extension(None),
                    json!({"dest": format!("http://{SHOP}")}),
                )),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(extension(None), json!({"dest": format!(" {SHOP}")}))),
                SessionTokenError::BadShop,
            ),
            (
                sign(&with(
                    extension(None),
                    json!({"iss": format!("https://{SHOP}/admin")}),
                )),
                SessionTokenError::NotAnExtensionToken,
            ),
            (
                sign(&with(extension(None), json!({"sub": "42"}))),
                SessionTokenError::BadSubject,
            ),
            (
                sign(&with(
                    extension(None),
                    json!({"sub": "gid://shopify/StaffMember/1"}),
                )),
                SessionTokenError::BadSubject,
            ),
            (
                sign(&with(
                    extension(None),
                    json!({"sub": "gid://shopify/Customer/99999999999999999999"}),
                )),
                SessionTokenError::BadSubject,
            ),
            (
                with_header(r#"{"alg":"HS512","typ":"JWT"}"#, &extension(None)),
                SessionTokenError::WrongAlgorithm,
            ),
        ];
        let v = extension_verifier();
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected:?}");
        }
    }

    #[test]
    fn alg_none_is_refused_by_both() {
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for claims in [admin(), extension(Some(1))] {
            let token = format!("{header}.{}.", B64.encode(claims.to_string()));
            assert!(admin_verifier().verify(&token).is_err());
            assert!(extension_verifier().verify(&token).is_err());
        }
    }

    #[test]
    fn leeway_covers_a_few_seconds_of_clock_skew() {
        let v = admin_verifier();
        assert!(v
            .verify(&sign(&with(admin(), json!({"exp": now() - 5}))))
            .is_ok());
        assert!(v
            .verify(&sign(&with(admin(), json!({"nbf": now() + 5}))))
            .is_ok());
    }

    #[test]
    fn a_token_signed_with_the_previous_secret_passes_during_rotation() {
        let token = sign_session_token("old-secret", &admin());
        assert!(admin_verifier().verify(&token).is_ok());
        let only_current = AdminTokenVerifier::new("client-id", &SECRET.to_owned().into(), None);
        assert_eq!(
            only_current.verify(&token),
            Err(SessionTokenError::BadSignature)
        );
        let token = sign_session_token("old-secret", &extension(None));
        assert!(extension_verifier().verify(&token).is_ok());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_strings_are_never_accepted(token in ".{0,400}") {
                prop_assert!(admin_verifier().verify(&token).is_err());
                prop_assert!(extension_verifier().verify(&token).is_err());
            }

            #[test]
            fn arbitrary_three_part_tokens_are_never_accepted(
                header in proptest::collection::vec(any::<u8>(), 0..80),
                body in proptest::collection::vec(any::<u8>(), 0..200),
                signature in proptest::collection::vec(any::<u8>(), 0..40),
            ) {
                let token = format!("{}.{}.{}", B64.encode(header), B64.encode(body), B64.encode(signature));
                prop_assert!(admin_verifier().verify(&token).is_err());
                prop_assert!(extension_verifier().verify(&token).is_err());
            }

            /// Documented claims with any string in place of each claim's
            /// value, signed with a key that is not ours: never accepted.
            #[test]
            fn documented_claims_under_a_wrong_key_are_never_accepted(
                key in ".{0,40}",
                iss in proptest::option::of(".{0,60}"),
                dest in ".{0,60}",
                sub in proptest::option::of(".{0,60}"),
            ) {
                prop_assume!(key != SECRET && key != "old-secret");
                let claims = json!({
                    "iss": iss, "dest": dest, "sub": sub, "aud": "client-id",
                    "exp": now() + 60, "nbf": now() - 1,
                });
                let token = sign_session_token(&key, &claims);
                prop_assert!(admin_verifier().verify(&token).is_err());
                prop_assert!(extension_verifier().verify(&token).is_err());
            }

            /// Correctly signed claims of any content: no panic, and an
            /// accepted token always has one of the two documented shapes.
            #[test]
            fn correctly_signed_odd_claims_pass_only_in_a_documented_shape(
                iss in proptest::option::of("(https://)?[a-zA-Z0-9.-]{0,30}(/admin)?"),
                dest in "(https://)?[a-zA-Z0-9. -]{0,30}",
                sub in proptest::option::of("(gid://shopify/Customer/)?-?[0-9a-z]{0,22}"),
            ) {
                let claims = json!({
                    "iss": iss, "dest": dest, "sub": sub, "aud": "client-id",
                    "exp": now() + 60, "nbf": now() - 1,
                });
                let token = sign(&claims);
                if let Ok(admin) = admin_verifier().verify(&token) {
                    prop_assert_eq!(iss.as_deref().map(str::to_ascii_lowercase), Some(format!("https://{}/admin", admin.shop)));
                    prop_assert_eq!(dest.to_ascii_lowercase(), format!("https://{}", admin.shop));
                    prop_assert_eq!(sub.as_deref().and_then(|s| s.parse::<u64>().ok()), Some(admin.user_id));
                }
                if let Ok(extension) = extension_verifier().verify(&token) {
                    prop_assert!(iss.is_none());
                    prop_assert!(dest.to_ascii_lowercase().ends_with(extension.shop.as_str()));
                    let customer = sub.as_deref().map(|s| s.strip_prefix("gid://shopify/Customer/").and_then(|id| id.parse::<i64>().ok()));
                    prop_assert_eq!(customer, extension.customer_id.map(Some));
                }
            }
        }
    }
}
