//! A shop's history import (`history_imports`, migration 0022): what was
//! asked, which stage it is in and how far it got.

use serde::Serialize;
use sqlx::AnyConnection;

/// Statuses of an import.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const CUSTOMERS: &str = "customers";
    pub const ORDERS: &str = "orders";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";

    /// Still to be worked on.
    pub fn is_open(status: &str) -> bool {
        matches!(status, QUEUED | CUSTOMERS | ORDERS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HistoryImport {
    pub shop_id: i64,
    pub run: i64,
    pub status: String,
    pub points_since: Option<i64>,
    pub cutoff: i64,
    pub bulk_id: Option<String>,
    #[serde(skip)]
    pub url: Option<String>,
    pub lines_done: i64,
    pub objects: Option<i64>,
    pub customers: i64,
    pub orders: i64,
    pub requested_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

const COLUMNS: &str = "shop_id, run, status, points_since, cutoff, bulk_id, url, lines_done, \
    objects, customers, orders, requested_at, started_at, finished_at, error";

pub async fn find(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<HistoryImport>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM history_imports WHERE shop_id = $1"
    ))
    .bind(shop_id)
    .fetch_optional(conn)
    .await
}

/// The shops with an import still to work on.
pub async fn open_shops(conn: &mut AnyConnection) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT shop_id FROM history_imports \
         WHERE status IN ('queued', 'customers', 'orders') ORDER BY requested_at",
    )
    .fetch_all(conn)
    .await
}

/// Queues a new import of the shop's history, unless one is open: answers
/// false then (nothing changed).
pub async fn queue(
    conn: &mut AnyConnection,
    shop_id: i64,
    points_since: Option<i64>,
    cutoff: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO history_imports (shop_id, run, status, points_since, cutoff, requested_at) \
         VALUES ($1, 1, 'queued', $2, $3, $4) \
         ON CONFLICT (shop_id) DO UPDATE SET run = history_imports.run + 1, status = 'queued', \
         points_since = excluded.points_since, cutoff = excluded.cutoff, bulk_id = NULL, \
         url = NULL, lines_done = 0, objects = NULL, customers = 0, orders = 0, \
         requested_at = excluded.requested_at, started_at = NULL, finished_at = NULL, \
         error = NULL \
         WHERE history_imports.status NOT IN ('queued', 'customers', 'orders')",
    )
    .bind(shop_id)
    .bind(points_since)
    .bind(cutoff)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Moves the import of `run` to a stage with its bulk query (None: to be
/// started), its progress and its count reset: the stage's result is read,
/// and counted, from its first line.
pub async fn enter_stage(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    stage: &str,
    bulk_id: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE history_imports SET status = $1, bulk_id = $2, url = NULL, lines_done = 0, \
         objects = NULL, started_at = COALESCE(started_at, $3), \
         customers = CASE WHEN $1 = 'customers' THEN 0 ELSE customers END, \
         orders = CASE WHEN $1 = 'orders' THEN 0 ELSE orders END \
         WHERE shop_id = $4 AND run = $5",
    )
    .bind(stage)
    .bind(bulk_id)
    .bind(now)
    .bind(shop_id)
    .bind(run)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records where the stage's completed result is, and its line count.
pub async fn result_ready(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    url: Option<&str>,
    objects: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE history_imports SET url = $1, objects = $2 WHERE shop_id = $3 AND run = $4",
    )
    .bind(url)
    .bind(objects)
    .bind(shop_id)
    .bind(run)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records lines applied, in the transaction that applied them.
pub async fn advance(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    lines_done: i64,
    (customers, orders): (i64, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE history_imports SET lines_done = $1, customers = customers + $2, \
         orders = orders + $3 WHERE shop_id = $4 AND run = $5",
    )
    .bind(lines_done)
    .bind(customers)
    .bind(orders)
    .bind(shop_id)
    .bind(run)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the import: done, or failed with a reason (no shopper data).
pub async fn finish(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    error: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE history_imports SET status = $1, error = $2, finished_at = $3, bulk_id = NULL, \
         url = NULL WHERE shop_id = $4 AND run = $5",
    )
    .bind(if error.is_some() {
        status::FAILED
    } else {
        status::DONE
    })
    .bind(error)
    .bind(now)
    .bind(shop_id)
    .bind(run)
    .execute(conn)
    .await?;
    Ok(())
}

/// The ids of the shop's orders kept out of the program as history
/// (`award_note` is `note`) that were processed since `since`, after
/// `after`, in id order.
pub async fn kept_out_page(
    conn: &mut AnyConnection,
    shop_id: i64,
    note: &str,
    since: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE shop_id = $1 AND award_state = 'ineligible' \
         AND award_note = $2 AND processed_at >= $3 AND order_id > $4 \
         ORDER BY order_id LIMIT $5",
    )
    .bind(shop_id)
    .bind(note)
    .bind(since)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Queues the first import of a newly installed shop's history (without
/// points; orders before `now` earn nothing). A shop that had one keeps it.
pub async fn queue_first(
    conn: &mut AnyConnection,
    shop_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO history_imports (shop_id, run, status, cutoff, requested_at) \
         VALUES ($1, 1, 'queued', $2, $2) ON CONFLICT (shop_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The shop's program start for orders: (cutoff, points_since) of its
/// history import, if it has one (see `engine::orders::HistoryRule`).
pub async fn rule_of(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<(i64, Option<i64>)>, sqlx::Error> {
    sqlx::query_as("SELECT cutoff, points_since FROM history_imports WHERE shop_id = $1")
        .bind(shop_id)
        .fetch_optional(conn)
        .await
}
