//! Reorder (replenishment) reminders, once a day per shop on its own
//! calendar (see [`super::scheduled`]):
//!
//! 1. Learn: every counted purchase of a product by a customer is read
//!    (streamed, from a reader), and each product's repurchase interval is
//!    learned ([`crate::loyalty::reorder::learn`]) and kept, beside what
//!    the merchant set (an interval of their own, or the product off).
//! 2. Remind: for each customer and product with an interval, the latest
//!    purchase comes due that many days later; from its due date for
//!    [`LATE_DAYS`](crate::loyalty::reorder::LATE_DAYS), with no purchase
//!    of it since, the cycle gets one reminder: a row per (customer,
//!    product, order of the latest purchase), so redelivery, a second
//!    round or a restart never sends two, and a purchase starts a new
//!    cycle. A share is held out (sent nothing); the others fire the
//!    "Reorder due" Flow trigger, after a single-use code when the program
//!    gives one, through the outbox in the transaction that records them.
//!
//! With reminders off, products are still learned, so the merchant sees
//! the intervals before turning them on.

use std::collections::HashMap;

use serde_json::json;

use super::{enqueue, redeem::discount_value, DAY_MS};
use crate::{
    engine::effects::{Effect, FlowTrigger},
    loyalty::{
        calendar::Zone,
        codes,
        reorder::{self as rules, Learned},
        settings::Reorder,
        CustomerId,
    },
    store::{
        program,
        reorder::{self, NewReminder},
        shops, winback as episodes, Store,
    },
};

/// Reminders recorded per transaction.
const CHUNK: usize = 200;

/// What one shop's round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Products with an interval (learned or the merchant's).
    pub products: u64,
    /// Reminders recorded now (sent and held out).
    pub reminders: u64,
    pub held_out: u64,
}

/// A purchase cycle due today.
struct Due {
    customer_id: i64,
    product_id: i64,
    title: String,
    order_id: i64,
    last_at: i64,
    interval_days: i64,
    due_at: i64,
}

/// Learns the shop's products and records the reminders due today.
pub async fn run_shop(store: &Store, shop_id: i64, now: i64) -> anyhow::Result<Round> {
    let (settings, learned) = learn(store, shop_id, now).await?;
    let mut round = Round {
        products: learned.products,
        ..Round::default()
    };
    if !settings.enabled {
        return Ok(round);
    }
    for chunk in learned.due.chunks(CHUNK) {
        let mut tx = store.begin().await?;
        let key = episodes::holdout_key(&mut tx, shop_id, now).await?;
        for d in chunk {
            let held = rules::held_out(
                &key,
                shop_id,
                d.customer_id,
                d.product_id,
                d.order_id,
                settings.holdout_percent,
            );
            if remind(&mut tx, shop_id, &settings, d, held, now).await? {
                round.reminders += 1;
                round.held_out += u64::from(held);
            }
        }
        tx.commit().await?;
    }
    Ok(round)
}

/// What learning found: products with an interval, and the cycles due
/// today.
pub struct LearnedShop {
    pub products: u64,
    due: Vec<Due>,
}

/// Learns the shop's products from its orders now and keeps what it
/// learned (the first step of the daily round; the merchant can also ask
/// for it, after importing the shop's history). Sends nothing.
pub async fn learn(
    store: &Store,
    shop_id: i64,
    now: i64,
) -> anyhow::Result<(Reorder, LearnedShop)> {
    let (settings, zone, merchant) = {
        let mut conn = store.writer().acquire().await?;
        let program = program::get_program(&mut conn, shop_id).await?;
        let zone = shops::time_zone(&mut conn, shop_id).await?;
        let merchant = reorder::settings(&mut conn, shop_id).await?;
        (program.settings.reorder, zone, merchant)
    };
    let today = zone.date_of(now);
    let mut learned: Vec<reorder::LearnedRow> = Vec::new();
    let mut found = LearnedShop {
        products: 0,
        due: Vec::new(),
    };
    {
        // One product at a time: its customers' purchases, then what they
        // teach and which of its cycles are due.
        let mut product: Option<(i64, String)> = None;
        let mut by_customer: Vec<(i64, Vec<(i64, i64)>)> = Vec::new();
        let mut finish = |product: (i64, String), by_customer: &mut Vec<(i64, Vec<(i64, i64)>)>| {
            let (product_id, title) = product;
            let Learned {
                days,
                repeat_customers,
            } = rules::learn(
                by_customer.iter().map(|(_, p)| p.as_slice()),
                settings.min_customers,
            );
            let setting = merchant.get(&product_id).copied().unwrap_or_default();
            if repeat_customers > 0 || merchant.contains_key(&product_id) {
                learned.push((product_id, title.clone(), days, repeat_customers));
            }
            let interval = (!setting.disabled)
                .then_some(setting.override_days.or(days))
                .flatten();
            if let Some(interval_days) = interval {
                found.products += 1;
                for (customer_id, purchases) in by_customer.iter() {
                    let Some(&(last_at, order_id)) = purchases.last() else {
                        continue;
                    };
                    let due_on = rules::due_on(zone, last_at, interval_days);
                    if rules::remind_today(due_on, today) {
                        found.due.push(Due {
                            customer_id: *customer_id,
                            product_id,
                            title: title.clone(),
                            order_id,
                            last_at,
                            interval_days,
                            due_at: zone.start_of(due_on),
                        });
                    }
                }
            }
            by_customer.clear();
        };
        let mut conn = store.reader().acquire().await?;
        reorder::each_purchase(&mut conn, shop_id, |(p, customer, at, order, title)| {
            if product.as_ref().is_some_and(|(id, _)| *id != p) {
                finish(product.take().expect("a product"), &mut by_customer);
            }
            product.get_or_insert((p, title));
            match by_customer.last_mut() {
                Some((c, purchases)) if *c == customer => purchases.push((at, order)),
                _ => by_customer.push((customer, vec![(at, order)])),
            }
        })
        .await?;
        if let Some(last) = product.take() {
            finish(last, &mut by_customer);
        }
    }
    let mut tx = store.begin().await?;
    reorder::save_learned(&mut tx, shop_id, &learned, now).await?;
    tx.commit().await?;
    Ok((settings, found))
}

/// Records one cycle's reminder and, unless held out, enqueues its code
/// and its Flow trigger; false when the cycle had its reminder already.
async fn remind(
    conn: &mut sqlx::AnyConnection,
    shop_id: i64,
    settings: &Reorder,
    d: &Due,
    held_out: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let code = settings
        .code
        .as_ref()
        .filter(|_| !held_out)
        .map(|c| (codes::discount_code("AGAIN"), c));
    let new = NewReminder {
        customer_id: d.customer_id,
        product_id: d.product_id,
        cycle_order_id: d.order_id,
        last_purchase_at: d.last_at,
        interval_days: d.interval_days,
        due_at: d.due_at,
        held_out,
        code: code.as_ref().map(|(c, _)| c.clone()),
    };
    let Some(id) = reorder::insert_reminder(conn, shop_id, &new, now).await? else {
        return Ok(false);
    };
    if held_out {
        return Ok(true);
    }
    let ordering = super::winback::ordering_key(d.customer_id);
    if let Some((code, offer)) = &code {
        let effect = Effect::CreateDiscountCode {
            code: code.clone(),
            title: format!("Time to restock: {}", d.title),
            customer_gid: Some(CustomerId(d.customer_id).gid()),
            value: discount_value(&offer.value),
            minimum_subtotal: None,
            ends_at: Some(super::rfc3339(now + i64::from(offer.valid_days) * DAY_MS)),
            refund: None,
        };
        enqueue(
            conn,
            shop_id,
            &effect,
            &format!("reorder:{id}:code"),
            Some(&ordering),
        )
        .await?;
    }
    let days_since = (now - d.last_at).max(0) / DAY_MS;
    let trigger = FlowTrigger::ReorderDue.effect(
        d.customer_id,
        serde_json::Map::from_iter([
            ("Product".to_owned(), json!(d.title)),
            ("Product id".to_owned(), json!(d.product_id.to_string())),
            ("Days since last purchase".to_owned(), json!(days_since)),
            (
                "Discount code".to_owned(),
                json!(code.as_ref().map_or("", |(c, _)| c.as_str())),
            ),
        ]),
    );
    enqueue(
        conn,
        shop_id,
        &trigger,
        &format!("reorder:{id}:flow"),
        Some(&ordering),
    )
    .await?;
    Ok(true)
}

/// One arm of the holdout report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Arm {
    pub reminders: i64,
    /// Reminders followed by a purchase of the product within the
    /// attribution window.
    pub reordered: i64,
    /// Net revenue of those purchases' orders (each order once), minor units.
    pub revenue_minor: i64,
}

/// Reminded against held-out customers, for reminders recorded in the
/// window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    pub reminded: Arm,
    pub held_out: Arm,
    pub attribution_days: u32,
}

/// The holdout report over reminders recorded in `[from, to)`: a reminder
/// counts as reordered when its customer bought the product within
/// `attribution_days` after it; an order reordering several products
/// counts its revenue once per arm.
pub async fn report(
    conn: &mut sqlx::AnyConnection,
    shop_id: i64,
    (from, to): (i64, i64),
    attribution_days: u32,
) -> Result<Report, sqlx::Error> {
    let sent = reorder::sent_between(conn, shop_id, from, to).await?;
    let window = i64::from(attribution_days) * DAY_MS;
    // Per (customer, product): (paid at, order, net revenue), by time.
    type Bought = Vec<(i64, i64, i64)>;
    let mut bought: HashMap<(i64, i64), Bought> = HashMap::new();
    for (customer, product, at, order, revenue) in
        reorder::purchases_since(conn, shop_id, from).await?
    {
        bought
            .entry((customer, product))
            .or_default()
            .push((at, order, revenue));
    }
    let mut report = Report {
        attribution_days,
        ..Report::default()
    };
    let mut counted_orders: [std::collections::HashSet<i64>; 2] = Default::default();
    for (customer, product, at, held) in sent {
        let (arm, orders) = if held != 0 {
            (&mut report.held_out, &mut counted_orders[1])
        } else {
            (&mut report.reminded, &mut counted_orders[0])
        };
        arm.reminders += 1;
        let first = bought.get(&(customer, product)).and_then(|p| {
            p.iter()
                .find(|(paid, _, _)| *paid > at && *paid <= at + window)
        });
        if let Some(&(_, order, revenue)) = first {
            arm.reordered += 1;
            if orders.insert(order) {
                arm.revenue_minor = arm.revenue_minor.saturating_add(revenue);
            }
        }
    }
    Ok(report)
}

/// What the storefront widget and the account page show ("time to
/// restock?"): the customer's reminders of the last 30 days whose cycle is
/// still open, with the due date on the shop's calendar.
pub async fn restock_for(
    conn: &mut sqlx::AnyConnection,
    shop_id: i64,
    customer_id: i64,
    now: i64,
) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let open = reorder::open_for_customer(conn, shop_id, customer_id, now - 30 * DAY_MS).await?;
    if open.is_empty() {
        // Most shoppers have none: no need for the shop's calendar.
        return Ok(Vec::new());
    }
    let zone: Zone = shops::time_zone(conn, shop_id).await?;
    Ok(open
        .into_iter()
        .map(|(product, title, due_at)| {
            json!({
                "product_id": product.to_string(),
                "title": title,
                "due_on": zone.date_of(due_at).to_string(),
            })
        })
        .collect())
}
