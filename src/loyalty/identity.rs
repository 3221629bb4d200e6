//! Hashed identifiers for matching people without keeping what identifies
//! them: an email, a phone number or a shipping address is normalised and
//! hashed (SHA-256, hex). Used to link guest orders to accounts and by the
//! referral fraud rules. The hashes are erased with the rest of a
//! customer's data on redaction.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A postal address as Shopify sends it (orders' `shipping_address`,
/// customers' `default_address`): only what matching needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Address {
    pub address1: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
}

/// The (email, phone, address) hashes of someone with this email, phone
/// and address; the address's phone stands in for a missing phone.
pub fn hashes(
    email_raw: Option<&str>,
    phone_raw: Option<&str>,
    at: Option<&Address>,
) -> (Option<String>, Option<String>, Option<String>) {
    (
        email(email_raw),
        phone(phone_raw.or(at.and_then(|a| a.phone.as_deref()))),
        at.and_then(|a| {
            address(
                a.address1.as_deref(),
                a.zip.as_deref(),
                a.country_code.as_deref().or(a.country.as_deref()),
            )
        }),
    )
}

fn hash(kind: &str, normalised: &str) -> Option<String> {
    if normalised.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"advocate:");
    h.update(kind.as_bytes());
    h.update(b":");
    h.update(normalised.as_bytes());
    Some(hex::encode(h.finalize()))
}

/// Case and surrounding space do not matter.
pub fn email(raw: Option<&str>) -> Option<String> {
    hash("email", &raw?.trim().to_lowercase())
}

/// Only the digits count, and only the last ten (country prefixes vary).
pub fn phone(raw: Option<&str>) -> Option<String> {
    let digits: String = raw?.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return None;
    }
    let tail = &digits[digits.len().saturating_sub(10)..];
    hash("phone", tail)
}

/// First address line, postal code and country, letters and digits only.
pub fn address(address1: Option<&str>, zip: Option<&str>, country: Option<&str>) -> Option<String> {
    let clean = |s: Option<&str>| -> String {
        s.unwrap_or_default()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let line = clean(address1);
    if line.is_empty() {
        return None;
    }
    hash(
        "address",
        &format!("{line}|{}|{}", clean(zip), clean(country)),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn spelling_differences_do_not_matter() {
        assert_eq!(
            super::email(Some(" Jon@Example.com ")),
            super::email(Some("jon@example.com"))
        );
        assert_eq!(
            super::phone(Some("+1 (555) 555-1234")),
            super::phone(Some("555.555.1234"))
        );
        assert_eq!(
            super::address(Some("151 O'Connor Street"), Some("K2P 2L8"), Some("CA")),
            super::address(Some("151 oconnor street"), Some("k2p2l8"), Some("ca"))
        );
        assert_ne!(super::email(Some("a@x")), super::email(Some("b@x")));
        assert_eq!(super::email(Some("  ")), None);
        assert_eq!(super::phone(Some("12")), None);
    }
}
