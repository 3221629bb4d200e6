//! What a members import reads and records: customers by id or email hash,
//! referral codes, tier floors, and one row per imported file
//! (`member_imports`, migration 0021).

use std::collections::HashMap;

use serde::Serialize;
use sqlx::AnyConnection;

use super::{placeholder, placeholders, values_placeholders, Dialect};

/// Keys per `IN (…)` list.
const CHUNK: usize = 500;

/// A customer an import can reach: not deleted, not erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub customer_id: i64,
    pub points_balance: i64,
}

/// The customers among `ids`.
pub async fn customers_by_id(
    conn: &mut AnyConnection,
    shop_id: i64,
    ids: &[i64],
) -> Result<HashMap<i64, Found>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT customer_id, points_balance FROM customers WHERE shop_id = {} \
             AND deleted_at IS NULL AND redacted_at IS NULL AND customer_id IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        for (customer_id, points_balance) in query.fetch_all(&mut *conn).await? {
            found.insert(
                customer_id,
                Found {
                    customer_id,
                    points_balance,
                },
            );
        }
    }
    Ok(found)
}

/// The customers with each of `hashes` as their email hash (more than one
/// when several accounts share an address).
pub async fn customers_by_email(
    conn: &mut AnyConnection,
    shop_id: i64,
    hashes: &[&str],
) -> Result<HashMap<String, Vec<Found>>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut found: HashMap<String, Vec<Found>> = HashMap::with_capacity(hashes.len());
    for chunk in hashes.chunks(CHUNK) {
        let sql = format!(
            "SELECT email_hash, customer_id, points_balance FROM customers WHERE shop_id = {} \
             AND deleted_at IS NULL AND redacted_at IS NULL AND email_hash IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64, i64)>(&sql).bind(shop_id);
        for hash in chunk {
            query = query.bind(*hash);
        }
        for (hash, customer_id, points_balance) in query.fetch_all(&mut *conn).await? {
            found.entry(hash).or_default().push(Found {
                customer_id,
                points_balance,
            });
        }
    }
    Ok(found)
}

/// The customer holding each of `codes` (upper-cased), where one does.
pub async fn code_owners(
    conn: &mut AnyConnection,
    shop_id: i64,
    codes: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut owners = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        let sql = format!(
            "SELECT code, customer_id FROM referral_codes WHERE shop_id = {} AND code IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(shop_id);
        for code in chunk {
            query = query.bind(*code);
        }
        owners.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(owners)
}

/// Makes each code its customer's referral code (replacing theirs, if
/// any): (customer, code).
pub async fn set_referral_codes(
    conn: &mut AnyConnection,
    shop_id: i64,
    codes: &[(i64, &str)],
    now: i64,
) -> Result<(), sqlx::Error> {
    let dialect = Dialect::of(conn);
    for chunk in codes.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO referral_codes (shop_id, customer_id, code, created_at) VALUES {} \
             ON CONFLICT (shop_id, customer_id) DO UPDATE SET code = excluded.code",
            values_placeholders(dialect, chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (customer, code) in chunk {
            query = query.bind(shop_id).bind(*customer).bind(*code).bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sets the tier a customer holds at least.
pub async fn set_tier_floor(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    tier_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET tier_floor = $1, updated_at = $2 \
         WHERE shop_id = $3 AND customer_id = $4",
    )
    .bind(tier_id)
    .bind(now)
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// An imported file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ImportRecord {
    pub file_id: String,
    pub format: String,
    pub status: String,
    pub row_count: i64,
    pub imported: i64,
    pub points: i64,
    pub problems: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

const RECORD: &str = "file_id, format, status, row_count, imported, points, problems, \
    started_at, finished_at";

pub async fn find(
    conn: &mut AnyConnection,
    shop_id: i64,
    file_id: &str,
) -> Result<Option<ImportRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RECORD} FROM member_imports WHERE shop_id = $1 AND file_id = $2"
    ))
    .bind(shop_id)
    .bind(file_id)
    .fetch_optional(conn)
    .await
}

/// The shop's imports, latest first.
pub async fn list(
    conn: &mut AnyConnection,
    shop_id: i64,
    limit: i64,
) -> Result<Vec<ImportRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RECORD} FROM member_imports WHERE shop_id = $1 \
         ORDER BY started_at DESC, file_id LIMIT $2"
    ))
    .bind(shop_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records that an import of the file started (a row already there, from
/// an import stopped half-way, stays).
pub async fn start(
    conn: &mut AnyConnection,
    shop_id: i64,
    file_id: &str,
    format: &str,
    row_count: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO member_imports (shop_id, file_id, format, status, row_count, started_at) \
         VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (shop_id, file_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(file_id)
    .bind(format)
    .bind(row_count)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the import of the file is done, with what it did.
pub async fn finish(
    conn: &mut AnyConnection,
    shop_id: i64,
    file_id: &str,
    (imported, points, problems): (i64, i64, i64),
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE member_imports SET status = 'done', imported = $1, points = $2, problems = $3, \
         finished_at = $4 WHERE shop_id = $5 AND file_id = $6",
    )
    .bind(imported)
    .bind(points)
    .bind(problems)
    .bind(now)
    .bind(shop_id)
    .bind(file_id)
    .execute(conn)
    .await?;
    Ok(())
}
