//! Customer profiles: the personal data the program needs, and the
//! materialised point totals. Personal fields are erased by customers/redact
//! and customers/delete; once erased they are never written again, whatever
//! arrives late, because the upsert skips erased rows.

use serde::Serialize;
use sqlx::AnyConnection;

/// A profile as Shopify sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerProfile {
    pub customer_id: i64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub tags: Option<String>,
    pub email_marketing_state: Option<String>,
    pub sms_marketing_state: Option<String>,
    pub shopify_created_at: Option<i64>,
    pub shopify_updated_at: Option<i64>,
}

/// A stored customer, as exported for a data request.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Customer {
    pub customer_id: i64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub tags: Option<String>,
    pub email_marketing_state: Option<String>,
    pub sms_marketing_state: Option<String>,
    pub shopify_created_at: Option<i64>,
    pub points_balance: i64,
    pub points_pending: i64,
    pub deleted_at: Option<i64>,
    pub redacted_at: Option<i64>,
}

/// Creates or updates a profile. An older update than the one stored (by
/// Shopify's `updated_at`) and any update of an erased customer change
/// nothing. Returns whether the row was written.
pub async fn upsert_profile(
    conn: &mut AnyConnection,
    shop_id: i64,
    p: &CustomerProfile,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO customers (shop_id, customer_id, email, first_name, last_name, phone, tags, \
             email_marketing_state, sms_marketing_state, shopify_created_at, shopify_updated_at, \
             created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (shop_id, customer_id) DO UPDATE SET email = excluded.email, \
             first_name = excluded.first_name, last_name = excluded.last_name, \
             phone = excluded.phone, tags = excluded.tags, \
             email_marketing_state = excluded.email_marketing_state, \
             sms_marketing_state = excluded.sms_marketing_state, \
             shopify_created_at = COALESCE(excluded.shopify_created_at, customers.shopify_created_at), \
             shopify_updated_at = excluded.shopify_updated_at, updated_at = excluded.updated_at \
         WHERE customers.redacted_at IS NULL AND customers.deleted_at IS NULL \
           AND (customers.shopify_updated_at IS NULL OR excluded.shopify_updated_at IS NULL \
                OR excluded.shopify_updated_at >= customers.shopify_updated_at)",
    )
    .bind(shop_id)
    .bind(p.customer_id)
    .bind(p.email.as_deref())
    .bind(p.first_name.as_deref())
    .bind(p.last_name.as_deref())
    .bind(p.phone.as_deref())
    .bind(p.tags.as_deref())
    .bind(p.email_marketing_state.as_deref())
    .bind(p.sms_marketing_state.as_deref())
    .bind(p.shopify_created_at)
    .bind(p.shopify_updated_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Why personal data is erased.
#[derive(Debug, Clone, Copy)]
pub enum Erasure {
    /// customers/redact (GDPR): the customer asked to be forgotten.
    Redacted,
    /// customers/delete: the merchant deleted the customer in Shopify.
    Deleted,
}

/// Erases the personal fields, keeping ids and point totals. Leaves a
/// tombstone when the customer was unknown, so a profile arriving late is
/// not stored.
pub async fn erase_personal_data(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    erasure: Erasure,
    now: i64,
) -> Result<(), sqlx::Error> {
    let sql = match erasure {
        Erasure::Redacted => {
            "INSERT INTO customers (shop_id, customer_id, created_at, updated_at, redacted_at) \
             VALUES ($1, $2, $3, $3, $3) ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
             email = NULL, first_name = NULL, last_name = NULL, phone = NULL, tags = NULL, \
             email_marketing_state = NULL, sms_marketing_state = NULL, updated_at = $3, \
             redacted_at = COALESCE(customers.redacted_at, $3)"
        }
        Erasure::Deleted => {
            "INSERT INTO customers (shop_id, customer_id, created_at, updated_at, deleted_at) \
             VALUES ($1, $2, $3, $3, $3) ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
             email = NULL, first_name = NULL, last_name = NULL, phone = NULL, tags = NULL, \
             email_marketing_state = NULL, sms_marketing_state = NULL, updated_at = $3, \
             deleted_at = COALESCE(customers.deleted_at, $3)"
        }
    };
    sqlx::query(sql)
        .bind(shop_id)
        .bind(customer_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, email, first_name, last_name, phone, tags, email_marketing_state, \
         sms_marketing_state, shopify_created_at, points_balance, points_pending, deleted_at, \
         redacted_at FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await
}

/// Which of `customer_ids` were redacted.
pub async fn redacted_among(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut redacted = Vec::new();
    for chunk in customer_ids.chunks(500) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT customer_id FROM customers WHERE shop_id = $1 AND redacted_at IS NOT NULL \
             AND customer_id IN ({list})"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        redacted.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(redacted)
}
