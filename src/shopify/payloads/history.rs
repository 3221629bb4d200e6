//! The shop's history as the history import reads it: the objects of the
//! bulk queries `HistoryCustomers` and `HistoryOrders`
//! (`shopify/admin/documents/`), one JSON object per line, parsed into the
//! engine's events, as webhooks are. Ids arrive as GraphQL ids
//! (`gid://shopify/Order/123`) and are read as 64-bit integers.
//!
//! An order's line items come on lines of their own after it, each naming
//! it by `__parentId`; [`HistoryOrders`] gathers them.

use serde::Deserialize;
use serde_json::Value;

use super::parse_time;
use crate::{
    engine::{
        customers::{CustomerEvent, CustomerProfile},
        orders::{HistoryRule, OrderEvent, OrderFactsIn, DEFAULT_CURRENCY},
    },
    loyalty::{
        earning::{OrderAmounts, RefundAmounts},
        identity, money, offers,
    },
};

/// The number at the end of a GraphQL id of `kind`.
pub fn gid(raw: &str, kind: &str) -> Option<i64> {
    raw.strip_prefix("gid://shopify/")?
        .strip_prefix(kind)?
        .strip_prefix('/')?
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerNode {
    id: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    default_email_address: Option<EmailAddress>,
    default_phone_number: Option<PhoneNumber>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailAddress {
    email_address: Option<String>,
    marketing_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneNumber {
    phone_number: Option<String>,
}

/// A customer of the history: their profile, saved as a webhook's would be
/// (an older profile than the one kept changes nothing). Not a new
/// account: no signup bonus.
pub fn customer(object: &Value) -> Result<CustomerEvent, String> {
    let c = CustomerNode::deserialize(object).map_err(|e| e.to_string())?;
    let customer_id = gid(&c.id, "Customer").ok_or("a customer without a customer id")?;
    let email = c
        .default_email_address
        .as_ref()
        .and_then(|e| e.email_address.clone());
    let phone = c.default_phone_number.and_then(|p| p.phone_number);
    let (email_hash, phone_hash, _) = identity::hashes(email.as_deref(), phone.as_deref(), None);
    Ok(CustomerEvent {
        profile: CustomerProfile {
            customer_id,
            email_hash,
            phone_hash,
            address_hash: None,
            email,
            first_name: c.first_name,
            last_name: c.last_name,
            phone,
            tags: None,
            // The webhook's words for the states (subscribed, …).
            email_marketing_state: c
                .default_email_address
                .and_then(|e| e.marketing_state)
                .map(|s| s.to_ascii_lowercase()),
            sms_marketing_state: None,
            shopify_created_at: c.created_at.as_deref().and_then(parse_time),
            shopify_updated_at: c.updated_at.as_deref().and_then(parse_time),
        },
        created: false,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderNode {
    id: String,
    name: Option<String>,
    email: Option<String>,
    processed_at: Option<String>,
    cancelled_at: Option<String>,
    #[serde(default)]
    test: bool,
    source_name: Option<String>,
    display_financial_status: Option<String>,
    display_fulfillment_status: Option<String>,
    #[serde(default)]
    taxes_included: bool,
    currency_code: Option<String>,
    #[serde(default)]
    discount_codes: Vec<String>,
    customer: Option<IdNode>,
    subtotal_price_set: Option<MoneyBag>,
    total_price_set: Option<MoneyBag>,
    total_tax_set: Option<MoneyBag>,
    total_shipping_price_set: Option<MoneyBag>,
    total_discounts_set: Option<MoneyBag>,
    #[serde(default)]
    refunds: Vec<RefundNode>,
}

#[derive(Deserialize)]
struct IdNode {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoneyBag {
    shop_money: MoneyV2,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoneyV2 {
    amount: String,
    currency_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundNode {
    id: String,
    created_at: Option<String>,
    total_refunded_set: Option<MoneyBag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItemNode {
    title: Option<String>,
    #[serde(default)]
    quantity: i64,
    current_quantity: Option<i64>,
    product: Option<IdNode>,
    variant: Option<IdNode>,
}

fn amount(bag: &Option<MoneyBag>, currency: &str) -> Result<i64, String> {
    let Some(bag) = bag else {
        return Ok(0);
    };
    let currency = bag.shop_money.currency_code.as_deref().unwrap_or(currency);
    money::parse_minor(&bag.shop_money.amount, money::exponent(currency))
        .ok_or_else(|| format!("amount {:?} is not a decimal", bag.shop_money.amount))
}

/// An order of the history, with its line items, into the engine's event
/// under `rule`. A refund's lines and shipping are not read one by one: its
/// total is taken as refunded lines (a clawback is never above the award).
pub fn order(object: &Value, items: &[Value], rule: HistoryRule) -> Result<OrderEvent, String> {
    let o = OrderNode::deserialize(object).map_err(|e| e.to_string())?;
    let order_id = gid(&o.id, "Order").ok_or("an order without an order id")?;
    let currency = o
        .subtotal_price_set
        .as_ref()
        .and_then(|b| b.shop_money.currency_code.clone())
        .or(o.currency_code.clone())
        .unwrap_or_else(|| DEFAULT_CURRENCY.into());
    let amounts = OrderAmounts {
        subtotal: amount(&o.subtotal_price_set, &currency)?,
        tax: amount(&o.total_tax_set, &currency)?,
        shipping: amount(&o.total_shipping_price_set, &currency)?,
        discounts: amount(&o.total_discounts_set, &currency)?,
        taxes_included: o.taxes_included,
    };
    let status = o.display_financial_status.as_deref().unwrap_or_default();
    let paid = matches!(status, "PAID" | "PARTIALLY_REFUNDED" | "REFUNDED");
    let cancelled_at = o.cancelled_at.as_deref().and_then(parse_time);
    let mut refunds = Vec::with_capacity(o.refunds.len());
    for r in &o.refunds {
        let id = gid(&r.id, "Refund").ok_or("a refund without a refund id")?;
        let lines = amount(&r.total_refunded_set, &currency)?;
        refunds.push((
            id,
            RefundAmounts {
                lines,
                tax: 0,
                shipping: 0,
            },
        ));
    }
    let refunded_at = o
        .refunds
        .iter()
        .filter_map(|r| r.created_at.as_deref().and_then(parse_time))
        .max();
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let l = LineItemNode::deserialize(item).map_err(|e| e.to_string())?;
        lines.push(offers::Line {
            product_id: l.product.and_then(|p| gid(&p.id, "Product")),
            variant_id: l.variant.and_then(|v| gid(&v.id, "ProductVariant")),
            title: l.title.unwrap_or_default(),
            quantity: l.current_quantity.unwrap_or(l.quantity),
        });
    }
    let (email_hash, _, _) = identity::hashes(o.email.as_deref(), None, None);
    Ok(OrderEvent::Order(Box::new(OrderFactsIn {
        order_id,
        name: o.name,
        customer_id: o.customer.and_then(|c| gid(&c.id, "Customer")),
        total: amount(&o.total_price_set, &currency)?,
        currency,
        amounts,
        source_name: o.source_name,
        financial_status: Some(status.to_ascii_lowercase()),
        test: o.test,
        paid,
        fulfilled: o.display_fulfillment_status.as_deref() == Some("FULFILLED"),
        cancelled: cancelled_at.is_some(),
        cancelled_at,
        processed_at: o.processed_at.as_deref().and_then(parse_time),
        email_hash,
        phone_hash: None,
        address_hash: None,
        discount_codes: o.discount_codes,
        refunds,
        refunded_at,
        lines: Some(lines),
        history: Some(rule),
    })))
}

/// Gathers a bulk result's order lines: an order, then its line items
/// (each naming it by `__parentId`). An order is complete when the next
/// order begins, or at the end.
#[derive(Default)]
pub struct HistoryOrders {
    current: Option<(Value, Vec<Value>)>,
}

impl HistoryOrders {
    /// Takes the next object; answers the order it completes, if any. A
    /// line item whose order is not the one being gathered is an error.
    pub fn push(&mut self, object: Value) -> Result<Option<(Value, Vec<Value>)>, String> {
        match object.get("__parentId").and_then(Value::as_str) {
            Some(parent) => {
                let current = self
                    .current
                    .as_mut()
                    .filter(|(order, _)| order["id"].as_str() == Some(parent))
                    .ok_or("a line item does not follow its order")?;
                current.1.push(object);
                Ok(None)
            }
            None => Ok(self.current.replace((object, Vec::new()))),
        }
    }

    /// The last order, at the end of the result.
    pub fn finish(&mut self) -> Option<(Value, Vec<Value>)> {
        self.current.take()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RULE: HistoryRule = HistoryRule {
        cutoff: 1_800_000_000_000,
        earns_since: None,
    };

    #[test]
    fn gids_are_read_as_their_kind_and_number() {
        assert_eq!(gid("gid://shopify/Order/5", "Order"), Some(5));
        assert_eq!(gid("gid://shopify/Order/5", "Customer"), None);
        assert_eq!(gid("gid://shopify/OrderX/5", "Order"), None);
        assert_eq!(gid("gid://shopify/Order/-5", "Order"), None);
        assert_eq!(gid("5", "Order"), None);
    }

    #[test]
    fn an_order_line_and_its_items_become_the_engines_order() {
        let money = |a: &str| json!({ "shopMoney": { "amount": a, "currencyCode": "EUR" } });
        let order_line = json!({
            "id": "gid://shopify/Order/9007199254740993",
            "name": "#1001", "email": "A@Example.com", "processedAt": "2025-03-01T10:00:00Z",
            "cancelledAt": null, "test": false, "sourceName": "web",
            "displayFinancialStatus": "PARTIALLY_REFUNDED", "displayFulfillmentStatus": "FULFILLED",
            "taxesIncluded": false, "currencyCode": "EUR", "discountCodes": ["SPRING"],
            "customer": { "id": "gid://shopify/Customer/42" },
            "subtotalPriceSet": money("100.00"), "totalPriceSet": money("118.00"),
            "totalTaxSet": money("8.00"), "totalShippingPriceSet": money("10.00"),
            "totalDiscountsSet": money("0.00"),
            "refunds": [{ "id": "gid://shopify/Refund/77", "createdAt": "2025-03-04T10:00:00Z",
                          "totalRefundedSet": money("25.50") }],
        });
        let item = json!({
            "id": "gid://shopify/LineItem/1", "title": "Tea", "quantity": 2, "currentQuantity": 1,
            "product": { "id": "gid://shopify/Product/3" }, "variant": { "id": "gid://shopify/ProductVariant/4" },
            "__parentId": "gid://shopify/Order/9007199254740993",
        });
        let mut gather = HistoryOrders::default();
        assert_eq!(gather.push(order_line.clone()).unwrap(), None);
        assert_eq!(gather.push(item.clone()).unwrap(), None);
        let (o, items) = gather.finish().unwrap();
        let OrderEvent::Order(f) = order(&o, &items, RULE).unwrap() else {
            panic!("an order");
        };
        assert_eq!(f.order_id, 9_007_199_254_740_993, "above 2^53, exact");
        assert_eq!(f.customer_id, Some(42));
        assert_eq!(f.currency, "EUR");
        assert_eq!(f.amounts.subtotal, 10_000);
        assert_eq!(f.total, 11_800);
        assert!(f.paid && f.fulfilled && !f.cancelled);
        assert_eq!(
            f.refunds,
            vec![(
                77,
                RefundAmounts {
                    lines: 2_550,
                    tax: 0,
                    shipping: 0
                }
            )]
        );
        assert_eq!(f.refunded_at, parse_time("2025-03-04T10:00:00Z"));
        assert_eq!(f.processed_at, parse_time("2025-03-01T10:00:00Z"));
        assert_eq!(f.email_hash, identity::email(Some("a@example.com")));
        let lines = f.lines.unwrap();
        assert_eq!(
            (lines[0].product_id, lines[0].variant_id, lines[0].quantity),
            (Some(3), Some(4), 1)
        );
        assert_eq!(f.history, Some(RULE));
    }

    #[test]
    fn a_line_item_away_from_its_order_is_refused() {
        let mut gather = HistoryOrders::default();
        let orphan =
            json!({ "id": "gid://shopify/LineItem/1", "__parentId": "gid://shopify/Order/1" });
        assert!(gather.push(orphan.clone()).is_err());
        gather
            .push(json!({ "id": "gid://shopify/Order/2" }))
            .unwrap();
        assert!(gather.push(orphan).is_err());
        let next = gather
            .push(json!({ "id": "gid://shopify/Order/3" }))
            .unwrap();
        assert_eq!(next.unwrap().0["id"], "gid://shopify/Order/2");
    }

    #[test]
    fn a_customer_line_is_a_profile_without_a_signup() {
        let event = customer(&json!({
            "id": "gid://shopify/Customer/42", "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-02-01T00:00:00Z", "firstName": "Ada", "lastName": null,
            "defaultEmailAddress": { "emailAddress": "Ada@Example.com", "marketingState": "SUBSCRIBED" },
            "defaultPhoneNumber": null,
        }))
        .unwrap();
        assert!(!event.created);
        assert_eq!(event.profile.customer_id, 42);
        assert_eq!(
            event.profile.email_hash,
            identity::email(Some("ada@example.com"))
        );
        assert_eq!(
            event.profile.email_marketing_state.as_deref(),
            Some("subscribed")
        );
        assert!(customer(&json!({ "id": "gid://shopify/Order/1" })).is_err());
    }
}
