//! One handler per webhook topic. Each runs inside the transaction that also
//! finishes its inbox row, so its writes commit exactly once. Bodies are
//! parsed before that transaction, by [`crate::shopify::payloads`]; orders,
//! refunds and customer accounts are the engine's to apply.

use chrono::DateTime;
use serde_json::json;

use crate::{
    engine::{self, customers::CustomerEvent, EngineError},
    shopify::{
        payloads::{self, PayloadError},
        webhook::WebhookTopic,
    },
    store::{
        customers::{self, Erasure},
        data_requests,
        failure::{self, Failure},
        inbox, ledger, nps, orders, outbound, outbox, referrals, segments,
        shops::{self, status as shop_status, Shop},
        winback,
    },
};
use sqlx::AnyConnection;

use super::privacy::{Shopper, DROPPED_BODY};

/// The parsed payload and Shopify's time parser, as the inbox processor
/// names them.
pub use crate::shopify::payloads::{parse_time, Payload};

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its effect is committed.
    Done,
    /// Nothing to do, and why.
    Ignored(String),
    /// Kept for a handler that is not there yet, and why.
    Held(String),
}

/// A handled delivery and what it concerns (for later redaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: Outcome,
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
}

impl Handled {
    fn done() -> Self {
        Self::from(Outcome::Done)
    }

    pub fn about(outcome: Outcome, customer_id: Option<i64>, order_id: Option<i64>) -> Self {
        Self {
            outcome,
            customer_id,
            order_id,
        }
    }
}

impl From<Outcome> for Handled {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            customer_id: None,
            order_id: None,
        }
    }
}

/// Why a delivery could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The delivery itself is wrong (not JSON, missing fields); trying again
    /// cannot help. It becomes a dead letter.
    #[error("{0}")]
    Permanent(String),
    /// Something around it failed (the database busy, a connection lost);
    /// it is tried again later. Only failures that can pass get here: see
    /// the `From<sqlx::Error>` below.
    #[error(transparent)]
    Transient(sqlx::Error),
    /// Another worker changed the same order or customer at the same time;
    /// it is tried again later with fresh facts.
    #[error("{0}")]
    Conflict(String),
}

/// A database failure is retried only when it can succeed later; a
/// deterministic one (a constraint, an overflow, a malformed value) makes
/// the delivery a dead letter at once, with the kind of failure as reason.
impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        match failure::classify(&e) {
            Failure::Transient => HandlerError::Transient(e),
            Failure::Permanent(reason) => HandlerError::Permanent(reason),
        }
    }
}

impl From<EngineError> for HandlerError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Conflict(what) => {
                HandlerError::Conflict(format!("concurrent update of {what}"))
            }
            EngineError::Db(e) => HandlerError::from(e),
        }
    }
}

/// A body that does not parse never will: a dead letter at once.
impl From<PayloadError> for HandlerError {
    fn from(e: PayloadError) -> Self {
        HandlerError::Permanent(e.0)
    }
}

/// The delivery being applied, as the handlers see it.
pub struct Delivery<'a> {
    pub inbox_id: i64,
    pub shop: &'a Shop,
    pub topic: &'a WebhookTopic,
    /// Shopify's `X-Shopify-Triggered-At`, in epoch milliseconds.
    pub triggered_at: Option<i64>,
    pub now: i64,
}

/// Topics the loyalty engine handles (`engine::orders`). Deliveries held by
/// a version that did not handle them yet are requeued at start-up.
/// `orders/create` is not among them: a paid order also sends `orders/paid`,
/// and an unpaid one earns nothing yet; `orders/updated` stays, as the
/// catch-all that brings late refunds and cancellations.
pub const ENGINE_TOPICS: [WebhookTopic; 5] = payloads::ORDER_TOPICS;

/// Every topic with a handler, compliance topics aside:
/// `shopify.app.toml` subscribes exactly these (a test checks it).
pub const HANDLED_TOPICS: [WebhookTopic; 10] = [
    WebhookTopic::AppUninstalled,
    WebhookTopic::ShopUpdate,
    WebhookTopic::CustomersCreate,
    WebhookTopic::CustomersUpdate,
    WebhookTopic::CustomersDelete,
    WebhookTopic::OrdersUpdated,
    WebhookTopic::OrdersPaid,
    WebhookTopic::OrdersFulfilled,
    WebhookTopic::OrdersCancelled,
    WebhookTopic::RefundsCreate,
];

/// The mandatory compliance topics, each with a handler.
pub const COMPLIANCE_TOPICS: [WebhookTopic; 3] = [
    WebhookTopic::CustomersDataRequest,
    WebhookTopic::CustomersRedact,
    WebhookTopic::ShopRedact,
];

/// Parses a body for its topic ([`payloads::parse_payload`]). Errors are
/// permanent: the same bytes will never parse.
pub fn parse_payload(topic: &WebhookTopic, body: &[u8]) -> Result<Payload, HandlerError> {
    Ok(payloads::parse_payload(topic, body)?)
}

/// Applies a parsed payload inside the caller's transaction.
pub async fn apply(
    conn: &mut AnyConnection,
    d: &Delivery<'_>,
    payload: Payload,
) -> Result<Handled, HandlerError> {
    if let Some(reason) = inactive_shop(d) {
        return Ok(Outcome::Ignored(reason).into());
    }
    match payload {
        Payload::AppUninstalled => uninstall_app(conn, d).await,
        Payload::Customer(event) => save_customer(conn, d, *event).await,
        Payload::CustomerDeleted { customer_id } => {
            customers::erase_personal_data(conn, d.shop.id, customer_id, Erasure::Deleted, d.now)
                .await?;
            Ok(Handled::about(Outcome::Done, Some(customer_id), None))
        }
        Payload::DataRequest {
            customer_id,
            request_id,
            orders_requested,
        } => export_customer_data(conn, d, customer_id, request_id, orders_requested).await,
        Payload::CustomerRedact {
            customer_id,
            orders_to_redact,
            email,
            phone,
        } => {
            let shopper = Shopper::new(customer_id, orders_to_redact)
                .email(email.as_deref())
                .phone(phone.as_deref());
            redact_customer(conn, d, shopper).await
        }
        Payload::ShopRedact => redact_shop(conn, d).await,
        Payload::ShopUpdated { iana_timezone } => {
            // The shop's days follow its time zone from now on; a body
            // without one (or naming none Advocate knows) changes nothing.
            match iana_timezone {
                Some(zone) if shops::set_time_zone(conn, d.shop.id, &zone).await? => {
                    Ok(Handled::done())
                }
                _ => Ok(Outcome::Ignored("no time zone Advocate knows in the body".into()).into()),
            }
        }
        Payload::Order(event) => {
            let order_id = event.order_id();
            let applied = engine::orders::apply(conn, d.shop.id, event, d.now).await?;
            Ok(Handled::about(
                Outcome::Done,
                applied.customer_id,
                Some(order_id),
            ))
        }
        Payload::Unhandled => {
            Ok(Outcome::Ignored(format!("no handler for topic {}", d.topic)).into())
        }
    }
}

/// Where a delivery goes in a claimed batch.
pub enum Lane {
    /// An order event of a shop Advocate serves: applied with the batch's
    /// other order events ([`crate::engine::batch`]).
    Batch,
    /// Applied on its own where it stands; the batch's order events may be
    /// applied before or after it (a customer profile, whose outcome does
    /// not depend on the order of order events around it).
    Aside,
    /// Applied on its own after every delivery before it (erasures,
    /// uninstalls, data requests: their outcome depends on what came first).
    InTurn,
}

/// The lane of a parsed delivery.
pub fn lane(d: &Delivery<'_>, payload: &Payload) -> Lane {
    match payload {
        _ if inactive_shop(d).is_some() => Lane::InTurn,
        Payload::Order(event) if !matches!(event, engine::orders::OrderEvent::Attach { .. }) => {
            Lane::Batch
        }
        Payload::Customer(_) | Payload::ShopUpdated { .. } | Payload::Unhandled => Lane::Aside,
        _ => Lane::InTurn,
    }
}

/// An uninstalled shop's deliveries are acknowledged and ignored, but for
/// compliance topics (shop/redact comes 48 hours after uninstalling).
fn inactive_shop(d: &Delivery<'_>) -> Option<String> {
    match d.shop.status.as_str() {
        shop_status::UNINSTALLED
            if !d.topic.is_compliance() && *d.topic != WebhookTopic::AppUninstalled =>
        {
            Some("shop has uninstalled Advocate".into())
        }
        shop_status::REDACTED if *d.topic != WebhookTopic::ShopRedact => {
            Some("shop data was erased (shop/redact)".into())
        }
        _ => None,
    }
}

/// True when the event happened before the shop's current installation:
/// a late delivery from an earlier install must not undo the new one.
fn predates_install(d: &Delivery<'_>) -> bool {
    matches!((d.triggered_at, d.shop.installed_at), (Some(at), Some(installed)) if at < installed)
}

async fn uninstall_app(
    conn: &mut AnyConnection,
    d: &Delivery<'_>,
) -> Result<Handled, HandlerError> {
    if d.shop.status != shop_status::INSTALLED {
        return Ok(Outcome::Ignored("shop is not installed".into()).into());
    }
    if predates_install(d) {
        return Ok(Outcome::Ignored("uninstall predates the current installation".into()).into());
    }
    shops::mark_uninstalled(conn, d.shop.id, d.now).await?;
    tracing::info!(shop = %d.shop.domain, "shop uninstalled Advocate");
    Ok(Handled::done())
}

async fn save_customer(
    conn: &mut AnyConnection,
    d: &Delivery<'_>,
    event: CustomerEvent,
) -> Result<Handled, HandlerError> {
    let customer = event.profile.customer_id;
    if !engine::customers::save(conn, d.shop.id, &event, d.now).await? {
        return Ok(Handled::about(
            Outcome::Ignored("an erased customer or an older update".into()),
            Some(customer),
            None,
        ));
    }
    Ok(Handled::about(Outcome::Done, Some(customer), None))
}

async fn export_customer_data(
    conn: &mut AnyConnection,
    d: &Delivery<'_>,
    customer_id: i64,
    request_id: i64,
    orders_requested: Vec<i64>,
) -> Result<Handled, HandlerError> {
    let customer = customers::find_customer(conn, d.shop.id, customer_id).await?;
    let orders = orders::list_for_customer(conn, d.shop.id, customer_id).await?;
    let order_products =
        crate::store::offers::list_for_customer(conn, d.shop.id, customer_id).await?;
    let ledger = ledger::list_for_customer(conn, d.shop.id, customer_id).await?;
    let redemptions =
        crate::store::redemptions::list_for_customer(conn, d.shop.id, customer_id).await?;
    let tier_history = customers::tier_history(conn, d.shop.id, customer_id).await?;
    let segment_history: Vec<serde_json::Value> =
        segments::history_for_customer(conn, d.shop.id, customer_id)
            .await?
            .into_iter()
            .map(|(from, to, at)| json!({ "from": from, "to": to, "at": at }))
            .collect();
    let referral_code = referrals::find_code(conn, d.shop.id, customer_id).await?;
    let nps_answers = nps::list_for_customer(conn, d.shop.id, customer_id).await?;
    let winback_episodes = winback::list_for_customer(conn, d.shop.id, customer_id).await?;
    let reorder_reminders =
        crate::store::reorder::list_for_customer(conn, d.shop.id, customer_id).await?;
    let export = json!({
        "shop": d.shop.domain,
        "customer_id": customer_id,
        "data_request_id": request_id,
        "generated_at": DateTime::from_timestamp_millis(d.now).map(|t| t.to_rfc3339()),
        "profile": customer,
        "orders": orders,
        "order_products": order_products,
        "points_ledger": ledger,
        "redemptions": redemptions,
        "tier_history": tier_history,
        "segment_history": segment_history,
        "referral_code": referral_code,
        "nps_answers": nps_answers,
        "winback_episodes": winback_episodes,
        "reorder_reminders": reorder_reminders,
    });
    data_requests::insert_data_request(
        conn,
        d.shop.id,
        request_id,
        customer_id,
        &json!(orders_requested).to_string(),
        &export.to_string(),
        d.now,
    )
    .await?;
    Ok(Handled::about(Outcome::Done, Some(customer_id), None))
}

/// Topics whose handling erases personal data: after a batch that held one
/// commits, SQLite's write-ahead log is emptied (see
/// [`crate::store::Store::erase_log`]).
pub fn erases_personal_data(topic: &str) -> bool {
    matches!(
        WebhookTopic::from(topic),
        WebhookTopic::CustomersRedact | WebhookTopic::ShopRedact | WebhookTopic::CustomersDelete
    )
}

async fn redact_customer(
    conn: &mut AnyConnection,
    d: &Delivery<'_>,
    shopper: Shopper,
) -> Result<Handled, HandlerError> {
    let shop = d.shop.id;
    let customer_id = shopper.customer_id;
    let orders_to_redact = shopper.order_ids.clone();
    // What the profile held identifies the customer in kept payloads too;
    // read before it is erased.
    // The named orders wait for events of theirs being applied, and those
    // that come next see them redacted (an order not stored yet has no
    // version to conflict on). Sorted, so two redactions cannot deadlock.
    let mut named_orders = orders_to_redact.clone();
    named_orders.sort_unstable();
    named_orders.dedup();
    for order_id in named_orders {
        orders::lock(conn, shop, order_id).await?;
    }
    let shopper = match customers::find_customer(conn, shop, customer_id).await? {
        Some(c) => shopper
            .email(c.email.as_deref())
            .phone(c.phone.as_deref())
            .name(c.first_name.as_deref())
            .name(c.last_name.as_deref()),
        None => shopper,
    };
    customers::erase_personal_data(conn, shop, customer_id, Erasure::Redacted, d.now).await?;
    orders::redact_orders(conn, shop, customer_id, &orders_to_redact, d.now).await?;
    referrals::redact_for_customer(conn, shop, customer_id).await?;
    segments::redact_customer(conn, shop, customer_id).await?;
    nps::erase_comments(conn, shop, customer_id, d.now).await?;
    winback::redact_for_customer(conn, shop, customer_id).await?;
    crate::store::reorder::redact_for_customer(conn, shop, customer_id).await?;
    data_requests::redact_exports(conn, shop, customer_id).await?;
    // Deliveries still kept (queued, held, dead letters) and effects not
    // yet purged are found by what they carry.
    inbox::redact_bodies(
        conn,
        &d.shop.domain,
        d.inbox_id,
        DROPPED_BODY,
        |topic, body| shopper.scrub_body(topic, body),
    )
    .await?;
    outbox::redact_effects(conn, shop, customer_id, d.now, |payload| {
        shopper.redact_effect(payload)
    })
    .await?;
    // The merchant's endpoints: what was still to send about them goes,
    // and the erasure itself is announced.
    outbound::redact_customer(conn, shop, customer_id).await?;
    outbound::emit(
        conn,
        shop,
        &outbound::Event {
            topic: outbound::topic::CUSTOMER_REDACTED,
            ordering_key: None,
            data: &json!({ "customer_id": customer_id }),
        },
        d.now,
    )
    .await?;
    // This delivery's own body names the customer; it is cleared when the
    // row is finished as done.
    Ok(Handled::about(Outcome::Done, Some(customer_id), None))
}

async fn redact_shop(conn: &mut AnyConnection, d: &Delivery<'_>) -> Result<Handled, HandlerError> {
    if d.shop.status == shop_status::INSTALLED && predates_install(d) {
        return Ok(Outcome::Ignored("shop installed again after the redact request".into()).into());
    }
    shops::redact_shop(conn, d.shop.id, d.now).await?;
    inbox::delete_for_shop(conn, &d.shop.domain, d.inbox_id).await?;
    tracing::info!(shop = %d.shop.domain, "shop data erased");
    Ok(Handled::done())
}
