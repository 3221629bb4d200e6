//! One guard per kind of caller. Each is an extractor that verifies the
//! caller and yields the shop (and customer) the request may act for; every
//! query a guarded route runs is scoped by that shop, whatever ids the
//! caller sends. All checks fail closed.
//!
//! - [`AdminSession`]: the embedded admin page (App Bridge session token).
//!   A shop without usable tokens is installed on the spot by token
//!   exchange (managed install).
//! - [`CheckoutSession`]: checkout, order-status and customer-account UI
//!   extensions (extension session token; the customer from `sub`). An
//!   admin token is refused here and an extension token by the admin guard:
//!   each guard has its own verifier.
//! - [`PosSession`]: a POS UI extension (a POS ID token: the staff shape,
//!   verified by its own verifier, which refuses extension tokens; the shop
//!   must be installed already).
//! - [`ApiKeySession`]: the merchant's own systems on `/api/v1` (an API
//!   key made on the admin page; its shop and scopes; a bucket per key).
//! - [`ProxyRequest`]: the storefront through the app proxy (`signature`;
//!   `logged_in_customer_id` trusted only after it; a repeated `shop`,
//!   `logged_in_customer_id`, `timestamp` or `signature` is refused, since
//!   Shopify signs repeated values joined and no single reading is right).

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::{
    error::ApiError,
    routes::AppState,
    shopify::{query, tokens::TokenError, ShopDomain},
    store::shops::{self, ShopCredentials},
};

/// App proxy requests older (or newer) than this are refused.
pub const PROXY_MAX_SKEW_SECS: i64 = 120;

/// The embedded admin page, acting for `shop`.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub shop_id: i64,
    pub shop: ShopDomain,
    /// The staff member, from the token's `sub`.
    pub user: Option<String>,
}

/// A checkout, order-status or customer-account extension, for the shop
/// of its token and (when the buyer is logged in) `customer_id`.
#[derive(Debug, Clone)]
pub struct CheckoutSession {
    pub shop_id: i64,
    pub shop: ShopDomain,
    pub customer_id: Option<i64>,
}

/// A POS UI extension, for the staff account signed in to Shopify POS in
/// `shop`. It acts for whichever customer the till has attached, as staff.
#[derive(Debug, Clone)]
pub struct PosSession {
    pub shop_id: i64,
    /// The Shopify user signed in to POS (the token's `sub`).
    pub user_id: u64,
}

/// A merchant's system calling `/api/v1` with one of the shop's API keys.
#[derive(Debug, Clone)]
pub struct ApiKeySession {
    pub shop_id: i64,
    pub key_id: i64,
    scopes: Vec<String>,
}

impl ApiKeySession {
    /// 403 unless the key was given `scope`.
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match scope {
                "read_customers" => "this API key lacks the read_customers scope",
                "read_ledger" => "this API key lacks the read_ledger scope",
                "write_points" => "this API key lacks the write_points scope",
                "write_redemptions" => "this API key lacks the write_redemptions scope",
                "read_program" => "this API key lacks the read_program scope",
                "write_activities" => "this API key lacks the write_activities scope",
                "manage_webhooks" => "this API key lacks the manage_webhooks scope",
                _ => "this API key lacks the scope this route needs",
            }))
        }
    }

    /// Who acted, for the ledger and redemptions: `api-key:{id}`.
    pub fn actor(&self) -> String {
        format!("api-key:{}", self.key_id)
    }
}

/// A storefront request through the app proxy.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub shop_id: i64,
    pub shop: ShopDomain,
    pub customer_id: Option<i64>,
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

/// The session token of `Authorization: Bearer …`, or 401.
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    bearer_or(req, "missing session token (Authorization: Bearer)")
}

/// The credential of `Authorization: Bearer …`, or 401 saying `missing`.
fn bearer_or(req: &HttpRequest, missing: &'static str) -> Result<String, ApiError> {
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(missing))
}

/// Logs why a token was refused (the rule, never the token) and answers 401.
fn refuse_token(reason: crate::shopify::session_token::SessionTokenError) -> ApiError {
    tracing::info!(%reason, "session token refused");
    ApiError::Unauthorized("invalid session token")
}

async fn credentials(
    state: &AppState,
    shop: &ShopDomain,
) -> Result<Option<ShopCredentials>, ApiError> {
    let mut conn = state.store.writer().acquire().await?;
    Ok(shops::find_credentials(&mut conn, shop.as_str()).await?)
}

/// The shop's credentials when it is installed and usable, else 401.
async fn installed(state: &AppState, shop: &ShopDomain) -> Result<ShopCredentials, ApiError> {
    match credentials(state, shop).await? {
        Some(creds) if creds.usable() => Ok(creds),
        _ => Err(ApiError::Unauthorized("shop has not installed Advocate")),
    }
}

/// What every storefront-facing caller passes after it is verified: the
/// shop must be installed, and the shop's and the shopper's rate limits
/// must allow the request. Returns the shop's id.
async fn storefront_shop(
    state: &AppState,
    req: &HttpRequest,
    shop: &ShopDomain,
    customer_id: Option<i64>,
) -> Result<i64, ApiError> {
    super::request_id::record_shop(shop);
    let creds = installed(state, shop).await?;
    let shopper = customer_id.map_or_else(|| peer(req), |c| c.to_string());
    state.limiter.check_storefront(shop.as_str(), &shopper)?;
    Ok(creds.id)
}

impl FromRequest for AdminSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let raw = bearer(&req)?;
            let token = state.admin_tokens.verify(&raw).map_err(refuse_token)?;
            super::request_id::record_shop(&token.shop);
            let shop_id = match credentials(&state, &token.shop).await? {
                Some(creds) if creds.usable() => creds.id,
                // Not installed here yet, uninstalled, or its refresh was
                // refused: only Shopify can say whether the app is installed.
                _ => match state
                    .tokens
                    .install_with_session_token(&token.shop, &raw)
                    .await
                {
                    Ok(shop) => shop.id,
                    Err(TokenError::Shopify(e)) => {
                        tracing::warn!(shop = %token.shop, error = %e, "token exchange failed");
                        return Err(ApiError::Reauthorize {
                            shop: token.shop.to_string(),
                        });
                    }
                    Err(e) => return Err(ApiError::Internal(e.into())),
                },
            };
            Ok(AdminSession {
                shop_id,
                shop: token.shop,
                user: Some(token.user_id.to_string()),
            })
        })
    }
}

impl FromRequest for CheckoutSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let token = state
                .extension_tokens
                .verify(&bearer(&req)?)
                .map_err(refuse_token)?;
            let customer_id = token.customer_id;
            let shop_id = storefront_shop(&state, &req, &token.shop, customer_id).await?;
            Ok(CheckoutSession {
                shop_id,
                shop: token.shop,
                customer_id,
            })
        })
    }
}

impl FromRequest for PosSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let token = state
                .pos_tokens
                .verify(&bearer(&req)?)
                .map_err(refuse_token)?;
            super::request_id::record_shop(&token.shop);
            // POS never installs a shop: the merchant installs from the
            // admin, where Shopify says whether the app is installed.
            let creds = installed(&state, &token.shop).await?;
            let till = format!("pos-user-{}", token.user_id);
            state.limiter.check_storefront(token.shop.as_str(), &till)?;
            Ok(PosSession {
                shop_id: creds.id,
                user_id: token.user_id,
            })
        })
    }
}

impl FromRequest for ApiKeySession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            // An address that sent too many bad keys is refused before the
            // key it sends now is looked at.
            let failures = format!("api-key-failures:{}", peer(&req));
            state
                .limiter
                .probe(&failures, super::limits::PER_FAILED_KEY)?;
            let failed = |e: ApiError| {
                let _ = state
                    .limiter
                    .check(&failures, super::limits::PER_FAILED_KEY);
                e
            };
            let presented =
                bearer_or(&req, "missing API key (Authorization: Bearer adv_…)").map_err(failed)?;
            let grant = crate::service::api_keys::authenticate(&state.store, &presented)
                .await?
                .ok_or(ApiError::Unauthorized("invalid or revoked API key"))
                .map_err(failed)?;
            state.limiter.check(
                &format!("api-key:{}", grant.key_id),
                super::limits::PER_API_KEY,
            )?;
            Ok(ApiKeySession {
                shop_id: grant.shop_id,
                key_id: grant.key_id,
                scopes: grant.scopes,
            })
        })
    }
}

impl FromRequest for ProxyRequest {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let pairs = query::parse_pairs(req.query_string());
            let now = chrono::Utc::now().timestamp();
            query::verify_proxy(&state.signer, &pairs, now, PROXY_MAX_SKEW_SECS).map_err(|e| {
                tracing::info!(reason = %e, "app proxy request refused");
                match e {
                    // The parameter's name only: its values are the shopper's.
                    query::QueryError::RepeatedParameter(name) => ApiError::BadRequest(format!(
                        "the app proxy parameter `{name}` appears more than once"
                    )),
                    query::QueryError::UnexpectedParameter => ApiError::BadRequest(
                        "the app proxy request carries a parameter Shopify does not send".into(),
                    ),
                    query::QueryError::AmbiguousParameter => {
                        ApiError::BadRequest("an app proxy parameter value contains `=`".into())
                    }
                    _ => ApiError::Unauthorized("invalid app proxy signature"),
                }
            })?;
            let shop = super::shop_param(&pairs)?;
            let customer_id =
                match query::get(&pairs, "logged_in_customer_id") {
                    None | Some("") => None,
                    Some(id) => Some(id.parse().map_err(|_| {
                        ApiError::BadRequest("invalid logged_in_customer_id".into())
                    })?),
                };
            let shop_id = storefront_shop(&state, &req, &shop, customer_id).await?;
            Ok(ProxyRequest {
                shop_id,
                shop,
                customer_id,
            })
        })
    }
}

/// Who a logged-out shopper is, for rate limits: the client address as the
/// proxy or load balancer reports it.
pub(crate) fn peer(req: &HttpRequest) -> String {
    req.connection_info()
        .realip_remote_addr()
        .unwrap_or("unknown")
        .to_owned()
}
