//! The Function run on fixtures, the way Shopify runs it: the input JSON
//! through `run_function_with_input`, the result serialized back to JSON
//! with serde_json, as the generated Wasm export writes it to stdout.
//!
//! `tests/fixtures/*.json` are ours, in the format of Shopify's fixtures
//! (`payload.export`, `payload.input`, `payload.output`), for both targets;
//! every one must match. The fixtures in `tests/fixtures/shopify/` are
//! Shopify's, for the 2026-04 template Function of `shopify app generate
//! extension` (10% off the order and 20% off a line, and free delivery, for
//! everyone): see `shopify_*_fixture_*`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use shopify_function::run_function_with_input;

use crate::cart_delivery_options_discounts_generate_run::cart_delivery_options_discounts_generate_run;
use crate::cart_lines_discounts_generate_run::cart_lines_discounts_generate_run;

/// Runs the lines target on `input` and returns its output as JSON.
fn run(input: &Value) -> Value {
    let payload = input.to_string();
    let result = run_function_with_input(cart_lines_discounts_generate_run, &payload)
        .expect("the Function never fails");
    serde_json::to_value(&result).expect("the output serializes")
}

/// Runs the delivery target on `input` and returns its output as JSON.
fn run_delivery(input: &Value) -> Value {
    let payload = input.to_string();
    let result = run_function_with_input(cart_delivery_options_discounts_generate_run, &payload)
        .expect("the Function never fails");
    serde_json::to_value(&result).expect("the output serializes")
}

/// Runs the export a fixture names.
fn run_export(export: &Value, input: &Value) -> Value {
    match export.as_str() {
        Some("cart_lines_discounts_generate_run") => run(input),
        Some("cart_delivery_options_discounts_generate_run") => run_delivery(input),
        other => panic!("no such export: {other:?}"),
    }
}

/// Shopify's fixtures spell out optional fields as `null`; the Function's
/// output leaves them out. Both mean the same to Shopify.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_fixture(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shopify_fixture() -> Value {
    read_fixture(&fixture_dir().join("shopify/cart-lines-both-discounts.json"))
}

fn shopify_delivery_fixture() -> Value {
    read_fixture(&fixture_dir().join("shopify/delivery-options-shipping-discount.json"))
}

#[test]
fn our_fixtures_match() {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 25, "fixtures missing: {paths:?}");
    let mut failures = Vec::new();
    let mut delivery = 0;
    for path in &paths {
        let fixture = read_fixture(path);
        let payload = &fixture["payload"];
        let target = match payload["export"].as_str() {
            Some("cart_delivery_options_discounts_generate_run") => {
                delivery += 1;
                "cart.delivery-options.discounts.generate.run"
            }
            _ => "cart.lines.discounts.generate.run",
        };
        assert_eq!(payload["target"], target, "{}", path.display());
        let output = run_export(&payload["export"], &payload["input"]);
        let expected = without_nulls(&payload["output"]);
        if output != expected {
            failures.push(format!(
                "{}\n  expected {expected}\n  got      {output}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(delivery >= 8, "delivery fixtures missing: {delivery}");
}

#[test]
fn shopify_delivery_fixture_input_gets_no_discount() {
    // Shopify's delivery fixture gives free delivery to everyone; with no
    // customer and no configuration, a VIP perk gives nothing.
    let fixture = shopify_delivery_fixture();
    let payload = &fixture["payload"];
    assert_eq!(
        payload["export"],
        "cart_delivery_options_discounts_generate_run"
    );
    let output = run_delivery(&payload["input"]);
    assert_eq!(output, json!({"operations": []}));
    assert_ne!(output, without_nulls(&payload["output"]));
}

#[test]
fn shopify_delivery_fixture_operation_is_what_we_send_for_free_shipping() {
    // The same cart, with a platinum customer whose tier has free shipping
    // and the template's message: our output is exactly the fixture's.
    let fixture = shopify_delivery_fixture();
    let payload = &fixture["payload"];
    let mut input = payload["input"].clone();
    input["cart"]["buyerIdentity"] = json!({"customer": {"metafield": {"value": "platinum"}}});
    input["discount"]["metafield"] = json!({"jsonValue": {
        "perks": {"gold": 5, "platinum": 10},
        "shipping": {"gold": 50, "platinum": 100},
        "shipping_message": "FREE DELIVERY"
    }});
    let output = run_delivery(&input);
    assert_eq!(output, without_nulls(&payload["output"]));
}

#[test]
fn the_lines_target_never_discounts_shipping_and_the_delivery_target_never_the_order() {
    // One discount with every class and both tables: each target gives its
    // own perk only, so the order perk and the shipping perk apply once each.
    let config = json!({"jsonValue": {
        "perks": {"gold": 5},
        "shipping": {"gold": 100}
    }});
    let buyer = json!({"customer": {"metafield": {"value": "gold"}}});
    let lines = run(&json!({
        "cart": {"lines": [{"id": "gid://shopify/CartLine/1"}], "buyerIdentity": buyer},
        "discount": {"discountClasses": ["ORDER", "PRODUCT", "SHIPPING"], "metafield": config}
    }));
    let ops = lines["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert!(ops[0].get("orderDiscountsAdd").is_some());
    let delivery = run_delivery(&json!({
        "cart": {"deliveryGroups": [{"id": "gid://shopify/CartDeliveryGroup/1"}], "buyerIdentity": buyer},
        "discount": {"discountClasses": ["ORDER", "PRODUCT", "SHIPPING"], "metafield": config}
    }));
    let ops = delivery["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(
        ops[0]["deliveryDiscountsAdd"]["candidates"][0]["value"]["percentage"]["value"],
        "100.0"
    );
}

#[test]
fn a_malformed_shipping_table_sinks_the_order_perk_too() {
    // The configuration is one document: a bad entry anywhere gives no
    // discount from either target, so a mistake shows at once.
    let input = json!({
        "cart": {
            "lines": [{"id": "gid://shopify/CartLine/1"}],
            "buyerIdentity": {"customer": {"metafield": {"value": "gold"}}}
        },
        "discount": {
            "discountClasses": ["ORDER"],
            "metafield": {"jsonValue": {"perks": {"gold": 5}, "shipping": {"gold": "free"}}}
        }
    });
    assert_eq!(run(&input), json!({"operations": []}));
}

#[test]
fn shopify_fixture_input_gets_no_discount() {
    // Shopify's fixture has no customer and no configuration metafield: its
    // expected output is the template's hard-coded 10% + 20% for everyone,
    // which a VIP perk must not give. For its input we give nothing.
    let fixture = shopify_fixture();
    let payload = &fixture["payload"];
    assert_eq!(payload["export"], "cart_lines_discounts_generate_run");
    let output = run(&payload["input"]);
    assert_eq!(output, json!({"operations": []}));
    assert_ne!(output, without_nulls(&payload["output"]));
}

#[test]
fn shopify_fixture_order_operation_is_what_we_send_for_a_10_percent_tier() {
    // The same cart, with a platinum customer and a table giving platinum
    // 10% with the template's message: our output is exactly the fixture's
    // order operation. (We never add its product operation as well: one
    // perk, never two discounts for the same tier.)
    let fixture = shopify_fixture();
    let payload = &fixture["payload"];
    let mut input = payload["input"].clone();
    input["cart"]["buyerIdentity"] = json!({"customer": {"metafield": {"value": "platinum"}}});
    input["discount"]["metafield"] = json!({"jsonValue": {
        "perks": {"gold": 5, "platinum": 10},
        "message": "10% OFF ORDER"
    }});
    let output = run(&input);
    let expected_order = without_nulls(&payload["output"]["operations"][0]);
    assert!(expected_order.get("orderDiscountsAdd").is_some());
    assert_eq!(output, json!({ "operations": [expected_order] }));
}

#[test]
fn percent_is_exactly_the_configured_decimal() {
    let input = json!({
        "cart": {
            "lines": [{"id": "gid://shopify/CartLine/1"}],
            "buyerIdentity": {"customer": {"metafield": {"value": "gold"}}}
        },
        "discount": {
            "discountClasses": ["ORDER"],
            "metafield": {"jsonValue": {"perks": {"gold": 12.345}, "message": "{percent}% off"}}
        }
    });
    let output = run(&input);
    let candidate = &output["operations"][0]["orderDiscountsAdd"]["candidates"][0];
    assert_eq!(candidate["value"]["percentage"]["value"], "12.345");
    assert_eq!(candidate["message"], "12.35% off");
}

#[test]
fn a_full_percent_is_100_and_never_more() {
    let input = |percent: Value| {
        json!({
            "cart": {
                "lines": [{"id": "gid://shopify/CartLine/1"}],
                "buyerIdentity": {"customer": {"metafield": {"value": "gold"}}}
            },
            "discount": {
                "discountClasses": ["ORDER"],
                "metafield": {"jsonValue": {"perks": {"gold": percent}}}
            }
        })
    };
    let output = run(&input(json!(100)));
    assert_eq!(
        output["operations"][0]["orderDiscountsAdd"]["candidates"][0]["value"]["percentage"]
            ["value"],
        "100.0"
    );
    for over in [json!(100.01), json!("101"), json!(1e9)] {
        assert_eq!(run(&input(over)), json!({"operations": []}));
    }
}

#[test]
fn missing_optional_input_fields_are_no_customer() {
    // Shopify leaves out what the query did not ask for, and a customer's
    // metafield is null until Advocate writes it.
    let input = json!({
        "cart": {"lines": [{"id": "gid://shopify/CartLine/1"}]},
        "discount": {
            "discountClasses": ["ORDER"],
            "metafield": {"jsonValue": {"perks": {"gold": 5}}}
        }
    });
    assert_eq!(run(&input), json!({"operations": []}));
}
