//! The large shop `advocate-bench analytics` measures: customers, two years
//! of orders and the ledger they earned, written straight to the database.

use advocate::store::{analytics::seed, Store};
use rand::{rngs::StdRng, Rng, SeedableRng};

const DAY_MS: i64 = 86_400_000;

/// Two years.
const SPAN_MS: i64 = 730 * DAY_MS;

/// Seeds the shop with `customers` customers and `orders` orders paid over
/// the last two years (10 % guest orders, 3 % cancelled, 1 % test orders,
/// 5 % half refunded; some customers buy far more often than others). Four
/// in five customers are members: a signup entry, an earn entry per counted
/// order (1 point per 1.00), and for one member in ten a 500-point
/// redemption. Balances equal the ledger; tiers follow lifetime spend.
/// Each order holds one or two of 300 products (see [`order_lines`]).
/// Returns the number of ledger entries.
pub async fn seed_shop(
    store: &Store,
    shop_id: i64,
    customers: usize,
    orders: usize,
) -> anyhow::Result<usize> {
    let mut rng = StdRng::seed_from_u64(7);
    let now = advocate::store::now_ms();
    let order_rows = order_rows(&mut rng, now, customers, orders);
    let ledger = ledger(&mut rng, now, customers, &order_rows);
    let customer_rows = customer_rows(now, customers, &ledger);
    let lines = order_lines(&mut rng, &order_rows);
    insert(store, shop_id, &customer_rows, &order_rows, &ledger.entries).await?;
    insert_lines(store, shop_id, &lines).await?;
    Ok(ledger.entries.len())
}

/// Products in the catalogue.
const PRODUCTS: i64 = 300;

/// One or two products per order. A customer mostly buys again from their
/// own three favourites, so products have repeat buyers to learn from;
/// a guest buys any.
fn order_lines(rng: &mut StdRng, orders: &[seed::Order]) -> Vec<seed::Line> {
    let mut lines = Vec::with_capacity(orders.len() * 3 / 2);
    for o in orders {
        let counted = o.cancelled_at.is_none() && !o.is_test;
        let first = rng.gen_range(0..3_i64);
        for k in 0..rng.gen_range(1..=2_i64) {
            let product = match o.customer_id {
                Some(c) if rng.gen_bool(0.9) => (c * 13 + (first + k) % 3 * 7) % PRODUCTS,
                _ => rng.gen_range(0..PRODUCTS),
            };
            lines.push((o.order_id, 9_000_000 + product, counted));
        }
    }
    lines
}

/// The order lines, as [`insert`] writes the rest.
async fn insert_lines(store: &Store, shop_id: i64, lines: &[seed::Line]) -> anyhow::Result<()> {
    let dialect = store.dialect();
    for batch in lines.chunks(100_000) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(1_000) {
            seed::insert_order_products(&mut tx, dialect, shop_id, rows).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// `orders` orders over the last two years.
fn order_rows(rng: &mut StdRng, now: i64, customers: usize, orders: usize) -> Vec<seed::Order> {
    let n = customers.max(1) as i64;
    (0..orders)
        .map(|i| {
            let paid_at = now - rng.gen_range(1..SPAN_MS);
            let customer_id =
                (!rng.gen_bool(0.1)).then(|| 1 + rng.gen_range(0..n).min(rng.gen_range(0..n)));
            let total_minor = rng.gen_range(1_000..20_000);
            seed::Order {
                order_id: 1_000_000 + i as i64,
                customer_id,
                total_minor,
                refunded_minor: if rng.gen_bool(0.05) {
                    total_minor / 2
                } else {
                    0
                },
                paid_at,
                cancelled_at: rng.gen_bool(0.03).then_some(paid_at + DAY_MS),
                is_test: rng.gen_bool(0.01),
            }
        })
        .collect()
}

/// The members' ledger, and each customer's balance and net spend (indexed
/// by customer id).
struct Ledger {
    entries: Vec<seed::Entry>,
    balance: Vec<i64>,
    spend: Vec<i64>,
}

fn is_member(customer: i64) -> bool {
    customer % 5 != 0
}

/// An earn entry per counted order of a member, then each member's signup
/// entry (just before their first order) and for one in ten a redemption;
/// sorted by time, as the append-only ledger is.
fn ledger(rng: &mut StdRng, now: i64, customers: usize, orders: &[seed::Order]) -> Ledger {
    let n = customers.max(1) as i64;
    let slots = customers + 1;
    let (mut balance, mut spend, mut first) = (vec![0; slots], vec![0; slots], vec![now; slots]);
    let mut entries = Vec::new();
    for o in orders {
        let Some(c) = o.customer_id else { continue };
        if o.cancelled_at.is_some() || o.is_test {
            continue;
        }
        let net = o.total_minor - o.refunded_minor;
        spend[c as usize] += net;
        if is_member(c) {
            first[c as usize] = first[c as usize].min(o.paid_at);
            balance[c as usize] += net / 100;
            entries.push(entry(c, net / 100, "earn", Some(o.order_id), o.paid_at));
        }
    }
    for c in (1..=n).filter(|c| is_member(*c)) {
        let joined = first[c as usize] - 1;
        balance[c as usize] += 100;
        entries.push(entry(c, 100, "signup", None, joined));
        if c % 10 == 1 && balance[c as usize] >= 500 {
            balance[c as usize] -= 500;
            let at = joined + rng.gen_range(1..(now - joined).max(2));
            entries.push(entry(c, -500, "redeem", None, at));
        }
    }
    // The ledger is append-only: ids follow time.
    entries.sort_by_key(|e| e.created_at);
    for (i, e) in entries.iter_mut().enumerate() {
        e.key = i as i64;
    }
    Ledger {
        entries,
        balance,
        spend,
    }
}

fn entry(
    customer_id: i64,
    points: i64,
    kind: &'static str,
    order_id: Option<i64>,
    created_at: i64,
) -> seed::Entry {
    seed::Entry {
        key: 0,
        customer_id,
        points,
        kind,
        order_id,
        created_at,
    }
}

/// Every customer with the balance the ledger gives and the tier their
/// lifetime spend earns.
fn customer_rows(now: i64, customers: usize, ledger: &Ledger) -> Vec<seed::Customer> {
    let n = customers.max(1) as i64;
    (1..=n)
        .map(|c| {
            let s = ledger.spend[c as usize];
            let tier = match s {
                s if s >= 100_000 => Some("platinum"),
                s if s >= 50_000 => Some("gold"),
                s if s >= 25_000 => Some("silver"),
                _ => None,
            };
            seed::Customer {
                customer_id: c,
                points_balance: ledger.balance[c as usize],
                points_pending: 0,
                tier_id: tier.map(str::to_owned),
                created_at: now - SPAN_MS,
            }
        })
        .collect()
}

/// Writes the rows in statements of 1,000 rows, 100 statements a
/// transaction.
async fn insert(
    store: &Store,
    shop_id: i64,
    customers: &[seed::Customer],
    orders: &[seed::Order],
    entries: &[seed::Entry],
) -> anyhow::Result<()> {
    const ROWS: usize = 1_000;
    const PER_TX: usize = 100;
    let dialect = store.dialect();
    for batch in customers.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_customers(&mut tx, dialect, shop_id, rows).await?;
        }
        tx.commit().await?;
    }
    for batch in orders.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_orders(&mut tx, dialect, shop_id, "USD", rows).await?;
        }
        tx.commit().await?;
    }
    for batch in entries.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_ledger(&mut tx, dialect, shop_id, rows).await?;
        }
        tx.commit().await?;
    }
    sqlx::query("UPDATE shops SET currency = 'USD' WHERE id = $1")
        .bind(shop_id)
        .execute(store.writer())
        .await?;
    Ok(())
}
