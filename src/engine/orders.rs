//! Order and refund webhooks: the facts are merged into the stored order
//! ([`crate::loyalty::earning::OrderState`]) and the ledger moves by the
//! difference between what the order holds and what it should hold. Each
//! movement's source key is the order's new version, so a step that is
//! retried after losing a race cannot move points twice.

use serde::Deserialize;
use sqlx::AnyConnection;

use super::{referrals, segments, tiers, winback, EngineError, DAY_MS};
use crate::loyalty::{CustomerId, EpochMs, OrderId, ShopId};
use crate::{
    loyalty::{
        earning::{
            AwardState, Channel, Counting, OrderAmounts, OrderSnapshot, OrderState, RefundAmounts,
        },
        identity, money, offers,
    },
    shopify::webhook::WebhookTopic,
    store::{
        ledger::{self, NewEntry},
        orders::{self, OrderRow},
        program::{self, Program},
    },
};

/// An order as a webhook describes it, parsed (no database needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFactsIn {
    pub order_id: i64,
    pub name: Option<String>,
    pub customer_id: Option<i64>,
    pub currency: String,
    pub amounts: OrderAmounts,
    pub total: i64,
    pub source_name: Option<String>,
    pub financial_status: Option<String>,
    pub test: bool,
    pub paid: bool,
    pub fulfilled: bool,
    pub cancelled_at: Option<i64>,
    pub cancelled: bool,
    pub processed_at: Option<i64>,
    pub email_hash: Option<String>,
    pub phone_hash: Option<String>,
    pub address_hash: Option<String>,
    pub discount_codes: Vec<String>,
    pub refunds: Vec<(i64, RefundAmounts)>,
    /// The order's lines; None when the payload lists none (`line_items`
    /// absent), so the stored ones stay.
    pub lines: Option<Vec<offers::Line>>,
}

/// What an order-related delivery tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    Order(Box<OrderFactsIn>),
    Refund {
        order_id: i64,
        refund_id: i64,
        currency: Option<String>,
        amounts: RefundAmounts,
    },
    /// A guest order now belongs to this customer.
    Attach {
        order_id: i64,
        customer_id: i64,
    },
}

impl OrderEvent {
    pub fn order_id(&self) -> i64 {
        match self {
            OrderEvent::Order(f) => f.order_id,
            OrderEvent::Refund { order_id, .. } | OrderEvent::Attach { order_id, .. } => *order_id,
        }
    }

    pub fn customer_id(&self) -> Option<i64> {
        match self {
            OrderEvent::Order(f) => f.customer_id,
            OrderEvent::Attach { customer_id, .. } => Some(*customer_id),
            OrderEvent::Refund { .. } => None,
        }
    }
}

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
pub(crate) struct RefundPayload {
    id: i64,
    order_id: i64,
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
/// cancelled) or a refunds/create delivery.
pub fn parse_event(topic: &WebhookTopic, body: &[u8]) -> Result<OrderEvent, String> {
    if *topic == WebhookTopic::RefundsCreate {
        let r: RefundPayload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let currency = r
            .refund_line_items
            .iter()
            .find_map(|l| l.subtotal_set.as_ref()?.shop_money.currency_code.clone());
        let amounts = refund_amounts(&r, currency.as_deref().unwrap_or(program::DEFAULT_CURRENCY))?;
        return Ok(OrderEvent::Refund {
            order_id: r.order_id,
            refund_id: r.id,
            currency,
            amounts,
        });
    }
    let o: OrderPayload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let fallback = o
        .currency
        .clone()
        .unwrap_or_else(|| program::DEFAULT_CURRENCY.into());
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
    let time = |raw: &Option<String>| raw.as_deref().and_then(crate::jobs::topics::parse_time);
    let cancelled_at = time(&o.cancelled_at);
    let refunds = o
        .refunds
        .iter()
        .map(|r| Ok((r.id, refund_amounts(r, &currency)?)))
        .collect::<Result<Vec<_>, String>>()?;
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
        lines: o.line_items.map(|lines| {
            lines
                .into_iter()
                .map(|l| offers::Line {
                    product_id: l.product_id,
                    variant_id: l.variant_id,
                    title: l.title.or(l.name).unwrap_or_default(),
                    quantity: l.current_quantity.unwrap_or(l.quantity),
                })
                .collect()
        }),
    })))
}

/// What applying an event did, for the inbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub customer_id: Option<i64>,
    /// Points moved for the order (0: none).
    pub points: i64,
    /// Why nothing moved, when that is worth saying.
    pub note: Option<String>,
}

/// Applies one event to its order, in the caller's transaction.
pub async fn apply(
    conn: &mut AnyConnection,
    shop_id: i64,
    event: OrderEvent,
    now: i64,
) -> Result<Applied, EngineError> {
    let order_id = event.order_id();
    // First, before anything is read: events of one order take turns.
    orders::lock(conn, shop_id, order_id).await?;
    if let OrderEvent::Order(f) = &event {
        program::learn_currency(conn, shop_id, &f.currency).await?;
    }
    let program = program::get_program(conn, shop_id).await?;
    let mut row = match orders::find_order(conn, shop_id, order_id).await? {
        Some(row) => row,
        None => OrderRow {
            order_id,
            known: 0,
            currency: program.currency.clone(),
            award_state: "waiting".into(),
            ..Default::default()
        },
    };
    // Points whose pending period ended but that the scheduled job has not
    // released yet are released first, so what follows moves the right bucket.
    if row.points_state.as_deref() == Some("pending") && row.spendable_at.is_some_and(|t| t <= now)
    {
        if let Some(customer) = row.customer_id {
            ledger::release_pending(conn, shop_id, customer, row.points_net, now).await?;
        }
        row.points_state = Some("settled".into());
    }
    let mut state = to_state(&row, orders::list_refunds(conn, shop_id, order_id).await?);
    let lines = match &event {
        OrderEvent::Order(f) => Some(f.lines.clone()),
        _ => None,
    };
    match event {
        OrderEvent::Order(f) => {
            for (refund_id, refund) in &f.refunds {
                orders::insert_refund(conn, shop_id, order_id, *refund_id, refund, now).await?;
            }
            merge_facts(&mut row, &f, now);
            state.merge_order(OrderSnapshot {
                customer_id: f.customer_id,
                amounts: f.amounts,
                channel: Channel::from_source(f.source_name.as_deref()),
                test: f.test,
                paid: f.paid,
                fulfilled: f.fulfilled,
                cancelled: f.cancelled,
                refunds: f.refunds.iter().copied().collect(),
            });
        }
        OrderEvent::Refund {
            refund_id, amounts, ..
        } => {
            orders::insert_refund(conn, shop_id, order_id, refund_id, &amounts, now).await?;
            state.merge_refund(refund_id, amounts);
        }
        OrderEvent::Attach { customer_id, .. } => {
            if state.customer_id.is_none() {
                state.customer_id = Some(customer_id);
            }
        }
    }
    // A redacted order, or one whose customer was redacted, keeps no
    // identifiers, whatever arrives late; its points move as for any order.
    if orders::is_erased(conn, shop_id, order_id, state.customer_id).await? {
        row.email_hash = None;
        row.phone_hash = None;
        row.address_hash = None;
    }
    let multiplier = match state.customer_id {
        Some(customer) => {
            let tier = crate::store::customers::tier_of(conn, shop_id, customer).await?;
            crate::loyalty::tiers::multiplier(&program.settings.tiers, tier.tier_id.as_deref())
        }
        None => 100,
    };
    let settlement = state.settle(&program.settings.earning, program.exponent(), multiplier);
    if settlement.is_some_and(|s| s.awarded_now) {
        let pending_days = i64::from(program.settings.earning.pending_days);
        row.awarded_at = Some(now);
        row.award_settings_version = Some(program.version);
        row.spendable_at = Some(now + pending_days * DAY_MS);
        row.points_state = Some(
            if pending_days > 0 {
                "pending"
            } else {
                "settled"
            }
            .into(),
        );
    }
    from_state(&mut row, &state, &program);
    if !orders::save_order(conn, shop_id, &row, now).await? {
        return Err(EngineError::Conflict(format!("order {order_id}")));
    }
    let version = row.version + 1;
    let mut applied = Applied {
        customer_id: state.customer_id,
        points: 0,
        note: match &state.award {
            AwardState::Ineligible(why) => Some(why.clone()),
            AwardState::Waiting if state.known && state.customer_id.is_none() && state.paid => {
                Some("guest order: credited when an account with its email appears".into())
            }
            _ => None,
        },
    };
    let label = row.name.clone().unwrap_or_else(|| format!("#{order_id}"));
    if let (Some(s), Some(customer)) = (settlement, state.customer_id) {
        let reason = match s.movement {
            crate::loyalty::earning::Movement::Earned => {
                format!("Order {label}: {} points earned", s.delta)
            }
            crate::loyalty::earning::Movement::Refunded => {
                format!("Refund on order {label}: {} points taken back", -s.delta)
            }
            crate::loyalty::earning::Movement::Cancelled => {
                format!("Order {label} cancelled: {} points reversed", -s.delta)
            }
        };
        let source_key = format!("order:{order_id}:v{version}");
        let pending = row.points_state.as_deref() == Some("pending");
        ledger::append(
            conn,
            &NewEntry {
                settings_version: row.award_settings_version,
                order_id: Some(order_id),
                spendable_at: if pending { row.spendable_at } else { None },
                ..NewEntry::new(
                    shop_id,
                    customer,
                    s.delta,
                    s.movement.kind(),
                    &reason,
                    &source_key,
                )
            },
            now,
        )
        .await?;
        applied.points = s.delta;
    }
    row.version = version;
    referrals::on_order(conn, &program, ShopId(shop_id), &row, &state, EpochMs(now)).await?;
    winback::on_order(conn, ShopId(shop_id), &row, EpochMs(now)).await?;
    if let Some(customer) = state.customer_id {
        tiers::reevaluate(
            conn,
            ShopId(shop_id),
            &program,
            CustomerId(customer),
            EpochMs(now),
            &format!("order {label}"),
        )
        .await?;
        segments::on_order(conn, shop_id, &program, customer, now).await?;
    }
    // A survey answer that came before this order's webhook earns its bonus now.
    let survey_order = super::nps::OrderFacts {
        id: OrderId(order_id),
        name: row.name.as_deref(),
        customer_id: state.customer_id.map(CustomerId),
    };
    super::nps::on_order(conn, ShopId(shop_id), &survey_order, EpochMs(now)).await?;
    // Last, after the customer's rows: pair rows are shared by every order
    // of the shop, so they are held for as short a time as possible and
    // always locked after the customer's, never before.
    if let Some(lines) = lines {
        let counted = offers::counted(row.cancelled_at.is_some(), row.is_test == 1);
        super::offers::record_order(
            conn,
            ShopId(shop_id),
            OrderId(order_id),
            lines.as_deref(),
            counted,
        )
        .await?;
    }
    Ok(applied)
}

/// Folds an order payload's descriptive facts into the row; timestamps and
/// identifiers are kept from the first event that had them.
fn merge_facts(row: &mut OrderRow, f: &OrderFactsIn, now: i64) {
    row.known = 1;
    row.name = f.name.clone().or(row.name.take());
    row.currency.clone_from(&f.currency);
    row.total_minor = f.total;
    row.financial_status = f.financial_status.clone().or(row.financial_status.take());
    row.source_name = f.source_name.clone().or(row.source_name.take());
    let at = f.processed_at.unwrap_or(now);
    if f.paid && row.paid_at.is_none() {
        row.paid_at = Some(at);
    }
    if f.fulfilled && row.fulfilled_at.is_none() {
        row.fulfilled_at = Some(now);
    }
    if f.cancelled && row.cancelled_at.is_none() {
        row.cancelled_at = Some(f.cancelled_at.unwrap_or(now));
    }
    row.processed_at = row.processed_at.or(f.processed_at);
    row.email_hash = row.email_hash.take().or(f.email_hash.clone());
    row.phone_hash = row.phone_hash.take().or(f.phone_hash.clone());
    row.address_hash = row.address_hash.take().or(f.address_hash.clone());
    if !f.discount_codes.is_empty() {
        row.discount_codes = serde_json::to_string(&f.discount_codes).ok();
    }
}

fn to_state(row: &OrderRow, refunds: Vec<(i64, RefundAmounts)>) -> OrderState {
    let award = match row.award_state.as_str() {
        "awarded" => AwardState::Awarded {
            points: row.award_points.unwrap_or(0),
            paid: row.award_paid_minor.unwrap_or(0),
            counting: Counting::from_bits(row.award_counting.unwrap_or(0)),
            multiplier_percent: row.award_multiplier.unwrap_or(100) as u32,
        },
        "ineligible" => AwardState::Ineligible(row.award_note.clone().unwrap_or_default()),
        _ => AwardState::Waiting,
    };
    OrderState {
        known: row.known == 1,
        customer_id: row.customer_id,
        amounts: OrderAmounts {
            subtotal: row.subtotal_minor,
            tax: row.tax_minor,
            shipping: row.shipping_minor,
            discounts: row.discounts_minor,
            taxes_included: row.taxes_included == 1,
        },
        channel: row
            .channel
            .as_deref()
            .map_or(Channel::Online, Channel::parse),
        test: row.is_test == 1,
        paid: row.paid_at.is_some(),
        fulfilled: row.fulfilled_at.is_some(),
        cancelled: row.cancelled_at.is_some(),
        refunds: refunds.into_iter().collect(),
        award,
        net: row.points_net,
    }
}

fn from_state(row: &mut OrderRow, s: &OrderState, program: &Program) {
    row.customer_id = s.customer_id;
    row.subtotal_minor = s.amounts.subtotal;
    row.tax_minor = s.amounts.tax;
    row.shipping_minor = s.amounts.shipping;
    row.discounts_minor = s.amounts.discounts;
    row.taxes_included = i64::from(s.amounts.taxes_included);
    row.channel = Some(s.channel.as_str().into());
    row.is_test = i64::from(s.test);
    row.points_net = s.net;
    row.refunded_minor = s
        .refunds
        .values()
        .map(|r| r.lines + r.tax + r.shipping)
        .fold(0, i64::saturating_add);
    let counting = match &s.award {
        AwardState::Awarded {
            points,
            paid,
            counting,
            multiplier_percent,
        } => {
            row.award_state = "awarded".into();
            row.award_note = None;
            row.award_points = Some(*points);
            row.award_paid_minor = Some(*paid);
            row.award_counting = Some(counting.bits());
            row.award_multiplier = Some(i64::from(*multiplier_percent));
            *counting
        }
        AwardState::Ineligible(why) => {
            row.award_state = "ineligible".into();
            row.award_note = Some(why.clone());
            Counting::from_settings(&program.settings.earning)
        }
        AwardState::Waiting => {
            row.award_state = "waiting".into();
            Counting::from_settings(&program.settings.earning)
        }
    };
    // Net spend for tiers: paid, not cancelled, not a test order.
    row.spend_minor = if s.paid && !s.cancelled && !s.test && s.known {
        (counting.paid(&s.amounts) - s.refunded(counting)).max(0)
    } else {
        0
    };
}
