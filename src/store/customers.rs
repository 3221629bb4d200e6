//! Customer profiles: the personal data the program needs, and the
//! materialised point totals. Personal fields are erased by customers/redact
//! and customers/delete; once erased they are never written again, whatever
//! arrives late, because the upsert skips erased rows.
//!
//! Search goes through `search_key`: the e-mail and names lower-cased in
//! Rust ([`search_key`]), so case folds the same way on both backends and
//! for all of Unicode; it is written with the names and erased with them.

use serde::Serialize;
use sqlx::AnyConnection;

use crate::loyalty::{CustomerId, EpochMs, ShopId};

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
    /// Hashed identifiers (see `loyalty::identity`), for matching.
    pub email_hash: Option<String>,
    pub phone_hash: Option<String>,
    pub address_hash: Option<String>,
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
    pub tier_id: Option<String>,
    pub tier_since: Option<i64>,
    pub birthday: Option<String>,
    pub last_activity_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub redacted_at: Option<i64>,
    /// The behaviour segment's slug, and since when.
    pub segment: Option<String>,
    pub segment_since: Option<i64>,
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
             email_hash, phone_hash, address_hash, created_at, updated_at, search_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $15, $12, $12, $16) \
         ON CONFLICT (shop_id, customer_id) DO UPDATE SET email = excluded.email, \
             first_name = excluded.first_name, last_name = excluded.last_name, \
             search_key = excluded.search_key, \
             phone = excluded.phone, tags = excluded.tags, \
             email_marketing_state = excluded.email_marketing_state, \
             sms_marketing_state = excluded.sms_marketing_state, \
             shopify_created_at = COALESCE(excluded.shopify_created_at, customers.shopify_created_at), \
             shopify_updated_at = excluded.shopify_updated_at, email_hash = excluded.email_hash, \
             phone_hash = excluded.phone_hash, address_hash = excluded.address_hash, \
             updated_at = excluded.updated_at \
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
    .bind(p.email_hash.as_deref())
    .bind(p.phone_hash.as_deref())
    .bind(p.address_hash.as_deref())
    .bind(search_key(
        p.email.as_deref(),
        p.first_name.as_deref(),
        p.last_name.as_deref(),
    ))
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
             email_marketing_state = NULL, sms_marketing_state = NULL, email_hash = NULL, \
             phone_hash = NULL, address_hash = NULL, birthday = NULL, search_key = NULL, \
             updated_at = $3, \
             redacted_at = COALESCE(customers.redacted_at, $3)"
        }
        Erasure::Deleted => {
            "INSERT INTO customers (shop_id, customer_id, created_at, updated_at, deleted_at) \
             VALUES ($1, $2, $3, $3, $3) ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
             email = NULL, first_name = NULL, last_name = NULL, phone = NULL, tags = NULL, \
             email_marketing_state = NULL, sms_marketing_state = NULL, email_hash = NULL, \
             phone_hash = NULL, address_hash = NULL, birthday = NULL, search_key = NULL, \
             updated_at = $3, \
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
         sms_marketing_state, shopify_created_at, points_balance, points_pending, tier_id, \
         tier_since, birthday, last_activity_at, deleted_at, redacted_at, segment, segment_since \
         FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await
}

/// A customer's spendable balance (0 for an unknown customer).
pub async fn balance(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(MAX(points_balance), 0) FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_one(conn)
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

/// A row of the admin customer list.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub customer_id: i64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub points_balance: i64,
    pub points_pending: i64,
    pub tier_id: Option<String>,
    pub segment: Option<String>,
}

/// Separates the fields of a search key; a query matches the start of any.
const KEY_SEPARATOR: char = '\u{1f}';

/// What customer search matches: the e-mail, first name, last name and
/// full name, lower-cased (Unicode, in Rust), each after a separator.
/// None when there is nothing to search by.
pub fn search_key(
    email: Option<&str>,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> Option<String> {
    let full_name = match (first_name, last_name) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        _ => None,
    };
    let fields: Vec<&str> = [email, first_name, last_name, full_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return None;
    }
    let mut key = String::new();
    for field in fields {
        key.push(KEY_SEPARATOR);
        key.extend(field.chars().filter(|c| *c != KEY_SEPARATOR));
    }
    Some(key.to_lowercase())
}

/// Rows filled per statement by [`fill_search_keys`].
const FILL_BATCH: i64 = 500;

/// Fills `search_key` for rows written before it existed (migration 0015).
/// Runs at start-up, after the migrations; a no-op once every row has one.
pub async fn fill_search_keys(store: &super::Store) -> Result<u64, sqlx::Error> {
    type Names = (i64, i64, Option<String>, Option<String>, Option<String>);
    let mut filled = 0;
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let rows: Vec<Names> = sqlx::query_as(
            "SELECT shop_id, customer_id, email, first_name, last_name FROM customers \
             WHERE search_key IS NULL AND redacted_at IS NULL \
               AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL) \
               AND (shop_id > $1 OR (shop_id = $1 AND customer_id > $2)) \
             ORDER BY shop_id, customer_id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(FILL_BATCH)
        .fetch_all(store.writer())
        .await?;
        let Some(last) = rows.last() else {
            return Ok(filled);
        };
        after = (last.0, last.1);
        let mut tx = store.begin().await?;
        for (shop_id, customer_id, email, first, last) in &rows {
            let key = search_key(email.as_deref(), first.as_deref(), last.as_deref());
            filled += sqlx::query(
                "UPDATE customers SET search_key = $1 WHERE shop_id = $2 AND customer_id = $3",
            )
            .bind(key)
            .bind(shop_id)
            .bind(customer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
    }
}

/// Customers matching `query` (an id, or the start of an email, a name or
/// the full name, in any case; empty for all), by id, after `after_id`.
pub async fn search(
    conn: &mut AnyConnection,
    shop_id: i64,
    query: &str,
    after_id: i64,
    limit: i64,
) -> Result<Vec<CustomerSummary>, sqlx::Error> {
    let query = query.trim().to_lowercase();
    let exact_id: Option<i64> = query.parse().ok();
    // LIKE wildcards in the search text are matched literally.
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    // The start of any field of the key: right after a separator.
    let prefix = format!("%{KEY_SEPARATOR}{escaped}%");
    sqlx::query_as(
        "SELECT customer_id, email, first_name, last_name, points_balance, points_pending, tier_id, \
         segment FROM customers WHERE shop_id = $1 AND customer_id > $2 AND redacted_at IS NULL \
           AND ($3 = '' OR customer_id = $4 OR search_key LIKE $5 ESCAPE '\\') \
         ORDER BY customer_id LIMIT $6",
    )
    .bind(shop_id)
    .bind(after_id)
    .bind(&query)
    .bind(exact_id.unwrap_or(i64::MIN))
    .bind(&prefix)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The hashed identifiers of a customer, for the referral fraud rules.
pub async fn identity(
    conn: &mut AnyConnection,
    shop: ShopId,
    customer: CustomerId,
) -> Result<crate::loyalty::referrals::Identity, sqlx::Error> {
    let (shop_id, customer_id) = (shop.get(), customer.get());
    let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT email_hash, phone_hash, address_hash FROM customers \
         WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await?;
    let (email, phone, address) = row.unwrap_or_default();
    Ok(crate::loyalty::referrals::Identity {
        customer_id: Some(customer_id),
        email,
        phone,
        address,
    })
}

/// The customer's tier and how many times it changed.
pub async fn tier_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<CustomerTier, sqlx::Error> {
    Ok(tiers_of(conn, shop_id, &[customer_id])
        .await?
        .remove(&customer_id)
        .unwrap_or_default())
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct CustomerTier {
    pub tier_id: Option<String>,
    pub tier_tag: Option<String>,
    pub tier_seq: i64,
    /// A tier carried over from another program: held at least.
    pub tier_floor: Option<String>,
}

/// customer_id, tier_id, tier_tag, tier_seq, tier_floor.
type TierRow = (i64, Option<String>, Option<String>, i64, Option<String>);

/// A customer's move from one tier to another.
#[derive(Debug, Clone, Copy)]
pub struct TierMove<'a> {
    pub customer_id: CustomerId,
    /// The change count read with the current tier ([`CustomerTier::tier_seq`]).
    pub seq: i64,
    /// The current tier's id (`None`: no tier).
    pub from: Option<&'a str>,
    /// The new tier's id and tag (`None`: no tier).
    pub to: Option<(&'a str, &'a str)>,
    pub reason: &'a str,
}

/// Makes the move if the customer's change count is still `seq`, and
/// records it. Returns false when another writer changed it first.
pub async fn change_tier(
    conn: &mut AnyConnection,
    shop: ShopId,
    change: &TierMove<'_>,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    change_tiers(conn, shop, std::slice::from_ref(change), now).await
}

/// Rows for customers who have none yet (their profile never arrived):
/// without personal data, in one multi-row statement per 500.
pub async fn ensure_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
    now: i64,
) -> Result<(), sqlx::Error> {
    let dialect = super::Dialect::of(conn);
    for chunk in customer_ids.chunks(500) {
        let sql = format!(
            "INSERT INTO customers (shop_id, customer_id, created_at, updated_at) VALUES {} \
             ON CONFLICT (shop_id, customer_id) DO NOTHING",
            super::values_placeholders(dialect, chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for customer in chunk {
            query = query.bind(shop_id).bind(*customer).bind(now).bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Customers (and tier moves) per multi-row statement.
const TIER_CHUNK: usize = 200;

/// One customer's moves in [`change_tiers`]: the change count read before
/// the first, the last move's tier (id, tag), and how many.
struct Chain<'a> {
    seq: i64,
    to: Option<(&'a str, &'a str)>,
    moves: i64,
}

/// [`change_tier`] for many moves, in their order, in a few multi-row
/// statements. One customer may move more than once: their moves must
/// follow one another (each `seq` the one before plus one), and the
/// customer row takes the last. Returns false, having changed nothing that
/// the caller's transaction keeps, when another writer moved any of these
/// customers first (the caller rolls back).
pub async fn change_tiers(
    conn: &mut AnyConnection,
    shop: ShopId,
    moves: &[TierMove<'_>],
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    // Per customer, in customer order (concurrent writers lock customer
    // rows in one order): the change count read first, the last move's
    // tier, and how many moves.
    let mut last: std::collections::BTreeMap<i64, Chain<'_>> = Default::default();
    for m in moves {
        let chain = last.entry(m.customer_id.get()).or_insert(Chain {
            seq: m.seq,
            to: None,
            moves: 0,
        });
        if m.seq != chain.seq + chain.moves {
            // Not a chain of moves from one reading: nothing is written.
            return Ok(false);
        }
        chain.to = m.to;
        chain.moves += 1;
    }
    let dialect = super::Dialect::of(conn);
    let customers: Vec<_> = last.into_iter().collect();
    for chunk in customers.chunks(TIER_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|(customer, _)| *customer).collect();
        ensure_many(conn, shop.get(), &ids, now.get()).await?;
        // Parameters in text order: the time, the values, the shop.
        let sql = format!(
            "UPDATE customers SET tier_id = v.column3, tier_tag = v.column4, \
             tier_since = {now}, tier_seq = customers.tier_seq + v.column5, updated_at = {now2} \
             FROM (VALUES {values}) AS v \
             WHERE customers.shop_id = {shop} AND customers.customer_id = v.column1 \
             AND customers.tier_seq = v.column2",
            now = super::placeholder(dialect, 1),
            now2 = super::placeholder(dialect, 2),
            values = super::values_placeholders_from(dialect, chunk.len(), 5, 3),
            shop = super::placeholder(dialect, 3 + chunk.len() * 5),
        );
        let mut query = sqlx::query(&sql).bind(now).bind(now);
        for (customer, chain) in chunk {
            query = query
                .bind(*customer)
                .bind(chain.seq)
                .bind(chain.to.map(|t| t.0))
                .bind(chain.to.map(|t| t.1))
                .bind(chain.moves);
        }
        let changed = query.bind(shop).execute(&mut *conn).await?.rows_affected();
        if changed != chunk.len() as u64 {
            return Ok(false);
        }
    }
    for chunk in moves.chunks(TIER_CHUNK) {
        let sql = format!(
            "INSERT INTO tier_changes (shop_id, customer_id, from_tier, to_tier, reason, \
             created_at) VALUES {}",
            super::values_placeholders(dialect, chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for m in chunk {
            query = query
                .bind(shop)
                .bind(m.customer_id)
                .bind(m.from)
                .bind(m.to.map(|t| t.0))
                .bind(m.reason)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(true)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TierChange {
    pub from_tier: Option<String>,
    pub to_tier: Option<String>,
    pub reason: String,
    pub created_at: i64,
}

pub async fn tier_history(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<TierChange>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_tier, to_tier, reason, created_at FROM tier_changes \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// Records a tier's new tag on its members (after the merchant changed it).
pub async fn retag_tier(
    conn: &mut AnyConnection,
    shop_id: i64,
    tier_id: &str,
    tag: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET tier_tag = $1 WHERE shop_id = $2 AND tier_id = $3")
        .bind(tag)
        .bind(shop_id)
        .bind(tier_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Members of a tier (for retagging when its tag changes).
pub async fn members_of_tier(
    conn: &mut AnyConnection,
    shop_id: i64,
    tier_id: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT customer_id FROM customers WHERE shop_id = $1 AND tier_id = $2 ORDER BY customer_id",
    )
    .bind(shop_id)
    .bind(tier_id)
    .fetch_all(conn)
    .await
}

/// Customer ids of a shop in pages (for re-evaluations).
pub async fn page_ids(
    conn: &mut AnyConnection,
    shop_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT customer_id FROM customers WHERE shop_id = $1 AND customer_id > $2 \
         ORDER BY customer_id LIMIT $3",
    )
    .bind(shop_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// How a birthday write meets an existing customer row: the birthday is
/// kept unless the customer's data was erased or the customer deleted.
macro_rules! birthday_on_conflict {
    () => {
        " ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
         birthday = excluded.birthday, updated_at = excluded.updated_at \
         WHERE customers.redacted_at IS NULL AND customers.deleted_at IS NULL"
    };
}

/// Stores a birthday, creating the customer row if needed, unless the
/// customer's data was erased.
const SET_BIRTHDAY: &str = concat!(
    "INSERT INTO customers (shop_id, customer_id, birthday, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4)",
    birthday_on_conflict!()
);

/// [`set_birthday`] for many customers of one shop: (customer, `MM-DD`),
/// in multi-row statements.
pub async fn set_birthdays(
    conn: &mut AnyConnection,
    shop_id: i64,
    birthdays: &[(i64, &str)],
    now: i64,
) -> Result<(), sqlx::Error> {
    let dialect = super::Dialect::of(conn);
    for chunk in birthdays.chunks(500) {
        let sql = format!(
            concat!(
                "INSERT INTO customers (shop_id, customer_id, birthday, created_at, updated_at) \
                 VALUES {}",
                birthday_on_conflict!()
            ),
            super::values_placeholders(dialect, chunk.len(), 5)
        );
        let mut query = sqlx::query(&sql);
        for (customer, birthday) in chunk {
            query = query
                .bind(shop_id)
                .bind(*customer)
                .bind(*birthday)
                .bind(now)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sets (or clears) the birthday, 'MM-DD'. Creates the customer row if
/// needed. False for an erased customer.
pub async fn set_birthday(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    birthday: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(SET_BIRTHDAY)
        .bind(shop_id)
        .bind(customer_id)
        .bind(birthday)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What a shopper's own birthday write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthdayOnce {
    /// Stored (or it was already this date).
    Set,
    /// Another date is already set; only the merchant changes it.
    AlreadySet,
    /// The customer's data was erased.
    Erased,
}

/// Sets the birthday only when none is set yet (or it is the same date), in
/// one statement, so racing requests cannot each set a different date.
/// Creates the customer row if needed.
pub async fn set_birthday_once(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    birthday: Option<&str>,
    now: i64,
) -> Result<BirthdayOnce, sqlx::Error> {
    let done = sqlx::query(&format!(
        "{SET_BIRTHDAY} AND (customers.birthday IS NULL OR customers.birthday = excluded.birthday)"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .bind(birthday)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(BirthdayOnce::Set);
    }
    let erased: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT redacted_at, deleted_at FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await?;
    Ok(match erased {
        Some((None, None)) => BirthdayOnce::AlreadySet,
        _ => BirthdayOnce::Erased,
    })
}

/// Customers of a shop whose birthday is one of `days` ('MM-DD').
pub async fn with_birthday(
    conn: &mut AnyConnection,
    shop_id: i64,
    days: &[String],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = Vec::new();
    for day in days {
        ids.extend(
            sqlx::query_scalar::<_, i64>(
                "SELECT customer_id FROM customers WHERE shop_id = $1 AND birthday = $2 \
                 AND redacted_at IS NULL AND deleted_at IS NULL",
            )
            .bind(shop_id)
            .bind(day)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    Ok(ids)
}

/// Members (not erased or deleted) who joined the program in `[from, to)`:
/// (customer, when they joined), at most `limit` after customer `after`.
pub async fn joined_between(
    conn: &mut AnyConnection,
    shop_id: i64,
    (from, to): (i64, i64),
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, joined_at FROM customers WHERE shop_id = $1 \
         AND joined_at >= $2 AND joined_at < $3 AND customer_id > $4 \
         AND redacted_at IS NULL AND deleted_at IS NULL ORDER BY customer_id LIMIT $5",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// When the shop's first member joined; None: no members yet.
pub async fn first_joined(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(joined_at) FROM customers WHERE shop_id = $1 AND joined_at IS NOT NULL",
    )
    .bind(shop_id)
    .fetch_one(conn)
    .await
}

/// Customers with spendable points and no activity since `before`:
/// (customer, balance, last activity). With `unwarned`, only those not yet
/// warned for this stretch of inactivity.
pub async fn inactive_with_points(
    conn: &mut AnyConnection,
    shop_id: i64,
    before: i64,
    unwarned: bool,
    limit: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, points_balance, last_activity_at FROM customers \
         WHERE shop_id = $1 AND points_balance > 0 AND last_activity_at IS NOT NULL \
           AND last_activity_at <= $2 \
           AND ($3 = 0 OR expiry_warned_for IS NULL OR expiry_warned_for <> last_activity_at) \
         ORDER BY customer_id LIMIT $4",
    )
    .bind(shop_id)
    .bind(before)
    .bind(i64::from(unwarned))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn mark_expiry_warned(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    last_activity_at: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE customers SET expiry_warned_for = $1 WHERE shop_id = $2 AND customer_id = $3 \
         AND last_activity_at = $1",
    )
    .bind(last_activity_at)
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Up to `limit` customers of the shop whose spendable balance covers
/// `points`, by id.
pub async fn able_to_spend(
    conn: &mut AnyConnection,
    shop_id: i64,
    points: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT customer_id FROM customers \
         WHERE shop_id = $1 AND points_balance >= $2 AND redacted_at IS NULL AND deleted_at IS NULL \
         ORDER BY customer_id LIMIT $3",
    )
    .bind(shop_id)
    .bind(points)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// [`tier_of`] for many customers; a customer without a row is absent.
pub async fn tiers_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
) -> Result<std::collections::HashMap<i64, CustomerTier>, sqlx::Error> {
    let dialect = super::Dialect::of(conn);
    let mut tiers = std::collections::HashMap::new();
    for chunk in customer_ids.chunks(500) {
        let sql = format!(
            "SELECT customer_id, tier_id, tier_tag, tier_seq, tier_floor FROM customers \
             WHERE shop_id = {} AND customer_id IN ({})",
            super::placeholder(dialect, 1),
            super::placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, TierRow>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        for (customer, tier_id, tier_tag, tier_seq, tier_floor) in
            query.fetch_all(&mut *conn).await?
        {
            tiers.insert(
                customer,
                CustomerTier {
                    tier_id,
                    tier_tag,
                    tier_seq,
                    tier_floor,
                },
            );
        }
    }
    Ok(tiers)
}

/// Locks the stored rows of `customer_ids` until the transaction ends, in
/// ascending order (PostgreSQL; SQLite's one writer serialises already):
/// a batch reads their tiers and standing only once no other batch can
/// still change them.
pub async fn lock_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if super::Dialect::of(conn) != super::Dialect::Postgres {
        return Ok(());
    }
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT customer_id FROM customers WHERE shop_id = $1 AND customer_id IN ({}) \
             ORDER BY customer_id FOR UPDATE",
            super::placeholders(super::Dialect::Postgres, 2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::search_key;

    #[test]
    fn search_keys_lower_every_script_and_separate_the_fields() {
        assert_eq!(
            search_key(Some("ÉMILE.Z@EXAMPLE.COM"), Some("ÉMILE"), Some("ÇELİK")).as_deref(),
            Some("\u{1f}émile.z@example.com\u{1f}émile\u{1f}çeli\u{307}k\u{1f}émile çeli\u{307}k")
        );
        assert_eq!(
            search_key(None, Some(" Ørsted "), None).as_deref(),
            Some("\u{1f}ørsted")
        );
        assert_eq!(search_key(None, Some("  "), None), None);
        assert_eq!(
            search_key(Some("a\u{1f}b@c.d"), None, None).as_deref(),
            Some("\u{1f}ab@c.d"),
            "a separator inside a field is dropped"
        );
    }
}
