//! Webhook deliveries as Shopify sends them: the headers that identify a
//! delivery (in both the `X-Shopify-*` and the newer `shopify-*` spelling)
//! and the topics Advocate knows.

use std::fmt;

use super::ShopDomain;

/// Header names without their prefix; each is looked up as `X-Shopify-{name}`
/// and as `shopify-{name}` (HTTP header names are case-insensitive).
pub mod header {
    pub const HMAC: &str = "hmac-sha256";
    pub const TOPIC: &str = "topic";
    pub const SHOP_DOMAIN: &str = "shop-domain";
    pub const WEBHOOK_ID: &str = "webhook-id";
    pub const EVENT_ID: &str = "event-id";
    pub const TRIGGERED_AT: &str = "triggered-at";
    pub const API_VERSION: &str = "api-version";
}

/// Looks a Shopify header up under both spellings.
pub fn find_header<'a>(lookup: impl Fn(&str) -> Option<&'a str>, name: &str) -> Option<&'a str> {
    lookup(&format!("x-shopify-{name}"))
        .or_else(|| lookup(&format!("shopify-{name}")))
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The identity of one delivery, taken from its headers after the signature
/// was verified.
#[derive(Debug, Clone)]
pub struct DeliveryHeaders {
    pub topic: WebhookTopic,
    pub shop: ShopDomain,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub triggered_at: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("missing header X-Shopify-{0}")]
    Missing(&'static str),
    #[error("missing header X-Shopify-Event-Id or X-Shopify-Webhook-Id")]
    MissingId,
    #[error("header X-Shopify-{0} is too long")]
    TooLong(&'static str),
    #[error(transparent)]
    Shop(#[from] super::domain::InvalidShopDomain),
}

/// Longest id or topic we store; Shopify's are far shorter.
const MAX_HEADER_VALUE: usize = 255;

impl DeliveryHeaders {
    pub fn parse<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> Result<Self, HeaderError> {
        let get = |name: &'static str| -> Result<Option<String>, HeaderError> {
            match find_header(&lookup, name) {
                Some(v) if v.len() > MAX_HEADER_VALUE => Err(HeaderError::TooLong(name)),
                v => Ok(v.map(str::to_owned)),
            }
        };
        let topic = get(header::TOPIC)?.ok_or(HeaderError::Missing("Topic"))?;
        let shop = get(header::SHOP_DOMAIN)?.ok_or(HeaderError::Missing("Shop-Domain"))?;
        let shop = ShopDomain::parse(&shop)?;
        let webhook_id = get(header::WEBHOOK_ID)?;
        let event_id = get(header::EVENT_ID)?;
        if webhook_id.is_none() && event_id.is_none() {
            return Err(HeaderError::MissingId);
        }
        Ok(Self {
            topic: WebhookTopic::from(topic.as_str()),
            shop,
            webhook_id,
            event_id,
            triggered_at: get(header::TRIGGERED_AT)?,
            api_version: get(header::API_VERSION)?,
        })
    }

    /// What makes two deliveries the same: the event id when Shopify sends
    /// one (it is shared by every subscription's copy of one event), else the
    /// webhook id (shared by the retries of one delivery).
    pub fn delivery_key(&self) -> &str {
        self.event_id
            .as_deref()
            .or(self.webhook_id.as_deref())
            .expect("parse guarantees one id")
    }
}

/// Webhook topics Advocate acts on; anything else is kept and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WebhookTopic {
    AppUninstalled,
    CustomersCreate,
    CustomersUpdate,
    CustomersDelete,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
    ShopUpdate,
    OrdersCreate,
    OrdersUpdated,
    OrdersPaid,
    OrdersFulfilled,
    OrdersCancelled,
    RefundsCreate,
    BulkOperationsFinish,
    Unknown(String),
}

impl WebhookTopic {
    /// Every topic with a handler, for `shopify.app.toml` checks.
    pub const KNOWN: [WebhookTopic; 15] = [
        Self::AppUninstalled,
        Self::CustomersCreate,
        Self::CustomersUpdate,
        Self::CustomersDelete,
        Self::CustomersDataRequest,
        Self::CustomersRedact,
        Self::ShopRedact,
        Self::ShopUpdate,
        Self::OrdersCreate,
        Self::OrdersUpdated,
        Self::OrdersPaid,
        Self::OrdersFulfilled,
        Self::OrdersCancelled,
        Self::RefundsCreate,
        Self::BulkOperationsFinish,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::AppUninstalled => "app/uninstalled",
            Self::CustomersCreate => "customers/create",
            Self::CustomersUpdate => "customers/update",
            Self::CustomersDelete => "customers/delete",
            Self::CustomersDataRequest => "customers/data_request",
            Self::CustomersRedact => "customers/redact",
            Self::ShopRedact => "shop/redact",
            Self::ShopUpdate => "shop/update",
            Self::OrdersCreate => "orders/create",
            Self::OrdersUpdated => "orders/updated",
            Self::OrdersPaid => "orders/paid",
            Self::OrdersFulfilled => "orders/fulfilled",
            Self::OrdersCancelled => "orders/cancelled",
            Self::RefundsCreate => "refunds/create",
            Self::BulkOperationsFinish => "bulk_operations/finish",
            Self::Unknown(topic) => topic,
        }
    }

    /// Compliance topics must be honoured even for an uninstalled shop.
    pub fn is_compliance(&self) -> bool {
        matches!(
            self,
            Self::CustomersDataRequest | Self::CustomersRedact | Self::ShopRedact
        )
    }
}

impl From<&str> for WebhookTopic {
    fn from(raw: &str) -> Self {
        // Shopify sends topics lowercase with '/'; the newer event headers
        // may use '.' (e.g. `customers.update`): accept both.
        let normalised = raw.trim().to_ascii_lowercase().replace('.', "/");
        Self::KNOWN
            .into_iter()
            .find(|topic| topic.as_str() == normalised)
            .unwrap_or(Self::Unknown(raw.trim().to_owned()))
    }
}

impl fmt::Display for WebhookTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> Result<DeliveryHeaders, HeaderError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        DeliveryHeaders::parse(|name| map.get(name).map(String::as_str))
    }

    #[test]
    fn both_header_spellings_are_read() {
        let old = headers(&[
            ("X-Shopify-Topic", "orders/paid"),
            ("X-Shopify-Shop-Domain", "a.myshopify.com"),
            ("X-Shopify-Webhook-Id", "w1"),
        ])
        .unwrap();
        assert_eq!(old.topic, WebhookTopic::OrdersPaid);
        assert_eq!(old.delivery_key(), "w1");
        let new = headers(&[
            ("shopify-topic", "orders/paid"),
            ("shopify-shop-domain", "a.myshopify.com"),
            ("shopify-webhook-id", "w1"),
            ("shopify-event-id", "e1"),
        ])
        .unwrap();
        assert_eq!(new.delivery_key(), "e1");
    }

    #[test]
    fn missing_pieces_are_named() {
        assert_eq!(
            headers(&[("X-Shopify-Shop-Domain", "a.myshopify.com")]).unwrap_err(),
            HeaderError::Missing("Topic")
        );
        assert_eq!(
            headers(&[
                ("X-Shopify-Topic", "orders/paid"),
                ("X-Shopify-Shop-Domain", "a.myshopify.com")
            ])
            .unwrap_err(),
            HeaderError::MissingId
        );
    }

    #[test]
    fn topics_round_trip_and_unknown_ones_are_kept() {
        for topic in WebhookTopic::KNOWN {
            assert_eq!(WebhookTopic::from(topic.as_str()), topic);
        }
        assert_eq!(
            WebhookTopic::from("customers.update"),
            WebhookTopic::CustomersUpdate
        );
        assert_eq!(
            WebhookTopic::from("products/update"),
            WebhookTopic::Unknown("products/update".into())
        );
    }
}
