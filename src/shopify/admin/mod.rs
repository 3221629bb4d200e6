//! The Admin GraphQL API (version [`super::API_VERSION`]). Every operation
//! Advocate sends is a `.graphql` document in `documents/`, compiled in and
//! listed in [`DOCUMENTS`]; a test validates each against Shopify's schema
//! for that version, so a field Shopify does not have fails the build's
//! tests rather than a merchant's request.

pub mod api;
pub mod bulk;
pub mod client;
pub mod effects;
pub(crate) mod ops;

/// An operation Advocate sends: its name and its text.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    pub name: &'static str,
    pub text: &'static str,
}

impl Document {
    /// Whether a failure that may have come after Shopify did the work (a
    /// dropped connection, a 5xx) can be answered by sending it again. Not
    /// for a store credit or debit: a second send would move it twice. Its
    /// caller (the outbox) looks for it before trying again.
    pub fn repeatable(&self) -> bool {
        !matches!(
            self.name,
            "store_credit_account_credit" | "store_credit_account_debit"
        )
    }
}

macro_rules! documents {
    ($( $constant:ident = $file:literal ),* $(,)?) => {
        $( pub const $constant: Document = Document { name: $file, text: include_str!(concat!("documents/", $file, ".graphql")) }; )*
        /// Every document, for validation.
        pub const DOCUMENTS: &[Document] = &[ $( $constant ),* ];
    };
}

documents! {
    DISCOUNT_CODE_BASIC_CREATE = "discount_code_basic_create",
    DISCOUNT_CODE_FREE_SHIPPING_CREATE = "discount_code_free_shipping_create",
    DISCOUNT_BY_CODE = "discount_by_code",
    DISCOUNT_AUTOMATIC_APP_CREATE = "discount_automatic_app_create",
    DISCOUNT_AUTOMATIC_APP_UPDATE = "discount_automatic_app_update",
    STORE_CREDIT_ACCOUNT_CREDIT = "store_credit_account_credit",
    STORE_CREDIT_ACCOUNT_DEBIT = "store_credit_account_debit",
    STORE_CREDIT_TRANSACTIONS = "store_credit_transactions",
    PRODUCT_VARIANT_PRICE = "product_variant_price",
    TAGS_ADD = "tags_add",
    TAGS_REMOVE = "tags_remove",
    METAFIELDS_SET = "metafields_set",
    WEBHOOK_SUBSCRIPTION_CREATE = "webhook_subscription_create",
    STAGED_UPLOADS_CREATE = "staged_uploads_create",
    BULK_OPERATION_RUN_MUTATION = "bulk_operation_run_mutation",
    BULK_OPERATION_STATUS = "bulk_operation_status",
    BULK_OPERATION_RUN_QUERY = "bulk_operation_run_query",
    HISTORY_CUSTOMERS = "history_customers",
    HISTORY_ORDERS = "history_orders",
    SHOP = "shop",
    FLOW_TRIGGER_RECEIVE = "flow_trigger_receive",
}
