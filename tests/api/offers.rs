//! Personal offers: co-purchase counts kept by order webhooks (re-delivered,
//! edited and cancelled orders included), the reward a shopper is closest
//! to, and both reaching the right shopper only, through the app proxy and
//! the checkout API.

use serde_json::{json, Value};

use crate::helpers::{extension_token, proxy_query, sign, Backend, TestApp, SHOP};

crate::on_both_backends!(
    co_purchase_counts_follow_redeliveries_edits_and_cancellations,
    the_closest_reward_follows_the_balance_and_the_setting,
    offers_reach_only_their_own_shopper_and_shop,
    workers_racing_on_orders_that_share_products_keep_the_counts_exact,
);

const OTHER: &str = "other-shop.myshopify.com";

const SHOPPER: i64 = 7_000_000_000_000_001;
const NEIGHBOUR: i64 = 7_000_000_000_000_002;
const STRANGER: i64 = 7_000_000_000_000_003;

const TEA: i64 = 101;
const MUG: i64 = 102;
/// Above 2^53: an id that a trip through f64 would change.
const KETTLE: i64 = 9_007_199_254_740_993;
const HONEY: i64 = 104;
const SPOON: i64 = 105;
const CUPS: i64 = 106;
const FILTER: i64 = 107;

fn title(product: i64) -> &'static str {
    match product {
        TEA => "Green tea",
        MUG => "Mug",
        KETTLE => "Kettle",
        HONEY => "Honey",
        SPOON => "Spoon",
        CUPS => "Cups",
        FILTER => "Filter",
        _ => "Something",
    }
}

/// A line of `product` with its first variant (`product * 10 + 1`), still
/// `quantity` in the order.
fn line(product: i64, quantity: i64) -> Value {
    json!({
        "id": product * 1000,
        "product_id": product,
        "variant_id": product * 10 + 1,
        "title": title(product),
        "name": format!("{} - Default", title(product)),
        "quantity": quantity.max(1),
        "current_quantity": quantity,
    })
}

/// A paid order of one unit of each product, plus a custom item (no product).
fn order(id: i64, customer: Option<i64>, subtotal: &str, products: &[i64]) -> Value {
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    let mut lines: Vec<Value> = products.iter().map(|p| line(*p, 1)).collect();
    lines.push(json!({ "id": id * 10, "product_id": null, "variant_id": null, "title": "Gift wrap", "quantity": 1 }));
    json!({
        "id": id,
        "name": format!("#{id}"),
        "customer": customer.map(|c| json!({ "id": c })),
        "currency": "USD",
        "subtotal_price_set": money(subtotal),
        "total_price_set": money(subtotal),
        "financial_status": "paid",
        "source_name": "web",
        "test": false,
        "processed_at": crate::helpers::ago(2 * 3_600_000),
        "line_items": lines,
    })
}

async fn deliver(app: &TestApp, shop: &str, topic: &str, key: &str, body: &Value) {
    let bytes = body.to_string().into_bytes();
    let response = app
        .webhook_as(shop, topic, key, &bytes, &sign(&app.secret, &bytes))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{topic} {key}");
}

/// Delivers a paid order of `products` as orders/paid.
async fn paid(app: &TestApp, shop: &str, id: i64, customer: Option<i64>, products: &[i64]) {
    let body = order(id, customer, "20.00", products);
    deliver(
        app,
        shop,
        "orders/paid",
        &format!("{shop}-paid-{id}"),
        &body,
    )
    .await;
}

/// The shopper's `offers`, as the loyalty widget reads them.
async fn proxy_offers(app: &TestApp, shop: &str, customer: i64) -> Value {
    let response = app
        .http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(shop, Some(customer))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["offers"].clone()
}

/// The shopper's `offers`, as the checkout extension reads them.
async fn checkout_offers(app: &TestApp, shop: &str, customer: i64) -> Value {
    let token = extension_token(shop, Some(customer));
    let response = app
        .http
        .get(format!("{}/api/checkout/balance", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["offers"].clone()
}

/// (product id, orders together) of the offered products.
fn offered(offers: &Value) -> Vec<(String, i64)> {
    offers["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| {
            (
                p["product_id"].as_str().expect("id as string").to_owned(),
                p["orders_together"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn ids(list: &[(i64, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(p, n)| (p.to_string(), *n)).collect()
}

async fn pair_count(app: &TestApp, a: i64, b: i64) -> i64 {
    app.count(&format!(
        "SELECT COALESCE(MAX(orders), 0) FROM product_pairs WHERE product_id = {a} AND other_id = {b}"
    ))
    .await
}

async fn co_purchase_counts_follow_redeliveries_edits_and_cancellations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // The shopper bought tea and a mug.
    paid(&app, SHOP, 1, Some(SHOPPER), &[TEA, MUG]).await;
    paid(&app, SHOP, 2, Some(NEIGHBOUR), &[TEA, KETTLE]).await;
    paid(&app, SHOP, 3, Some(NEIGHBOUR), &[TEA, KETTLE, HONEY]).await;
    paid(&app, SHOP, 4, None, &[MUG, HONEY]).await;
    // Cancelled later: its spoon counts for nothing.
    let spoon = order(5, Some(STRANGER), "20.00", &[TEA, SPOON]);
    deliver(&app, SHOP, "orders/paid", "o5", &spoon).await;
    // Edited: the cups were taken out and a filter added.
    let edited = order(6, Some(STRANGER), "20.00", &[TEA, CUPS]);
    deliver(&app, SHOP, "orders/paid", "o6", &edited).await;
    // Delivered three times.
    let twice = order(7, Some(STRANGER), "20.00", &[MUG, KETTLE]);
    for key in ["o7", "o7-again"] {
        deliver(&app, SHOP, "orders/paid", key, &twice).await;
    }
    deliver(&app, SHOP, "orders/updated", "o7-updated", &twice).await;
    // A test order.
    let mut test = order(8, Some(STRANGER), "20.00", &[TEA, SPOON]);
    test["test"] = json!(true);
    deliver(&app, SHOP, "orders/paid", "o8", &test).await;
    app.drain().await;
    assert_eq!(
        pair_count(&app, TEA, SPOON).await,
        1,
        "before the cancellation"
    );
    assert_eq!(pair_count(&app, TEA, CUPS).await, 1, "before the edit");
    assert_eq!(
        pair_count(&app, MUG, KETTLE).await,
        1,
        "a re-delivery counts once"
    );

    let mut cancelled = spoon.clone();
    cancelled["cancelled_at"] = json!(crate::helpers::ago(3_600_000));
    deliver(&app, SHOP, "orders/cancelled", "o5-cancelled", &cancelled).await;
    // A later orders/updated without line items keeps the order cancelled.
    let mut bare = cancelled.clone();
    bare.as_object_mut().unwrap().remove("line_items");
    deliver(&app, SHOP, "orders/updated", "o5-bare", &bare).await;
    let mut after_edit = edited.clone();
    after_edit["line_items"] = json!([line(TEA, 1), line(CUPS, 0), line(FILTER, 2)]);
    deliver(&app, SHOP, "orders/updated", "o6-edited", &after_edit).await;
    app.drain().await;

    assert_eq!(pair_count(&app, TEA, KETTLE).await, 2);
    assert_eq!(pair_count(&app, KETTLE, TEA).await, 2, "both directions");
    assert_eq!(pair_count(&app, TEA, FILTER).await, 1);
    assert_eq!(pair_count(&app, MUG, KETTLE).await, 1);
    for gone in [SPOON, CUPS] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM product_pairs WHERE product_id = {gone} OR other_id = {gone}"
            ))
            .await,
            0,
            "no pair left with {gone}"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM order_products WHERE order_id = 6")
            .await,
        2,
        "the edit replaced the order's products; the custom item is not kept"
    );
    assert_eq!(
        app.count("SELECT quantity FROM order_products WHERE order_id = 6 AND product_id = 107")
            .await,
        2
    );

    // Co-purchase is off by default.
    assert_eq!(
        proxy_offers(&app, SHOP, SHOPPER).await["products"],
        json!([])
    );

    app.change_program(SHOP, |s| s["offers"]["co_purchase"] = json!(true))
        .await;
    // Kettle: 2 orders with tea, 1 with the mug; honey: 1 with tea, 1 with
    // the mug; filter: 1 with tea. Tea and the mug themselves are left out.
    let offers = proxy_offers(&app, SHOP, SHOPPER).await;
    assert_eq!(
        offered(&offers),
        ids(&[(KETTLE, 3), (HONEY, 2), (FILTER, 1)])
    );
    assert_eq!(
        offers["products"][0],
        json!({
            "product_id": "9007199254740993",
            "variant_id": "90071992547409931",
            "title": "Kettle",
            "orders_together": 3,
        })
    );
    assert_eq!(
        checkout_offers(&app, SHOP, SHOPPER).await["products"],
        offers["products"]
    );

    app.change_program(SHOP, |s| s["offers"]["co_purchase_limit"] = json!(2))
        .await;
    assert_eq!(
        offered(&proxy_offers(&app, SHOP, SHOPPER).await),
        ids(&[(KETTLE, 3), (HONEY, 2)])
    );
    app.change_program(SHOP, |s| s["offers"]["co_purchase"] = json!(false))
        .await;
    assert_eq!(
        proxy_offers(&app, SHOP, SHOPPER).await["products"],
        json!([])
    );

    // shop/redact erases the products and their counts.
    deliver(
        &app,
        SHOP,
        "shop/redact",
        "redact",
        &json!({ "shop_id": 1, "shop_domain": SHOP }),
    )
    .await;
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM order_products").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM product_pairs").await, 0);
}

async fn the_closest_reward_follows_the_balance_and_the_setting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // Points are spendable at once and only orders earn (no tier entry
    // points); the default rewards cost 500 (5-off), 750 (free-shipping)
    // and 1000 (10-percent-off).
    app.change_program(SHOP, |s| {
        s["earning"]["pending_days"] = json!(0);
        s["tiers"]["levels"] = json!([]);
    })
    .await;
    for (id, customer, subtotal) in [(1, SHOPPER, "600.00"), (2, NEIGHBOUR, "1200.00")] {
        let body = order(id, Some(customer), subtotal, &[TEA]);
        deliver(&app, SHOP, "orders/paid", &format!("paid-{id}"), &body).await;
    }
    app.drain().await;

    let closest = |o: Value| o["closest_reward"].clone();
    assert_eq!(
        closest(proxy_offers(&app, SHOP, SHOPPER).await),
        json!({ "id": "free-shipping", "name": "Free shipping", "points_cost": 750, "points_needed": 150, "redeemable": false })
    );
    assert_eq!(
        closest(checkout_offers(&app, SHOP, SHOPPER).await)["points_needed"],
        150
    );
    // Every reward is in reach: the most valuable one.
    assert_eq!(
        closest(checkout_offers(&app, SHOP, NEIGHBOUR).await),
        json!({ "id": "10-percent-off", "name": "10% off", "points_cost": 1000, "points_needed": 0, "redeemable": true })
    );
    // No points yet: the cheapest.
    let stranger = closest(proxy_offers(&app, SHOP, STRANGER).await);
    assert_eq!(
        (stranger["id"].clone(), stranger["points_needed"].clone()),
        (json!("5-off"), json!(500))
    );

    app.change_program(SHOP, |s| s["offers"]["closest_reward"] = json!(false))
        .await;
    assert_eq!(
        closest(proxy_offers(&app, SHOP, SHOPPER).await),
        Value::Null
    );
    assert_eq!(
        closest(checkout_offers(&app, SHOP, NEIGHBOUR).await),
        Value::Null
    );
    app.change_program(SHOP, |s| {
        s["offers"]["closest_reward"] = json!(true);
        s["rewards"] = json!([]);
    })
    .await;
    assert_eq!(
        closest(proxy_offers(&app, SHOP, SHOPPER).await),
        Value::Null,
        "no rewards"
    );
}

async fn offers_reach_only_their_own_shopper_and_shop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.install(OTHER).await;
    for shop in [SHOP, OTHER] {
        app.change_program(shop, |s| s["offers"]["co_purchase"] = json!(true))
            .await;
    }
    paid(&app, SHOP, 1, Some(SHOPPER), &[TEA]).await;
    paid(&app, SHOP, 2, Some(NEIGHBOUR), &[MUG, HONEY]).await;
    paid(&app, SHOP, 3, None, &[TEA, KETTLE]).await;
    // The same customer id and products in another shop, bought with a spoon.
    paid(&app, OTHER, 9, Some(SHOPPER), &[TEA, SPOON]).await;
    paid(&app, OTHER, 10, Some(SHOPPER), &[MUG, SPOON]).await;
    app.drain().await;

    let kettle = ids(&[(KETTLE, 1)]);
    assert_eq!(offered(&proxy_offers(&app, SHOP, SHOPPER).await), kettle);
    assert_eq!(offered(&checkout_offers(&app, SHOP, SHOPPER).await), kettle);
    // The neighbour bought the mug and the honey: nothing else goes with them.
    assert_eq!(
        offered(&checkout_offers(&app, SHOP, NEIGHBOUR).await),
        ids(&[])
    );
    assert_eq!(offered(&proxy_offers(&app, SHOP, STRANGER).await), ids(&[]));
    // In the other shop the shopper bought tea, a mug and spoons, which
    // went together only with each other there.
    assert_eq!(offered(&proxy_offers(&app, OTHER, SHOPPER).await), ids(&[]));
    paid(&app, OTHER, 11, None, &[SPOON, FILTER]).await;
    app.drain().await;
    assert_eq!(
        offered(&checkout_offers(&app, OTHER, SHOPPER).await),
        ids(&[(FILTER, 1)])
    );
    assert_eq!(offered(&proxy_offers(&app, SHOP, SHOPPER).await), kettle);

    // The shopper's data export lists what they bought in this shop only.
    let request = json!({
        "shop_id": 1,
        "shop_domain": SHOP,
        "customer": { "id": SHOPPER },
        "orders_requested": [1],
        "data_request": { "id": 77 },
    });
    deliver(&app, SHOP, "customers/data_request", "export", &request).await;
    app.drain().await;
    let export: String =
        sqlx::query_scalar("SELECT export FROM data_requests WHERE request_id = 77")
            .fetch_one(app.store.writer())
            .await
            .unwrap();
    let export: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(
        export["order_products"],
        json!([{ "order_id": 1, "product_id": TEA, "variant_id": TEA * 10 + 1, "title": "Green tea", "quantity": 1 }])
    );

    // Logged out: no offers, and no error.
    let response = app
        .http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(SHOP, None)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "logged_in": false })
    );
}

async fn workers_racing_on_orders_that_share_products_keep_the_counts_exact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // Thirty orders of the same three products (lines in different orders),
    // each delivered twice, and every third one cancelled, taken by four
    // workers at once: on PostgreSQL they update the same pair rows.
    for id in 1..=30 {
        let mut products = vec![TEA, KETTLE, HONEY];
        products.rotate_left(id as usize % 3);
        let mut body = order(id, Some(SHOPPER + id), "20.00", &products);
        deliver(&app, SHOP, "orders/paid", &format!("paid-{id}"), &body).await;
        if id % 3 == 0 {
            body["cancelled_at"] = json!(crate::helpers::ago(3_600_000));
            deliver(
                &app,
                SHOP,
                "orders/cancelled",
                &format!("cancel-{id}"),
                &body,
            )
            .await;
        }
        deliver(&app, SHOP, "orders/updated", &format!("again-{id}"), &body).await;
    }
    app.drain_racing(4).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    for (a, b) in [(TEA, KETTLE), (KETTLE, HONEY), (HONEY, TEA)] {
        assert_eq!(pair_count(&app, a, b).await, 20, "{a} with {b}");
        assert_eq!(pair_count(&app, b, a).await, 20, "{b} with {a}");
    }
    // Every pair count equals what the stored orders give.
    let drift = app
        .count(
            "SELECT COUNT(*) FROM product_pairs pp WHERE pp.orders <> (SELECT COUNT(*) \
             FROM order_products a JOIN order_products b \
             ON b.shop_id = a.shop_id AND b.order_id = a.order_id \
             WHERE a.shop_id = pp.shop_id AND a.product_id = pp.product_id \
             AND b.product_id = pp.other_id AND a.counted = 1)",
        )
        .await;
    assert_eq!(drift, 0);
}
