//! The merchant dashboard: every metric checked against a small dataset
//! computed by hand, period validation, tenant isolation, and snapshots
//! that refresh when orders change.

use advocate::{
    analytics::refresh,
    store::{
        ledger::{self, NewEntry},
        now_ms, schedule,
    },
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{proxy_query, session_token, Backend, TestApp, SHOP},
    referrals::{
        admin, advocate, answer, customer_body, deliver, friend, order_body, update_settings,
        Person,
    },
};

crate::on_both_backends!(
    every_metric_matches_the_hand_computed_dataset,
    an_unknown_period_is_refused_with_400,
    another_shops_token_sees_only_its_own_numbers,
    a_snapshot_refresh_picks_up_a_new_order,
);

const HOUR_MS: i64 = 3_600_000;

fn shopper(id: i64, tag: &str) -> Person {
    Person {
        id: Some(id),
        email: format!("{tag}@example.com"),
        phone: format!("+1 555 030 {id:04}"),
        address1: format!("{id} {tag} Street"),
        zip: format!("3{id:04}"),
    }
}

/// A paid web order of `subtotal` (its total: no tax, no shipping) by
/// `who`, placed `hours` hours ago.
fn placed(order_id: i64, who: &Person, subtotal: &str, hours: i64) -> Value {
    let mut body = order_body(order_id, who, subtotal, None);
    body["processed_at"] = json!(at(now_ms() - hours * HOUR_MS));
    body
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

async fn dashboard(app: &TestApp, shop: &str, query: &str) -> Value {
    let response = app
        .http
        .get(format!("{}/api/admin/analytics{query}", app.address))
        .bearer_auth(session_token(shop, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Each trend bucket as [orders, revenue, member revenue, points issued,
/// points redeemed, new members].
fn trend(d: &Value) -> Vec<[i64; 6]> {
    d["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            [
                "orders",
                "revenue_minor",
                "member_revenue_minor",
                "points_issued",
                "points_redeemed",
                "new_members",
            ]
            .map(|f| p[f].as_i64().unwrap())
        })
        .collect()
}

/// `len` empty buckets but those given.
fn buckets(len: usize, filled: &[(usize, [i64; 6])]) -> Vec<[i64; 6]> {
    let mut out = vec![[0; 6]; len];
    for (i, b) in filled {
        out[*i] = *b;
    }
    out
}

fn rate(n: i64, d: i64, percent: Option<&str>) -> Value {
    json!({ "numerator": n, "denominator": d, "percent": percent })
}

/// The dataset, with every number that follows from it. Signup bonuses are
/// off, POS orders earn nothing, tiers have no multiplier or entry bonus,
/// points are 1 per 1.00; hours are chosen mid-day so no order sits on a
/// bucket boundary.
///
/// | order | who | amount | placed | notes |
/// |---|---|---|---|---|
/// | 101 | A | 100.00 | 119.5 d ago | previous 90 d period |
/// | 201 | B | 80.00 | 99.5 d ago | previous 90 d period |
/// | 301 | C | 20.00 | 45.5 d ago | previous 30 d period |
/// | 302 | C | 60.00 | 19.5 d ago | |
/// | 102 | A | 200.00 | 9.5 d ago | A reaches Silver (250.00) |
/// | 501 | E | 30.00 | 6.5 d ago | POS: no points, E never a member |
/// | 103 | A | 150.00 | 4.5 d ago | 50.00 refunded: revenue 100.00, 50 points back |
/// | 303 | C | 70.00 | 3.5 d ago | cancelled: not counted |
/// | 601 | guest | 40.00 | 2.5 d ago | no customer: non-member |
/// | 304 | C | 500.00 | 1.5 d ago | test order: not counted |
/// | 5001 | F | 100.00 | now | referred by A with A's code |
///
/// D has an account and nothing else. Staff give A 600 points and redeem
/// "5.00 off" (500 points) for A; 100 of A's points expire.
///
/// Ledger, each entry on the day it happened: the earnings on their
/// orders' days, the clawback of 103 on its refund's (2.5 d ago), the
/// adjustment, redemption and expiry now. Earned 100+200+150+80+20+60+100
/// = 710, clawback -50, adjustment +600 → issued 1260 in the year;
/// redeemed 500; expired 100. Outstanding: A 400, B 80, C 80, F 100 = 660
/// (= 1260 - 500 - 100), worth 6.60 at 5.00 per 500 points. Members: A
/// (first entry 119.5 d ago), B (99.5 d), C (45.5 d), F (now).
async fn every_metric_matches_the_hand_computed_dataset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    update_settings(&app, |s| {
        s["earning"]["signup_points"] = json!(0);
        s["earning"]["channels"]["pos"] = json!(false);
        for level in s["tiers"]["levels"].as_array_mut().unwrap() {
            level["multiplier_percent"] = json!(100);
            level["entry_points"] = json!(0);
        }
    })
    .await;
    let a = advocate();
    let (b, c, d, e) = (
        shopper(1002, "bea"),
        shopper(1003, "cy"),
        shopper(1004, "dee"),
        shopper(1005, "eve"),
    );
    for who in [&a, &b, &c, &d, &e] {
        deliver(&app, "customers/create", &customer_body(who)).await;
    }
    let guest = Person {
        id: None,
        ..shopper(0, "guest")
    };
    let mut pos = placed(501, &e, "30.00", 156);
    pos["source_name"] = json!("pos");
    let mut cancelled = placed(303, &c, "70.00", 84);
    cancelled["cancelled_at"] = json!(at(now_ms() - 80 * HOUR_MS));
    let mut test_order = placed(304, &c, "500.00", 36);
    test_order["test"] = json!(true);
    for body in [
        placed(101, &a, "100.00", 2868),
        placed(201, &b, "80.00", 2388),
        placed(301, &c, "20.00", 1092),
        placed(302, &c, "60.00", 468),
        placed(102, &a, "200.00", 228),
        pos,
        placed(103, &a, "150.00", 108),
        cancelled,
        placed(601, &guest, "40.00", 60),
        test_order,
    ] {
        deliver(&app, "orders/paid", &body).await;
    }
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    deliver(
        &app,
        "refunds/create",
        &json!({
            "id": 9001,
            "order_id": 103,
            "created_at": at(now_ms() - 60 * HOUR_MS),
            "refund_line_items": [{ "subtotal_set": money("50.00"), "total_tax_set": money("0.00") }],
        }),
    )
    .await;

    let (status, body) = answer(
        admin(&app, Method::POST, "/api/admin/customers/1001/adjustments")
            .header("Idempotency-Key", "goodwill")
            .json(&json!({ "points": 600, "reason": "goodwill" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = answer(
        admin(&app, Method::POST, "/api/admin/customers/1001/redemptions")
            .header("Idempotency-Key", "five-off")
            .json(&json!({ "reward_id": "5-off" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let shop_id = app
        .count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await;
    let mut tx = app.store.begin().await.unwrap();
    let expiry = NewEntry::new(
        shop_id,
        1001,
        -100,
        ledger::kind::EXPIRY,
        "expired",
        "expiry:test",
    );
    assert!(ledger::append(&mut tx, &expiry, now_ms()).await.unwrap());
    tx.commit().await.unwrap();

    // F claims A's referral discount and uses it on a first order.
    let (status, body) = answer(app.http.get(format!(
        "{}/proxy/referral?{}",
        app.address,
        proxy_query(SHOP, Some(1001))
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, claimed) = answer(
        app.http
            .post(format!(
                "{}/proxy/referrals/claim?{}",
                app.address,
                proxy_query(SHOP, None)
            ))
            .json(&json!({ "code": body["code"], "email": friend(1).email })),
    )
    .await;
    assert_eq!(status, 200, "{claimed}");
    deliver(
        &app,
        "orders/paid",
        &order_body(5001, &friend(1), "100.00", claimed["code"].as_str()),
    )
    .await;
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM referrals WHERE status = 'pending'")
            .await,
        1
    );

    let started = now_ms();
    let d90 = dashboard(&app, SHOP, "").await;
    assert_eq!(d90["period"]["key"], "90d", "90d by default");
    assert_eq!(d90["period"]["bucket"], "week");
    let from = chrono::DateTime::parse_from_rfc3339(d90["period"]["from"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let to = chrono::DateTime::parse_from_rfc3339(d90["period"]["to"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(to - from, 90 * 24 * HOUR_MS);
    assert!(to >= started && to <= now_ms(), "computed for this request");
    assert_eq!(d90["computed_at"], d90["period"]["to"]);
    assert_eq!(d90["currency"], "USD");

    // Shop-wide figures, the same in every period.
    let tiers = json!([
        { "id": null, "name": null, "customers": 5 },  // B, C, D, E, F
        { "id": "silver", "name": "Silver", "customers": 1 },  // A: 400.00 spent
        { "id": "gold", "name": "Gold", "customers": 0 },
        { "id": "platinum", "name": "Platinum", "customers": 0 },
    ]);
    // 90 days: 101 and 201 earned before it.
    let points = json!({
        "issued": 1080, "redeemed": 500, "expired": 100, "outstanding": 660, "liability_minor": 660,
    });
    assert_eq!(d90["members"], json!({ "total": 4, "new_in_period": 2 }));
    assert_eq!(d90["points"], points);
    assert_eq!(d90["redemption_rate"], rate(500, 1080, Some("46.3")));
    assert_eq!(d90["tiers"], tiers);
    // 5001: 100.00, placed now.
    assert_eq!(
        d90["referrals"],
        json!({ "completed": 1, "revenue_minor": 10000 })
    );

    // 90 days: counted orders 302, 102, 501, 103, 601, 301, 5001.
    // Members' 302, 102, 103, 301, 5001 = 60+200+100+20+100 = 480.00;
    // non-members' 501 (E) and 601 (guest) = 70.00.
    assert_eq!(
        d90["revenue"],
        json!({
            "members": { "orders": 5, "revenue_minor": 48000, "aov_minor": 9600 },
            "non_members": { "orders": 2, "revenue_minor": 7000, "aov_minor": 3500 },
        })
    );
    // Ordered: A, C, E, F; twice or more: A, C.
    assert_eq!(d90["repeat_purchase_rate"], rate(2, 4, Some("50.0")));
    // Previous 90 days: A and B; A came back.
    assert_eq!(d90["retention_rate"], rate(1, 2, Some("50.0")));
    // Identified orders: 6 for 510.00 by 4 customers. AOV 85.00; frequency
    // 6·365/(4·90) = 6.083; lifespan (90/365)/(1/2) = 0.493 years;
    // predicted 510.00/4 · 365/90 · 180/365 = 255.00. Ever: 690.00 by A, B,
    // C, E, F.
    assert_eq!(
        d90["clv"],
        json!({
            "average_order_value_minor": 8500,
            "purchase_frequency": "6.08",
            "lifespan_years": "0.49",
            "predicted_minor": 25500,
            "observed_per_customer_minor": 13800,
        })
    );
    // Weeks from 90 days ago: 301 at day 44.5 (week 6: C's first entry),
    // 302 at 70.5 (10), 102 and 501 at 80.5 and 83.5 (11), 103, 601, 5001,
    // the clawback and the entries made now in the last, six-day week (12:
    // 150 - 50 + 100 + 600 issued, F's first entry).
    assert_eq!(
        trend(&d90),
        buckets(
            13,
            &[
                (6, [1, 2000, 2000, 20, 0, 1]),
                (10, [1, 6000, 6000, 60, 0, 0]),
                (11, [2, 23000, 20000, 200, 0, 0]),
                (12, [3, 24000, 20000, 800, 500, 1]),
            ]
        )
    );
    assert_eq!(d90["trend"][0]["start"], d90["period"]["from"]);

    // 30 days: 301 drops out (it is in the previous 30 days).
    let d30 = dashboard(&app, SHOP, "?period=30d").await;
    assert_eq!(d30["period"]["key"], "30d");
    assert_eq!(d30["period"]["bucket"], "day");
    assert_eq!(d30["members"], json!({ "total": 4, "new_in_period": 1 }));
    assert_eq!(
        d30["points"],
        json!({
            "issued": 1060, "redeemed": 500, "expired": 100, "outstanding": 660, "liability_minor": 660,
        })
    );
    assert_eq!(d30["tiers"], tiers);
    assert_eq!(
        d30["revenue"],
        json!({
            "members": { "orders": 4, "revenue_minor": 46000, "aov_minor": 11500 },
            "non_members": { "orders": 2, "revenue_minor": 7000, "aov_minor": 3500 },
        })
    );
    assert_eq!(d30["repeat_purchase_rate"], rate(1, 4, Some("25.0")));
    // Previous 30 days: C alone, who came back.
    assert_eq!(d30["retention_rate"], rate(1, 1, Some("100.0")));
    // 5 orders, 490.00, 4 customers; no churn: lifespan capped at 10 years;
    // predicted 490.00/4 · 365/30 · 10 = 14904.1666 → 14904.16.
    assert_eq!(
        d30["clv"],
        json!({
            "average_order_value_minor": 9800,
            "purchase_frequency": "15.21",
            "lifespan_years": "10.00",
            "predicted_minor": 1490416,
            "observed_per_customer_minor": 13800,
        })
    );
    assert_eq!(
        d30["referrals"],
        json!({ "completed": 1, "revenue_minor": 10000 })
    );
    assert_eq!(
        trend(&d30),
        buckets(
            30,
            &[
                (10, [1, 6000, 6000, 60, 0, 0]),
                (20, [1, 20000, 20000, 200, 0, 0]),
                (23, [1, 3000, 0, 0, 0, 0]),
                (25, [1, 10000, 10000, 150, 0, 0]),
                (27, [1, 4000, 0, -50, 0, 0]),
                (29, [1, 10000, 10000, 700, 500, 1]),
            ]
        )
    );

    // 365 days: every counted order; nobody ordered in the year before.
    let d365 = dashboard(&app, SHOP, "?period=365d").await;
    assert_eq!(d365["period"]["bucket"], "month");
    assert_eq!(
        d365["revenue"],
        json!({
            "members": { "orders": 7, "revenue_minor": 66000, "aov_minor": 9428 },
            "non_members": { "orders": 2, "revenue_minor": 7000, "aov_minor": 3500 },
        })
    );
    assert_eq!(d365["repeat_purchase_rate"], rate(2, 5, Some("40.0")));
    assert_eq!(d365["retention_rate"], rate(0, 0, None));
    // 8 orders, 690.00, 5 customers: 8·365/(5·365) = 1.6 a year.
    assert_eq!(
        d365["clv"],
        json!({
            "average_order_value_minor": 8625,
            "purchase_frequency": "1.60",
            "lifespan_years": null,
            "predicted_minor": null,
            "observed_per_customer_minor": 13800,
        })
    );
    let months = trend(&d365);
    assert_eq!(months.len(), 12);
    assert_eq!(months.iter().map(|m| m[0]).sum::<i64>(), 9);
    assert_eq!(months.iter().map(|m| m[1]).sum::<i64>(), 73000);
    // The ledger on the months it moved: the whole year's points, the
    // last month's (from 302 on) in the last bucket, the rest before it.
    assert_eq!(months.iter().map(|m| m[3]).sum::<i64>(), 1260);
    assert_eq!(months.iter().map(|m| m[5]).sum::<i64>(), 4);
    assert_eq!(months[11][3..], [1060, 500, 1], "the last month");
    assert_eq!(
        months[..11].iter().map(|m| m[3]).sum::<i64>(),
        200,
        "101, 201 and 301 earned in earlier months"
    );
}

async fn an_unknown_period_is_refused_with_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for query in ["?period=7d", "?period=", "?period=90", "?period=365D"] {
        for method in [Method::GET, Method::POST] {
            let path = if method == Method::GET {
                format!("/api/admin/analytics{query}")
            } else {
                format!("/api/admin/analytics/refresh{query}")
            };
            let (status, body) = answer(admin(&app, method.clone(), &path)).await;
            assert_eq!(status, 400, "{method} {path}: {body}");
            assert_eq!(body["error"], "bad_request");
            assert_eq!(body["message"], "period must be one of 30d, 90d, 365d");
        }
    }
    let response = app
        .http
        .get(format!("{}/api/admin/analytics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no session token, no dashboard");
}

async fn another_shops_token_sees_only_its_own_numbers(backend: Backend) {
    const OTHER: &str = "other-shop.myshopify.com";
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.install(OTHER).await;
    deliver(&app, "customers/create", &customer_body(&advocate())).await;
    deliver(&app, "orders/paid", &placed(101, &advocate(), "123.45", 24)).await;

    let ours = dashboard(&app, SHOP, "?period=30d").await;
    assert_eq!(ours["revenue"]["members"]["revenue_minor"], 12345);
    assert_eq!(ours["members"]["total"], 1);

    for query in ["?period=30d", "", "?period=365d"] {
        let theirs = dashboard(&app, OTHER, query).await;
        assert_eq!(theirs["members"], json!({ "total": 0, "new_in_period": 0 }));
        assert_eq!(theirs["points"]["issued"], 0);
        assert_eq!(theirs["points"]["outstanding"], 0);
        assert_eq!(theirs["revenue"]["members"]["orders"], 0);
        assert_eq!(theirs["revenue"]["non_members"]["orders"], 0);
        assert_eq!(theirs["tiers"][0]["customers"], 0);
        assert_eq!(theirs["clv"]["observed_per_customer_minor"], Value::Null);
        assert!(trend(&theirs).iter().all(|b| *b == [0; 6]));
        assert!(!theirs.to_string().contains("12345"));
    }
    let (status, _) = answer(
        app.http
            .post(format!("{}/api/admin/analytics/refresh", app.address))
            .bearer_auth(session_token(OTHER, Some("1"))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        dashboard(&app, SHOP, "?period=30d").await["revenue"],
        ours["revenue"],
        "the other shop's refresh left ours alone"
    );
}

async fn a_snapshot_refresh_picks_up_a_new_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let a = advocate();
    deliver(&app, "customers/create", &customer_body(&a)).await;
    deliver(&app, "orders/paid", &placed(101, &a, "50.00", 30)).await;
    let first = dashboard(&app, SHOP, "?period=30d").await;
    assert_eq!(first["revenue"]["members"]["orders"], 1);

    deliver(&app, "orders/paid", &placed(102, &a, "25.00", 20)).await;
    let cached = dashboard(&app, SHOP, "?period=30d").await;
    assert_eq!(
        cached, first,
        "served from the snapshot until it is refreshed"
    );

    // Another process holds the shop's lease: this one leaves it alone.
    let shop_id = app
        .count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await;
    let lease = format!("analytics:{shop_id}");
    let now = now_ms();
    let writer = || async { app.store.writer().acquire().await.unwrap() };
    assert!(schedule::take(
        &mut *writer().await,
        &lease,
        "other",
        now,
        now + 60_000,
        now
    )
    .await
    .unwrap()
    .is_some());
    assert_eq!(
        refresh::refresh_changed(&app.store, "test", now_ms())
            .await
            .unwrap(),
        0
    );
    schedule::finish(&mut *writer().await, &lease, "other", now - 1)
        .await
        .unwrap();

    assert_eq!(
        refresh::refresh_changed(&app.store, "test", now_ms())
            .await
            .unwrap(),
        1,
        "the new order changed the shop"
    );
    let fresh = dashboard(&app, SHOP, "?period=30d").await;
    assert_eq!(
        fresh["revenue"]["members"],
        json!({ "orders": 2, "revenue_minor": 7500, "aov_minor": 3750 })
    );
    assert_eq!(
        fresh["points"]["issued"],
        100 + 50 + 25,
        "signup and both orders"
    );
    assert_ne!(fresh["computed_at"], first["computed_at"]);
    assert_eq!(
        refresh::refresh_changed(&app.store, "test", now_ms())
            .await
            .unwrap(),
        0,
        "nothing changed since"
    );

    deliver(&app, "orders/paid", &placed(103, &a, "10.00", 10)).await;
    let (status, refreshed) = answer(admin(
        &app,
        Method::POST,
        "/api/admin/analytics/refresh?period=365d",
    ))
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["period"]["key"], "365d");
    assert_eq!(refreshed["revenue"]["members"]["orders"], 3);
    assert_eq!(
        dashboard(&app, SHOP, "?period=30d").await["revenue"]["members"]["orders"],
        3
    );
}
