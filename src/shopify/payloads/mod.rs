//! Shopify's webhook payloads, parsed for their topic into what the rest of
//! Advocate acts on: the engine's events for orders, refunds and customers,
//! and the compliance requests. Parsing needs no database, so it runs before
//! the transaction that applies the payload. Ids are read as 64-bit
//! integers, never through floating point.
//!
//! | module | parses |
//! |---|---|
//! | `orders` | orders and refunds, into [`crate::engine::orders::OrderEvent`] |
//! | `customers` | customers, into [`crate::engine::customers::CustomerEvent`], and the compliance topics |
//! | [`history`] | the history import's bulk query objects (customers, orders with their line items) |

mod customers;
pub mod history;
mod orders;

use chrono::DateTime;
use serde::Deserialize;

use crate::{
    engine::{customers::CustomerEvent, orders::OrderEvent},
    error_text,
    shopify::webhook::WebhookTopic,
};

/// The order and refund topics: parsed into an [`OrderEvent`].
pub const ORDER_TOPICS: [WebhookTopic; 5] = [
    WebhookTopic::OrdersUpdated,
    WebhookTopic::OrdersPaid,
    WebhookTopic::OrdersFulfilled,
    WebhookTopic::OrdersCancelled,
    WebhookTopic::RefundsCreate,
];

/// A delivery's body, parsed for its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    AppUninstalled,
    /// customers/create or customers/update.
    Customer(Box<CustomerEvent>),
    CustomerDeleted {
        customer_id: i64,
    },
    DataRequest {
        customer_id: i64,
        request_id: i64,
        orders_requested: Vec<i64>,
    },
    CustomerRedact {
        customer_id: i64,
        orders_to_redact: Vec<i64>,
        /// The e-mail and phone Shopify sends with the request: they find
        /// the customer's data in payloads that carry no customer id.
        email: Option<String>,
        phone: Option<String>,
    },
    ShopRedact,
    /// shop/update: the shop's settings changed; Advocate keeps its time
    /// zone (`iana_timezone`; None when the body has none).
    ShopUpdated {
        iana_timezone: Option<String>,
    },
    /// An order or refund, for the loyalty engine.
    Order(OrderEvent),
    /// Valid JSON on a topic with nothing to do.
    Unhandled,
}

impl Payload {
    /// False when applying it writes nothing but the inbox row.
    pub fn writes(&self) -> bool {
        !matches!(self, Payload::Unhandled)
    }
}

/// Why a body does not parse. The same bytes will never parse, so the
/// delivery is a dead letter; the text names what was wrong and where (the
/// JSON path), never the value found: it is stored and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// Parses a body for its topic.
pub fn parse_payload(topic: &WebhookTopic, body: &[u8]) -> Result<Payload, PayloadError> {
    Ok(match topic {
        WebhookTopic::AppUninstalled => {
            parse::<serde::de::IgnoredAny>(body)?;
            Payload::AppUninstalled
        }
        WebhookTopic::CustomersCreate | WebhookTopic::CustomersUpdate => {
            Payload::Customer(Box::new(customers::parse_customer(topic, body)?))
        }
        WebhookTopic::CustomersDelete => Payload::CustomerDeleted {
            customer_id: customers::parse_deleted(body)?,
        },
        WebhookTopic::CustomersDataRequest => customers::parse_data_request(body)?,
        WebhookTopic::CustomersRedact => customers::parse_redact(body)?,
        WebhookTopic::ShopRedact => {
            parse::<serde::de::IgnoredAny>(body)?;
            Payload::ShopRedact
        }
        WebhookTopic::ShopUpdate => {
            #[derive(serde::Deserialize)]
            struct ShopBody {
                #[serde(default)]
                iana_timezone: Option<String>,
            }
            Payload::ShopUpdated {
                iana_timezone: parse::<ShopBody>(body)?.iana_timezone,
            }
        }
        // Orders are most of the traffic and their bodies are large: read
        // once; only a body that fails is read again, to say whether it is
        // JSON at all.
        topic if ORDER_TOPICS.contains(topic) => match orders::parse_event(topic, body) {
            Ok(event) => Payload::Order(event),
            Err(e) => {
                parse::<serde::de::IgnoredAny>(body)?;
                return Err(PayloadError(format!(
                    "unexpected payload: {}",
                    error_text::payload_error(&e, body)
                )));
            }
        },
        _ => {
            parse::<serde::de::IgnoredAny>(body)?;
            Payload::Unhandled
        }
    })
}

/// Parses a body; the error says whether it is JSON at all.
fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = error_text::payload_error(&e.to_string(), body);
        PayloadError(if e.is_syntax() || e.is_eof() {
            format!("body is not valid JSON: {what}")
        } else {
            format!("unexpected payload: {what}")
        })
    })
}

/// Shopify timestamps (RFC 3339) as epoch milliseconds.
pub fn parse_time(raw: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shopify_times_become_epoch_milliseconds() {
        assert_eq!(
            super::parse_time("2021-12-31T19:00:00-05:00"),
            Some(1_640_995_200_000)
        );
        assert_eq!(super::parse_time("yesterday"), None);
    }
}
