//! customers/data_request: each request with the export built for it, kept
//! for the merchant to hand to the customer. An export holds personal data,
//! so it is dropped when that customer is redacted.

use serde::Serialize;
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DataRequest {
    pub id: i64,
    pub request_id: i64,
    pub customer_id: i64,
    pub status: String,
    pub export: Option<String>,
    pub created_at: i64,
}

/// Records a request and its export; a repeated request changes nothing.
pub async fn insert_data_request(
    conn: &mut AnyConnection,
    shop_id: i64,
    request_id: i64,
    customer_id: i64,
    orders_requested: &str,
    export: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO data_requests (shop_id, request_id, customer_id, orders_requested, export, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, 'ready', $6) \
         ON CONFLICT (shop_id, request_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(request_id)
    .bind(customer_id)
    .bind(orders_requested)
    .bind(export)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list_data_requests(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Vec<DataRequest>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, request_id, customer_id, status, export, created_at FROM data_requests \
         WHERE shop_id = $1 ORDER BY id DESC",
    )
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// Drops the exports of a redacted customer; the request itself stays.
pub async fn redact_exports(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE data_requests SET export = NULL, status = 'redacted' \
         WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}
