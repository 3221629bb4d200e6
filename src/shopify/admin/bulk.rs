//! The bulk path: one change for many customers (a tier renamed, every tier
//! tag re-synced) goes as a staged JSONL upload and one
//! `bulkOperationRunMutation`, which Shopify runs outside the per-call rate
//! limit, instead of one call per customer. The other way, a shop's history
//! (every customer, every order) is read with `bulkOperationRunQuery`: the
//! query runs on Shopify's side, then its result is streamed from the URL
//! it gives, one JSON object per line ([`JsonLines`]).

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

/// A started bulk query's state, as [`bulk_query_status`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkQuery {
    pub id: String,
    /// `CREATED`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELED`, `EXPIRED`…
    pub status: String,
    /// Objects written so far (Shopify's running count).
    pub object_count: u64,
    /// The result (JSONL), once completed; None when the query matched
    /// nothing.
    pub url: Option<String>,
    pub error_code: Option<String>,
}

impl BulkQuery {
    /// Still running on Shopify's side.
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "CREATED" | "RUNNING" | "CANCELING")
    }

    /// Completed, but its result is no longer kept (seven days on).
    pub fn has_expired(&self) -> bool {
        self.status == "EXPIRED"
    }
}

/// Starts `query` (the text of a document with one top-level connection)
/// as a bulk query; answers its id. Shopify runs one bulk query per shop
/// at a time: starting another is a user error.
pub async fn start_bulk_query(
    api: &AdminApi,
    shop: &ShopDomain,
    query: &str,
) -> Result<String, AdminApiError> {
    let started: Value = api
        .call(
            shop,
            super::BULK_OPERATION_RUN_QUERY,
            json!({ "query": query }),
        )
        .await?;
    user_errors(&started["bulkOperationRunQuery"])?;
    Ok(started["bulkOperationRunQuery"]["bulkOperation"]["id"]
        .as_str()
        .ok_or_else(|| ShopifyError::GraphQl(vec!["no bulk operation id".into()]))?
        .to_owned())
}

/// Reads a bulk query's state; None when Shopify knows no such operation
/// (another app's id, or one it no longer keeps).
pub async fn bulk_query_status(
    api: &AdminApi,
    shop: &ShopDomain,
    id: &str,
) -> Result<Option<BulkQuery>, AdminApiError> {
    let status: ops::BulkOperationStatusData = api
        .call(shop, super::BULK_OPERATION_STATUS, ops::IdVariables { id })
        .await?;
    let Some(operation) = status.node else {
        return Ok(None);
    };
    Ok(Some(BulkQuery {
        id: operation.id,
        status: operation.status,
        object_count: operation
            .object_count
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        url: operation.url,
        error_code: operation.error_code,
    }))
}

/// The longest line a bulk result may have (an order with its refunds is a
/// few kB); a longer one is refused rather than held.
pub const MAX_JSONL_LINE: usize = 1 << 20;

/// Why a bulk result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonLinesError {
    #[error("the bulk result could not be fetched: {0}")]
    Fetch(String),
    /// Refused for good (a client error other than a timeout or a rate
    /// limit): the result's signed URL has lapsed, or the file is gone.
    #[error("the bulk result is no longer available (HTTP {0})")]
    Gone(u16),
    #[error("line {0} of the bulk result is longer than {MAX_JSONL_LINE} bytes")]
    LineTooLong(u64),
    #[error("line {0} of the bulk result is not a JSON object")]
    NotJson(u64),
}

/// A bulk query's result read as it arrives: one object per line, never
/// more than one chunk and one line held. Lines are numbered from 1.
pub struct JsonLines {
    response: reqwest::Response,
    /// Bytes received and not yet read as lines, from `start`.
    buffer: Vec<u8>,
    start: usize,
    line: u64,
    done: bool,
}

impl JsonLines {
    /// Fetches the result at `url` (it needs no token: the URL is signed).
    pub async fn open(http: &reqwest::Client, url: &str) -> Result<Self, JsonLinesError> {
        let response = http
            .get(url)
            .send()
            .await
            .map_err(|e| JsonLinesError::Fetch(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return Err(JsonLinesError::Gone(status.as_u16()));
        }
        if !status.is_success() {
            return Err(JsonLinesError::Fetch(format!("HTTP {status}")));
        }
        Ok(Self {
            response,
            buffer: Vec::new(),
            start: 0,
            line: 0,
            done: false,
        })
    }

    /// The next object and its line number; None at the end.
    pub async fn next(&mut self) -> Result<Option<(u64, Value)>, JsonLinesError> {
        loop {
            let pending = &self.buffer[self.start..];
            if let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let (from, to) = (self.start, self.start + end);
                self.start = to + 1;
                self.line += 1;
                let text = &self.buffer[from..to];
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return self.parse(&self.buffer[from..to]).map(Some);
            }
            if pending.len() > MAX_JSONL_LINE {
                return Err(JsonLinesError::LineTooLong(self.line + 1));
            }
            if self.done {
                if pending.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                let from = self.start;
                self.start = self.buffer.len();
                self.line += 1;
                return self.parse(&self.buffer[from..]).map(Some);
            }
            // What was read as lines goes before more arrives (one move
            // per chunk, not per line).
            self.buffer.drain(..self.start);
            self.start = 0;
            match self
                .response
                .chunk()
                .await
                .map_err(|e| JsonLinesError::Fetch(e.without_url().to_string()))?
            {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => self.done = true,
            }
        }
    }

    fn parse(&self, text: &[u8]) -> Result<(u64, Value), JsonLinesError> {
        match serde_json::from_slice::<Value>(text) {
            Ok(value) if value.is_object() => Ok((self.line, value)),
            _ => Err(JsonLinesError::NotJson(self.line)),
        }
    }
}

/// The date [`super::HISTORY_ORDERS`] is written with, replaced by
/// [`history_orders_query`].
const HISTORY_ORDERS_SINCE: &str = "processed_at:>=2000-01-01";

/// The bulk query of the orders processed since `since` (a UTC day): the
/// validated document with its date replaced.
pub fn history_orders_query(since: chrono::NaiveDate) -> String {
    debug_assert!(super::HISTORY_ORDERS.text.contains(HISTORY_ORDERS_SINCE));
    super::HISTORY_ORDERS.text.replace(
        HISTORY_ORDERS_SINCE,
        &format!("processed_at:>={}", since.format("%Y-%m-%d")),
    )
}
