//! The shop's own calendar: its time zone, read from Shopify after an
//! install and kept current by shop/update, and the days that follow it
//! (membership anniversaries, birthdays).

use advocate::{engine::scheduled, loyalty::EpochMs};
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    program::{at, run_jobs_at},
    referrals::{answer, deliver, proxy},
};
use reqwest::Method;

crate::on_both_backends!(
    the_shop_time_zone_is_read_after_install_and_follows_shop_update,
    a_membership_anniversary_is_paid_once_a_year_on_the_shops_own_day,
    a_birthday_comes_round_at_the_shops_midnight,
);

const AUCKLAND: &str = "Pacific/Auckland";

async fn stored_zone(app: &TestApp) -> Option<String> {
    app.settle_intake().await;
    sqlx::query_scalar("SELECT iana_timezone FROM shops WHERE domain = $1")
        .bind(SHOP)
        .fetch_one(app.store.writer())
        .await
        .unwrap()
}

/// A shop in Auckland, installed, with its time zone read.
async fn auckland_shop(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_time_zone(SHOP, AUCKLAND);
    app.install(SHOP).await;
    app.send_effects().await;
    assert_eq!(stored_zone(&app).await.as_deref(), Some(AUCKLAND));
    app
}

/// A customer account created at `created_at` (RFC 3339): the signup bonus
/// dates their joining the program.
fn account(id: i64, created_at: &str) -> Value {
    json!({
        "id": id,
        "email": format!("member{id}@example.com"),
        "created_at": created_at,
        "updated_at": created_at,
    })
}

async fn send_shop_update(app: &TestApp, body: &Value) -> String {
    let id = format!("{:016x}", rand::random::<u64>());
    let response = app
        .send("shop/update", &id, &serde_json::to_vec(body).unwrap())
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    app.inbox_row(&id).await.0
}

async fn the_shop_time_zone_is_read_after_install_and_follows_shop_update(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_time_zone(SHOP, AUCKLAND);
    app.install(SHOP).await;
    assert_eq!(stored_zone(&app).await, None, "UTC until Shopify answers");
    let reads = "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'read_shop'";
    assert_eq!(app.count(reads).await, 1, "the install asks once");
    app.send_effects().await;
    assert_eq!(stored_zone(&app).await.as_deref(), Some(AUCKLAND));

    // The merchant moves the shop: shop/update carries the new zone.
    let body = json!({ "id": 548380009, "iana_timezone": "America/Los_Angeles" });
    assert_eq!(send_shop_update(&app, &body).await, "done");
    assert_eq!(
        stored_zone(&app).await.as_deref(),
        Some("America/Los_Angeles")
    );
    // Shopify's own sample body has no zone (null); a name the time zone
    // database does not know is not kept either.
    for body in [
        json!({ "id": 548380009, "iana_timezone": null }),
        json!({ "id": 548380009, "iana_timezone": "Mars/Olympus_Mons" }),
    ] {
        assert_eq!(send_shop_update(&app, &body).await, "ignored");
        assert_eq!(
            stored_zone(&app).await.as_deref(),
            Some("America/Los_Angeles"),
            "{body}"
        );
    }
    // Shopify's sample shop object (the body of shop/update and
    // app/uninstalled), whose zone is null.
    let sample: Value =
        serde_json::from_str(include_str!("../fixtures/webhooks/app_uninstalled.json")).unwrap();
    assert_eq!(send_shop_update(&app, &sample).await, "ignored");

    // A new install reads it again.
    app.send("app/uninstalled", "bye", br#"{"id":1}"#).await;
    app.drain().await;
    app.shopify.uninstall(SHOP);
    app.shopify.set_time_zone(SHOP, "Europe/Paris");
    app.install(SHOP).await;
    app.send_effects().await;
    assert_eq!(stored_zone(&app).await.as_deref(), Some("Europe/Paris"));
    assert_eq!(app.count(reads).await, 2);
}

async fn a_membership_anniversary_is_paid_once_a_year_on_the_shops_own_day(backend: Backend) {
    let app = auckland_shop(backend).await;
    app.change_program(SHOP, |s| {
        s["earning"]["anniversary_points"] = json!(50);
        // Two years of inactivity in this test: no expiry in the way.
        s["expiry"]["enabled"] = json!(false);
    })
    .await;
    // 2025-03-10T11:30Z is already 11 March in Auckland (NZDT, UTC+13).
    deliver(
        &app,
        "customers/create",
        &account(1, "2025-03-10T11:30:00Z"),
    )
    .await;
    // Joined this year: no anniversary yet.
    deliver(
        &app,
        "customers/create",
        &account(2, "2026-03-10T12:30:00Z"),
    )
    .await;
    // Erased customers are not paid.
    deliver(
        &app,
        "customers/create",
        &account(3, "2025-03-10T12:00:00Z"),
    )
    .await;
    deliver(&app, "customers/delete", &json!({ "id": 3 })).await;
    assert_eq!(
        app.count("SELECT joined_at FROM customers WHERE customer_id = 1")
            .await,
        at(2025, 3, 10, 11) + 30 * 60_000,
        "joined when the account was created"
    );

    let paid = "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'anniversary'";
    // 10 March 23:00 in Auckland: UTC's 10 March is the anniversary by UTC
    // dates, not by the shop's.
    assert_eq!(
        run_jobs_at(&app, at(2026, 3, 10, 10)).await.anniversaries,
        0
    );
    assert_eq!(app.count(paid).await, 0);
    // 11 March 01:00 in Auckland.
    assert_eq!(
        run_jobs_at(&app, at(2026, 3, 10, 12)).await.anniversaries,
        1
    );
    // Later the same local day, and after a restart that lost the day's
    // mark: the ledger's source key still pays once.
    assert_eq!(run_jobs_at(&app, at(2026, 3, 11, 2)).await.anniversaries, 0);
    sqlx::query("DELETE FROM shop_days")
        .execute(app.store.writer())
        .await
        .unwrap();
    let again = scheduled::run_due(&app.store, "another-process", EpochMs(at(2026, 3, 11, 4)))
        .await
        .unwrap();
    assert_eq!(again.anniversaries, 0);
    assert_eq!(app.count(paid).await, 1);
    // The next day: nothing.
    assert_eq!(
        run_jobs_at(&app, at(2026, 3, 11, 12)).await.anniversaries,
        0
    );
    // And the year after: customer 1's second anniversary, customer 2's
    // first; never the deleted customer's.
    assert_eq!(
        run_jobs_at(&app, at(2027, 3, 10, 12)).await.anniversaries,
        2
    );
    let per_customer: Vec<(i64, String)> = sqlx::query_as(
        "SELECT customer_id, source_key FROM points_ledger WHERE kind = 'anniversary' \
         ORDER BY customer_id, id",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    assert_eq!(
        per_customer,
        [
            (1, "anniversary:1:2026".to_owned()),
            (1, "anniversary:1:2027".to_owned()),
            (2, "anniversary:2:2027".to_owned()),
        ]
    );
    assert_eq!(
        app.count("SELECT points_balance FROM customers WHERE customer_id = 1")
            .await,
        100 + 50 + 50
    );

    app.send_effects().await;
    let flows = app.flow_triggers("advocate-member-anniversary");
    assert_eq!(flows.len(), 3, "{flows:?}");
    let mut seen: Vec<(i64, i64, String)> = flows
        .iter()
        .map(|f| {
            assert_eq!(f["Points"], 50);
            let since = f["Member since"].as_str().unwrap().to_owned();
            (
                f["customer_id"].as_i64().unwrap(),
                f["Years"].as_i64().unwrap(),
                since,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (1, 1, "2025-03-11".to_owned()),
            (1, 2, "2025-03-11".to_owned()),
            (2, 1, "2026-03-11".to_owned()),
        ]
    );

    // Off (0 points): nothing on the next anniversary.
    app.change_program(SHOP, |s| s["earning"]["anniversary_points"] = json!(0))
        .await;
    assert_eq!(
        run_jobs_at(&app, at(2028, 3, 10, 12)).await.anniversaries,
        0
    );
    // Out of range is refused, with the field named.
    let (status, body) = app
        .try_change_program(SHOP, |s| {
            s["earning"]["anniversary_points"] = json!(-1);
        })
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "earning.anniversary_points");
}

async fn a_birthday_comes_round_at_the_shops_midnight(backend: Backend) {
    let app = auckland_shop(backend).await;
    deliver(
        &app,
        "customers/create",
        &account(1, "2026-01-05T00:00:00Z"),
    )
    .await;
    let (status, body) = answer(
        proxy(&app, Method::POST, "/proxy/birthday", Some(1)).json(&json!({ "birthday": "07-04" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let birthdays = "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'birthday'";
    // 3 July 11:00 in Auckland (NZST, UTC+12): not yet.
    assert_eq!(run_jobs_at(&app, at(2027, 7, 2, 23)).await.birthdays, 0);
    // 4 July 01:00 in Auckland, still 3 July in UTC.
    assert_eq!(run_jobs_at(&app, at(2027, 7, 3, 13)).await.birthdays, 1);
    // 4 July in UTC, 5 July in Auckland: not twice.
    assert_eq!(run_jobs_at(&app, at(2027, 7, 4, 13)).await.birthdays, 0);
    assert_eq!(app.count(birthdays).await, 1);
}
