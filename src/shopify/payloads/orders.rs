//! Order and refund deliveries (orders/updated, paid, fulfilled, cancelled;
//! refunds/create), parsed into the engine's [`OrderEvent`]. Amounts are
//! read as decimal strings into integer minor units; an amount that does not
//! parse makes the delivery malformed.

use serde::Deserialize;

use crate::{
    engine::orders::{OrderEvent, OrderFactsIn, DEFAULT_CURRENCY},
    loyalty::{
        earning::{OrderAmounts, RefundAmounts},
        identity, money, offers,
    },
    shopify::webhook::WebhookTopic,
};

#[derive(Deserialize)]
struct MoneySet {
    shop_money: MoneyV,
}

#[derive(Deserialize)]
struct MoneyV {
    amount: String,
    currency_code: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

/// An order line: only what co-purchase needs. Shopify sends no product
/// handle here, so storefront links cannot be built from it.
#[derive(Deserialize)]
struct LinePayload {
    product_id: Option<i64>,
    variant_id: Option<i64>,
    title: Option<String>,
    name: Option<String>,
    #[serde(default)]
    quantity: i64,
    /// After edits and refunds; older payloads lack it.
    current_quantity: Option<i64>,
}

#[derive(Deserialize)]
struct DiscountCode {
    code: String,
}

#[derive(Deserialize)]
struct OrderPayload {
    id: i64,
    name: Option<String>,
    customer: Option<IdOnly>,
    currency: Option<String>,
    subtotal_price_set: Option<MoneySet>,
    total_price_set: Option<MoneySet>,
    total_tax_set: Option<MoneySet>,
    total_shipping_price_set: Option<MoneySet>,
    total_discounts_set: Option<MoneySet>,
    #[serde(default)]
    taxes_included: bool,
    source_name: Option<String>,
    financial_status: Option<String>,
    fulfillment_status: Option<String>,
    #[serde(default)]
    test: bool,
    cancelled_at: Option<String>,
    processed_at: Option<String>,
    email: Option<String>,
    contact_email: Option<String>,
    phone: Option<String>,
    shipping_address: Option<identity::Address>,
    #[serde(default)]
    discount_codes: Vec<DiscountCode>,
    #[serde(default)]
    refunds: Vec<RefundPayload>,
    line_items: Option<Vec<LinePayload>>,
}

#[derive(Deserialize)]
struct RefundPayload {
    id: i64,
    order_id: i64,
    created_at: Option<String>,
    #[serde(default)]
    refund_line_items: Vec<RefundLine>,
    #[serde(default)]
    refund_shipping_lines: Vec<RefundShippingLine>,
    #[serde(default)]
    order_adjustments: Vec<OrderAdjustment>,
}

#[derive(Deserialize)]
struct RefundLine {
    subtotal_set: Option<MoneySet>,
    total_tax_set: Option<MoneySet>,
}

#[derive(Deserialize)]
struct RefundShippingLine {
    subtotal_amount_set: Option<MoneySet>,
}

#[derive(Deserialize)]
struct OrderAdjustment {
    kind: Option<String>,
    amount_set: Option<MoneySet>,
}

/// The currency and minor-unit amount of a money set; amounts that do not
/// parse are a malformed delivery.
fn amount(set: &Option<MoneySet>, fallback_currency: &str) -> Result<(String, i64), String> {
    let Some(set) = set else {
        return Ok((fallback_currency.to_owned(), 0));
    };
    let currency = set
        .shop_money
        .currency_code
        .clone()
        .unwrap_or_else(|| fallback_currency.to_owned());
    let minor = money::parse_minor(&set.shop_money.amount, money::exponent(&currency))
        .ok_or_else(|| format!("amount {:?} is not a decimal", set.shop_money.amount))?;
    Ok((currency, minor))
}

fn refund_amounts(r: &RefundPayload, currency: &str) -> Result<RefundAmounts, String> {
    let mut out = RefundAmounts::default();
    for line in &r.refund_line_items {
        add_amount(&mut out.lines, amount(&line.subtotal_set, currency)?.1)?;
        add_amount(&mut out.tax, amount(&line.total_tax_set, currency)?.1)?;
    }
    if r.refund_shipping_lines.is_empty() {
        for adj in &r.order_adjustments {
            if adj.kind.as_deref() == Some("shipping_refund") {
                // Adjustments are negative amounts.
                add_amount(
                    &mut out.shipping,
                    amount(&adj.amount_set, currency)?.1.abs(),
                )?;
            }
        }
    } else {
        for line in &r.refund_shipping_lines {
            add_amount(
                &mut out.shipping,
                amount(&line.subtotal_amount_set, currency)?.1,
            )?;
        }
    }
    Ok(out)
}

/// Adds a refund's part to its total; a total beyond what any amount may be
/// (`money::MAX_AMOUNT_MINOR`) makes the delivery malformed, never a
/// wrapped figure.
fn add_amount(total: &mut i64, part: i64) -> Result<(), String> {
    *total = total
        .checked_add(part)
        .filter(|t| t.abs() <= money::MAX_AMOUNT_MINOR)
        .ok_or("refund amounts add up beyond the largest amount accepted")?;
    Ok(())
}

/// Parses an order delivery (orders/create, updated, paid, fulfilled,
/// cancelled) or a refunds/create delivery into the engine's event.
pub(super) fn parse_event(topic: &WebhookTopic, body: &[u8]) -> Result<OrderEvent, String> {
    if *topic == WebhookTopic::RefundsCreate {
        return parse_refund(body);
    }
    let o: OrderPayload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let fallback = o
        .currency
        .clone()
        .unwrap_or_else(|| DEFAULT_CURRENCY.into());
    let (currency, subtotal) = amount(&o.subtotal_price_set, &fallback)?;
    let amounts = OrderAmounts {
        subtotal,
        tax: amount(&o.total_tax_set, &currency)?.1,
        shipping: amount(&o.total_shipping_price_set, &currency)?.1,
        discounts: amount(&o.total_discounts_set, &currency)?.1,
        taxes_included: o.taxes_included,
    };
    let paid_status = matches!(
        o.financial_status.as_deref(),
        Some("paid" | "partially_refunded" | "refunded")
    );
    let time = |raw: &Option<String>| raw.as_deref().and_then(super::parse_time);
    let cancelled_at = time(&o.cancelled_at);
    let refunds = o
        .refunds
        .iter()
        .map(|r| Ok((r.id, refund_amounts(r, &currency)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let refunded_at = o.refunds.iter().filter_map(|r| time(&r.created_at)).max();
    let (email_hash, phone_hash, address_hash) = identity::hashes(
        o.email.as_deref().or(o.contact_email.as_deref()),
        o.phone.as_deref(),
        o.shipping_address.as_ref(),
    );
    Ok(OrderEvent::Order(Box::new(OrderFactsIn {
        order_id: o.id,
        name: o.name,
        customer_id: o.customer.map(|c| c.id),
        total: amount(&o.total_price_set, &currency)?.1,
        currency,
        amounts,
        source_name: o.source_name,
        financial_status: o.financial_status,
        test: o.test,
        paid: *topic == WebhookTopic::OrdersPaid || paid_status,
        fulfilled: *topic == WebhookTopic::OrdersFulfilled
            || o.fulfillment_status.as_deref() == Some("fulfilled"),
        cancelled: cancelled_at.is_some() || *topic == WebhookTopic::OrdersCancelled,
        cancelled_at,
        processed_at: time(&o.processed_at),
        email_hash,
        phone_hash,
        address_hash,
        discount_codes: o.discount_codes.into_iter().map(|d| d.code).collect(),
        refunds,
        refunded_at,
        lines: o
            .line_items
            .map(|lines| lines.into_iter().map(line).collect()),
        history: None,
    })))
}

/// A refunds/create delivery. Its currency is its lines' (when none names
/// one, the amounts are read in [`DEFAULT_CURRENCY`]'s minor units).
fn parse_refund(body: &[u8]) -> Result<OrderEvent, String> {
    let r: RefundPayload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let currency = r
        .refund_line_items
        .iter()
        .find_map(|l| l.subtotal_set.as_ref()?.shop_money.currency_code.clone());
    let amounts = refund_amounts(&r, currency.as_deref().unwrap_or(DEFAULT_CURRENCY))?;
    Ok(OrderEvent::Refund {
        order_id: r.order_id,
        refund_id: r.id,
        currency,
        amounts,
        created_at: r.created_at.as_deref().and_then(super::parse_time),
    })
}

/// An order line, with its quantity after edits and refunds when the
/// payload has it.
fn line(l: LinePayload) -> offers::Line {
    offers::Line {
        product_id: l.product_id,
        variant_id: l.variant_id,
        title: l.title.or(l.name).unwrap_or_default(),
        quantity: l.current_quantity.unwrap_or(l.quantity),
    }
}
