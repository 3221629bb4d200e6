//! Removing personal data from raw payloads we must keep once the customer
//! they concern is redacted: webhook deliveries still held, queued or dead
//! (their bodies), and Shopify effects in the outbox (their payloads).
//!
//! A kept delivery is found by reading its body, never by ids recorded when
//! it was handled: a dead letter was never handled. It concerns the shopper
//! when it is their customer record, one of the orders named in the
//! request, or when it carries their customer id (`customer.id`,
//! `customer_id`), their Admin API id, their e-mail or their phone. Such a
//! body keeps its ids and amounts with every personal field nulled; if any
//! of the shopper's known values is still in it after that (an unexpected
//! field), or it is not JSON at all, nothing of it is kept.
//!
//! A delivery that arrives after the redaction and is kept (a dead letter,
//! a retry) is found by the ids it names ([`NamedIds`]): the redacted
//! customers and orders are known from the database by then.

use serde_json::Value;

use crate::{engine::effects::Effect, loyalty::CustomerId, store::outbox::EffectRedaction};

/// What a body that cannot be scrubbed field by field becomes.
pub const DROPPED_BODY: &[u8] = br#"{"redacted":true}"#;

/// Phone numbers shorter than this (in digits) are not looked for: they
/// would match unrelated numbers.
const MIN_PHONE_DIGITS: usize = 7;

/// The shopper of a customers/redact request and the values that identify
/// them in a payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shopper {
    pub customer_id: i64,
    /// The request's `orders_to_redact`.
    pub order_ids: Vec<i64>,
    /// Lower-cased.
    emails: Vec<String>,
    /// Digits only.
    phones: Vec<String>,
    /// Lower-cased names, looked for only in bodies already known to
    /// concern the shopper.
    names: Vec<String>,
}

impl Shopper {
    pub fn new(customer_id: i64, order_ids: Vec<i64>) -> Self {
        Self {
            customer_id,
            order_ids,
            ..Self::default()
        }
    }

    /// Adds an e-mail address of theirs (from the request or their profile).
    pub fn email(mut self, email: Option<&str>) -> Self {
        if let Some(email) = email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'))
        {
            if !self.emails.contains(&email) {
                self.emails.push(email);
            }
        }
        self
    }

    /// Adds a phone number of theirs.
    pub fn phone(mut self, phone: Option<&str>) -> Self {
        let digits: String = phone
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if digits.len() >= MIN_PHONE_DIGITS && !self.phones.contains(&digits) {
            self.phones.push(digits);
        }
        self
    }

    /// Adds a name of theirs (first or last name from their profile).
    pub fn name(mut self, name: Option<&str>) -> Self {
        if let Some(name) = name
            .map(|n| n.trim().to_lowercase())
            .filter(|n| n.chars().count() >= 2)
        {
            if !self.names.contains(&name) {
                self.names.push(name);
            }
        }
        self
    }

    /// The kept webhook body of `topic`, scrubbed, when it concerns the
    /// shopper; None when it does not.
    pub fn scrub_body(&self, topic: &str, body: &[u8]) -> Option<Vec<u8>> {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return self.named_in_text(body).then(|| DROPPED_BODY.to_vec());
        };
        if !self.concerns(topic, &value) {
            return None;
        }
        let scrubbed = redact_body(body);
        Some(if self.still_named(&scrubbed) {
            DROPPED_BODY.to_vec()
        } else {
            scrubbed
        })
    }

    /// What becomes of an outbox payload: effects aimed at the shopper go
    /// whole; an effect for many customers loses the shopper's part.
    pub fn redact_effect(&self, payload: &str) -> EffectRedaction {
        let gid = CustomerId(self.customer_id).gid();
        let Ok(effect) = serde_json::from_str::<Effect>(payload) else {
            return if self.named_in_text(payload.as_bytes()) {
                EffectRedaction::Erase
            } else {
                EffectRedaction::Untouched
            };
        };
        let rewrite = |effect: &Effect| {
            serde_json::to_string(effect).map_or(EffectRedaction::Erase, EffectRedaction::Rewrite)
        };
        match effect {
            Effect::CreateDiscountCode {
                ref customer_gid,
                ref refund,
                ..
            } if customer_gid.as_deref() == Some(gid.as_str())
                || refund
                    .as_ref()
                    .is_some_and(|r| r.customer_id == self.customer_id) =>
            {
                EffectRedaction::Erase
            }
            Effect::AddTags {
                ref customer_gid, ..
            }
            | Effect::RemoveTags {
                ref customer_gid, ..
            }
            | Effect::CreditStoreCredit {
                ref customer_gid, ..
            }
            | Effect::DebitStoreCredit {
                ref customer_gid, ..
            } if *customer_gid == gid => EffectRedaction::Erase,
            Effect::TagMany {
                customer_gids,
                tags,
                remove,
            } if customer_gids.contains(&gid) => {
                let customer_gids: Vec<String> =
                    customer_gids.into_iter().filter(|g| *g != gid).collect();
                if customer_gids.is_empty() {
                    return EffectRedaction::Erase;
                }
                rewrite(&Effect::TagMany {
                    customer_gids,
                    tags,
                    remove,
                })
            }
            Effect::SetMetafields { metafields }
                if metafields.iter().any(|m| m.owner_id == gid) =>
            {
                let metafields: Vec<_> = metafields
                    .into_iter()
                    .filter(|m| m.owner_id != gid)
                    .collect();
                if metafields.is_empty() {
                    return EffectRedaction::Erase;
                }
                rewrite(&Effect::SetMetafields { metafields })
            }
            Effect::FlowTrigger { ref payload, .. }
                if self.concerns("", payload) || contains_number(payload, self.customer_id) =>
            {
                EffectRedaction::Erase
            }
            _ => EffectRedaction::Untouched,
        }
    }

    /// Whether a parsed body concerns the shopper: it names their customer
    /// id or one of their orders ([`NamedIds`]), or holds their e-mail,
    /// Admin API id or phone anywhere.
    fn concerns(&self, topic: &str, body: &Value) -> bool {
        let named = NamedIds::of_value(topic, body);
        named.customers.contains(&self.customer_id)
            || named.orders.iter().any(|o| self.order_ids.contains(o))
            || self.contacts_in(body)
    }

    /// Whether the shopper's e-mail, Admin API id or phone is anywhere in
    /// `value`.
    fn contacts_in(&self, value: &Value) -> bool {
        match value {
            Value::Object(map) => map.values().any(|child| self.contacts_in(child)),
            Value::Array(items) => items.iter().any(|item| self.contacts_in(item)),
            Value::String(text) => self.names_contact(text),
            Value::Number(n) => self.phones.contains(&n.to_string()),
            _ => false,
        }
    }

    /// Whether a text holds the shopper's e-mail, Admin API id or phone.
    fn names_contact(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        if self.emails.iter().any(|e| lower.contains(e.as_str()))
            || lower.contains(&CustomerId(self.customer_id).gid().to_lowercase())
        {
            return true;
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        self.phones.iter().any(|p| digits.contains(p.as_str()))
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    }

    /// For text that is not JSON: any contact value, or the customer id as
    /// a number of its own.
    fn named_in_text(&self, raw: &[u8]) -> bool {
        let text = String::from_utf8_lossy(raw);
        let lower = text.to_lowercase();
        self.emails.iter().any(|e| lower.contains(e.as_str()))
            || self.phones.iter().any(|p| lower.contains(p.as_str()))
            || number_tokens(&text).any(|n| n == self.customer_id.to_string())
    }

    /// Whether a scrubbed body still holds any known value of the shopper.
    fn still_named(&self, scrubbed: &[u8]) -> bool {
        let lower = String::from_utf8_lossy(scrubbed).to_lowercase();
        let digits: String = lower.chars().filter(char::is_ascii_digit).collect();
        self.emails.iter().any(|e| lower.contains(e.as_str()))
            || self.names.iter().any(|n| lower.contains(n.as_str()))
            || self
                .phones
                .iter()
                .any(|p| lower.contains(p.as_str()) || digits.contains(p.as_str()) && p.len() >= 10)
    }
}

/// The customers and orders a kept body names, to learn whether it is
/// about a customer or an order redacted before it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedIds {
    pub customers: Vec<i64>,
    pub orders: Vec<i64>,
}

/// Most numbers of a body that is not JSON looked up as ids.
const MAX_TEXT_IDS: usize = 1000;

impl NamedIds {
    /// What a body of `topic` names: its own id (a customer or an order by
    /// its topic), `customer.id`, `customer_id`, a customer's Admin API id
    /// and `order_id` anywhere. A body that is not JSON names every number
    /// in it, as either.
    pub fn of(topic: &str, body: &[u8]) -> Self {
        let mut named = Self::default();
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let numbers = number_tokens(&text).filter_map(|n| n.parse::<i64>().ok());
            for number in numbers.take(MAX_TEXT_IDS) {
                push_unique(&mut named.customers, number);
                push_unique(&mut named.orders, number);
            }
            return named;
        };
        Self::of_value(topic, &value)
    }

    /// What a parsed body of `topic` names (see [`NamedIds::of`]).
    fn of_value(topic: &str, value: &Value) -> Self {
        let mut named = Self::default();
        if let Some(id) = value.get("id").and_then(as_i64) {
            if topic.starts_with("customers/") {
                push_unique(&mut named.customers, id);
            } else if topic.starts_with("orders/") {
                push_unique(&mut named.orders, id);
            }
        }
        named.collect(value);
        named
    }

    pub fn is_empty(&self) -> bool {
        self.customers.is_empty() && self.orders.is_empty()
    }

    fn collect(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match key.as_str() {
                        "customer" => {
                            if let Some(id) = child.get("id").and_then(as_i64) {
                                push_unique(&mut self.customers, id);
                            }
                        }
                        "customer_id" => {
                            if let Some(id) = as_i64(child) {
                                push_unique(&mut self.customers, id);
                            }
                        }
                        "order_id" => {
                            if let Some(id) = as_i64(child) {
                                push_unique(&mut self.orders, id);
                            }
                        }
                        _ => {}
                    }
                    self.collect(child);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.collect(item)),
            Value::String(text) => {
                if let Some(id) = CustomerId::of_gid(text).map(CustomerId::get) {
                    push_unique(&mut self.customers, id);
                }
            }
            _ => {}
        }
    }
}

fn push_unique(ids: &mut Vec<i64>, id: i64) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// A JSON id as an integer, whether sent as a number or a string.
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `value` holds the number `wanted` anywhere.
fn contains_number(value: &Value, wanted: i64) -> bool {
    match value {
        Value::Number(n) => n.as_i64() == Some(wanted),
        Value::String(s) => s.trim().parse::<i64>().ok() == Some(wanted),
        Value::Array(items) => items.iter().any(|i| contains_number(i, wanted)),
        Value::Object(map) => map.values().any(|v| contains_number(v, wanted)),
        _ => false,
    }
}

/// The runs of digits in a text.
fn number_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
}

/// Keys whose value is personal data wherever they appear.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "contact_email",
    "customer_email",
    "phone",
    "first_name",
    "last_name",
    "note",
    "browser_ip",
    "billing_address",
    "shipping_address",
    "default_address",
    "addresses",
    "client_details",
    "landing_site",
    "referring_site",
    "note_attributes",
    "properties",
    "company",
    "address1",
    "address2",
    "zip",
    "latitude",
    "longitude",
    "tags",
    "comment",
    "multipass_identifier",
];

/// The body with every personal value replaced by `null`. A body that is not
/// JSON cannot be sorted into personal and not, so nothing of it is kept.
pub fn redact_body(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            strip(&mut value);
            serde_json::to_vec(&value).unwrap_or_default()
        }
        Err(_) => DROPPED_BODY.to_vec(),
    }
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&key.as_str()) {
                    *child = Value::Null;
                } else {
                    strip(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn personal_values_are_nulled_and_the_rest_kept() {
        let body = br#"{"id":820982911946154508,"email":"a@b.c","customer":{"id":1,"first_name":"Ann","phone":"1"},"line_items":[{"price":"1.00","billing_address":{"city":"X"}}]}"#;
        let out = String::from_utf8(super::redact_body(body)).unwrap();
        assert!(out.contains("820982911946154508"), "{out}");
        assert!(out.contains(r#""price":"1.00""#));
        for personal in ["a@b.c", "Ann", "\"X\""] {
            assert!(!out.contains(personal), "{personal} left in {out}");
        }
    }

    fn shopper() -> super::Shopper {
        super::Shopper::new(191167, vec![299938])
            .email(Some("John@Example.com"))
            .phone(Some("+1 555-625-1199"))
            .name(Some("Johnathan"))
    }

    #[test]
    fn bodies_are_found_by_what_they_carry() {
        let s = shopper();
        let own = br#"{"id":191167,"first_name":"Johnathan","phone":15556251199}"#;
        let order = br#"{"id":299938,"shipping_address":{"address1":"12 Lane"}}"#;
        let guest = br#"{"id":5,"contact_email":"john@example.com"}"#;
        let refund = br#"{"id":9,"order_id":299938}"#;
        let nested = br#"{"id":7,"customer":{"id":"191167"}}"#;
        for (topic, body) in [
            ("customers/update", &own[..]),
            ("orders/paid", &order[..]),
            ("orders/paid", &guest[..]),
            ("refunds/create", &refund[..]),
            ("orders/paid", &nested[..]),
        ] {
            let out = s.scrub_body(topic, body).expect("concerns the shopper");
            let out = String::from_utf8(out).unwrap();
            for gone in ["Johnathan", "5556251199", "john@", "12 Lane"] {
                assert!(!out.contains(gone), "{gone} in {out}");
            }
        }
        let other = br#"{"id":191167,"customer":{"id":5},"email":"other@example.com"}"#;
        assert_eq!(
            s.scrub_body("orders/paid", other),
            None,
            "an order id, not theirs"
        );
        assert_eq!(
            s.scrub_body("orders/paid", b"not json john@example.com"),
            Some(super::DROPPED_BODY.to_vec())
        );
        assert_eq!(s.scrub_body("orders/paid", b"not json"), None);
    }

    #[test]
    fn a_scrubbed_body_still_naming_them_is_dropped_whole() {
        let body = br#"{"id":191167,"unexpected":{"who":"Johnathan R."}}"#;
        assert_eq!(
            shopper().scrub_body("customers/update", body),
            Some(super::DROPPED_BODY.to_vec())
        );
    }

    #[test]
    fn effects_for_them_are_erased_and_shared_ones_lose_their_part() {
        use crate::store::outbox::EffectRedaction;
        let s = shopper();
        let flow = r#"{"effect":"flow_trigger","handle":"advocate-nps-response","payload":{"customer_id":191167,"Comment":"hi"}}"#;
        assert_eq!(s.redact_effect(flow), EffectRedaction::Erase);
        let tags = r#"{"effect":"add_tags","customer_gid":"gid://shopify/Customer/191167","tags":["vip"]}"#;
        assert_eq!(s.redact_effect(tags), EffectRedaction::Erase);
        let credit = r#"{"effect":"credit_store_credit","customer_gid":"gid://shopify/Customer/191167","amount":"5.00","currency":"USD","expires_at":null,"notify":true,"refund":null}"#;
        assert_eq!(s.redact_effect(credit), EffectRedaction::Erase);
        let debit = r#"{"effect":"debit_store_credit","customer_gid":"gid://shopify/Customer/191167","amount":"1.25","currency":"USD"}"#;
        assert_eq!(s.redact_effect(debit), EffectRedaction::Erase);
        let many = r#"{"effect":"tag_many","customer_gids":["gid://shopify/Customer/191167","gid://shopify/Customer/5"],"tags":["vip"],"remove":false}"#;
        match s.redact_effect(many) {
            EffectRedaction::Rewrite(p) => {
                assert!(!p.contains("191167") && p.contains("Customer/5"), "{p}")
            }
            other => panic!("{other:?}"),
        }
        let theirs = r#"{"effect":"flow_trigger","handle":"x","payload":{"customer_id":5}}"#;
        assert_eq!(s.redact_effect(theirs), EffectRedaction::Untouched);
    }

    #[test]
    fn a_body_names_its_customers_and_orders_wherever_they_are() {
        let paid = br#"{"id":299938,"customer":{"id":191167},"refunds":[{"order_id":"299938"}]}"#;
        let named = super::NamedIds::of("orders/paid", paid);
        assert_eq!(named.customers, vec![191167]);
        assert_eq!(named.orders, vec![299938]);
        let profile = br#"{"id":191167,"admin_graphql_api_id":"gid://shopify/Customer/191167"}"#;
        let named = super::NamedIds::of("customers/update", profile);
        assert_eq!((named.customers, named.orders), (vec![191167], vec![]));
        let refund = br#"{"id":5,"order_id":299938,"customer_id":7}"#;
        let named = super::NamedIds::of("refunds/create", refund);
        assert_eq!((named.customers, named.orders), (vec![7], vec![299938]));
        let broken = b"{\"id\": 191167, \"email\": \"a@b.c";
        let named = super::NamedIds::of("orders/paid", broken);
        assert_eq!(named.customers, vec![191167]);
        assert_eq!(named.orders, vec![191167]);
        assert!(super::NamedIds::of("orders/paid", br#"{"note":"x"}"#).is_empty());
    }

    #[test]
    fn a_body_that_is_not_json_is_dropped_whole() {
        assert_eq!(super::redact_body(b"email=a@b.c"), br#"{"redacted":true}"#);
    }
}
