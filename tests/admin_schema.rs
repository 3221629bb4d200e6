//! Every Admin GraphQL document Advocate sends is valid against Shopify's
//! Admin schema of the pinned version (tests/fixtures/admin_2026-07.graphql,
//! a copy of shared/shopify/admin-schema/), and the check itself rejects a
//! field that does not exist.

use std::sync::OnceLock;

use advocate::shopify::admin::DOCUMENTS;
use apollo_compiler::{validation::Valid, ExecutableDocument, Schema};

fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/admin_2026-07.graphql"
        );
        let sdl = std::fs::read_to_string(path).expect("admin schema fixture");
        Schema::parse_and_validate(sdl, "admin_2026-07.graphql").expect("Shopify's schema is valid")
    })
}

fn validate(name: &str, text: &str) -> Result<(), String> {
    ExecutableDocument::parse_and_validate(schema(), text, name)
        .map(|_| ())
        .map_err(|e| e.errors.to_string())
}

#[test]
fn every_document_is_valid_against_the_2026_07_admin_schema() {
    assert!(DOCUMENTS.len() >= 11);
    for doc in DOCUMENTS {
        if let Err(errors) = validate(doc.name, doc.text) {
            panic!("{} is not valid against Admin 2026-07:\n{errors}", doc.name);
        }
    }
}

#[test]
fn the_check_rejects_what_shopify_does_not_have() {
    let wrong_field = "mutation TagsAdd($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message severity } } }";
    assert!(
        validate("wrong_field", wrong_field).is_err(),
        "UserError has no `severity`"
    );
    let wrong_argument = "mutation M($d: DiscountCodeBasicInput!) { discountCodeBasicCreate(discount: $d) { userErrors { message } } }";
    assert!(validate("wrong_argument", wrong_argument).is_err());
    let wrong_type = "mutation M($id: String!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { message } } }";
    assert!(
        validate("wrong_type", wrong_type).is_err(),
        "id is an ID!, not a String!"
    );
}
