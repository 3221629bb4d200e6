//! `shopify.app.toml` is true to the code: every subscribed topic has a
//! handler and every handler's topic is subscribed, the compliance topics
//! are there, and the access scopes cover every Admin API operation
//! Advocate sends, and no more.

use std::collections::BTreeSet;

use advocate::{
    jobs::topics::{COMPLIANCE_TOPICS, HANDLED_TOPICS},
    shopify::{
        admin::DOCUMENTS,
        payloads::{parse_payload, Payload},
        webhook::WebhookTopic,
    },
};
use apollo_compiler::{executable::Selection, ExecutableDocument, Schema};

fn app_toml() -> toml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/shopify.app.toml"))
        .expect("shopify.app.toml");
    text.parse().expect("shopify.app.toml is valid TOML")
}

fn strings(value: &toml::Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_app_is_configured_completely() {
    let app = app_toml();
    for key in ["client_id", "name", "handle", "application_url"] {
        assert!(app[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    assert_eq!(app["embedded"].as_bool(), Some(true));
    let url = app["application_url"].as_str().unwrap();
    let redirects = strings(&app["auth"]["redirect_urls"]);
    assert!(
        redirects.contains(&format!("{url}/auth/callback")),
        "the OAuth callback Advocate serves is a redirect URL"
    );
    assert_eq!(app["webhooks"]["api_version"].as_str(), Some("2026-07"));
    let proxy = &app["app_proxy"];
    assert_eq!(proxy["url"].as_str(), Some(format!("{url}/proxy").as_str()));
    assert_eq!(proxy["subpath"].as_str(), Some("loyalty"));
    assert_eq!(proxy["prefix"].as_str(), Some("apps"));
}

#[test]
fn every_subscribed_topic_has_a_handler_and_every_handler_is_subscribed() {
    let app = app_toml();
    let mut subscribed = BTreeSet::new();
    let mut compliance = BTreeSet::new();
    for sub in app["webhooks"]["subscriptions"].as_array().unwrap() {
        assert_eq!(sub["uri"].as_str(), Some("/webhooks"));
        if let Some(topics) = sub.get("topics") {
            subscribed.extend(strings(topics));
        }
        if let Some(topics) = sub.get("compliance_topics") {
            compliance.extend(strings(topics));
        }
    }
    let handled: BTreeSet<String> = HANDLED_TOPICS.iter().map(|t| t.to_string()).collect();
    assert_eq!(subscribed, handled);
    let required: BTreeSet<String> = COMPLIANCE_TOPICS.iter().map(|t| t.to_string()).collect();
    assert_eq!(compliance, required);
    // And a handler really runs for each: a minimal valid body is not
    // dismissed as a topic without a handler.
    for topic in HANDLED_TOPICS.iter().chain(&COMPLIANCE_TOPICS) {
        let body = match topic {
            WebhookTopic::RefundsCreate => r#"{"id": 1, "order_id": 2}"#,
            WebhookTopic::CustomersDataRequest => {
                r#"{"customer": {"id": 1}, "data_request": {"id": 2}}"#
            }
            WebhookTopic::CustomersRedact => r#"{"customer": {"id": 1}}"#,
            _ => r#"{"id": 1}"#,
        };
        let payload =
            parse_payload(topic, body.as_bytes()).unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_ne!(payload, Payload::Unhandled, "{topic} has a handler");
    }
    assert_eq!(
        parse_payload(&WebhookTopic::from("orders/create"), b"{}").unwrap(),
        Payload::Unhandled,
        "an unsubscribed topic has no handler"
    );
}

/// The scopes each Admin API root field needs; empty: none. A document
/// with a root field missing here fails the test, so a new operation
/// cannot ship without its scope being considered.
fn scope_of(root_field: &str) -> Option<&'static [&'static str]> {
    Some(match root_field {
        // Customer tags and metafields (tiers, expiry dates).
        "tagsAdd" | "tagsRemove" | "metafieldsSet" => &["write_customers"],
        "discountCodeBasicCreate" | "discountCodeFreeShippingCreate" => &["write_discounts"],
        "discountAutomaticAppCreate" | "discountAutomaticAppUpdate" => &["write_discounts"],
        "codeDiscountNodeByCode" | "automaticDiscountNodes" => &["read_discounts"],
        // Store credit rewards and cashback: the credit, the cashback
        // clawback's debit, and (store_credit_transactions) the customer's
        // accounts, their balances and transactions, read to settle a
        // credit or debit whose answer was lost.
        "storeCreditAccountCredit" | "storeCreditAccountDebit" => {
            &["write_store_credit_account_transactions"]
        }
        // A free product reward's variant price.
        "productVariant" => &["read_products"],
        "customer" => &[
            "read_customers",
            "read_store_credit_accounts",
            "read_store_credit_account_transactions",
        ],
        // Bulk operations carry a mutation checked on its own; staged
        // Flow triggers with a customer reference need read_customers
        // (held through write_customers).
        "flowTriggerReceive" => &["read_customers"],
        // The history import's bulk queries (each checked on its own):
        // customers, and orders of any age (past 60 days Shopify needs
        // read_all_orders, granted with read_orders).
        "customers" => &["read_customers"],
        "orders" => &["read_all_orders"],
        "bulkOperationRunQuery" => &[],
        // uploads, the shop and webhook subscriptions need no scope.
        "bulkOperationRunMutation"
        | "stagedUploadsCreate"
        | "node"
        | "shop"
        | "webhookSubscriptionCreate" => &[],
        _ => return None,
    })
}

/// A write scope grants its read scope.
fn covered(scope: &str, granted: &BTreeSet<String>) -> bool {
    granted.contains(scope)
        || scope
            .strip_prefix("read_")
            .is_some_and(|rest| granted.contains(&format!("write_{rest}")))
}

#[test]
fn the_scopes_cover_every_admin_operation_and_no_more() {
    let app = app_toml();
    let granted: BTreeSet<String> = app["access_scopes"]["scopes"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let schema = Schema::parse_and_validate(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/admin_2026-07.graphql"
        ))
        .unwrap(),
        "admin.graphql",
    )
    .unwrap();
    // Order and customer webhooks need read access besides.
    let mut needed: BTreeSet<String> = ["read_orders", "read_customers"]
        .into_iter()
        .map(String::from)
        .collect();
    for doc in DOCUMENTS {
        let parsed = ExecutableDocument::parse_and_validate(&schema, doc.text, doc.name).unwrap();
        for operation in parsed.operations.iter() {
            for selection in &operation.selection_set.selections {
                let Selection::Field(field) = selection else {
                    continue;
                };
                let scopes = scope_of(field.name.as_str())
                    .unwrap_or_else(|| panic!("{}: no scope known for {}", doc.name, field.name));
                for scope in scopes {
                    assert!(
                        covered(scope, &granted),
                        "{}: {} needs {scope}",
                        doc.name,
                        field.name
                    );
                    needed.insert((*scope).to_owned());
                }
            }
        }
    }
    for scope in &granted {
        let used = needed.contains(scope)
            || scope
                .strip_prefix("write_")
                .is_some_and(|rest| needed.contains(&format!("read_{rest}")));
        assert!(used, "{scope} is requested but nothing uses it");
    }
}

/// Every Flow trigger Advocate sends has its extension, with a field for
/// each key of its payload, and every trigger extension is one Advocate sends.
#[test]
fn every_flow_trigger_has_its_extension_and_its_fields() {
    use advocate::engine::effects::{Effect, FlowTrigger};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/extensions");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path().join("shopify.extension.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let toml: toml::Value = text.parse().expect("valid TOML");
        let extensions = toml.get("extensions").and_then(|e| e.as_array());
        for ext in extensions.into_iter().flatten() {
            if ext["type"].as_str() != Some("flow_trigger") {
                continue;
            }
            let handle = ext["handle"].as_str().unwrap().to_owned();
            assert!(handle.len() <= 30, "{handle}: at most 30 characters");
            let fields = toml["settings"]["fields"].as_array().unwrap();
            let keys: BTreeSet<String> = fields
                .iter()
                .map(|f| match f["type"].as_str().unwrap() {
                    "customer_reference" => "customer_id".to_owned(),
                    kind => {
                        assert!(
                            [
                                "single_line_text_field",
                                "number_decimal",
                                "boolean",
                                "email",
                                "url"
                            ]
                            .contains(&kind),
                            "{handle}: {kind} is not a trigger field type"
                        );
                        let key = f["key"].as_str().unwrap().to_owned();
                        assert!(
                            key.chars().all(|c| c.is_ascii_alphabetic() || c == ' '),
                            "{handle}: field keys are letters and spaces"
                        );
                        key
                    }
                })
                .collect();
            declared.insert((handle, keys));
        }
    }
    // What the engine sends, with the keys it fills (see engine/).
    let sent: Vec<(FlowTrigger, &[&str])> = vec![
        (
            FlowTrigger::TierReached,
            &["Tier", "Tier tag", "Previous tier"],
        ),
        (
            FlowTrigger::RewardRedeemed,
            &["Reward", "Points spent", "Discount code", "Expires at"],
        ),
        (
            FlowTrigger::ReferralCompleted,
            &["Friend order", "Advocate reward"],
        ),
        (FlowTrigger::PointsExpiring, &["Points", "Expires on"]),
        (
            FlowTrigger::SegmentEntered,
            &[
                "Segment",
                "Segment name",
                "Previous segment",
                "Offer",
                "Offer points",
                "Discount code",
                "Expires at",
            ],
        ),
        (
            FlowTrigger::NpsResponse,
            &["Score", "Category", "Comment", "Order name"],
        ),
        (
            FlowTrigger::MembershipAnniversary,
            &["Years", "Points", "Member since"],
        ),
        (
            FlowTrigger::ReorderDue,
            &[
                "Product",
                "Product id",
                "Days since last purchase",
                "Discount code",
            ],
        ),
    ];
    assert_eq!(sent.len(), FlowTrigger::ALL.len());
    let mut expected = BTreeSet::new();
    for (trigger, keys) in sent {
        let fields = keys
            .iter()
            .map(|k| ((*k).to_owned(), serde_json::json!("x")))
            .collect();
        let Effect::FlowTrigger { handle, payload } = trigger.effect(1, fields) else {
            panic!("a trigger's effect is a Flow trigger");
        };
        let keys: BTreeSet<String> = payload.as_object().unwrap().keys().cloned().collect();
        expected.insert((handle, keys));
    }
    assert_eq!(declared, expected);
}
