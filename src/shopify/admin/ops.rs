//! Typed variables and responses of the documents in `documents/`. Field
//! names follow the GraphQL schema (camelCase on the wire).

use serde::{Deserialize, Serialize};

use super::client::{ShopifyError, UserError};

/// The `userErrors` every mutation payload carries.
#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(rename = "userErrors", default)]
    pub user_errors: Vec<UserError>,
}

impl Payload {
    pub fn into_result(self) -> Result<(), ShopifyError> {
        if self.user_errors.is_empty() {
            Ok(())
        } else {
            Err(ShopifyError::UserErrors(self.user_errors))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct IdNode {
    pub id: String,
}

/// `TagsAdd` and `TagsRemove`.
#[derive(Debug, Serialize)]
pub struct TagsVariables<'a> {
    pub id: &'a str,
    pub tags: &'a [String],
}

#[derive(Debug, Deserialize)]
pub struct TagsAddData {
    #[serde(rename = "tagsAdd")]
    pub payload: Payload,
}

#[derive(Debug, Deserialize)]
pub struct TagsRemoveData {
    #[serde(rename = "tagsRemove")]
    pub payload: Payload,
}

/// `MetafieldsSet` (at most 25 per call).
#[derive(Debug, Serialize)]
pub struct MetafieldsSetVariables<'a> {
    pub metafields: Vec<MetafieldInput<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldInput<'a> {
    pub owner_id: &'a str,
    pub namespace: &'a str,
    pub key: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub value: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct MetafieldsSetData {
    #[serde(rename = "metafieldsSet")]
    pub payload: Payload,
}

/// `DiscountCodeBasicCreate` and `DiscountCodeFreeShippingCreate`: the
/// input is built by the effect (`DiscountCode*Input`).
#[derive(Debug, Serialize)]
pub struct DiscountVariables {
    pub discount: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct DiscountCreatePayload {
    #[serde(rename = "codeDiscountNode")]
    pub node: Option<IdNode>,
    #[serde(rename = "userErrors", default)]
    pub user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
pub struct DiscountCodeBasicCreateData {
    #[serde(rename = "discountCodeBasicCreate")]
    pub payload: DiscountCreatePayload,
}

#[derive(Debug, Deserialize)]
pub struct DiscountCodeFreeShippingCreateData {
    #[serde(rename = "discountCodeFreeShippingCreate")]
    pub payload: DiscountCreatePayload,
}

/// `DiscountByCode`.
#[derive(Debug, Serialize)]
pub struct CodeVariables<'a> {
    pub code: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct DiscountByCodeData {
    #[serde(rename = "codeDiscountNodeByCode")]
    pub node: Option<IdNode>,
}

/// `BulkOperationStatus`.
#[derive(Debug, Serialize)]
pub struct IdVariables<'a> {
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct BulkOperationStatusData {
    pub node: Option<BulkOperation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    pub id: String,
    pub status: String,
    pub object_count: Option<String>,
    /// Where a completed query's result is (JSONL).
    pub url: Option<String>,
    pub error_code: Option<String>,
}

/// `DiscountAutomaticAppCreate`: the input is built by the effect.
#[derive(Debug, Deserialize)]
pub struct DiscountAutomaticAppCreateData {
    #[serde(rename = "discountAutomaticAppCreate")]
    pub payload: AutomaticAppPayload,
}

/// `DiscountAutomaticAppUpdate`.
#[derive(Debug, Deserialize)]
pub struct DiscountAutomaticAppUpdateData {
    #[serde(rename = "discountAutomaticAppUpdate")]
    pub payload: AutomaticAppPayload,
}

/// The variables of `DiscountAutomaticAppUpdate`.
#[derive(Debug, Serialize)]
pub struct DiscountUpdateVariables<'a> {
    pub id: &'a str,
    pub discount: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct AutomaticAppPayload {
    #[serde(rename = "automaticAppDiscount")]
    pub discount: Option<AutomaticAppDiscount>,
    #[serde(rename = "userErrors", default)]
    pub user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
pub struct AutomaticAppDiscount {
    #[serde(rename = "discountId")]
    pub discount_id: String,
}

/// `FlowTriggerReceive`: starts the merchant's workflows that begin with
/// the trigger `handle` (an `extensions/flow-*` extension of this app).
#[derive(Debug, Serialize)]
pub struct FlowTriggerVariables<'a> {
    pub handle: &'a str,
    pub payload: &'a serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct FlowTriggerReceiveData {
    #[serde(rename = "flowTriggerReceive")]
    pub payload: Payload,
}

/// `StoreCreditAccountCredit`: `id` the customer's GID, `credit` the
/// `StoreCreditAccountCreditInput`.
#[derive(Debug, Serialize)]
pub struct StoreCreditVariables<'a> {
    pub id: &'a str,
    pub credit: serde_json::Value,
}

/// `StoreCreditAccountDebit`: `id` the customer's GID, `debit` the
/// `StoreCreditAccountDebitInput`.
#[derive(Debug, Serialize)]
pub struct StoreCreditDebitVariables<'a> {
    pub id: &'a str,
    pub debit: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct StoreCreditAccountDebitData {
    #[serde(rename = "storeCreditAccountDebit")]
    pub payload: StoreCreditPayload,
}

#[derive(Debug, Deserialize)]
pub struct StoreCreditAccountCreditData {
    #[serde(rename = "storeCreditAccountCredit")]
    pub payload: StoreCreditPayload,
}

#[derive(Debug, Deserialize)]
pub struct StoreCreditPayload {
    #[serde(rename = "storeCreditAccountTransaction")]
    pub transaction: Option<CreditTransaction>,
    #[serde(rename = "userErrors", default)]
    pub user_errors: Vec<UserError>,
}

/// A store credit transaction: `id` is asked for on credits and debits
/// only; `kind` (`__typename`) and `event` only in the transactions query.
#[derive(Debug, Deserialize)]
pub struct CreditTransaction {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "__typename", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    pub amount: MoneyV2,
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

impl CreditTransaction {
    pub const CREDIT: &'static str = "StoreCreditAccountCreditTransaction";
    pub const DEBIT: &'static str = "StoreCreditAccountDebitTransaction";

    /// Whether this is a transaction of that type.
    pub fn is(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }
}

#[derive(Debug, Deserialize)]
pub struct MoneyV2 {
    pub amount: String,
    #[serde(rename = "currencyCode")]
    pub currency_code: String,
}

/// `StoreCreditTransactions` (its variables: [`IdVariables`]).
#[derive(Debug, Deserialize)]
pub struct StoreCreditTransactionsData {
    pub customer: Option<CustomerStoreCredit>,
}

#[derive(Debug, Deserialize)]
pub struct CustomerStoreCredit {
    #[serde(rename = "storeCreditAccounts")]
    pub accounts: Nodes<StoreCreditAccount>,
}

#[derive(Debug, Deserialize)]
pub struct StoreCreditAccount {
    #[serde(default)]
    pub balance: Option<MoneyV2>,
    pub transactions: Nodes<CreditTransaction>,
}

#[derive(Debug, Deserialize)]
pub struct Nodes<T> {
    pub nodes: Vec<T>,
}

/// `ProductVariantPrice` (its variables: [`IdVariables`]).
#[derive(Debug, Deserialize)]
pub struct ProductVariantPriceData {
    #[serde(rename = "productVariant")]
    pub variant: Option<VariantPrice>,
}

#[derive(Debug, Deserialize)]
pub struct VariantPrice {
    /// A decimal amount in the shop's currency.
    pub price: String,
}

/// `Shop` (no variables): what Advocate keeps of the shop itself.
#[derive(Debug, Deserialize)]
pub struct ShopData {
    pub shop: ShopProfile,
}

#[derive(Debug, Deserialize)]
pub struct ShopProfile {
    #[serde(rename = "ianaTimezone")]
    pub iana_timezone: String,
    #[serde(rename = "currencyCode")]
    pub currency_code: String,
}
