//! Shopify's rules as the stand-in applies them, written from Shopify's
//! documents and kept apart from the app's own code, so the stand-in checks
//! the app against Shopify's rules rather than against the app's reading of
//! them: shop domains, HMAC-SHA256 signatures (hex and base64), the OAuth
//! query's canonical form, and the App Bridge session token.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Sha256;

/// The Admin API version the stand-in names on what it sends.
pub const API_VERSION: &str = "2026-07";

/// Clock skew tolerated on a session token's `exp` and `nbf`.
const LEEWAY_SECS: u64 = 10;

/// The shop a domain names, lowercased: `name.myshopify.com` where the name
/// matches `[a-zA-Z0-9][a-zA-Z0-9-]*` (at most 60 characters). Surrounding
/// whitespace is ignored.
pub fn shop_domain(raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    let name = lower.strip_suffix(".myshopify.com")?;
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    (first_ok && rest_ok && name.len() <= 60).then_some(lower)
}

fn hmac_sha256(secret: &str, message: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA256 with the client secret, base64: a webhook's
/// `X-Shopify-Hmac-Sha256` over the raw body.
pub fn sign_base64(secret: &str, body: &[u8]) -> String {
    BASE64.encode(hmac_sha256(secret, body))
}

/// HMAC-SHA256 with the client secret, lowercase hex: the OAuth query's
/// `hmac` over its canonical form.
pub fn sign_hex(secret: &str, message: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, message))
}

/// A query string as decoded pairs, in the order they came.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw_query.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name`, or empty.
pub fn query_value(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The message an OAuth query's `hmac` signs: every parameter but `hmac`
/// and `signature`; the values of `key[]` gathered as `key=["a", "b"]`;
/// `%` and `&` escaped in keys and values and `=` in keys; sorted by key;
/// `key=value` joined with `&`.
pub fn oauth_message(pairs: &[(String, String)]) -> String {
    let mut plain: Vec<(String, String)> = Vec::new();
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in pairs {
        if key == "hmac" || key == "signature" {
            continue;
        }
        let Some(base) = key.strip_suffix("[]") else {
            plain.push((key.clone(), value.clone()));
            continue;
        };
        match lists.iter_mut().find(|(k, _)| k == base) {
            Some((_, values)) => values.push(value.clone()),
            None => lists.push((base.to_owned(), vec![value.clone()])),
        }
    }
    for (key, values) in lists {
        let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        plain.push((key, format!("[{}]", quoted.join(", "))));
    }
    let escape_value = |s: &str| s.replace('%', "%25").replace('&', "%26");
    let escape_key = |s: &str| escape_value(s).replace('=', "%3D");
    let mut parts: Vec<(String, String)> = plain
        .iter()
        .map(|(k, v)| (escape_key(k), escape_value(v)))
        .collect();
    parts.sort();
    let joined: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

#[derive(Deserialize)]
struct AdminClaims {
    #[serde(default)]
    aud: serde_json::Value,
    iss: Option<String>,
    dest: String,
    sub: Option<String>,
}

/// The shop of a valid App Bridge session token, as Shopify checks it for a
/// token exchange: HS256 signed with the client secret, `aud` the client id
/// (one string), `exp` and `nbf` present and current (10 s of skew),
/// `dest` = `https://{shop}`, `iss` = `https://{shop}/admin` for the same
/// shop, and `sub` a staff user's positive numeric id. `None` for anything
/// else, an extension token (no `iss`) included.
pub fn admin_token_shop(api_key: &str, secret: &str, token: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_audience(&[api_key]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
    let key = DecodingKey::from_secret(secret.as_bytes());
    let claims = jsonwebtoken::decode::<AdminClaims>(token, &key, &validation)
        .ok()?
        .claims;
    if !claims.aud.is_string() {
        return None;
    }
    let host = claims.dest.strip_prefix("https://")?;
    let shop = shop_domain(host).filter(|shop| host.eq_ignore_ascii_case(shop))?;
    let iss_shop = claims
        .iss?
        .strip_prefix("https://")?
        .strip_suffix("/admin")?
        .to_owned();
    let user = claims
        .sub
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let user_ok = user
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|id| id > 0);
    (iss_shop.eq_ignore_ascii_case(&shop) && user_ok).then_some(shop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domains() {
        assert_eq!(
            shop_domain("My-Shop1.myshopify.com").as_deref(),
            Some("my-shop1.myshopify.com")
        );
        for bad in [
            "",
            ".myshopify.com",
            "-shop.myshopify.com",
            "shop.myshopify.com.evil.com",
            "shop_1.myshopify.com",
            "a.b.myshopify.com",
            "https://shop.myshopify.com",
        ] {
            assert_eq!(shop_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn webhook_signature_matches_shopify_vector() {
        // Shopify's PHP library's vector.
        assert_eq!(
            sign_base64("7008c5f4da4718b9b45d26d3fcbbb157", br#"{"foo":"bar"}"#),
            "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY="
        );
    }

    #[test]
    fn oauth_message_sorts_escapes_and_gathers_lists() {
        let pairs = query_pairs("shop=a.myshopify.com&hmac=x&ids[]=1&code=c&ids[]=2&a%3Db=1%262");
        assert_eq!(
            oauth_message(&pairs),
            "a%3Db=1%262&code=c&ids=[\"1\", \"2\"]&shop=a.myshopify.com"
        );
    }
}
