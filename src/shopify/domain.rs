//! Shop domains: `name.myshopify.com`, lowercased. Parsed once at the
//! boundary so every later use is known to be a valid shop.

use std::fmt;

/// A validated `*.myshopify.com` domain, always lowercase.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShopDomain(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a shop domain (expected name.myshopify.com)")]
pub struct InvalidShopDomain(pub String);

impl ShopDomain {
    /// Accepts `^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$`, case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, InvalidShopDomain> {
        let lower = raw.trim().to_ascii_lowercase();
        let Some(name) = lower.strip_suffix(".myshopify.com") else {
            return Err(InvalidShopDomain(shorten(raw)));
        };
        let mut chars = name.chars();
        let valid = match chars.next() {
            Some(first) if first.is_ascii_alphanumeric() => {
                chars.all(|c| c.is_ascii_alphanumeric() || c == '-') && name.len() <= 60
            }
            _ => false,
        };
        if valid {
            Ok(Self(lower))
        } else {
            Err(InvalidShopDomain(shorten(raw)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Error messages echo the input; keep them short whatever was sent.
fn shorten(raw: &str) -> String {
    raw.chars().take(80).collect()
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShopDomain({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_myshopify_domains_and_lowercases_them() {
        let shop = ShopDomain::parse("My-Shop1.myshopify.com").unwrap();
        assert_eq!(shop.as_str(), "my-shop1.myshopify.com");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            ".myshopify.com",
            "-shop.myshopify.com",
            "shop.myshopify.com.evil.com",
            "shop.example.com",
            "sh op.myshopify.com",
            "shop_1.myshopify.com",
            "a.b.myshopify.com",
            "https://shop.myshopify.com",
        ] {
            assert!(ShopDomain::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
