//! Typed ids, so a shop id cannot be passed where a customer id is meant.
//! Each wraps the `i64` the database stores: the shop id is Advocate's own
//! row id, customer and order ids are Shopify's 64-bit integer ids. They
//! serialize as the plain number and bind and decode as `BIGINT`/`INTEGER`
//! on both backends (`sqlx(transparent)`).

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The stored integer.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A shop: the `shops` table's row id.
    ShopId
);
id!(
    /// A Shopify customer's numeric id.
    CustomerId
);
id!(
    /// A Shopify order's numeric id.
    OrderId
);

/// How a customer's Admin API id begins.
const CUSTOMER_GID_PREFIX: &str = "gid://shopify/Customer/";

impl CustomerId {
    /// The customer's Admin API id, `gid://shopify/Customer/<id>`: how
    /// effects name the customer to Shopify.
    pub fn gid(self) -> String {
        format!("{CUSTOMER_GID_PREFIX}{}", self.0)
    }

    /// The customer of an Admin API id, when it is written in plain
    /// positive decimal digits (no sign, no spaces), as Shopify writes it.
    pub fn of_gid(gid: &str) -> Option<Self> {
        let raw = gid.strip_prefix(CUSTOMER_GID_PREFIX)?;
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse::<i64>().ok().filter(|id| *id > 0).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&CustomerId(42)).unwrap(), "42");
        assert_eq!(
            serde_json::from_str::<OrderId>("7").unwrap(),
            OrderId::from(7)
        );
        assert_eq!(ShopId(3).to_string(), "3");
    }
}
