//! Reward kinds beyond an amount or a percentage off: a free product.

use serde_json::{json, Value};

use crate::helpers::{session_token, Backend, TestApp, SHOP};
use crate::loyalty::{points, put_program, send_json};
use crate::store_credit::staff_redeem;

crate::on_both_backends!(
    a_free_product_code_takes_the_variants_price_off_that_variant_once,
    a_free_product_whose_variant_is_gone_gives_the_points_back_once,
    a_free_product_needs_a_variant_id,
);

const VARIANT: i64 = 8_500_000_007;

async fn shop(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.shopify.admin(|a| {
        a.variants.insert(
            (
                SHOP.to_owned(),
                format!("gid://shopify/ProductVariant/{VARIANT}"),
            ),
            "24.50".to_owned(),
        )
    });
    put_program(&app, |s| {
        s["rewards"].as_array_mut().unwrap().push(json!({
            "id": "free-mug", "name": "A free mug", "kind": "free_product",
            "variant_id": VARIANT, "points_cost": 800, "minimum_order": "30.00"
        }));
    })
    .await;
    let profile = json!({ "id": 5, "email": "c5@example.com" });
    send_json(&app, "customers/update", "c-5", &profile).await;
    app.drain().await;
    let signup = points(&app, 5).await.0;
    let response = app
        .http
        .post(format!("{}/api/admin/customers/5/adjustments", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", "grant")
        .json(&json!({ "points": 1_000 - signup, "reason": "welcome gift" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    app
}

async fn redeem(app: &TestApp, key: &str) -> (u16, Value) {
    staff_redeem(app, 5, key, "free-mug", None).await
}

async fn a_free_product_code_takes_the_variants_price_off_that_variant_once(backend: Backend) {
    let app = shop(backend).await;
    let (status, body) = redeem(&app, "mug").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "discount_code");
    assert_eq!(body["code_status"], "active");
    let code = body["code"].as_str().unwrap().to_owned();
    let input = app
        .shopify
        .admin(|a| a.discounts[&(SHOP.to_owned(), code.to_uppercase())].clone());
    // The variant's price off that variant only, once per order however
    // many are in the cart: one unit free, single use, for this customer.
    assert_eq!(
        input["customerGets"],
        json!({
            "value": { "discountAmount": { "amount": "24.50", "appliesOnEachItem": false } },
            "items": { "products": { "productVariantsToAdd": [format!("gid://shopify/ProductVariant/{VARIANT}")] } },
        })
    );
    assert_eq!(input["usageLimit"], 1);
    assert_eq!(
        input["context"]["customers"]["add"][0],
        "gid://shopify/Customer/5"
    );
    assert_eq!(
        input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
        "30.00"
    );
    assert_eq!(points(&app, 5).await.0, 200);
    app.send_effects().await;
    assert_eq!(redeemed_triggers(&app), 1, "the redemption is announced");
}

/// How many "reward redeemed" Flow triggers Shopify received.
fn redeemed_triggers(app: &TestApp) -> usize {
    app.shopify.admin(|a| {
        a.flow_triggers
            .iter()
            .filter(|(_, handle, _)| handle == "advocate-reward-redeemed")
            .count()
    })
}

async fn a_free_product_whose_variant_is_gone_gives_the_points_back_once(backend: Backend) {
    let app = shop(backend).await;
    app.shopify.admin(|a| a.variants.clear());
    let (status, body) = redeem(&app, "gone").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code_status"], "failed");
    app.send_effects().await;
    assert_eq!(points(&app, 5).await.0, 1_000, "the 800 points came back");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger \
             WHERE customer_id = 5 AND kind = 'refund'"
        )
        .await,
        1
    );
    assert!(app.shopify.admin(|a| a.discounts.is_empty()));
    // The merchant's workflows never hear of a reward that was refused.
    assert_eq!(redeemed_triggers(&app), 0);
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox \
             WHERE kind = 'flow_trigger' AND status = 'failed'"
        )
        .await,
        1
    );
    // Neither can be sent again by hand: the points are already back.
    let failed: Value = app
        .http
        .get(format!("{}/api/admin/effects/failed", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = failed["failed_effects"]
        .as_array()
        .unwrap_or_else(|| panic!("{failed}"))
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{failed}");
    for id in ids {
        let response = app
            .http
            .post(format!(
                "{}/api/admin/effects/failed/{id}/retry",
                app.address
            ))
            .bearer_auth(session_token(SHOP, Some("1")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 409);
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'queued'")
            .await,
        0
    );
}

async fn a_free_product_needs_a_variant_id(backend: Backend) {
    let app = shop(backend).await;
    let mut at = 0;
    let (status, body) = app
        .try_change_program(SHOP, |settings| {
            at = settings["rewards"]
                .as_array()
                .unwrap()
                .iter()
                .position(|r| r["id"] == "free-mug")
                .unwrap();
            settings["rewards"][at]["variant_id"] = json!(0);
        })
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"][0]["field"],
        format!("rewards[{at}].variant_id")
    );
}
