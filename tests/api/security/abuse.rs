//! Security regression tests: abuse of the shopper's and the merchant's
//! write endpoints. A survey answer about an order not (yet) known to be
//! the caller's has no effect, and cannot take the real owner's place; a
//! guest order cannot be answered; an adjustment's idempotency key reused
//! for a different adjustment is refused, not silently swallowed.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{session_token, Backend, TestApp, SHOP},
    nps::{
        admin_nps, answer, app, balance, deliver_order, nps_entries, order, set_nps, status, ALICE,
        BOB, BONUS,
    },
};

crate::on_both_backends!(
    a_forged_answer_fires_no_trigger_counts_nothing_and_leaves_the_owner_their_own,
    an_early_answer_fires_its_trigger_and_counts_once_its_order_confirms_it,
    without_a_bonus_an_early_answer_still_counts_only_once_confirmed,
    a_guest_order_cannot_be_answered_and_nothing_is_stored,
    an_adjustment_key_reused_with_other_points_or_reason_is_refused_and_changes_nothing,
);

const NPS_FLOW: &str = "advocate-nps-response";

async fn outbox_nps_rows(app: &TestApp) -> i64 {
    app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE idempotency_key LIKE 'nps:%'")
        .await
}

async fn a_forged_answer_fires_no_trigger_counts_nothing_and_leaves_the_owner_their_own(
    backend: Backend,
) {
    let app = app(backend).await;
    let order_id = 99_999_999_999_i64;
    let (code, forged) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 10, "comment": "fake" }),
    )
    .await;
    assert_eq!(code, 201, "{forged}");
    assert_eq!(forged["credit_state"], "waiting");
    app.send_effects().await;
    assert!(
        app.flow_triggers(NPS_FLOW).is_empty(),
        "an unconfirmed answer fires no Flow trigger"
    );
    assert_eq!(outbox_nps_rows(&app).await, 0);
    let report = admin_nps(&app, "").await;
    assert_eq!(report["overall"]["responses"], 0, "{report}");
    assert_eq!(report["comments"]["items"], json!([]));

    // The order is Bob's: Alice's answer is dropped, Bob answers himself.
    deliver_order(&app, "bobs-order", &order(order_id, BOB)).await;
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses WHERE customer_id = {ALICE}"
        ))
        .await,
        0,
        "the foreign answer is dropped"
    );
    assert_eq!(status(&app, ALICE, &order_id.to_string()).await.0, 403);
    let bob_before = balance(&app, BOB).await;
    let (code, own) = answer(
        &app,
        Some(BOB),
        json!({ "order_id": order_id, "score": 2, "comment": "late" }),
    )
    .await;
    assert_eq!(code, 201, "{own}");
    assert_eq!(own["credit_state"], "credited");
    assert_eq!(balance(&app, BOB).await, bob_before + BONUS);
    assert_eq!(balance(&app, ALICE).await, 0);
    app.send_effects().await;
    let triggers = app.flow_triggers(NPS_FLOW);
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0]["customer_id"], BOB);
    assert_eq!(triggers[0]["Score"], 2);
    assert_eq!(triggers[0]["Comment"], "late");

    let report = admin_nps(&app, "").await;
    assert_eq!(report["overall"]["responses"], 1, "{report}");
    assert_eq!(report["overall"]["detractors"], 1);
    assert_eq!(report["overall"]["promoters"], 0);
    let comments = report["comments"]["items"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["comment"], "late");
}

async fn an_early_answer_fires_its_trigger_and_counts_once_its_order_confirms_it(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_700_000_000_000_001_i64;
    let (code, body) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 9, "comment": "Quick" }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    app.send_effects().await;
    assert!(app.flow_triggers(NPS_FLOW).is_empty());
    assert_eq!(admin_nps(&app, "").await["overall"]["responses"], 0);

    deliver_order(&app, "paid", &order(order_id, ALICE)).await;
    // Another delivery and an update of the order change nothing more.
    let mut updated = order(order_id, ALICE);
    updated["note"] = json!("gift");
    let response = app
        .send("orders/updated", "updated", updated.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    app.send_effects().await;
    let triggers = app.flow_triggers(NPS_FLOW);
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0]["customer_id"], ALICE);
    assert_eq!(triggers[0]["Score"], 9);
    assert_eq!(triggers[0]["Category"], "promoter");
    assert_eq!(triggers[0]["Comment"], "Quick");
    assert_eq!(
        triggers[0]["Order name"],
        format!("#{}", order_id % 100_000),
        "the order is known by the time the trigger is sent"
    );
    assert_eq!(nps_entries(&app, order_id).await, 1);
    let report = admin_nps(&app, "").await;
    assert_eq!(report["overall"]["responses"], 1, "{report}");
    assert_eq!(report["overall"]["promoters"], 1);
}

async fn without_a_bonus_an_early_answer_still_counts_only_once_confirmed(backend: Backend) {
    let app = app(backend).await;
    set_nps(&app, json!({ "enabled": true, "bonus_points": 0 })).await;
    let forged = 6_710_000_000_000_001_i64;
    let own = 6_710_000_000_000_002_i64;
    for (id, score) in [(forged, 10), (own, 3)] {
        let (code, body) =
            answer(&app, Some(ALICE), json!({ "order_id": id, "score": score })).await;
        assert_eq!(code, 201, "{body}");
        assert_eq!(body["points_credited"], 0);
    }
    app.send_effects().await;
    assert!(app.flow_triggers(NPS_FLOW).is_empty());
    assert_eq!(admin_nps(&app, "").await["overall"]["responses"], 0);

    deliver_order(&app, "bobs", &order(forged, BOB)).await;
    deliver_order(&app, "alices", &order(own, ALICE)).await;
    app.send_effects().await;
    let triggers = app.flow_triggers(NPS_FLOW);
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0]["customer_id"], ALICE);
    assert_eq!(triggers[0]["Score"], 3);
    let report = admin_nps(&app, "").await;
    assert_eq!(report["overall"]["responses"], 1, "{report}");
    assert_eq!(report["overall"]["detractors"], 1);
    let (_, seen) = status(&app, ALICE, &own.to_string()).await;
    assert_eq!(seen["credit_state"], "none");
    assert_eq!(nps_entries(&app, own).await, 0, "no bonus on offer");
}

async fn a_guest_order_cannot_be_answered_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_720_000_000_000_001_i64;
    let mut guest = order(order_id, ALICE);
    guest["customer"] = Value::Null;
    guest["email"] = json!("guest@example.com");
    deliver_order(&app, "guest", &guest).await;

    let (code, body) = answer(
        &app,
        Some(BOB),
        json!({ "order_id": order_id, "score": 0, "comment": "bad" }),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("without a customer account"),
        "{body}"
    );
    assert_eq!(status(&app, BOB, &order_id.to_string()).await.0, 403);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses")
            .await,
        0
    );
    assert_eq!(outbox_nps_rows(&app).await, 0);
    assert_eq!(balance(&app, BOB).await, 0);
}

async fn adjust(app: &TestApp, customer: i64, key: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .request(
            Method::POST,
            format!("{}/api/admin/customers/{customer}/adjustments", app.address),
        )
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap_or(Value::Null))
}

async fn an_adjustment_key_reused_with_other_points_or_reason_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let app = app(backend).await;
    let shop: i64 = app.count("SELECT MIN(id) FROM shops").await;
    sqlx::query(
        "INSERT INTO customers (shop_id, customer_id, points_balance, created_at, updated_at) \
         VALUES ($1, $2, 1000, 0, 0)",
    )
    .bind(shop)
    .bind(ALICE)
    .execute(app.store.writer())
    .await
    .unwrap();
    let entries = || async {
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE customer_id = {ALICE}"
        ))
        .await
    };

    let credit = json!({ "points": 250, "reason": "Goodwill" });
    let (code, first) = adjust(&app, ALICE, "credit-1", credit.clone()).await;
    assert_eq!(code, 201, "{first}");
    let (code, again) = adjust(&app, ALICE, "credit-1", credit).await;
    assert_eq!(code, 200, "the same adjustment is a retry: {again}");
    assert_eq!(again["applied"], false);
    assert_eq!(again["points_balance"], 1250);

    for changed in [
        json!({ "points": 300, "reason": "Goodwill" }),
        json!({ "points": 250, "reason": "Apology" }),
        json!({ "points": -250, "reason": "Goodwill" }),
    ] {
        let (code, body) = adjust(&app, ALICE, "credit-1", changed.clone()).await;
        assert_eq!(code, 422, "{changed} -> {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{body}"
        );
        assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(balance(&app, ALICE).await, 1250, "nothing changed");
    assert_eq!(entries().await, 1);

    let deduction = json!({ "points": -50, "reason": "typo" });
    let (code, body) = adjust(&app, ALICE, "debit-1", deduction.clone()).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = adjust(
        &app,
        ALICE,
        "debit-1",
        json!({ "points": -60, "reason": "typo" }),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = adjust(&app, ALICE, "debit-1", deduction).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["applied"], false);
    assert_eq!(balance(&app, ALICE).await, 1200);
    assert_eq!(entries().await, 2);
}
