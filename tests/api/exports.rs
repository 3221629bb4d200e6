//! The CSV exports: every member once, in pages, with their tier's name,
//! segment and referral code, text made safe for spreadsheets; the ledger
//! of a period summing to the dashboard's points for the same period; and
//! both behind the admin session token, scoped to its shop.

use advocate::store::{
    ledger::{self, NewEntry},
    now_ms,
};
use reqwest::Method;
use serde_json::Value;

use crate::{
    helpers::{session_token, Backend, TestApp, SHOP},
    loyalty::{order, send_json},
    referrals::{admin, answer},
};

crate::on_both_backends!(
    the_members_export_lists_every_member_once_page_after_page,
    the_ledger_export_of_a_period_sums_to_the_dashboards_points,
    an_export_needs_the_admin_token_and_a_valid_period,
    a_ledger_export_of_many_pages_writes_every_entry_once_in_time_order,
);

const OTHER: &str = "other-exports.myshopify.com";
const DAY_MS: i64 = 86_400_000;

/// An export's status, headers and rows (header row first), each split
/// into fields (the test data holds no quoted comma).
async fn export(
    app: &TestApp,
    shop: &str,
    path_and_query: &str,
) -> (u16, String, Vec<Vec<String>>) {
    let response = app
        .http
        .get(format!(
            "{}/api/admin/exports/{path_and_query}",
            app.address
        ))
        .bearer_auth(session_token(shop, Some("1")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = format!(
        "{} | {}",
        response
            .headers()
            .get("content-type")
            .map_or("", |v| v.to_str().unwrap()),
        response
            .headers()
            .get("content-disposition")
            .map_or("", |v| v.to_str().unwrap())
    );
    let text = response.text().await.unwrap();
    let rows = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (status, headers, rows)
}

async fn shop_id(app: &TestApp, shop: &str) -> i64 {
    app.count(&format!("SELECT id FROM shops WHERE domain = '{shop}'"))
        .await
}

async fn the_members_export_lists_every_member_once_page_after_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.install(OTHER).await;
    // Three members through orders: 600.00 reaches Gold.
    for (i, (customer, amount)) in [(501, "600.00"), (502, "20.00"), (503, "30.00")]
        .into_iter()
        .enumerate()
    {
        let body = order(5_000 + i as i64, Some(customer), amount);
        send_json(&app, "orders/paid", &format!("m-{i}"), &body).await;
    }
    app.drain().await;
    let shop = shop_id(&app, SHOP).await;
    let other = shop_id(&app, OTHER).await;
    // More members than two pages hold, a redacted one, and one of the
    // other shop.
    let now = now_ms();
    for id in 10_000..12_100 {
        sqlx::query(
            "INSERT INTO customers (shop_id, customer_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(shop)
        .bind(id as i64)
        .bind(now)
        .execute(app.store.writer())
        .await
        .unwrap();
    }
    for (shop, id, redacted) in [(shop, 13_000_i64, Some(now)), (other, 14_000, None)] {
        sqlx::query(
            "INSERT INTO customers (shop_id, customer_id, redacted_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(shop)
        .bind(id)
        .bind(redacted)
        .bind(now)
        .execute(app.store.writer())
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO referral_codes (shop_id, customer_id, code, created_at) VALUES ($1, 502, $2, $3)",
    )
    .bind(shop)
    .bind("=HYPERLINK(1)")
    .bind(now)
    .execute(app.store.writer())
    .await
    .unwrap();

    let (status, headers, rows) = export(&app, SHOP, "members.csv").await;
    assert_eq!(status, 200);
    assert!(headers.starts_with("text/csv"), "{headers}");
    assert!(
        headers.contains("attachment") && headers.contains("advocate-members.csv"),
        "{headers}"
    );
    assert_eq!(
        rows[0],
        [
            "customer_id",
            "points_balance",
            "points_pending",
            "tier",
            "segment",
            "referral_code"
        ]
    );
    let ids: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    let mut expected: Vec<i64> = vec![501, 502, 503];
    expected.extend(10_000..12_100);
    assert_eq!(
        ids, expected,
        "every member once, in id order, over three pages"
    );
    for row in &rows[1..4] {
        let customer: i64 = row[0].parse().unwrap();
        let stored = app
            .count(&format!(
                "SELECT points_balance * 1000000 + points_pending FROM customers \
                 WHERE shop_id = {shop} AND customer_id = {customer}"
            ))
            .await;
        let exported = row[1].parse::<i64>().unwrap() * 1_000_000 + row[2].parse::<i64>().unwrap();
        assert_eq!(exported, stored, "customer {customer}'s points");
        assert!(exported > 0, "customer {customer} earned");
    }
    assert_eq!(rows[1][3], "Gold", "the tier by its name");
    assert_eq!(rows[2][3], "", "no tier");
    assert_eq!(rows[2][5], "'=HYPERLINK(1)", "a formula made inert");

    let (status, _, rows) = export(&app, OTHER, "members.csv").await;
    assert_eq!(status, 200);
    assert_eq!(rows.len(), 2, "the other shop sees only its own member");
    assert_eq!(rows[1][0], "14000");
}

async fn the_ledger_export_of_a_period_sums_to_the_dashboards_points(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for (i, customer) in [601, 602, 603].into_iter().enumerate() {
        let body = order(6_000 + i as i64, Some(customer), "40.00");
        send_json(&app, "orders/paid", &format!("l-{i}"), &body).await;
    }
    app.drain().await;
    let shop = shop_id(&app, SHOP).await;
    let now = now_ms();
    // A redemption and an expiry in the period, and entries of every flow
    // 40 days ago, outside it.
    let entries = [
        (601, -15, ledger::kind::REDEEM, "redeem:in", now),
        (602, -4, ledger::kind::EXPIRY, "expiry:in", now),
        (603, 7, ledger::kind::ADJUSTMENT, "adjust:in", now),
        (
            601,
            500,
            ledger::kind::ADJUSTMENT,
            "adjust:old",
            now - 40 * DAY_MS,
        ),
        (
            601,
            -300,
            ledger::kind::REDEEM,
            "redeem:old",
            now - 40 * DAY_MS,
        ),
    ];
    let mut tx = app.store.begin().await.unwrap();
    for (customer, points, kind, key, at) in entries {
        let entry = NewEntry::new(shop, customer, points, kind, "test entry", key);
        assert!(ledger::append(&mut tx, &entry, at).await.unwrap());
    }
    tx.commit().await.unwrap();

    let (status, dashboard) = answer(admin(
        &app,
        Method::POST,
        "/api/admin/analytics/refresh?period=30d",
    ))
    .await;
    assert_eq!(status, 200, "{dashboard}");
    let (from, to) = (
        dashboard["period"]["from"].as_str().unwrap().to_owned(),
        dashboard["period"]["to"].as_str().unwrap().to_owned(),
    );
    let query = format!(
        "ledger.csv?from={}&to={}",
        urlencoding(&from),
        urlencoding(&to)
    );
    let (status, headers, rows) = export(&app, SHOP, &query).await;
    assert_eq!(status, 200);
    assert!(headers.contains("advocate-ledger.csv"), "{headers}");
    assert_eq!(
        rows[0],
        [
            "id",
            "customer_id",
            "occurred_at",
            "recorded_at",
            "kind",
            "flow",
            "points",
            "reason",
            "order_id"
        ]
    );
    let sum = |flow: &str| -> i64 {
        rows[1..]
            .iter()
            .filter(|r| r[5] == flow)
            .map(|r| r[6].parse::<i64>().unwrap())
            .sum()
    };
    let points = &dashboard["points"];
    assert!(points["issued"].as_i64().unwrap() > 7, "{points}");
    assert_eq!(
        sum("issued"),
        points["issued"].as_i64().unwrap(),
        "{points}"
    );
    assert_eq!(
        -sum("redeemed"),
        points["redeemed"].as_i64().unwrap(),
        "{points}"
    );
    assert_eq!(
        -sum("expired"),
        points["expired"].as_i64().unwrap(),
        "{points}"
    );
    let in_period = app
        .count(&format!(
            "SELECT COUNT(*) FROM points_ledger WHERE shop_id = {shop} AND occurred_at >= {}",
            now - 30 * DAY_MS
        ))
        .await;
    assert_eq!(
        rows.len() as i64 - 1,
        in_period,
        "every entry of the period, once"
    );
    assert!(
        rows[1..].iter().all(|r| r[2] >= from && r[2] < to),
        "nothing from outside the period"
    );
    let orders: Vec<&str> = rows[1..]
        .iter()
        .filter(|r| r[4] == "earn")
        .map(|r| r[8].as_str())
        .collect();
    assert_eq!(
        orders,
        ["6000", "6001", "6002"],
        "earnings name their orders"
    );

    // By dates: the whole of today.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (status, _, by_day) =
        export(&app, SHOP, &format!("ledger.csv?from={today}&to={today}")).await;
    assert_eq!(status, 200);
    let today_rows = rows[1..]
        .iter()
        .filter(|r| r[2].starts_with(&today))
        .count();
    assert!(today_rows >= 3, "the entries made now are today's");
    assert_eq!(
        by_day.len() - 1,
        today_rows,
        "today's entries of the period, by the day they happened"
    );
}

/// `+` and `:` of an RFC 3339 time, escaped for a query string.
fn urlencoding(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

async fn an_export_needs_the_admin_token_and_a_valid_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for path in ["members.csv", "ledger.csv"] {
        let response = app
            .http
            .get(format!("{}/api/admin/exports/{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} without a token");
    }
    for query in [
        "from=yesterday",
        "from=2026-11-02&to=2026-11-01",
        "from=2000-01-01&to=2026-11-01",
        "to=2026-02-30",
    ] {
        let response = app
            .http
            .get(format!(
                "{}/api/admin/exports/ledger.csv?{query}",
                app.address
            ))
            .bearer_auth(session_token(SHOP, Some("1")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].as_str().is_some(), "{query}: {error}");
    }
    let (status, _, rows) = export(&app, SHOP, "ledger.csv").await;
    assert_eq!(
        (status, rows.len()),
        (200, 1),
        "no entries: the header alone"
    );
}

/// More entries than two pages, many recorded in the same millisecond (a
/// page can end inside such a run): each once, in (time, id) order.
async fn a_ledger_export_of_many_pages_writes_every_entry_once_in_time_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let shop = shop_id(&app, SHOP).await;
    let now = now_ms();
    let mut tx = app.store.begin().await.unwrap();
    for i in 0..2_500_i64 {
        // Five instants a few seconds apart, 500 entries in each.
        let at = now - 60_000 + (i % 5) * 7_000;
        let key = format!("many:{i}");
        let entry = NewEntry::new(
            shop,
            700 + i % 40,
            1,
            ledger::kind::ADJUSTMENT,
            "many",
            &key,
        );
        assert!(ledger::append(&mut tx, &entry, at).await.unwrap());
    }
    tx.commit().await.unwrap();
    let (status, _, rows) = export(&app, SHOP, "ledger.csv").await;
    assert_eq!(status, 200);
    let keys: Vec<(String, i64)> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[0].parse().unwrap()))
        .collect();
    assert_eq!(keys.len(), 2_500, "every entry");
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "in (time, id) order, none twice"
    );
    assert_eq!(
        rows[1..]
            .iter()
            .map(|r| r[6].parse::<i64>().unwrap())
            .sum::<i64>(),
        2_500
    );
}
