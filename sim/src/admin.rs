//! The stand-in's Admin GraphQL endpoint. It recognises Advocate's
//! operations by name, answers with Shopify's shapes (`gid://shopify/...`
//! ids, `userErrors`, `extensions.cost`), keeps what was written, and meters
//! each shop with a leaky bucket. Faults can be injected: a share of 429s,
//! of 500s, and of answers slower than the client waits.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde_json::{json, Value};

use super::oauth::{Shared, SimConfig, State};
use crate::platform;

/// Shares of requests that fail on purpose.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub too_many_requests: f64,
    pub server_error: f64,
    pub slow: f64,
    /// Share of connections dropped before any answer.
    pub dropped: f64,
    /// Share of mutations applied whose answer is then lost (the
    /// connection closes after the work is done).
    pub lost: f64,
    /// How long a slow answer takes.
    pub slow_for: Duration,
}

/// What the stand-in's Admin API holds.
#[derive(Default)]
pub struct AdminState {
    pub faults: Faults,
    /// The first answer of each mutation sent with `@idempotent(key:)`,
    /// per (shop, key): a retry with the key gets it again, undone twice.
    pub(super) idempotent: HashMap<(String, String), Value>,
    pub(super) refused: HashSet<String>,
    buckets: HashMap<String, (f64, Instant)>,
    /// Tags per (shop, customer gid).
    pub tags: HashMap<(String, String), BTreeSet<String>>,
    /// Metafield values per (shop, owner gid, namespace, key).
    pub metafields: HashMap<(String, String, String, String), String>,
    /// Discounts per (shop, code): the input they were created with.
    pub discounts: HashMap<(String, String), Value>,
    /// Automatic app discounts per (shop, id): the input they were created with.
    pub automatic_discounts: HashMap<(String, String), Value>,
    /// Requests answered with THROTTLED.
    pub throttled: u64,
    /// Requests that did work (not throttled, not failed on purpose).
    pub served: u64,
    /// Points spent by served requests.
    pub points: f64,
    /// Staged uploads by key.
    pub(super) staged: HashMap<String, Vec<u8>>,
    /// Bulk operations: id to (status, object count).
    pub bulk_operations: HashMap<String, (String, u64)>,
    /// Each shop's IANA time zone (`Shop.ianaTimezone`); "Etc/UTC" for a
    /// shop not given one.
    pub time_zones: HashMap<String, String>,
    /// Each shop's history, which bulk queries read.
    pub history: HashMap<String, super::history::History>,
    /// Bulk queries by id.
    pub bulk_queries: HashMap<String, BulkQuery>,
    /// Bulk query results by number (served at `/bulk-results/{number}`).
    pub(super) bulk_results: HashMap<String, web::Bytes>,
    /// Results whose signed URL has lapsed (by number): answered as Cloud
    /// Storage answers an expired signed URL.
    pub(super) expired_results: std::collections::HashSet<String>,
    /// Each shop's whole history as bulk results, made when it is set (so
    /// a query answers at once): (customers, their count, orders, the
    /// orders' line count).
    pub(super) history_results: HashMap<String, (web::Bytes, u64, web::Bytes, u64)>,
    /// Flow triggers received: (shop, handle, payload), in order.
    pub flow_triggers: Vec<(String, String, Value)>,
    /// Store credit transactions per (shop, customer gid), oldest first.
    pub store_credit: HashMap<(String, String), Vec<CreditTransaction>>,
    /// Customers whose store credit Shopify refuses (OWNER_NOT_FOUND).
    pub refuse_store_credit: HashSet<String>,
    /// Product variants' prices per (shop, variant gid).
    pub variants: HashMap<(String, String), String>,
    /// Where staged uploads are posted (this stand-in's origin).
    pub(super) origin: String,
    next_id: u64,
}

/// A store credit transaction: a credit, or a debit (Advocate's cashback
/// clawbacks are `ADJUSTMENT`s; a shopper paying with credit is an
/// `ORDER_PAYMENT`).
#[derive(Debug, Clone)]
pub struct CreditTransaction {
    pub id: String,
    /// `StoreCreditAccountCreditTransaction` or
    /// `StoreCreditAccountDebitTransaction`.
    pub kind: &'static str,
    /// The `StoreCreditSystemEvent`.
    pub event: &'static str,
    /// A decimal amount as sent; negative for a debit.
    pub amount: String,
    pub currency: String,
    pub expires_at: Option<String>,
    pub notify: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl AdminState {
    /// Lets the result URL of bulk query `id` lapse, as Shopify's signed
    /// result URLs do; false when there is no such query.
    pub fn expire_result(&mut self, id: &str) -> bool {
        let Some(query) = self.bulk_queries.get(id) else {
            return false;
        };
        self.expired_results.insert(query.number.clone());
        true
    }

    /// The credits of a customer, as (amount, currency) pairs.
    pub fn credits(&self, shop: &str, customer_gid: &str) -> Vec<(String, String)> {
        self.transactions_of(shop, customer_gid, CREDIT, None)
    }

    /// The debits Advocate made (adjustments), as (amount without its
    /// sign, currency) pairs.
    pub fn debits(&self, shop: &str, customer_gid: &str) -> Vec<(String, String)> {
        self.transactions_of(shop, customer_gid, DEBIT, Some("ADJUSTMENT"))
    }

    fn transactions_of(
        &self,
        shop: &str,
        customer_gid: &str,
        kind: &str,
        event: Option<&str>,
    ) -> Vec<(String, String)> {
        self.store_credit
            .get(&(shop.to_owned(), customer_gid.to_owned()))
            .map(|t| {
                t.iter()
                    .filter(|t| t.kind == kind && event.is_none_or(|e| t.event == e))
                    .map(|t| {
                        let amount = t.amount.strip_prefix('-').unwrap_or(&t.amount);
                        (amount.to_owned(), t.currency.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The customer's store credit balance in millionths of the currency.
    pub fn store_credit_balance_micros(&self, shop: &str, customer_gid: &str) -> i128 {
        self.store_credit
            .get(&(shop.to_owned(), customer_gid.to_owned()))
            .map_or(0, |t| t.iter().filter_map(|t| micros(&t.amount)).sum())
    }

    /// The customer pays an order with `amount` of their store credit (a
    /// debit of event `ORDER_PAYMENT`), as checkout would.
    pub fn spend_store_credit(&mut self, shop: &str, customer_gid: &str, amount: &str) {
        let key = (shop.to_owned(), customer_gid.to_owned());
        let currency = self
            .store_credit
            .get(&key)
            .and_then(|t| t.first())
            .map(|t| t.currency.clone())
            .unwrap_or_else(|| "USD".into());
        self.debit(key, "ORDER_PAYMENT", amount, currency);
    }

    /// Records a debit of `amount` (positive, as sent) on the account of
    /// `key` and answers it as a transaction.
    fn debit(
        &mut self,
        key: (String, String),
        event: &'static str,
        amount: &str,
        currency: String,
    ) -> Value {
        let transaction = CreditTransaction {
            id: self.id("StoreCreditAccountDebitTransaction"),
            kind: DEBIT,
            event,
            amount: format!("-{amount}"),
            currency,
            expires_at: None,
            notify: false,
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        let answer = credit_json(&transaction);
        self.store_credit.entry(key).or_default().push(transaction);
        answer
    }

    fn id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("gid://shopify/{kind}/{}", 1_000_000 + self.next_id)
    }
}

fn refused(message: &str) -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({ "errors": message }))
}

pub(super) async fn graphql(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: Shared,
) -> HttpResponse {
    let (config, state) = shared.get_ref();
    let (shop, faults) = match authenticate(&req, state) {
        Ok(found) => found,
        Err(refusal) => return refusal.answer(),
    };
    if let Some(failure) = injected_fault(faults).await {
        return failure;
    }

    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let variables = body.get("variables").cloned().unwrap_or(Value::Null);
    let (kind, name) = operation(query);
    let cost = if kind == "mutation" { 10.0 } else { 1.0 };

    let mut state = state.lock().unwrap();
    let admin = &mut state.admin;
    let left = match meter(admin, config, shop.as_str(), cost) {
        Ok(left) => left,
        Err(available) => {
            return HttpResponse::Ok().json(json!({
                "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }],
                "extensions": { "cost": { "requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": throttle_status(config, available) } }
            }))
        }
    };
    let key = (kind == "mutation")
        .then(|| idempotency_key(query, &variables))
        .flatten()
        .map(|key| (shop.clone(), key));
    let first = key.as_ref().and_then(|k| admin.idempotent.get(k).cloned());
    let data = match first {
        Some(data) => data,
        None => match run(admin, shop.as_str(), &name, &variables) {
            Ok(data) => {
                if let Some(key) = key {
                    admin.idempotent.insert(key, data.clone());
                }
                data
            }
            Err(message) => {
                return HttpResponse::Ok().json(json!({ "errors": [{ "message": message }] }))
            }
        },
    };
    if kind == "mutation" && rand::thread_rng().gen::<f64>() < faults.lost {
        // Done, and the answer lost on the way back.
        return broken_answer();
    }
    HttpResponse::Ok().json(json!({
        "data": data,
        "extensions": { "cost": { "requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": throttle_status(config, left) } }
    }))
}

/// Why a request was refused before any work.
enum Refusal {
    UnknownShop,
    BadToken,
}

impl Refusal {
    fn answer(self) -> HttpResponse {
        match self {
            Refusal::UnknownShop => {
                HttpResponse::BadRequest().json(json!({ "errors": "unknown shop" }))
            }
            Refusal::BadToken => refused(
                "[API] Invalid API key or access token (unrecognized login or wrong password)",
            ),
        }
    }
}

/// The request's shop, if its access token is live, with the faults to
/// inject.
fn authenticate(req: &HttpRequest, state: &Mutex<State>) -> Result<(String, Faults), Refusal> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let Some(shop) = platform::shop_domain(header("X-Shopify-Shop-Domain")) else {
        return Err(Refusal::UnknownShop);
    };
    let state = state.lock().unwrap();
    if !state.is_valid_access_token(shop.as_str(), header("X-Shopify-Access-Token")) {
        return Err(Refusal::BadToken);
    }
    Ok((shop, state.admin.faults))
}

/// One roll against the fault shares: the answer of a request made to fail
/// (a 429, a 500, a dropped connection), or None for a request to serve,
/// after a delay when it falls in the slow share.
async fn injected_fault(faults: Faults) -> Option<HttpResponse> {
    let roll: f64 = rand::thread_rng().gen();
    if roll < faults.too_many_requests {
        return Some(
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "0.2"))
                .json(json!({ "errors": "Exceeded API rate limit" })),
        );
    }
    if roll < faults.too_many_requests + faults.server_error {
        return Some(
            HttpResponse::InternalServerError()
                .insert_header(("X-Request-Id", "sim-500"))
                .json(json!({ "errors": "Internal error" })),
        );
    }
    let dropped = faults.too_many_requests + faults.server_error + faults.dropped;
    if roll < dropped {
        return Some(broken_answer());
    }
    if roll < dropped + faults.slow {
        tokio::time::sleep(faults.slow_for).await;
    }
    None
}

/// A body that fails at once: the server closes the connection without an
/// answer.
fn broken_answer() -> HttpResponse {
    let broken = futures_util::stream::once(async {
        Err::<web::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "dropped",
        ))
    });
    HttpResponse::Ok().streaming(broken)
}

/// Charges `cost` to the shop's leaky bucket: the points left, or, when the
/// bucket holds fewer than `cost`, the points it holds (nothing charged).
fn meter(admin: &mut AdminState, config: &SimConfig, shop: &str, cost: f64) -> Result<f64, f64> {
    let now = Instant::now();
    let (available, at) = admin
        .buckets
        .get(shop)
        .copied()
        .unwrap_or((config.bucket_size, now));
    let restored = now.duration_since(at).as_secs_f64() * config.restore_rate * config.time_scale;
    let available = (available + restored).min(config.bucket_size);
    if available < cost {
        admin.buckets.insert(shop.to_owned(), (available, now));
        admin.throttled += 1;
        return Err(available);
    }
    let left = available - cost;
    admin.buckets.insert(shop.to_owned(), (left, now));
    admin.served += 1;
    admin.points += cost;
    Ok(left)
}

fn throttle_status(config: &SimConfig, left: f64) -> Value {
    json!({
        "maximumAvailable": config.bucket_size,
        "currentlyAvailable": left.floor(),
        "restoreRate": config.restore_rate * config.time_scale,
    })
}

/// `("mutation", "TagsAdd")` from the document's first operation.
fn operation(query: &str) -> (String, String) {
    let mut words = query
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == '(' || c == '{'))
        .filter(|w| !w.is_empty());
    let kind = words.next().unwrap_or_default().to_owned();
    let name = words.next().unwrap_or_default().to_owned();
    (kind, name)
}

/// The key of `@idempotent(key: ...)` on the document's mutation field: a
/// string literal, or a variable's value.
fn idempotency_key(query: &str, variables: &Value) -> Option<String> {
    let at = query.find("@idempotent")?;
    let rest = query[at..].split_once('(')?.1;
    let rest = rest.trim_start().strip_prefix("key")?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    if let Some(literal) = rest.strip_prefix('"') {
        return literal.split_once('"').map(|(k, _)| k.to_owned());
    }
    let name: String = rest
        .strip_prefix('$')?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    variables
        .get(&name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The string at `v[k]`, empty when absent or not a string.
fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Answers the operation `name` for `shop`: its `data`, or the message of a
/// top-level error.
fn run(admin: &mut AdminState, shop: &str, name: &str, vars: &Value) -> Result<Value, String> {
    Ok(match name {
        "TagsAdd" | "TagsRemove" => tags(admin, shop, name, vars)?,
        "MetafieldsSet" => metafields_set(admin, shop, vars),
        "DiscountCodeBasicCreate" | "DiscountCodeFreeShippingCreate" => {
            discount_code_create(admin, shop, name, vars)
        }
        "DiscountAutomaticAppCreate" => discount_automatic_app_create(admin, shop, vars),
        "DiscountAutomaticAppUpdate" => discount_automatic_app_update(admin, shop, vars),
        "StoreCreditAccountCredit" => store_credit_account_credit(admin, shop, vars),
        "StoreCreditAccountDebit" => store_credit_account_debit(admin, shop, vars),
        "StoreCreditTransactions" => store_credit_transactions(admin, shop, vars),
        "ProductVariantPrice" => {
            let id = text(vars, "id");
            let variant = admin
                .variants
                .get(&(shop.to_owned(), id.clone()))
                .map(|price| json!({ "id": id, "price": price }));
            json!({ "productVariant": variant })
        }
        "DiscountByCode" => discount_by_code(admin, shop, vars),
        "FlowTriggerReceive" => flow_trigger_receive(admin, shop, vars),
        "StagedUploadsCreate" => staged_uploads_create(admin),
        "BulkOperationRunMutation" => bulk_operation_run(admin, shop, vars)?,
        "BulkOperationRunQuery" => bulk_operation_run_query(admin, shop, vars),
        "BulkOperationStatus" => bulk_operation_status(admin, vars),
        "WebhookSubscriptionCreate" => webhook_subscription_create(admin, vars),
        "Shop" => shop_details(admin, shop),
        other => return Err(format!("the stand-in does not serve {other}")),
    })
}

// Tags and metafields.

fn tag_error(message: &str) -> Value {
    json!([{ "field": ["tags"], "message": message }])
}

/// `TagsAdd` and `TagsRemove`.
fn tags(admin: &mut AdminState, shop: &str, name: &str, vars: &Value) -> Result<Value, String> {
    let id = text(vars, "id");
    let tags: Vec<String> =
        serde_json::from_value(vars["tags"].clone()).map_err(|e| e.to_string())?;
    let field = if name == "TagsAdd" {
        "tagsAdd"
    } else {
        "tagsRemove"
    };
    if !id.starts_with("gid://shopify/Customer/") {
        return Ok(
            json!({ field: { "node": null, "userErrors": [{ "field": ["id"], "message": "Invalid id" }] } }),
        );
    }
    if tags.iter().any(|t| t.trim().is_empty() || t.len() > 255) {
        return Ok(
            json!({ field: { "node": null, "userErrors": tag_error("Tags must be 1 to 255 characters") } }),
        );
    }
    let entry = admin.tags.entry((shop.to_owned(), id.clone())).or_default();
    for tag in tags {
        if name == "TagsAdd" {
            entry.insert(tag);
        } else {
            entry.remove(&tag);
        }
    }
    Ok(json!({ field: { "node": { "id": id }, "userErrors": [] } }))
}

fn metafields_set(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let list = vars["metafields"].as_array().cloned().unwrap_or_default();
    if list.len() > 25 {
        return json!({ "metafieldsSet": { "metafields": [], "userErrors": [{ "field": ["metafields"], "message": "Exceeded the maximum metafields input limit of 25.", "code": "LESS_THAN_OR_EQUAL_TO" }] } });
    }
    let mut written = Vec::new();
    for m in list {
        let key = (
            shop.to_owned(),
            text(&m, "ownerId"),
            text(&m, "namespace"),
            text(&m, "key"),
        );
        admin.metafields.insert(key.clone(), text(&m, "value"));
        let id = admin.id("Metafield");
        written.push(json!({ "id": id, "namespace": key.2, "key": key.3 }));
    }
    json!({ "metafieldsSet": { "metafields": written, "userErrors": [] } })
}

// Discounts.

/// `DiscountCodeBasicCreate` and `DiscountCodeFreeShippingCreate`.
fn discount_code_create(admin: &mut AdminState, shop: &str, name: &str, vars: &Value) -> Value {
    let field = if name == "DiscountCodeBasicCreate" {
        ("discountCodeBasicCreate", "basicCodeDiscount")
    } else {
        ("discountCodeFreeShippingCreate", "freeShippingCodeDiscount")
    };
    let code = text(&vars["discount"], "code");
    let amount = vars
        .pointer("/discount/customerGets/value/discountAmount/amount")
        .and_then(Value::as_str);
    if amount.is_some_and(|a| a.parse::<f64>().map_or(true, |a| a <= 0.0)) {
        return json!({ field.0: { "codeDiscountNode": null, "userErrors": [{
            "field": [field.1, "customerGets", "value", "discountAmount", "amount"],
            "message": "Value must be greater than 0", "code": "GREATER_THAN"
        }] } });
    }
    let key = (shop.to_owned(), code.to_uppercase());
    if code.is_empty() || admin.discounts.contains_key(&key) {
        return json!({ field.0: { "codeDiscountNode": null, "userErrors": [{
            "field": [field.1, "code"], "message": "Code must be unique. Please try a different code.", "code": "TAKEN"
        }] } });
    }
    let id = admin.id("DiscountCodeNode");
    let mut stored = vars["discount"].clone();
    stored["id"] = json!(id);
    admin.discounts.insert(key, stored);
    json!({ field.0: { "codeDiscountNode": { "id": id }, "userErrors": [] } })
}

fn discount_automatic_app_create(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let input = vars["discount"].clone();
    if text(&input, "functionHandle").is_empty() || text(&input, "title").is_empty() {
        return json!({ "discountAutomaticAppCreate": { "automaticAppDiscount": null, "userErrors": [{
            "field": ["automaticAppDiscount", "functionHandle"], "message": "Function not found.", "code": "INVALID"
        }] } });
    }
    let id = admin.id("DiscountAutomaticNode");
    for m in input["metafields"].as_array().cloned().unwrap_or_default() {
        let key = (
            shop.to_owned(),
            id.clone(),
            text(&m, "namespace"),
            text(&m, "key"),
        );
        admin.metafields.insert(key, text(&m, "value"));
    }
    admin
        .automatic_discounts
        .insert((shop.to_owned(), id.clone()), input);
    json!({ "discountAutomaticAppCreate": { "automaticAppDiscount": { "discountId": id }, "userErrors": [] } })
}

/// Sets the fields the input names on an automatic app discount of the
/// shop (Shopify leaves the others as they are); an unknown id is a user
/// error.
fn discount_automatic_app_update(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let id = text(vars, "id");
    let Some(stored) = admin
        .automatic_discounts
        .get_mut(&(shop.to_owned(), id.clone()))
    else {
        return json!({ "discountAutomaticAppUpdate": { "automaticAppDiscount": null, "userErrors": [{
            "field": ["id"], "message": "Discount does not exist", "code": "INVALID"
        }] } });
    };
    let input = &vars["discount"];
    if let Some(fields) = input.as_object() {
        for (field, value) in fields {
            if field != "metafields" {
                stored[field] = value.clone();
            }
        }
    }
    for m in input["metafields"].as_array().cloned().unwrap_or_default() {
        let key = (
            shop.to_owned(),
            id.clone(),
            text(&m, "namespace"),
            text(&m, "key"),
        );
        admin.metafields.insert(key, text(&m, "value"));
    }
    json!({ "discountAutomaticAppUpdate": { "automaticAppDiscount": { "discountId": id }, "userErrors": [] } })
}

/// Credits a customer's store credit account (`id` a customer GID), with
/// Shopify's checks: a positive amount, an expiry in the future, and an
/// owner Shopify knows (every customer but those in
/// `refuse_store_credit`).
fn store_credit_account_credit(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let customer = text(vars, "id");
    let credit = &vars["credit"];
    let amount = text(&credit["creditAmount"], "amount");
    let currency = text(&credit["creditAmount"], "currencyCode");
    let expires_at = credit["expiresAt"].as_str().map(str::to_owned);
    let refuse = |field: &str, code: &str, message: &str| {
        json!({ "storeCreditAccountCredit": { "storeCreditAccountTransaction": null, "userErrors": [{
            "field": ["creditInput", field], "message": message, "code": code
        }] } })
    };
    let positive = micros(&amount).is_some_and(|a| a > 0);
    if !positive {
        return refuse(
            "creditAmount",
            "NEGATIVE_OR_ZERO_AMOUNT",
            "A positive amount must be used to credit a store credit account",
        );
    }
    let now = chrono::Utc::now();
    if let Some(at) = &expires_at {
        match chrono::DateTime::parse_from_rfc3339(at) {
            Ok(at) if at > now => {}
            _ => {
                return refuse(
                    "expiresAt",
                    "EXPIRES_AT_IN_PAST",
                    "The expiry date must be in the future",
                )
            }
        }
    }
    if !customer.starts_with("gid://shopify/Customer/")
        || admin.refuse_store_credit.contains(&customer)
    {
        return json!({ "storeCreditAccountCredit": { "storeCreditAccountTransaction": null, "userErrors": [{
            "field": ["id"], "message": "Owner does not exist", "code": "OWNER_NOT_FOUND"
        }] } });
    }
    let key = (shop.to_owned(), customer);
    let account_currency = admin
        .store_credit
        .get(&key)
        .and_then(|t| t.first())
        .map(|t| t.currency.clone());
    if account_currency.is_some_and(|c| c != currency) {
        return refuse(
            "creditAmount",
            "MISMATCHING_CURRENCY",
            "The currency provided does not match the currency of the store credit account",
        );
    }
    let transaction = CreditTransaction {
        id: admin.id("StoreCreditAccountCreditTransaction"),
        kind: CREDIT,
        event: "ADJUSTMENT",
        amount,
        currency,
        expires_at,
        notify: credit["notify"].as_bool().unwrap_or(false),
        created_at: now.timestamp_millis(),
    };
    let answer = credit_json(&transaction);
    admin.store_credit.entry(key).or_default().push(transaction);
    json!({ "storeCreditAccountCredit": { "storeCreditAccountTransaction": answer, "userErrors": [] } })
}

const CREDIT: &str = "StoreCreditAccountCreditTransaction";
const DEBIT: &str = "StoreCreditAccountDebitTransaction";

/// Debits a customer's store credit account (`id` a customer GID), with
/// Shopify's checks: a positive amount, an account in that currency, and
/// enough funds (INSUFFICIENT_FUNDS otherwise: Shopify never takes an
/// account below zero).
fn store_credit_account_debit(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let customer = text(vars, "id");
    let debit = &vars["debit"]["debitAmount"];
    let amount = text(debit, "amount");
    let currency = text(debit, "currencyCode");
    let refuse = |field: &str, code: &str, message: &str| {
        json!({ "storeCreditAccountDebit": { "storeCreditAccountTransaction": null, "userErrors": [{
            "field": ["debitInput", field], "message": message, "code": code
        }] } })
    };
    let Some(wanted) = micros(&amount).filter(|a| *a > 0) else {
        return refuse(
            "debitAmount",
            "NEGATIVE_OR_ZERO_AMOUNT",
            "A positive amount must be used to debit a store credit account",
        );
    };
    let key = (shop.to_owned(), customer.clone());
    let Some(account_currency) = admin
        .store_credit
        .get(&key)
        .and_then(|t| t.first())
        .map(|t| t.currency.clone())
    else {
        return json!({ "storeCreditAccountDebit": { "storeCreditAccountTransaction": null, "userErrors": [{
            "field": ["id"], "message": "Store credit account does not exist", "code": "ACCOUNT_NOT_FOUND"
        }] } });
    };
    if account_currency != currency {
        return refuse(
            "debitAmount",
            "MISMATCHING_CURRENCY",
            "The currency provided does not match the currency of the store credit account",
        );
    }
    if admin.store_credit_balance_micros(shop, &customer) < wanted {
        return refuse(
            "debitAmount",
            "INSUFFICIENT_FUNDS",
            "The store credit account does not have sufficient funds to satisfy the request",
        );
    }
    let answer = admin.debit(key, "ADJUSTMENT", &amount, currency);
    json!({ "storeCreditAccountDebit": { "storeCreditAccountTransaction": answer, "userErrors": [] } })
}

/// A decimal amount ("5", "5.00", "-1.5") in millionths; None when it is
/// not one or has more than six decimals.
fn micros(raw: &str) -> Option<i128> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || fraction.len() > 6
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value =
        whole.parse::<i128>().ok()? * 1_000_000 + format!("{fraction:0<6}").parse::<i128>().ok()?;
    Some(if negative { -value } else { value })
}

fn credit_json(t: &CreditTransaction) -> Value {
    let created = chrono::DateTime::from_timestamp_millis(t.created_at)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "__typename": t.kind,
        "id": t.id,
        "amount": { "amount": t.amount, "currencyCode": t.currency },
        "createdAt": created,
        "event": t.event,
    })
}

/// A customer's accounts (one per currency here: credits refuse another)
/// and their latest transactions, newest first, as
/// `StoreCreditTransactions` asks.
fn store_credit_transactions(admin: &AdminState, shop: &str, vars: &Value) -> Value {
    let customer = text(vars, "id");
    let transactions = admin
        .store_credit
        .get(&(shop.to_owned(), customer.clone()))
        .cloned()
        .unwrap_or_default();
    let accounts: Vec<Value> = transactions
        .first()
        .map(|first| {
            let total: i128 = transactions.iter().filter_map(|t| micros(&t.amount)).sum();
            json!({
                "id": format!("gid://shopify/StoreCreditAccount/{}", customer.rsplit('/').next().unwrap_or_default()),
                "balance": { "amount": format!("{}.{:06}", total / 1_000_000, total % 1_000_000), "currencyCode": first.currency },
                "transactions": { "nodes": transactions.iter().rev().take(50).map(credit_json).collect::<Vec<_>>() },
            })
        })
        .into_iter()
        .collect();
    json!({ "customer": { "storeCreditAccounts": { "nodes": accounts } } })
}

fn discount_by_code(admin: &AdminState, shop: &str, vars: &Value) -> Value {
    let key = (shop.to_owned(), text(vars, "code").to_uppercase());
    match admin.discounts.get(&key) {
        None => json!({ "codeDiscountNodeByCode": null }),
        Some(d) => json!({ "codeDiscountNodeByCode": {
            "id": d["id"],
            "codeDiscount": { "__typename": "DiscountCodeBasic", "title": d["title"], "status": "ACTIVE",
                              "usageLimit": d["usageLimit"], "endsAt": d["endsAt"] }
        } }),
    }
}

// Flow.

fn flow_trigger_receive(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let handle = text(vars, "handle");
    let payload = vars["payload"].clone();
    // Flow refuses a handle the app has not deployed and a payload
    // that is not an object of the trigger's fields.
    if handle.is_empty() || !payload.is_object() {
        return json!({ "flowTriggerReceive": { "userErrors": [{
            "field": ["handle"], "message": "Invalid handle or payload"
        }] } });
    }
    admin.flow_triggers.push((shop.to_owned(), handle, payload));
    json!({ "flowTriggerReceive": { "userErrors": [] } })
}

// Staged uploads and bulk operations.

fn staged_uploads_create(admin: &mut AdminState) -> Value {
    let id = admin.id("StagedUpload");
    let number = id.rsplit('/').next().unwrap_or_default().to_owned();
    let key = format!("tmp/{number}/bulk.jsonl");
    json!({ "stagedUploadsCreate": { "stagedTargets": [{
        "url": format!("{}/staged-uploads/{number}", admin.origin),
        "resourceUrl": null,
        "parameters": [{ "name": "key", "value": key }, { "name": "Content-Type", "value": "text/jsonl" }]
    }], "userErrors": [] } })
}

/// Runs the inner mutation once per line of the staged upload, at once.
fn bulk_operation_run(admin: &mut AdminState, shop: &str, vars: &Value) -> Result<Value, String> {
    let path = text(vars, "stagedUploadPath");
    let Some(file) = admin.staged.remove(&path) else {
        return Ok(
            json!({ "bulkOperationRunMutation": { "bulkOperation": null, "userErrors": [{
            "field": ["stagedUploadPath"], "message": "No staged upload at this path", "code": "NO_SUCH_FILE" }] } }),
        );
    };
    let (_, inner) = operation(&text(vars, "mutation"));
    let mut count = 0;
    // Bulk operations run outside the per-call rate limit.
    for line in String::from_utf8_lossy(&file)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let variables: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        run(admin, shop, &inner, &variables)?;
        count += 1;
    }
    let id = admin.id("BulkOperation");
    admin
        .bulk_operations
        .insert(id.clone(), ("COMPLETED".into(), count));
    Ok(
        json!({ "bulkOperationRunMutation": { "bulkOperation": { "id": id, "status": "CREATED" }, "userErrors": [] } }),
    )
}

/// A bulk query: its shop, what it returns, and how many times its
/// status was read (it runs until the first read, as a real one runs for a
/// while).
#[derive(Debug, Clone)]
pub struct BulkQuery {
    pub shop: String,
    pub status: String,
    pub objects: u64,
    pub number: String,
    pub polls: u64,
}

/// Starts a bulk query over the shop's history. As on Shopify, one bulk
/// query runs at a time per shop.
fn bulk_operation_run_query(admin: &mut AdminState, shop: &str, vars: &Value) -> Value {
    let running = admin
        .bulk_queries
        .values()
        .any(|q| q.shop == shop && q.status == "RUNNING");
    if running {
        return json!({ "bulkOperationRunQuery": { "bulkOperation": null, "userErrors": [{
            "field": null, "code": "OPERATION_IN_PROGRESS",
            "message": "A bulk query operation for this app and shop is already in progress"
        }] } });
    }
    let history = admin
        .history
        .get(shop)
        .copied()
        .unwrap_or(super::history::History {
            customers: 0,
            orders: 0,
            now: chrono::Utc::now(),
        });
    let query = text(vars, "query");
    let made =
        admin.history_results.get(shop).and_then(|(c, cn, o, on)| {
            match super::history::what(&query) {
                Some(super::history::Asked::Customers) => Some((c.clone(), *cn)),
                Some(super::history::Asked::Orders(None)) => Some((o.clone(), *on)),
                _ => None,
            }
        });
    let Some((jsonl, objects)) = made.or_else(|| {
        super::history::bulk_result(&history, &query).map(|(j, n)| (web::Bytes::from(j), n))
    }) else {
        return json!({ "bulkOperationRunQuery": { "bulkOperation": null, "userErrors": [{
            "field": ["query"], "code": "INVALID",
            "message": "The stand-in answers bulk queries of customers or orders"
        }] } });
    };
    let id = admin.id("BulkOperation");
    let number = id.rsplit('/').next().unwrap_or_default().to_owned();
    admin.bulk_results.insert(number.clone(), jsonl);
    admin.bulk_queries.insert(
        id.clone(),
        BulkQuery {
            shop: shop.to_owned(),
            status: "RUNNING".into(),
            objects,
            number,
            polls: 0,
        },
    );
    json!({ "bulkOperationRunQuery": { "bulkOperation": { "id": id, "status": "CREATED" }, "userErrors": [] } })
}

fn bulk_operation_status(admin: &mut AdminState, vars: &Value) -> Value {
    let id = text(vars, "id");
    let origin = admin.origin.clone();
    if let Some(query) = admin.bulk_queries.get_mut(&id) {
        query.polls += 1;
        let running = query.polls == 1;
        if !running {
            query.status = "COMPLETED".into();
        }
        return json!({ "node": {
            "id": id,
            "status": if running { "RUNNING" } else { "COMPLETED" },
            "errorCode": null,
            "objectCount": if running { (query.objects / 2).to_string() } else { query.objects.to_string() },
            "url": (!running).then(|| format!("{origin}/bulk-results/{}.jsonl", query.number)),
            "completedAt": (!running).then(|| chrono::Utc::now().to_rfc3339()),
        } });
    }
    match admin.bulk_operations.get(&id) {
        None => json!({ "node": null }),
        Some((status, count)) => json!({ "node": {
            "id": id, "status": status, "errorCode": null, "objectCount": count.to_string(),
            "url": null, "completedAt": "2026-11-24T00:00:00Z"
        } }),
    }
}

// Webhook subscriptions and the shop.

fn webhook_subscription_create(admin: &mut AdminState, vars: &Value) -> Value {
    let id = admin.id("WebhookSubscription");
    json!({ "webhookSubscriptionCreate": {
        "webhookSubscription": { "id": id, "topic": vars["topic"] }, "userErrors": []
    } })
}

fn shop_details(admin: &AdminState, shop: &str) -> Value {
    let zone = admin.time_zones.get(shop).map_or("Etc/UTC", String::as_str);
    json!({ "shop": {
        "name": shop.trim_end_matches(".myshopify.com"), "currencyCode": "USD", "ianaTimezone": zone,
        "plan": { "shopifyPlus": false, "partnerDevelopment": false }
    } })
}

/// A bulk query's result file, as Shopify serves it from the operation's
/// `url` (no token: the URL is the secret).
pub(super) async fn bulk_result(path: web::Path<String>, shared: Shared) -> HttpResponse {
    let (_, state) = shared.get_ref();
    let number = path.into_inner();
    let number = number.trim_end_matches(".jsonl");
    let state = state.lock().unwrap();
    if state.admin.expired_results.contains(number) {
        return HttpResponse::BadRequest()
            .content_type("application/xml; charset=UTF-8")
            .body("<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>Invalid argument.</Message></Error>");
    }
    match state.admin.bulk_results.get(number) {
        Some(file) => HttpResponse::Ok()
            .content_type("application/jsonl")
            .body(file.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

/// Receives a staged upload (multipart form, the file in the `file` part).
pub(super) async fn staged_upload(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    shared: Shared,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return HttpResponse::BadRequest().finish();
    };
    let mut key = None;
    let mut file = None;
    let delimiter = format!("--{boundary}");
    let text = body.as_ref();
    for part in split(text, delimiter.as_bytes()) {
        let Some(split_at) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let (head, content) = (&part[..split_at], &part[split_at + 4..]);
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let head = String::from_utf8_lossy(head);
        if head.contains("name=\"key\"") {
            key = Some(String::from_utf8_lossy(content).into_owned());
        } else if head.contains("name=\"file\"") {
            file = Some(content.to_vec());
        }
    }
    match (key, file) {
        (Some(key), Some(file)) if key.starts_with(&format!("tmp/{}/", path.into_inner())) => {
            shared
                .get_ref()
                .1
                .lock()
                .unwrap()
                .admin
                .staged
                .insert(key, file);
            HttpResponse::Created().finish()
        }
        _ => HttpResponse::BadRequest().finish(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut text: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(text, delimiter) {
        parts.push(&text[..at]);
        text = &text[at + delimiter.len()..];
    }
    parts.push(text);
    parts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::idempotency_key;

    #[test]
    fn the_idempotency_key_is_read_from_a_literal_or_a_variable() {
        let literal = r#"mutation M { storeCreditAccountCredit(id: "x", creditInput: {}) @idempotent(key: "k-1") { x } }"#;
        assert_eq!(idempotency_key(literal, &json!({})).as_deref(), Some("k-1"));
        let variable =
            "mutation M($key: String!) { refundCreate(input: {}) @idempotent(key: $key) { x } }";
        assert_eq!(
            idempotency_key(variable, &json!({ "key": "k-2" })).as_deref(),
            Some("k-2")
        );
        assert_eq!(idempotency_key("mutation M { x }", &json!({})), None);
    }
}
