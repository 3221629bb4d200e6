//! The bulk path: one change for many customers (a tier renamed, every tier
//! tag re-synced) goes as a staged JSONL upload and one
//! `bulkOperationRunMutation`, which Shopify runs outside the per-call rate
//! limit, instead of one call per customer.

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    api::{AdminApi, AdminApiError},
    client::{user_errors, ShopifyError},
    ops, Document,
};
use crate::shopify::ShopDomain;

/// How a finished bulk operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkResult {
    pub id: String,
    pub status: String,
    pub object_count: Option<String>,
}

/// Runs `mutation` once per line of `variables` as a bulk operation and
/// waits for it to finish, polling every `poll`.
pub async fn run_bulk_mutation(
    api: &AdminApi,
    http: &reqwest::Client,
    shop: &ShopDomain,
    mutation: Document,
    variables: &[Value],
    poll: Duration,
) -> Result<BulkResult, AdminApiError> {
    let jsonl: String = variables.iter().map(|v| format!("{v}\n")).collect();
    let staged: Value = api
        .call(
            shop,
            super::STAGED_UPLOADS_CREATE,
            json!({ "input": [{
                "resource": "BULK_MUTATION_VARIABLES",
                "filename": format!("{}.jsonl", mutation.name),
                "mimeType": "text/jsonl",
                "httpMethod": "POST",
            }] }),
        )
        .await?;
    user_errors(&staged["stagedUploadsCreate"])?;
    let target = &staged["stagedUploadsCreate"]["stagedTargets"][0];
    let url = target["url"]
        .as_str()
        .ok_or_else(|| ShopifyError::GraphQl(vec!["no staged upload target".into()]))?;
    let mut form = reqwest::multipart::Form::new();
    let mut path = None;
    for parameter in target["parameters"].as_array().into_iter().flatten() {
        let (name, value) = (
            parameter["name"].as_str().unwrap_or_default().to_owned(),
            parameter["value"].as_str().unwrap_or_default().to_owned(),
        );
        if name == "key" {
            path = Some(value.clone());
        }
        form = form.text(name, value);
    }
    let path =
        path.ok_or_else(|| ShopifyError::GraphQl(vec!["staged upload has no key".into()]))?;
    let file = reqwest::multipart::Part::bytes(jsonl.into_bytes())
        .file_name("variables.jsonl")
        .mime_str("text/jsonl")
        .map_err(|e| ShopifyError::Network(e.to_string()))?;
    let uploaded = http
        .post(url)
        .multipart(form.part("file", file))
        .send()
        .await
        .map_err(|e| ShopifyError::Network(e.without_url().to_string()))?;
    if !uploaded.status().is_success() {
        return Err(ShopifyError::Http {
            status: uploaded.status().as_u16(),
            request_id: None,
        }
        .into());
    }
    let started: Value = api
        .call(
            shop,
            super::BULK_OPERATION_RUN_MUTATION,
            json!({ "mutation": mutation.text, "stagedUploadPath": path }),
        )
        .await?;
    user_errors(&started["bulkOperationRunMutation"])?;
    let id = started["bulkOperationRunMutation"]["bulkOperation"]["id"]
        .as_str()
        .ok_or_else(|| ShopifyError::GraphQl(vec!["no bulk operation id".into()]))?
        .to_owned();
    loop {
        let status: ops::BulkOperationStatusData = api
            .call(
                shop,
                super::BULK_OPERATION_STATUS,
                ops::IdVariables { id: &id },
            )
            .await?;
        let operation = status
            .node
            .ok_or_else(|| ShopifyError::GraphQl(vec![format!("bulk operation {id} not found")]))?;
        if !matches!(
            operation.status.as_str(),
            "CREATED" | "RUNNING" | "CANCELING"
        ) {
            return Ok(BulkResult {
                id: operation.id,
                status: operation.status,
                object_count: operation.object_count,
            });
        }
        tokio::time::sleep(poll).await;
    }
}
