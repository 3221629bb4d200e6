//! Order products and co-purchase pair counts (migration 0013). An order's
//! products are replaced whole by each delivery that lists its lines; the
//! pair counts move by the difference, in the same transaction, so they
//! always equal what the stored counted orders give. Shop redaction deletes
//! both tables (`shops::redact_shop`).

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, Row};

use super::{placeholder, placeholders, values_placeholders, Dialect};

use crate::loyalty::offers::OrderProduct;

/// An order's stored product ids, and whether it counts; None when its
/// lines were never stored.
pub async fn find_order_products(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<Option<(BTreeSet<i64>, bool)>, sqlx::Error> {
    Ok(find_products_of(conn, shop_id, &[order_id])
        .await?
        .remove(&order_id))
}

/// Replaces the order's products.
pub async fn replace_order_products(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    products: &[OrderProduct],
    counted: bool,
) -> Result<(), sqlx::Error> {
    let write = ProductsWrite::Replace(products, counted);
    write_products_of(conn, shop_id, &[(order_id, write)]).await
}

/// Marks whether the order counts, for a delivery without lines (its
/// stored products stay).
pub async fn set_counted(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    counted: bool,
) -> Result<(), sqlx::Error> {
    let write = ProductsWrite::Counted(counted);
    write_products_of(conn, shop_id, &[(order_id, write)]).await
}

/// Moves pair counts by their deltas; a pair that reaches 0 is deleted.
/// Callers pass the changes sorted, so concurrent orders lock pairs in one
/// order and cannot deadlock.
pub async fn move_pairs(
    conn: &mut AnyConnection,
    shop_id: i64,
    changes: &[((i64, i64), i64)],
) -> Result<(), sqlx::Error> {
    move_pairs_many(conn, shop_id, changes).await
}

/// The shop's product ids in the customer's counted orders.
const BOUGHT: &str = "SELECT op.product_id FROM order_products op \
     JOIN orders o ON o.shop_id = op.shop_id AND o.order_id = op.order_id \
     WHERE op.shop_id = $1 AND o.customer_id = $2 AND op.counted = 1";

/// The products the customer bought (counted orders only).
pub async fn bought_products(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<BTreeSet<i64>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(BOUGHT)
        .bind(shop_id)
        .bind(customer_id)
        .fetch_all(conn)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The best `limit` products by their summed pair counts with the
/// customer's products, as `(product, score)`; the products bought
/// themselves may be among them (the caller leaves them out, so it asks for
/// enough rows to have `limit` left).
pub async fn co_purchase_candidates(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT pp.other_id, CAST(SUM(pp.orders) AS BIGINT) AS together \
         FROM product_pairs pp WHERE pp.shop_id = $1 AND pp.product_id IN ({BOUGHT}) \
         GROUP BY pp.other_id ORDER BY together DESC, pp.other_id LIMIT $3"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("other_id")?, r.try_get("together")?)))
        .collect()
}

/// A product as the shop's latest order holding it names it.
pub async fn find_product(
    conn: &mut AnyConnection,
    shop_id: i64,
    product_id: i64,
) -> Result<Option<(Option<i64>, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT variant_id, title FROM order_products WHERE shop_id = $1 AND product_id = $2 \
         ORDER BY order_id DESC LIMIT 1",
    )
    .bind(shop_id)
    .bind(product_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("variant_id")?, r.try_get("title")?)))
        .transpose()
}

/// A product of one of the customer's orders, for their data export.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct BoughtProduct {
    pub order_id: i64,
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub title: String,
    pub quantity: i64,
}

/// The products of every order of the customer (cancelled ones too).
pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<BoughtProduct>, sqlx::Error> {
    sqlx::query_as(
        "SELECT op.order_id, op.product_id, op.variant_id, op.title, op.quantity \
         FROM order_products op \
         JOIN orders o ON o.shop_id = op.shop_id AND o.order_id = op.order_id \
         WHERE op.shop_id = $1 AND o.customer_id = $2 ORDER BY op.order_id, op.product_id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// [`find_order_products`] for many orders; an order whose lines were
/// never stored is absent.
pub async fn find_products_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<HashMap<i64, (BTreeSet<i64>, bool)>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut found: HashMap<i64, (BTreeSet<i64>, bool)> = HashMap::new();
    for chunk in order_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT order_id, product_id, counted FROM order_products \
             WHERE shop_id = {} AND order_id IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (i64, i64, i64)>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        for (order_id, product_id, counted) in query.fetch_all(&mut *conn).await? {
            let entry = found.entry(order_id).or_default();
            entry.0.insert(product_id);
            entry.1 = counted == 1;
        }
    }
    Ok(found)
}

/// An order's products as a batch leaves them.
pub enum ProductsWrite<'a> {
    /// Replaced by these (the delivery listed the lines).
    Replace(&'a [OrderProduct], bool),
    /// Kept, counted or not.
    Counted(bool),
}

/// [`replace_order_products`] and [`set_counted`] for many orders, in a
/// few statements.
pub async fn write_products_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    writes: &[(i64, ProductsWrite<'_>)],
) -> Result<(), sqlx::Error> {
    let dialect = Dialect::of(conn);
    let replaced: Vec<i64> = writes
        .iter()
        .filter(|(_, w)| matches!(w, ProductsWrite::Replace(..)))
        .map(|(id, _)| *id)
        .collect();
    for chunk in replaced.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM order_products WHERE shop_id = {} AND order_id IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    let rows: Vec<(i64, &OrderProduct, bool)> = writes
        .iter()
        .filter_map(|(id, w)| match w {
            ProductsWrite::Replace(products, counted) => Some((*id, *products, *counted)),
            ProductsWrite::Counted(_) => None,
        })
        .flat_map(|(id, products, counted)| products.iter().map(move |p| (id, p, counted)))
        .collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO order_products \
             (shop_id, order_id, product_id, variant_id, title, quantity, counted) VALUES {}",
            values_placeholders(dialect, chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for (order_id, p, counted) in chunk {
            query = query
                .bind(shop_id)
                .bind(*order_id)
                .bind(p.product_id)
                .bind(p.variant_id)
                .bind(p.title.as_str())
                .bind(p.quantity)
                .bind(i64::from(*counted));
        }
        query.execute(&mut *conn).await?;
    }
    for counted in [false, true] {
        let ids: Vec<i64> = writes
            .iter()
            .filter(|(_, w)| matches!(w, ProductsWrite::Counted(c) if *c == counted))
            .map(|(id, _)| *id)
            .collect();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE order_products SET counted = {} WHERE shop_id = {} AND order_id IN ({})",
                placeholder(dialect, 1),
                placeholder(dialect, 2),
                placeholders(dialect, 3, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(i64::from(counted)).bind(shop_id);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// [`move_pairs`] in a few statements. `changes` are sorted and each pair
/// appears once.
pub async fn move_pairs_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    changes: &[((i64, i64), i64)],
) -> Result<(), sqlx::Error> {
    let dialect = Dialect::of(conn);
    for chunk in changes.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO product_pairs (shop_id, product_id, other_id, orders) VALUES {} \
             ON CONFLICT (shop_id, product_id, other_id) \
             DO UPDATE SET orders = product_pairs.orders + excluded.orders",
            values_placeholders(dialect, chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for ((product_id, other_id), delta) in chunk {
            query = query
                .bind(shop_id)
                .bind(*product_id)
                .bind(*other_id)
                .bind(*delta);
        }
        query.execute(&mut *conn).await?;
    }
    let mut lowered: Vec<i64> = changes
        .iter()
        .filter(|(_, delta)| *delta < 0)
        .map(|((product_id, _), _)| *product_id)
        .collect();
    lowered.sort_unstable();
    lowered.dedup();
    for chunk in lowered.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM product_pairs WHERE shop_id = {} AND product_id IN ({}) AND orders <= 0",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row statement of the batch writes above.
const CHUNK: usize = 400;
