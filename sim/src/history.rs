//! A shop's history as the stand-in's bulk queries return it: customers and
//! orders made up from a size (and nothing else, so every run and every
//! reader sees the same shop), written as Shopify writes a bulk query's
//! result: JSON Lines, one object per line, each nested connection's nodes
//! on lines of their own after their parent, carrying `__parentId`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};

/// How big a shop's history is, and the moment it runs up to (fixed when
/// it is set, so every read of it sees the same orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub customers: usize,
    pub orders: usize,
    pub now: DateTime<Utc>,
}

/// The first customer's id; customer `i` is `FIRST_CUSTOMER + i`.
pub const FIRST_CUSTOMER: i64 = 6_100_000_000;
/// The first order's id; order `j` is `FIRST_ORDER + j`.
pub const FIRST_ORDER: i64 = 6_200_000_000;
/// How far back the orders go, in days.
pub const SPAN_DAYS: i64 = 730;

/// A number from 0 to `n` - 1, the same for the same `(what, i)`.
fn pick(what: u64, i: u64, n: u64) -> u64 {
    let mut x = what
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    x % n.max(1)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn money(minor: i64) -> Value {
    json!({ "shopMoney": {
        "amount": format!("{}.{:02}", minor / 100, minor % 100),
        "currencyCode": "USD",
    } })
}

/// Customer `i`'s email.
pub fn email(i: usize) -> String {
    format!("history{i}@example.com")
}

/// One customer: id, email, when the account was made.
pub fn customer(i: usize, now: DateTime<Utc>) -> Value {
    let created = now - Duration::days(SPAN_DAYS + pick(1, i as u64, 365) as i64);
    json!({
        "id": format!("gid://shopify/Customer/{}", FIRST_CUSTOMER + i as i64),
        "createdAt": time(created),
        "updatedAt": time(created),
        "firstName": format!("First{i}"),
        "lastName": format!("Last{i}"),
        "defaultEmailAddress": { "emailAddress": email(i), "marketingState": "NOT_SUBSCRIBED" },
        "defaultPhoneNumber": null,
    })
}

/// The facts of order `j`, from which its line and its webhook are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub id: i64,
    pub name: String,
    /// `None`: a guest order.
    pub customer: Option<usize>,
    pub processed_at: DateTime<Utc>,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    /// A refund of half the subtotal, made two days after the order.
    pub refund: Option<(i64, i64, DateTime<Utc>)>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// (line id, product id, variant id, quantity).
    pub lines: Vec<(i64, i64, i64, i64)>,
}

/// Order `j` of a history of `customers` customers.
pub fn order_facts(j: usize, customers: usize, now: DateTime<Utc>) -> OrderFacts {
    let k = j as u64;
    let processed_at = now - Duration::minutes(1 + pick(2, k, (SPAN_DAYS * 24 * 60) as u64) as i64);
    let customer = (pick(3, k, 10) != 0 && customers > 0).then(|| {
        // Some customers order much more often than others.
        let a = pick(4, k, customers as u64);
        let b = pick(5, k, customers as u64);
        a.min(b) as usize
    });
    let subtotal_minor = 1_000 + 100 * pick(6, k, 190) as i64;
    let id = FIRST_ORDER + j as i64;
    let refund = (pick(7, k, 20) == 0).then(|| {
        (
            7_000_000_000 + j as i64,
            subtotal_minor / 2,
            processed_at + Duration::days(2),
        )
    });
    let cancelled_at =
        (refund.is_none() && pick(8, k, 50) == 0).then(|| processed_at + Duration::hours(3));
    let lines = (0..1 + pick(9, k, 3))
        .map(|n| {
            let product = 8_000_000_000 + pick(10 + n, k, 40) as i64;
            (
                9_000_000_000 + 4 * j as i64 + n as i64,
                product,
                product + 500_000_000,
                1 + pick(20 + n, k, 2) as i64,
            )
        })
        .collect();
    OrderFacts {
        id,
        name: format!("#H{}", 1000 + j),
        customer,
        processed_at,
        subtotal_minor,
        tax_minor: subtotal_minor * 8 / 100,
        shipping_minor: 500,
        refund,
        cancelled_at,
        lines,
    }
}

/// An order's line of the bulk result, and its line items' lines.
fn order_lines(o: &OrderFacts, out: &mut String) {
    let gid = format!("gid://shopify/Order/{}", o.id);
    let total = o.subtotal_minor + o.tax_minor + o.shipping_minor;
    let status = match (&o.refund, &o.cancelled_at) {
        (Some(_), _) => "PARTIALLY_REFUNDED",
        (None, Some(_)) => "VOIDED",
        _ => "PAID",
    };
    let order = json!({
        "id": gid,
        "name": o.name,
        "email": o.customer.map(email),
        "processedAt": time(o.processed_at),
        "cancelledAt": o.cancelled_at.map(time),
        "test": false,
        "sourceName": "web",
        "displayFinancialStatus": status,
        "displayFulfillmentStatus": "FULFILLED",
        "taxesIncluded": false,
        "currencyCode": "USD",
        "discountCodes": [],
        "customer": o.customer.map(|c| json!({ "id": format!("gid://shopify/Customer/{}", FIRST_CUSTOMER + c as i64) })),
        "subtotalPriceSet": money(o.subtotal_minor),
        "totalPriceSet": money(total),
        "totalTaxSet": money(o.tax_minor),
        "totalShippingPriceSet": money(o.shipping_minor),
        "totalDiscountsSet": money(0),
        "refunds": o.refund.map(|(id, minor, at)| vec![json!({
            "id": format!("gid://shopify/Refund/{id}"),
            "createdAt": time(at),
            "totalRefundedSet": money(minor),
        })]).unwrap_or_default(),
    });
    out.push_str(&order.to_string());
    out.push('\n');
    for (line, product, variant, quantity) in &o.lines {
        let item = json!({
            "id": format!("gid://shopify/LineItem/{line}"),
            "title": format!("Product {product}"),
            "quantity": quantity,
            "currentQuantity": quantity,
            "product": { "id": format!("gid://shopify/Product/{product}") },
            "variant": { "id": format!("gid://shopify/ProductVariant/{variant}") },
            "__parentId": gid,
        });
        out.push_str(&item.to_string());
        out.push('\n');
    }
}

/// What a bulk query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Customers,
    /// Orders processed since a day, if the query filters them.
    Orders(Option<DateTime<Utc>>),
}

/// What `query` asks for: its first connection, and an orders query's
/// `processed_at:>=YYYY-MM-DD` filter (None when it filters nothing, as
/// 2000-01-01 does not).
pub fn what(query: &str) -> Option<Asked> {
    let customers_at = query.find("customers");
    let orders_at = query.find("orders");
    match (customers_at, orders_at) {
        (Some(c), o) if o.is_none_or(|o| c < o) => Some(Asked::Customers),
        (_, Some(_)) => {
            let since = query
                .split("processed_at:>=")
                .nth(1)
                .and_then(|rest| NaiveDate::parse_from_str(rest.get(..10)?, "%Y-%m-%d").ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
                .filter(|since| since.year() > 2000);
            Some(Asked::Orders(since))
        }
        _ => None,
    }
}

/// What a bulk query over this history returns: its JSONL and how many
/// objects it holds. The query's first connection (`customers` or
/// `orders`) says which; an orders query's `processed_at:>=YYYY-MM-DD`
/// filter is honoured.
pub fn bulk_result(history: &History, query: &str) -> Option<(String, u64)> {
    let now = history.now;
    let mut out = String::new();
    let mut count = 0;
    match what(query)? {
        Asked::Customers => {
            for i in 0..history.customers {
                out.push_str(&customer(i, now).to_string());
                out.push('\n');
                count += 1;
            }
        }
        Asked::Orders(since) => {
            for j in 0..history.orders {
                let o = order_facts(j, history.customers, now);
                if since.is_some_and(|since| o.processed_at < since) {
                    continue;
                }
                order_lines(&o, &mut out);
                count += 1 + o.lines.len() as u64;
            }
        }
    }
    Some((out, count))
}
