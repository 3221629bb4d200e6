//! `shopify.app.toml` is true to the code: every subscribed topic has a
//! handler and every handler's topic is subscribed, the compliance topics
//! are there, and the access scopes cover every Admin API operation
//! Advocate sends, and no more.

use std::collections::BTreeSet;

use advocate::{
    jobs::topics::{parse_payload, Payload, COMPLIANCE_TOPICS, HANDLED_TOPICS},
    shopify::{admin::DOCUMENTS, webhook::WebhookTopic},
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

/// The scope each Admin API root field needs; `None`: none. A document
/// with a root field missing here fails the test, so a new operation
/// cannot ship without its scope being considered.
fn scope_of(root_field: &str) -> Option<Option<&'static str>> {
    Some(match root_field {
        // Customer tags and metafields (tiers, expiry dates).
        "tagsAdd" | "tagsRemove" | "metafieldsSet" => Some("write_customers"),
        "discountCodeBasicCreate" | "discountCodeFreeShippingCreate" => Some("write_discounts"),
        "discountAutomaticAppCreate" | "discountAutomaticAppUpdate" => Some("write_discounts"),
        "codeDiscountNodeByCode" | "automaticDiscountNodes" => Some("read_discounts"),
        // Bulk operations carry a mutation checked on its own; staged
        // uploads, the shop and webhook subscriptions need no scope.
        "bulkOperationRunMutation"
        | "stagedUploadsCreate"
        | "node"
        | "shop"
        | "webhookSubscriptionCreate" => None,
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
                let scope = scope_of(field.name.as_str())
                    .unwrap_or_else(|| panic!("{}: no scope known for {}", doc.name, field.name));
                if let Some(scope) = scope {
                    assert!(
                        covered(scope, &granted),
                        "{}: {} needs {scope}",
                        doc.name,
                        field.name
                    );
                    needed.insert(scope.to_owned());
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
