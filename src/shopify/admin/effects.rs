//! How the engine's effects ([`crate::engine::effects`]) become Admin API
//! calls. The outbox sender (`crate::jobs::outbox`) performs each effect
//! through [`Effect::perform`].

use serde_json::{json, Value};

use super::{
    api::{AdminApi, AdminApiError},
    client::ShopifyError,
    ops, Document,
};
use crate::{
    engine::effects::{DiscountValue, Effect, Metafield},
    loyalty::money,
    shopify::ShopDomain,
};

/// The Function (`extensions/vip-perks`) and where its configuration lives.
pub const VIP_PERKS_FUNCTION: &str = "vip-perks";
pub const VIP_PERKS_TITLE: &str = "VIP perks";
pub const VIP_PERKS_NAMESPACE: &str = "$app:vip-perks";
pub const VIP_PERKS_KEY: &str = "function-configuration";

/// Where a store credit an earlier try may have made is looked for: the
/// customer's credits of the same amount and currency made since `since`
/// (epoch milliseconds), except those earlier credits of the customer
/// already account for (`known`, transaction GIDs).
#[derive(Debug, Clone, Default)]
pub struct CreditLookup {
    pub since: i64,
    pub known: Vec<String>,
}

/// How far Shopify's clock may be behind ours when a transaction's
/// `createdAt` is compared with when we first tried.
pub const CLOCK_SKEW_MS: i64 = 2_000;

impl Effect {
    /// Performs the effect; returns what Shopify made (ids) to record.
    pub async fn perform(&self, api: &AdminApi, shop: &ShopDomain) -> Result<Value, AdminApiError> {
        match self {
            Effect::CreateDiscountCode { code, .. } => {
                self.create_discount_code(api, shop, code).await
            }
            Effect::AddTags { customer_gid, tags } => {
                tag(api, shop, super::TAGS_ADD, customer_gid, tags).await
            }
            Effect::RemoveTags { customer_gid, tags } => {
                tag(api, shop, super::TAGS_REMOVE, customer_gid, tags).await
            }
            Effect::TagMany {
                customer_gids,
                tags,
                remove,
            } => tag_many(api, shop, customer_gids, tags, *remove).await,
            Effect::SyncVipPerks {
                configuration,
                discount_id: Some(id),
            } => update_vip_perks(api, shop, id, configuration).await,
            Effect::SyncVipPerks {
                configuration,
                discount_id: None,
            } => create_vip_perks(api, shop, configuration).await,
            // The outbox sender passes a lookup from the second try on.
            Effect::CreditStoreCredit { .. } => self.credit_store_credit(api, shop, None).await,
            Effect::DebitStoreCredit { .. } => self.debit_store_credit(api, shop, None).await,
            Effect::FlowTrigger { handle, payload } => {
                let data: ops::FlowTriggerReceiveData = api
                    .call(
                        shop,
                        super::FLOW_TRIGGER_RECEIVE,
                        ops::FlowTriggerVariables { handle, payload },
                    )
                    .await?;
                data.payload.into_result()?;
                Ok(json!({ "flow_trigger": handle }))
            }
            Effect::SetMetafields { metafields } if metafields.len() >= api.bulk_threshold => {
                set_metafields_in_bulk(api, shop, metafields).await
            }
            Effect::SetMetafields { metafields } => set_metafields(api, shop, metafields).await,
            Effect::ReadShop => {
                let data: ops::ShopData = api.call(shop, super::SHOP, json!({})).await?;
                Ok(json!({
                    "iana_timezone": data.shop.iana_timezone,
                    "currency": data.shop.currency_code,
                }))
            }
        }
    }

    /// Creates the code; a code an earlier attempt created (its answer
    /// lost) is found and reported instead of failing.
    async fn create_discount_code(
        &self,
        api: &AdminApi,
        shop: &ShopDomain,
        code: &str,
    ) -> Result<Value, AdminApiError> {
        let variant_price = match self {
            Effect::CreateDiscountCode {
                value: DiscountValue::FreeProduct { variant_gid },
                ..
            } => Some(variant_price(api, shop, variant_gid).await?),
            _ => None,
        };
        let (free_shipping, input) = self.discount_input(variant_price.as_deref());
        let variables = ops::DiscountVariables { discount: input };
        let payload = if free_shipping {
            api.call::<ops::DiscountCodeFreeShippingCreateData>(
                shop,
                super::DISCOUNT_CODE_FREE_SHIPPING_CREATE,
                variables,
            )
            .await?
            .payload
        } else {
            api.call::<ops::DiscountCodeBasicCreateData>(
                shop,
                super::DISCOUNT_CODE_BASIC_CREATE,
                variables,
            )
            .await?
            .payload
        };
        if let Some(node) = payload.node.filter(|_| payload.user_errors.is_empty()) {
            return Ok(json!({ "discount_id": node.id }));
        }
        let errors = payload.user_errors;
        if !errors.iter().any(|e| e.code.as_deref() == Some("TAKEN")) {
            return Err(ShopifyError::UserErrors(errors).into());
        }
        // Created by an earlier attempt whose answer was lost.
        let found: ops::DiscountByCodeData = api
            .call(shop, super::DISCOUNT_BY_CODE, ops::CodeVariables { code })
            .await?;
        match found.node {
            Some(node) => Ok(json!({ "discount_id": node.id, "found_existing": true })),
            None => Err(ShopifyError::UserErrors(errors).into()),
        }
    }

    /// Credits the customer's store credit account, unless `lookup` finds
    /// the credit an earlier try made (its answer lost). Shopify's answer
    /// (or the one found) names the transaction, recorded as
    /// `transaction_id` so that a later credit of the same amount never
    /// takes it for its own.
    pub async fn credit_store_credit(
        &self,
        api: &AdminApi,
        shop: &ShopDomain,
        lookup: Option<&CreditLookup>,
    ) -> Result<Value, AdminApiError> {
        let Effect::CreditStoreCredit {
            customer_gid,
            amount,
            currency,
            expires_at,
            notify,
            ..
        } = self
        else {
            return Ok(Value::Null);
        };
        if let Some(lookup) = lookup {
            let accounts = store_credit_accounts(api, shop, customer_gid).await?;
            if let Some(id) = find_credit(&accounts, amount, currency, lookup) {
                return Ok(json!({ "transaction_id": id, "found_existing": true }));
            }
        }
        let mut credit = json!({
            "creditAmount": { "amount": amount, "currencyCode": currency },
            "notify": notify,
        });
        if let Some(expires_at) = expires_at {
            credit["expiresAt"] = json!(expires_at);
        }
        let data: ops::StoreCreditAccountCreditData = api
            .call(
                shop,
                super::STORE_CREDIT_ACCOUNT_CREDIT,
                ops::StoreCreditVariables {
                    id: customer_gid,
                    credit,
                },
            )
            .await?;
        let payload = data.payload;
        match payload
            .transaction
            .filter(|_| payload.user_errors.is_empty())
        {
            Some(t) => Ok(json!({ "transaction_id": t.id, "amount": t.amount.amount })),
            None => Err(ShopifyError::UserErrors(payload.user_errors).into()),
        }
    }

    /// Takes back cashback: debits the customer's store credit account by
    /// the amount, or by what its balance holds when that is less (never
    /// below zero), unless `lookup` finds the debit an earlier try made
    /// (its answer lost). The outcome records `debited`, `unrecovered`
    /// (what the balance could not cover: not taken back, never retried)
    /// and the debit's `transaction_id` when one was made.
    pub async fn debit_store_credit(
        &self,
        api: &AdminApi,
        shop: &ShopDomain,
        lookup: Option<&CreditLookup>,
    ) -> Result<Value, AdminApiError> {
        let Effect::DebitStoreCredit {
            customer_gid,
            amount,
            currency,
        } = self
        else {
            return Ok(Value::Null);
        };
        let exponent = money::exponent(currency);
        let owed = money::parse_minor(amount, exponent)
            .filter(|a| *a > 0)
            .unwrap_or(0);
        let outcome = |id: Option<&str>, debited: i64, found: bool| {
            let mut result = json!({
                "debited": money::format_minor(debited, exponent),
                "unrecovered": money::format_minor(owed.saturating_sub(debited), exponent),
                "currency": currency,
            });
            if let Some(id) = id {
                result["transaction_id"] = json!(id);
            }
            if found {
                result["found_existing"] = json!(true);
            }
            result
        };
        // A debit refused for want of funds means the customer spent
        // meanwhile: read the balance again, a few times.
        for _ in 0..3 {
            let accounts = store_credit_accounts(api, shop, customer_gid).await?;
            if let Some(lookup) = lookup {
                if let Some((id, debited)) = find_debit(&accounts, currency, owed, lookup) {
                    return Ok(outcome(Some(&id), debited, true));
                }
            }
            let balance = accounts
                .iter()
                .filter_map(|a| a.balance.as_ref())
                .filter(|b| b.currency_code.eq_ignore_ascii_case(currency))
                .filter_map(|b| money::parse_minor(&b.amount, exponent))
                .fold(0_i64, i64::saturating_add);
            let debit = owed.min(balance.max(0));
            if debit == 0 {
                return Ok(outcome(None, 0, false));
            }
            let data: ops::StoreCreditAccountDebitData = api
                .call(
                    shop,
                    super::STORE_CREDIT_ACCOUNT_DEBIT,
                    ops::StoreCreditDebitVariables {
                        id: customer_gid,
                        debit: json!({ "debitAmount": {
                            "amount": money::format_minor(debit, exponent),
                            "currencyCode": currency,
                        } }),
                    },
                )
                .await?;
            let payload = data.payload;
            if let Some(t) = payload
                .transaction
                .filter(|_| payload.user_errors.is_empty())
            {
                return Ok(outcome(t.id.as_deref(), debit, false));
            }
            let short = payload
                .user_errors
                .iter()
                .any(|e| e.code.as_deref() == Some("INSUFFICIENT_FUNDS"));
            if !short {
                return Err(ShopifyError::UserErrors(payload.user_errors).into());
            }
        }
        Err(
            ShopifyError::Network("the store credit balance kept moving during a debit".into())
                .into(),
        )
    }

    /// (free shipping?, the `DiscountCode*Input`); `variant_price` is a
    /// free product's price.
    fn discount_input(&self, variant_price: Option<&str>) -> (bool, Value) {
        let Effect::CreateDiscountCode {
            code,
            title,
            customer_gid,
            value,
            minimum_subtotal,
            ends_at,
            ..
        } = self
        else {
            return (false, Value::Null);
        };
        let mut input = json!({
            "title": title,
            "code": code,
            "usageLimit": 1,
            "appliesOncePerCustomer": true,
            "context": match customer_gid {
                Some(gid) => json!({ "customers": { "add": [gid] } }),
                None => json!({ "all": "ALL" }),
            },
        });
        if let Some(minimum) = minimum_subtotal {
            input["minimumRequirement"] =
                json!({ "subtotal": { "greaterThanOrEqualToSubtotal": minimum } });
        }
        if let Some(ends_at) = ends_at {
            input["endsAt"] = json!(ends_at);
        }
        match value {
            DiscountValue::FreeShipping => {
                input["destination"] = json!({ "all": true });
                (true, input)
            }
            DiscountValue::Amount { amount } => {
                input["customerGets"] = json!({ "value": { "discountAmount": { "amount": amount, "appliesOnEachItem": false } }, "items": { "all": true } });
                (false, input)
            }
            DiscountValue::FreeProduct { variant_gid } => {
                // The variant's price off that variant, once however many
                // are in the cart: one unit free.
                input["customerGets"] = json!({
                    "value": { "discountAmount": { "amount": variant_price, "appliesOnEachItem": false } },
                    "items": { "products": { "productVariantsToAdd": [variant_gid] } },
                });
                (false, input)
            }
            DiscountValue::Percentage { fraction } => {
                // GraphQL Float; the fraction is a short decimal, exact in text.
                let percentage: Value = serde_json::from_str(fraction).unwrap_or(Value::Null);
                input["customerGets"] =
                    json!({ "value": { "percentage": percentage }, "items": { "all": true } });
                (false, input)
            }
        }
    }
}

/// The same tags on many customers: one call each below the bulk
/// threshold, one bulk operation at or above it.
async fn tag_many(
    api: &AdminApi,
    shop: &ShopDomain,
    customer_gids: &[String],
    tags: &[String],
    remove: bool,
) -> Result<Value, AdminApiError> {
    let document = if remove {
        super::TAGS_REMOVE
    } else {
        super::TAGS_ADD
    };
    if customer_gids.len() < api.bulk_threshold {
        for gid in customer_gids {
            tag(api, shop, document, gid, tags).await?;
        }
        return Ok(json!({ "customers": customer_gids.len() }));
    }
    let variables: Vec<Value> = customer_gids
        .iter()
        .map(|gid| json!({ "id": gid, "tags": tags }))
        .collect();
    let id = run_bulk(api, shop, document, &variables).await?;
    Ok(json!({ "bulk_operation": id, "customers": customer_gids.len() }))
}

/// The discount classes the VIP perks discount needs for `configuration`:
/// ORDER always, and SHIPPING while a tier has a shipping perk (Shopify runs
/// the Function's delivery target only for a discount with that class).
pub fn vip_perk_classes(configuration: &str) -> Vec<&'static str> {
    let shipping = serde_json::from_str::<Value>(configuration)
        .ok()
        .and_then(|c| {
            c.get("shipping")
                .and_then(Value::as_object)
                .map(|table| table.values().any(|p| p.as_f64().is_some_and(|p| p > 0.0)))
        })
        .unwrap_or(false);
    if shipping {
        vec!["ORDER", "SHIPPING"]
    } else {
        vec!["ORDER"]
    }
}

/// New perks on the automatic discount created before: its classes (a
/// shipping perk added or removed), then its metafield. Both are set to
/// the same values again on a retry.
async fn update_vip_perks(
    api: &AdminApi,
    shop: &ShopDomain,
    discount_id: &str,
    configuration: &str,
) -> Result<Value, AdminApiError> {
    let classes = vip_perk_classes(configuration);
    let data: ops::DiscountAutomaticAppUpdateData = api
        .call(
            shop,
            super::DISCOUNT_AUTOMATIC_APP_UPDATE,
            ops::DiscountUpdateVariables {
                id: discount_id,
                discount: json!({ "discountClasses": classes }),
            },
        )
        .await?;
    if !data.payload.user_errors.is_empty() {
        return Err(ShopifyError::UserErrors(data.payload.user_errors).into());
    }
    let variables = ops::MetafieldsSetVariables {
        metafields: vec![ops::MetafieldInput {
            owner_id: discount_id,
            namespace: VIP_PERKS_NAMESPACE,
            key: VIP_PERKS_KEY,
            kind: "json",
            value: configuration,
        }],
    };
    let data: ops::MetafieldsSetData = api.call(shop, super::METAFIELDS_SET, variables).await?;
    data.payload.into_result()?;
    Ok(json!({ "discount_id": discount_id, "updated": true, "classes": classes }))
}

/// The first perks of a shop: the automatic app discount that runs the VIP
/// perks Function, with its configuration.
async fn create_vip_perks(
    api: &AdminApi,
    shop: &ShopDomain,
    configuration: &str,
) -> Result<Value, AdminApiError> {
    let input = json!({
        "title": VIP_PERKS_TITLE,
        "functionHandle": VIP_PERKS_FUNCTION,
        "discountClasses": vip_perk_classes(configuration),
        "startsAt": "2020-01-01T00:00:00Z",
        "combinesWith": { "orderDiscounts": false, "productDiscounts": true, "shippingDiscounts": true },
        "metafields": [{
            "namespace": VIP_PERKS_NAMESPACE,
            "key": VIP_PERKS_KEY,
            "type": "json",
            "value": configuration,
        }],
    });
    let data: ops::DiscountAutomaticAppCreateData = api
        .call(
            shop,
            super::DISCOUNT_AUTOMATIC_APP_CREATE,
            ops::DiscountVariables { discount: input },
        )
        .await?;
    match data
        .payload
        .discount
        .filter(|_| data.payload.user_errors.is_empty())
    {
        Some(d) => Ok(json!({ "discount_id": d.discount_id, "created": true })),
        None => Err(ShopifyError::UserErrors(data.payload.user_errors).into()),
    }
}

/// A re-sync: 25 per line (metafieldsSet's limit), as one bulk operation
/// outside the per-call rate limit.
async fn set_metafields_in_bulk(
    api: &AdminApi,
    shop: &ShopDomain,
    metafields: &[Metafield],
) -> Result<Value, AdminApiError> {
    let variables: Vec<Value> = metafields
        .chunks(25)
        .map(|chunk| json!({ "metafields": chunk.iter().map(metafield_input).collect::<Vec<_>>() }))
        .collect();
    let id = run_bulk(api, shop, super::METAFIELDS_SET, &variables).await?;
    Ok(json!({ "bulk_operation": id, "metafields": metafields.len() }))
}

/// A few metafields: 25 per call.
async fn set_metafields(
    api: &AdminApi,
    shop: &ShopDomain,
    metafields: &[Metafield],
) -> Result<Value, AdminApiError> {
    let mut written = 0;
    for chunk in metafields.chunks(25) {
        let variables = ops::MetafieldsSetVariables {
            metafields: chunk.iter().map(metafield_input).collect(),
        };
        let data: ops::MetafieldsSetData = api.call(shop, super::METAFIELDS_SET, variables).await?;
        data.payload.into_result()?;
        written += chunk.len();
    }
    Ok(json!({ "metafields": written }))
}

async fn tag(
    api: &AdminApi,
    shop: &ShopDomain,
    document: Document,
    customer_gid: &str,
    tags: &[String],
) -> Result<Value, AdminApiError> {
    let variables = ops::TagsVariables {
        id: customer_gid,
        tags,
    };
    let payload = if document.name == super::TAGS_REMOVE.name {
        api.call::<ops::TagsRemoveData>(shop, document, variables)
            .await?
            .payload
    } else {
        api.call::<ops::TagsAddData>(shop, document, variables)
            .await?
            .payload
    };
    payload.into_result()?;
    Ok(json!({ "tags": tags.len() }))
}

/// Runs `document` once per line of `variables` as a bulk operation;
/// answers its id once it completed, an error when it ended otherwise.
async fn run_bulk(
    api: &AdminApi,
    shop: &ShopDomain,
    document: Document,
    variables: &[Value],
) -> Result<String, AdminApiError> {
    let result = super::bulk::run_bulk_mutation(
        api,
        &api.uploads,
        shop,
        document,
        variables,
        std::time::Duration::from_secs(2),
    )
    .await?;
    if result.status != "COMPLETED" {
        return Err(ShopifyError::GraphQl(vec![format!(
            "bulk operation {} ended {}",
            result.id, result.status
        )])
        .into());
    }
    Ok(result.id)
}

/// A metafield as `metafieldsSet` takes it.
fn metafield_input(m: &Metafield) -> ops::MetafieldInput<'_> {
    ops::MetafieldInput {
        owner_id: &m.owner_id,
        namespace: &m.namespace,
        key: &m.key,
        kind: &m.kind,
        value: &m.value,
    }
}

/// The price of a free product's variant; a variant Shopify no longer has
/// is a refusal for good (the points come back).
async fn variant_price(
    api: &AdminApi,
    shop: &ShopDomain,
    variant_gid: &str,
) -> Result<String, AdminApiError> {
    let data: ops::ProductVariantPriceData = api
        .call(
            shop,
            super::PRODUCT_VARIANT_PRICE,
            ops::IdVariables { id: variant_gid },
        )
        .await?;
    data.variant.map(|v| v.price).ok_or_else(|| {
        ShopifyError::UserErrors(vec![super::client::UserError {
            field: None,
            message: "the reward's product variant no longer exists".into(),
            code: Some("VARIANT_NOT_FOUND".into()),
        }])
        .into()
    })
}

/// The debit an earlier try of a cashback debit made, if any: the oldest
/// adjustment debit in `currency` since `lookup.since`, not in
/// `lookup.known`, of at most `owed` (that try debited what the balance
/// held then). Answers its id and amount (minor units). Debit amounts are
/// compared by size, whatever sign Shopify gives them.
fn find_debit(
    accounts: &[ops::StoreCreditAccount],
    currency: &str,
    owed: i64,
    lookup: &CreditLookup,
) -> Option<(String, i64)> {
    let exponent = money::exponent(currency);
    let since = lookup.since - CLOCK_SKEW_MS;
    let mut found: Option<(i64, String, i64)> = None;
    for t in accounts.iter().flat_map(|a| &a.transactions.nodes) {
        let Some(id) = t.id.as_ref() else { continue };
        let at = created_ms(&t.created_at);
        let Some(size) = money::parse_minor(&t.amount.amount, exponent).map(i64::abs) else {
            continue;
        };
        if t.is(ops::CreditTransaction::DEBIT)
            && t.event.as_deref() == Some("ADJUSTMENT")
            && t.amount.currency_code.eq_ignore_ascii_case(currency)
            && (1..=owed).contains(&size)
            && at >= since
            && !lookup.known.contains(id)
            && found.as_ref().is_none_or(|(first, ..)| at < *first)
        {
            found = Some((at, id.clone(), size));
        }
    }
    found.map(|(_, id, size)| (id, size))
}

fn created_ms(raw: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|d| d.timestamp_millis())
        .unwrap_or(i64::MIN)
}

/// The id of a credit of `amount` `currency` on the customer's accounts made
/// since `lookup.since` and not in `lookup.known`, if any: the oldest such.
fn find_credit(
    accounts: &[ops::StoreCreditAccount],
    amount: &str,
    currency: &str,
    lookup: &CreditLookup,
) -> Option<String> {
    let exponent = money::exponent(currency);
    let wanted = money::parse_minor(amount, exponent);
    let since = lookup.since - CLOCK_SKEW_MS;
    let mut found: Option<(i64, String)> = None;
    for account in accounts {
        for t in &account.transactions.nodes {
            if !t.is(ops::CreditTransaction::CREDIT) {
                continue;
            }
            let Some(id) = t.id.clone() else { continue };
            let at = created_ms(&t.created_at);
            let same = t.amount.currency_code.eq_ignore_ascii_case(currency)
                && wanted.is_some()
                && money::parse_minor(&t.amount.amount, exponent) == wanted;
            if same
                && at >= since
                && !lookup.known.contains(&id)
                && found.as_ref().is_none_or(|(first, _)| at < *first)
            {
                found = Some((at, id));
            }
        }
    }
    found.map(|(_, id)| id)
}

/// The customer's store credit accounts, with their balances and latest
/// transactions (`StoreCreditTransactions`).
async fn store_credit_accounts(
    api: &AdminApi,
    shop: &ShopDomain,
    customer_gid: &str,
) -> Result<Vec<ops::StoreCreditAccount>, AdminApiError> {
    let data: ops::StoreCreditTransactionsData = api
        .call(
            shop,
            super::STORE_CREDIT_TRANSACTIONS,
            ops::IdVariables { id: customer_gid },
        )
        .await?;
    Ok(data.customer.map(|c| c.accounts.nodes).unwrap_or_default())
}
