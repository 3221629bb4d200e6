//! Order and refund webhooks: the facts are merged into the stored order
//! ([`crate::loyalty::earning::OrderState`]) and the ledger moves by the
//! difference between what the order holds and what it should hold. Each
//! movement's source key is the order's new version, so a step that is
//! retried after losing a race cannot move points twice.
//!
//! The events come parsed (see `crate::shopify::payloads`): the engine
//! reads no Shopify JSON.

use sqlx::AnyConnection;

use super::{
    effects::{self, Effect},
    referrals, segments, tiers, winback, EngineError, DAY_MS,
};
use crate::{
    loyalty::{
        earning::{
            self, AwardState, Channel, Counting, OrderAmounts, OrderSnapshot, OrderState, Rate,
            RefundAmounts, Settlement,
        },
        offers,
        settings::AwardOn,
        CustomerId, EpochMs, OrderId, ShopId,
    },
    store::{
        ledger::{self, NewEntry},
        orders::{self, OrderRow},
        program::{self, Program},
    },
};

/// The stored `award_state` of an order whose award is cashback.
const AWARDED_CASHBACK: &str = "awarded_cashback";

/// The currency an order is taken to be in when its delivery names none.
pub use crate::store::program::DEFAULT_CURRENCY;

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
    /// When the latest of `refunds` was made (None: none, or no time).
    pub refunded_at: Option<i64>,
    /// The order's lines; None when the payload lists none (`line_items`
    /// absent), so the stored ones stay.
    pub lines: Option<Vec<offers::Line>>,
    /// Set when the order comes from the shop's history (the history
    /// import), not from a webhook: whether it may earn.
    pub history: Option<HistoryRule>,
}

/// When the shop's program started for orders: from its history import
/// (None without one: every order may earn).
pub(super) async fn shop_rule(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<HistoryRule>, sqlx::Error> {
    Ok(crate::store::history::rule_of(conn, shop_id)
        .await?
        .map(|(cutoff, earns_since)| HistoryRule {
            cutoff,
            earns_since,
        }))
}

/// Which orders of the shop's history earn points: those processed since
/// `earns_since` (the merchant chose retroactive points from that day);
/// none processed before `cutoff` (when Advocate was installed) otherwise.
/// An order processed after the cutoff earns as any order does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRule {
    pub cutoff: i64,
    pub earns_since: Option<i64>,
}

impl HistoryRule {
    /// Whether `f` is an order of the shop's history: imported, or placed
    /// before the program started for orders (however it arrives, by the
    /// import or by a webhook). What such an order moves is quiet: a tier
    /// reached through it was reached in the past, and earns no entry
    /// reward and fires no Flow trigger.
    pub fn of_history(f: &OrderFactsIn, rule: Option<HistoryRule>) -> bool {
        f.history.is_some()
            || rule
                .zip(f.processed_at)
                .is_some_and(|(rule, at)| at < rule.cutoff)
    }
}

/// Why an order of the shop's history earned nothing.
pub const BEFORE_PROGRAM: &str = "placed before the loyalty program started";

/// An order's award under the history rule, before it is settled: an order
/// from before the program (and before `earns_since`) is ineligible; one
/// that was, and that the merchant now brings into the program, waits to
/// be awarded again. An award already made, or refused for another reason,
/// stays.
fn apply_history_rule(rule: HistoryRule, processed_at: i64, state: &mut OrderState) {
    let earns =
        rule.earns_since.is_some_and(|since| processed_at >= since) || processed_at >= rule.cutoff;
    match &state.award {
        AwardState::Waiting if !earns => {
            state.award = AwardState::Ineligible(BEFORE_PROGRAM.into());
        }
        AwardState::Ineligible(why) if earns && why == BEFORE_PROGRAM => {
            state.award = AwardState::Waiting;
        }
        _ => {}
    }
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
        /// When the refund was made (its `created_at`).
        created_at: Option<i64>,
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

    /// When the refunds this event brings were made: what a clawback it
    /// causes records as its business time.
    pub fn refunded_at(&self) -> Option<i64> {
        match self {
            OrderEvent::Order(f) => f.refunded_at,
            OrderEvent::Refund { created_at, .. } => *created_at,
            OrderEvent::Attach { .. } => None,
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

/// What applying an event did, for the inbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub customer_id: Option<i64>,
    /// Points moved for the order (0: none).
    pub points: i64,
    /// Why nothing moved, when that is worth saying.
    pub note: Option<String>,
}

/// Applies one event to its order, in the caller's transaction: the order
/// is read (and locked), the event merged, the points settled and moved,
/// then what follows from an order is updated (referrals, win-back, tier,
/// segment, survey bonus, co-purchase counts).
pub async fn apply(
    conn: &mut AnyConnection,
    shop_id: i64,
    event: OrderEvent,
    now: i64,
) -> Result<Applied, EngineError> {
    let order_id = event.order_id();
    let refunded_at = event.refunded_at();
    let (program, mut row) = load(conn, shop_id, &event, now).await?;
    let rule = shop_rule(conn, shop_id).await?;
    let step = Step {
        shop_id,
        order_id,
        program: &program,
        now,
        history: matches!(&event, OrderEvent::Order(f) if HistoryRule::of_history(f, rule)),
        rule,
    };
    let mut state = to_state(&row, orders::list_refunds(conn, shop_id, order_id).await?);
    let lines = merge_event(conn, &step, event, &mut row, &mut state).await?;
    let settlement = settle(conn, &step, &mut row, &mut state).await?;
    let version = row.version + 1;
    let mut applied = Applied {
        customer_id: state.customer_id,
        points: 0,
        note: note(&state),
    };
    let label = row.name.clone().unwrap_or_else(|| format!("#{order_id}"));
    if let (Some(s), Some(customer)) = (settlement, state.customer_id) {
        let movement = PointsMove {
            customer_id: customer,
            order_id,
            settlement: s,
            label: &label,
            version,
            refunded_at,
        };
        if s.cashback {
            let (effect, key) = cashback_effect(&program, &movement);
            let ordering = effects::store_credit_ordering(&CustomerId(customer).gid());
            super::enqueue(conn, shop_id, &effect, &key, Some(&ordering)).await?;
        } else {
            record_movement(conn, &step, &row, movement).await?;
            applied.points = s.delta;
        }
    }
    row.version = version;
    follow_order(conn, &step, &row, &state, &label).await?;
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

/// What every step of applying one event reads.
struct Step<'a> {
    shop_id: i64,
    order_id: i64,
    program: &'a Program,
    now: i64,
    /// The event is an order of the shop's history
    /// ([`HistoryRule::of_history`]): a tier it moves is quiet (see
    /// [`tiers::reevaluate_carried_over`]).
    history: bool,
    /// When the shop's program started for orders (see [`HistoryRule`]).
    rule: Option<HistoryRule>,
}

/// Locks the order, then reads the program and the stored order (a new row
/// when the order is not stored yet), with points whose pending period
/// ended released.
async fn load(
    conn: &mut AnyConnection,
    shop_id: i64,
    event: &OrderEvent,
    now: i64,
) -> Result<(Program, OrderRow), EngineError> {
    let order_id = event.order_id();
    // First, before anything is read: events of one order take turns.
    orders::lock(conn, shop_id, order_id).await?;
    if let OrderEvent::Order(f) = event {
        program::learn_currency(conn, shop_id, &f.currency).await?;
    }
    let program = program::get_program(conn, shop_id).await?;
    let mut row = orders::find_order(conn, shop_id, order_id)
        .await?
        .unwrap_or_else(|| new_row(order_id, &program));
    if let Some((customer, points)) = release_if_due(&mut row, now) {
        ledger::release_pending(conn, shop_id, customer, points, now).await?;
    }
    Ok((program, row))
}

/// The row of an order not stored yet.
pub(super) fn new_row(order_id: i64, program: &Program) -> OrderRow {
    OrderRow {
        order_id,
        known: 0,
        currency: program.currency.clone(),
        award_state: "waiting".into(),
        ..Default::default()
    }
}

/// Points whose pending period ended but that the scheduled job has not
/// released yet are released first, so what follows moves the right
/// bucket: marks the row settled and answers whose points to release.
pub(super) fn release_if_due(row: &mut OrderRow, now: i64) -> Option<(i64, i64)> {
    if row.points_state.as_deref() != Some("pending") || row.spendable_at.is_none_or(|t| t > now) {
        return None;
    }
    row.points_state = Some("settled".into());
    row.customer_id.map(|customer| (customer, row.points_net))
}

/// Merges the event into the row and the state, storing the refunds it
/// brings. Answers the order's lines when the event is an order payload
/// (None inside: the payload listed none).
async fn merge_event(
    conn: &mut AnyConnection,
    step: &Step<'_>,
    event: OrderEvent,
    row: &mut OrderRow,
    state: &mut OrderState,
) -> Result<Option<Option<Vec<offers::Line>>>, EngineError> {
    let mut refunds = Vec::new();
    let lines = merge(event, row, state, step.now, &mut refunds, step.rule);
    for (order_id, refund_id, refund) in &refunds {
        orders::insert_refund(conn, step.shop_id, *order_id, *refund_id, refund, step.now).await?;
    }
    Ok(lines)
}

/// Merges the event into the row and the state, adding the refunds it
/// brings to `refunds` (to be stored). Answers the order's lines when the
/// event is an order payload (None inside: the payload listed none).
pub(super) fn merge(
    event: OrderEvent,
    row: &mut OrderRow,
    state: &mut OrderState,
    now: i64,
    refunds: &mut Vec<orders::NewRefund>,
    shop_rule: Option<HistoryRule>,
) -> Option<Option<Vec<offers::Line>>> {
    let order_id = row.order_id;
    match event {
        OrderEvent::Order(f) => {
            refunds.extend(f.refunds.iter().map(|(id, r)| (order_id, *id, *r)));
            merge_facts(row, &f, now);
            if let Some(rule) = f.history.or(shop_rule) {
                apply_history_rule(rule, f.processed_at.unwrap_or(now), state);
            }
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
            Some(f.lines)
        }
        OrderEvent::Refund {
            refund_id, amounts, ..
        } => {
            refunds.push((order_id, refund_id, amounts));
            state.merge_refund(refund_id, amounts);
            None
        }
        OrderEvent::Attach { customer_id, .. } => {
            if state.customer_id.is_none() {
                state.customer_id = Some(customer_id);
            }
            None
        }
    }
}

/// Settles the order's points and saves the row; a row changed by another
/// writer since it was read is a conflict.
async fn settle(
    conn: &mut AnyConnection,
    step: &Step<'_>,
    row: &mut OrderRow,
    state: &mut OrderState,
) -> Result<Option<Settlement>, EngineError> {
    let (shop_id, program, now) = (step.shop_id, step.program, step.now);
    // A redacted order, or one whose customer was redacted, keeps no
    // identifiers, whatever arrives late; its points move as for any order.
    if orders::is_erased(conn, shop_id, step.order_id, state.customer_id).await? {
        forget_identifiers(row);
    }
    // Points for an order of the shop's history are at the base rate: the
    // customer's tier when it was placed is not known.
    let tier = match state.customer_id {
        Some(_) if step.history => None,
        Some(customer) => {
            crate::store::customers::tier_of(conn, shop_id, customer)
                .await?
                .tier_id
        }
        None => None,
    };
    let settlement = settle_state(row, state, program, tier.as_deref(), now);
    if !orders::save_order(conn, shop_id, row, now).await? {
        return Err(EngineError::Conflict(format!("order {}", step.order_id)));
    }
    Ok(settlement)
}

/// Settles the order's points at the multiplier of the customer's tier
/// and writes the outcome into the row (not saved).
pub(super) fn settle_state(
    row: &mut OrderRow,
    state: &mut OrderState,
    program: &Program,
    tier: Option<&str>,
    now: i64,
) -> Option<Settlement> {
    let multiplier = match state.customer_id {
        Some(_) => crate::loyalty::tiers::multiplier(&program.settings.tiers, tier),
        None => 100,
    };
    let earning = &program.settings.earning;
    let rate = program
        .settings
        .store_credit
        .cashback_basis_points()
        .map_or(Rate::Points, |basis_points| Rate::Cashback { basis_points });
    let settlement = state.settle_at(earning, program.exponent(), multiplier, rate);
    if settlement.is_some_and(|s| s.awarded_now && s.cashback) {
        // Cashback is credited at once: store credit has no pending state,
        // and a refund takes back its share by a debit.
        row.awarded_at = Some(now);
        row.award_settings_version = Some(program.version);
        row.spendable_at = None;
        row.points_state = None;
    } else if settlement.is_some_and(|s| s.awarded_now) {
        let pending_days = i64::from(earning.pending_days);
        let spendable_at = pending_from(row, earning.award_on, now)
            .saturating_add(pending_days.saturating_mul(DAY_MS));
        row.awarded_at = Some(now);
        row.award_settings_version = Some(program.version);
        row.spendable_at = Some(spendable_at);
        row.points_state = Some(
            if spendable_at > now {
                "pending"
            } else {
                "settled"
            }
            .into(),
        );
    }
    from_state(row, state, program);
    settlement
}

/// When an order's pending period starts: when it was paid (or fulfilled,
/// when points land on fulfilment), never later than now. Shopify's order
/// payloads carry no payment time; an order paid is taken as paid when it
/// was processed (see `merge_facts`), which is so for an order paid at
/// checkout.
fn pending_from(row: &OrderRow, award_on: AwardOn, now: i64) -> i64 {
    let at = match award_on {
        AwardOn::Paid => row.paid_at,
        AwardOn::Fulfilled => row.fulfilled_at,
    };
    at.map_or(now, |at| at.min(now))
}

/// Clears the identifiers of an order that was redacted, or whose
/// customer was: it keeps none, whatever arrives late.
pub(super) fn forget_identifiers(row: &mut OrderRow) {
    row.email_hash = None;
    row.phone_hash = None;
    row.address_hash = None;
}

/// Why nothing moved for the order, when that is worth saying.
pub(super) fn note(state: &OrderState) -> Option<String> {
    match &state.award {
        AwardState::Ineligible(why) => Some(why.clone()),
        AwardState::Waiting if state.known && state.customer_id.is_none() && state.paid => {
            Some("guest order: credited when an account with its email appears".into())
        }
        _ => None,
    }
}

/// A settlement's points, for the customer's ledger.
pub(super) struct PointsMove<'a> {
    pub customer_id: i64,
    pub order_id: i64,
    pub settlement: Settlement,
    /// The order's name ("#1001"), for the entry's reason.
    pub label: &'a str,
    /// The order's new version: the entry's source key.
    pub version: i64,
    /// When the refunds of the event that caused it were made.
    pub refunded_at: Option<i64>,
}

/// A settlement's ledger entry, owned: its reason and source key.
pub(super) struct MovementEntry {
    pub customer_id: i64,
    pub points: i64,
    pub kind: &'static str,
    pub reason: String,
    pub source_key: String,
    pub settings_version: Option<i64>,
    pub order_id: i64,
    pub spendable_at: Option<i64>,
    /// When the movement's fact happened (None: when it is recorded).
    pub occurred_at: Option<i64>,
}

impl MovementEntry {
    pub(super) fn of(row: &OrderRow, m: PointsMove<'_>) -> Self {
        let (label, s) = (m.label, m.settlement);
        let reason = match s.movement {
            earning::Movement::Earned => format!("Order {label}: {} points earned", s.delta),
            earning::Movement::Refunded => {
                format!("Refund on order {label}: {} points taken back", -s.delta)
            }
            earning::Movement::Cancelled => {
                format!("Order {label} cancelled: {} points reversed", -s.delta)
            }
        };
        let pending = row.points_state.as_deref() == Some("pending");
        let occurred_at = match s.movement {
            earning::Movement::Earned => row.processed_at.or(row.paid_at),
            earning::Movement::Refunded => m.refunded_at,
            earning::Movement::Cancelled => row.cancelled_at,
        };
        Self {
            customer_id: m.customer_id,
            points: s.delta,
            kind: s.movement.kind(),
            reason,
            source_key: format!("order:{}:v{}", row.order_id, m.version),
            settings_version: row.award_settings_version,
            order_id: row.order_id,
            spendable_at: if pending { row.spendable_at } else { None },
            occurred_at,
        }
    }

    pub(super) fn entry(&self, shop_id: i64) -> NewEntry<'_> {
        NewEntry {
            settings_version: self.settings_version,
            order_id: Some(self.order_id),
            spendable_at: self.spendable_at,
            occurred_at: self.occurred_at,
            ..NewEntry::new(
                shop_id,
                self.customer_id,
                self.points,
                self.kind,
                &self.reason,
                &self.source_key,
            )
        }
    }
}

/// A cashback settlement's store credit effect and its outbox key: a
/// credit of a positive delta (expiring and notifying as the program's
/// store credit settings say), a debit of a negative one, in the shop's
/// currency. The key is the order's new version, as a ledger entry's is.
pub(super) fn cashback_effect(program: &Program, m: &PointsMove<'_>) -> (Effect, String) {
    let customer_gid = CustomerId(m.customer_id).gid();
    let amount = crate::loyalty::money::format_minor(m.settlement.delta.abs(), program.exponent());
    let currency = program.currency.clone();
    let key = format!("cashback:{}:v{}", m.order_id, m.version);
    let settings = &program.settings.store_credit;
    let effect = if m.settlement.delta > 0 {
        let expires = i64::from(settings.expires_days).saturating_mul(DAY_MS);
        Effect::CreditStoreCredit {
            customer_gid,
            amount,
            currency,
            expires_at: (settings.expires_days > 0)
                .then(|| super::rfc3339(EpochMs::now().0.saturating_add(expires))),
            notify: settings.notify,
            refund: None,
        }
    } else {
        Effect::DebitStoreCredit {
            customer_gid,
            amount,
            currency,
        }
    };
    (effect, key)
}

/// Writes a settlement's ledger entry.
async fn record_movement(
    conn: &mut AnyConnection,
    step: &Step<'_>,
    row: &OrderRow,
    m: PointsMove<'_>,
) -> Result<(), EngineError> {
    let entry = MovementEntry::of(row, m);
    ledger::append(conn, &entry.entry(step.shop_id), step.now).await?;
    Ok(())
}

/// What follows from an order once its points moved: the referral it may
/// complete, the win-back episode it may end, the customer's tier and
/// segment, and a survey answer that came before the order's webhook.
async fn follow_order(
    conn: &mut AnyConnection,
    step: &Step<'_>,
    row: &OrderRow,
    state: &OrderState,
    label: &str,
) -> Result<(), EngineError> {
    let (shop_id, program, now) = (step.shop_id, step.program, step.now);
    let (shop, at) = (ShopId(shop_id), EpochMs(now));
    referrals::on_order(conn, program, shop, row, state, at).await?;
    winback::on_order(conn, shop, row, at).await?;
    if let Some(customer) = state.customer_id {
        let reason = format!("order {label}");
        if step.history {
            tiers::reevaluate_carried_over(conn, shop, program, CustomerId(customer), at, &reason)
                .await?;
        } else {
            tiers::reevaluate(conn, shop, program, CustomerId(customer), at, &reason).await?;
        }
        segments::on_order(conn, shop_id, program, customer, now).await?;
    }
    // A survey answer that came before this order's webhook earns its bonus now.
    let survey_order = super::nps::OrderFacts {
        id: OrderId(step.order_id),
        name: row.name.as_deref(),
        customer_id: state.customer_id.map(CustomerId),
    };
    super::nps::on_order(conn, shop, &survey_order, at).await?;
    Ok(())
}

/// Folds an order payload's descriptive facts into the row; timestamps and
/// identifiers are kept from the first event that had them.
pub(super) fn merge_facts(row: &mut OrderRow, f: &OrderFactsIn, now: i64) {
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

pub(super) fn to_state(row: &OrderRow, refunds: Vec<(i64, RefundAmounts)>) -> OrderState {
    let award = match row.award_state.as_str() {
        state @ ("awarded" | AWARDED_CASHBACK) => AwardState::Awarded {
            points: row.award_points.unwrap_or(0),
            paid: row.award_paid_minor.unwrap_or(0),
            counting: Counting::from_bits(row.award_counting.unwrap_or(0)),
            multiplier_percent: row.award_multiplier.unwrap_or(100) as u32,
            cashback: state == AWARDED_CASHBACK,
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
            cashback,
        } => {
            row.award_state = if *cashback {
                AWARDED_CASHBACK
            } else {
                "awarded"
            }
            .into();
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
    row.spend_minor = s.tier_spend(counting);
}

/// The points an order of the shop's history, kept out of the program
/// (see [`BEFORE_PROGRAM`]), would earn if brought in now: its award under
/// the program's rules, less what its refunds take back (no tier
/// multiplier: the customer's tier at the time is not known).
pub fn retroactive_points(
    row: &OrderRow,
    refunds: Vec<(i64, RefundAmounts)>,
    program: &Program,
) -> i64 {
    let mut state = to_state(row, refunds);
    if !matches!(&state.award, AwardState::Ineligible(why) if why == BEFORE_PROGRAM) {
        return 0;
    }
    state.award = AwardState::Waiting;
    state.net = 0;
    state
        .settle(&program.settings.earning, program.exponent(), 100)
        .map_or(0, |s| s.delta.max(0))
}
