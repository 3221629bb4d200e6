//! PostgreSQL: a table that outgrew its planner statistics is analysed
//! without waiting for autovacuum, and a batch's orders are then looked up
//! through the index.

use std::time::Duration;

use advocate::store::{statistics::analyse_outgrown, DatabaseUrl, Store};

use crate::helpers::{eventually, Backend, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_that_outgrew_their_statistics_are_analysed_and_looked_up_by_index() {
    let db = TestDb::new(Backend::Postgres).await;
    {
        let store = Store::connect(&DatabaseUrl::parse(db.url.clone()).unwrap(), 2)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.close().await;
    }
    // A pool of its own: no store's task analyses behind the test's back.
    let pool = &sqlx::AnyPool::connect(&db.url).await.unwrap();
    let shop: i64 = sqlx::query_scalar(
        "INSERT INTO shops (domain, status, created_at, updated_at) \
         VALUES ('stats.myshopify.com', 'active', 0, 0) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(
        "INSERT INTO orders (shop_id, order_id, customer_id, currency, subtotal_minor, \
             total_minor, created_at, updated_at, paid_at, spend_minor) \
         SELECT $1, 5000000000 + g * 7, g % 100 + 1, 'USD', 1000, 1000, 0, 0, g, 1000 \
         FROM generate_series(1, 65000) AS g",
    )
    .bind(shop)
    .execute(&mut *conn)
    .await
    .unwrap();
    // The inserting connection's counts reach pg_stat_user_tables when it
    // next reports them; this makes that now.
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    eventually(Duration::from_secs(30), "the orders counted", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT n_live_tup FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'orders'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
            >= 65000
    })
    .await;

    let analysed = analyse_outgrown(pool).await.unwrap();
    assert!(
        analysed.iter().any(|t| t == "orders"),
        "orders analysed: {analysed:?}"
    );
    let statistics: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_stats WHERE tablename = 'orders'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(statistics > 0, "the planner has statistics for orders");
    // Analysed just now, and unchanged since: left alone.
    let again = analyse_outgrown(pool).await.unwrap();
    assert!(!again.iter().any(|t| t == "orders"), "{again:?}");

    // A batch's orders, as the engine looks them up: through the primary
    // key, the ids an index condition rather than a filter over every
    // order of the shop.
    let ids = (0..143)
        .map(|i| (9_000_000_000_i64 + i).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT order_id, customer_id FROM orders \
         WHERE shop_id = {shop} AND order_id IN ({ids})"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.lines()
            .any(|l| l.contains("Index Cond") && l.contains("order_id")),
        "{plan}"
    );
}
