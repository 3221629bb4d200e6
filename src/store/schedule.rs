//! Leases for scheduled jobs: with several Advocate processes on one
//! database, one at a time runs each job; a process that dies holding a
//! lease loses it when it runs out.

use sqlx::AnyConnection;

/// Takes the job's lease until `lease_until` if it is free and the job last
/// ran before `due_before`. Returns when it last ran (None: never) if taken.
pub async fn take(
    conn: &mut AnyConnection,
    name: &str,
    owner: &str,
    now: i64,
    lease_until: i64,
    due_before: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    sqlx::query("INSERT INTO job_leases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    let taken: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE job_leases SET lease_owner = $1, lease_until = $2 WHERE name = $3 \
         AND (lease_until IS NULL OR lease_until < $4) \
         AND (last_run_at IS NULL OR last_run_at <= $5) RETURNING last_run_at",
    )
    .bind(owner)
    .bind(lease_until)
    .bind(name)
    .bind(now)
    .bind(due_before)
    .fetch_optional(conn)
    .await?;
    Ok(taken.map(|(last,)| last))
}

/// Gives the lease back and records the run.
pub async fn finish(
    conn: &mut AnyConnection,
    name: &str,
    owner: &str,
    ran_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE job_leases SET lease_owner = NULL, lease_until = NULL, last_run_at = $1 \
         WHERE name = $2 AND lease_owner = $3",
    )
    .bind(ran_at)
    .bind(name)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps the lease until `lease_until`; false when `owner` no longer holds
/// it (it ran out and another process took it): the work must stop.
pub async fn renew(
    conn: &mut AnyConnection,
    name: &str,
    owner: &str,
    lease_until: i64,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE job_leases SET lease_until = $1 WHERE name = $2 AND lease_owner = $3")
            .bind(lease_until)
            .bind(name)
            .bind(owner)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Whether a daily job finished for the shop on its local `date`
/// (`YYYY-MM-DD`).
pub async fn day_done(
    conn: &mut AnyConnection,
    shop_id: i64,
    job: &str,
    date: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM shop_days WHERE shop_id = $1 AND job = $2 AND done_on = $3",
    )
    .bind(shop_id)
    .bind(job)
    .bind(date)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Records that a daily job finished for the shop on its local `date`; in
/// the transaction of the day's last writes, so a round that dies before
/// it runs again.
pub async fn mark_day_done(
    conn: &mut AnyConnection,
    shop_id: i64,
    job: &str,
    date: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO shop_days (shop_id, job, done_on) VALUES ($1, $2, $3) \
         ON CONFLICT (shop_id, job) DO UPDATE SET done_on = excluded.done_on",
    )
    .bind(shop_id)
    .bind(job)
    .bind(date)
    .execute(conn)
    .await?;
    Ok(())
}
