//! Thin HTTP adapters: each handler parses and verifies its input, calls
//! one use case of [`crate::service`] and serializes its typed answer with
//! the right status; errors become answers through
//! [`crate::error::ApiError`]. No handler opens a transaction, and no route
//! module imports another: what they share is in [`guards`], [`input`],
//! [`params`] and [`state`].
//!
//! Every route that serves a shop's data is listed in [`API_ROUTES`] with
//! the guard that protects it; the tenant isolation tests run over that
//! table, so a new route is covered as soon as it is added here.

pub(crate) mod admin;
pub(crate) mod analytics;
pub(crate) mod api_keys;
pub(crate) mod auth;
pub(crate) mod body_budget;
pub(crate) mod exports;
pub(crate) mod guards;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod home;
pub(crate) mod imports;
pub(crate) mod input;
pub(crate) mod integrations;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod nps;
pub(crate) mod params;
pub(crate) mod pos;
pub(crate) mod request_id;
pub(crate) mod sandbox;
pub(crate) mod segments;
pub(crate) mod state;
pub(crate) mod storefront;
pub(crate) mod v1;
pub(crate) mod webhooks;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue, CONTENT_TYPE},
    middleware::Next,
    web,
};

pub use state::AppState;

use crate::shopify::{query, ShopDomain};

/// Which guard a route sits behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// App Bridge session token ([`guards::AdminSession`]).
    Admin,
    /// Checkout and customer account extension session token
    /// ([`guards::CheckoutSession`]).
    Checkout,
    /// POS UI extension token ([`guards::PosSession`]).
    Pos,
    /// A merchant API key ([`guards::ApiKeySession`]).
    ApiKey,
    /// App proxy signature ([`guards::ProxyRequest`]).
    Proxy,
}

/// A guarded route: method, path (with `{customer_id}`, `{inbox_id}`,
/// `{activity_id}`, `{endpoint_id}`, `{delivery_id}`,
/// `{effect_id}`, `{referral_id}` or `{key_id}` parameters), guard.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub guard: Guard,
}

macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path, $guard:ident; )*) => {
        /// Every shop-scoped route, with its guard.
        pub const API_ROUTES: &[ApiRoute] = &[
            $( ApiRoute { method: stringify!($method), path: $path, guard: Guard::$guard }, )*
        ];

        fn configure_api(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

api_routes! {
    get "/api/admin/shop" => admin::get_shop, Admin;
    get "/api/admin/program" => admin::get_program, Admin;
    put "/api/admin/program" => admin::put_program, Admin;
    post "/api/admin/program/forecast" => admin::forecast_program, Admin;
    get "/api/admin/customers" => admin::list_customers, Admin;
    get "/api/admin/customers/{customer_id}" => admin::get_customer, Admin;
    post "/api/admin/customers/{customer_id}/adjustments" => admin::adjust_points, Admin;
    post "/api/admin/customers/{customer_id}/redemptions" => admin::redeem_for_customer, Admin;
    put "/api/admin/customers/{customer_id}/birthday" => admin::put_birthday, Admin;
    get "/api/admin/referrals" => admin::list_referrals, Admin;
    post "/api/admin/referrals/{referral_id}/approve" => admin::approve_referral, Admin;
    post "/api/admin/referrals/{referral_id}/reject" => admin::reject_referral, Admin;
    get "/api/admin/analytics" => analytics::get_analytics, Admin;
    get "/api/admin/nps" => nps::get_nps, Admin;
    post "/api/admin/analytics/refresh" => analytics::refresh_analytics, Admin;
    get "/api/admin/segments" => segments::get_segments, Admin;
    post "/api/admin/segments/recompute" => segments::recompute_segments, Admin;
    get "/api/admin/winback" => analytics::get_winback, Admin;
    get "/api/admin/reorder" => analytics::get_reorder, Admin;
    put "/api/admin/reorder/products/{product_id}" => analytics::put_reorder_product, Admin;
    post "/api/admin/reorder/learn" => analytics::learn_reorder, Admin;
    get "/api/admin/exports/members.csv" => exports::members_csv, Admin;
    get "/api/admin/exports/ledger.csv" => exports::ledger_csv, Admin;
    get "/api/admin/history" => history::get_history, Admin;
    post "/api/admin/history" => history::start_history, Admin;
    get "/api/admin/history/preview" => history::preview_history, Admin;
    get "/api/admin/imports/members" => imports::list, Admin;
    post "/api/admin/imports/members" => imports::import, Admin;
    post "/api/admin/imports/members/inspect" => imports::inspect, Admin;
    post "/api/admin/imports/members/dry-run" => imports::dry_run, Admin;
    get "/api/admin/data-requests" => admin::list_data_requests, Admin;
    get "/api/admin/webhooks/failed" => admin::list_failed_webhooks, Admin;
    post "/api/admin/webhooks/failed/{inbox_id}/retry" => admin::retry_failed_webhook, Admin;
    get "/api/admin/effects/failed" => admin::list_failed_effects, Admin;
    post "/api/admin/effects/failed/{effect_id}/retry" => admin::retry_failed_effect, Admin;
    get "/api/admin/api-keys" => api_keys::list, Admin;
    post "/api/admin/api-keys" => api_keys::create, Admin;
    post "/api/admin/api-keys/{key_id}/revoke" => api_keys::revoke, Admin;
    get "/api/admin/webhook-endpoints" => integrations::list_endpoints, Admin;
    post "/api/admin/webhook-endpoints" => integrations::create_endpoint, Admin;
    post "/api/admin/webhook-endpoints/{endpoint_id}/disable" => integrations::disable_endpoint, Admin;
    get "/api/admin/webhook-deliveries" => integrations::list_deliveries, Admin;
    post "/api/admin/webhook-deliveries/{delivery_id}/resend" => integrations::resend_delivery, Admin;
    get "/api/admin/customers/{customer_id}/activities" => integrations::customer_activities, Admin;
    post "/api/admin/activities/{activity_id}/reverse" => integrations::reverse_activity, Admin;
    get "/api/checkout/balance" => storefront::checkout_balance, Checkout;
    post "/api/checkout/redeem" => storefront::checkout_redeem, Checkout;
    get "/api/checkout/nps" => nps::checkout_nps_status, Checkout;
    post "/api/checkout/nps" => nps::checkout_answer_nps, Checkout;
    get "/api/account/balance" => storefront::checkout_balance, Checkout;
    post "/api/account/redeem" => storefront::account_redeem, Checkout;
    get "/api/account/history" => storefront::account_history, Checkout;
    get "/api/account/referral" => storefront::account_referral, Checkout;
    post "/api/account/birthday" => storefront::account_birthday, Checkout;
    get "/api/pos/customers/{customer_id}" => pos::customer, Pos;
    post "/api/pos/customers/{customer_id}/redemptions" => pos::redeem, Pos;
    get "/api/v1/customers" => v1::list_customers, ApiKey;
    get "/api/v1/customers/{customer_id}" => v1::get_customer, ApiKey;
    get "/api/v1/customers/{customer_id}/ledger" => v1::customer_ledger, ApiKey;
    post "/api/v1/customers/{customer_id}/adjustments" => v1::adjust_points, ApiKey;
    post "/api/v1/customers/{customer_id}/redemptions" => v1::redeem, ApiKey;
    get "/api/v1/ledger" => v1::shop_ledger, ApiKey;
    get "/api/v1/program" => v1::get_program, ApiKey;
    post "/api/v1/activities" => v1::record_activity, ApiKey;
    post "/api/v1/activities/{activity_id}/reversal" => v1::reverse_activity, ApiKey;
    get "/api/v1/customers/{customer_id}/activities" => v1::customer_activities, ApiKey;
    get "/api/v1/webhook-endpoints" => v1::list_endpoints, ApiKey;
    post "/api/v1/webhook-endpoints" => v1::create_endpoint, ApiKey;
    delete "/api/v1/webhook-endpoints/{endpoint_id}" => v1::disable_endpoint, ApiKey;
    get "/proxy/balance" => storefront::proxy_balance, Proxy;
    post "/proxy/redeem" => storefront::proxy_redeem, Proxy;
    post "/proxy/birthday" => storefront::proxy_birthday, Proxy;
    get "/proxy/referral" => storefront::proxy_referral, Proxy;
    post "/proxy/referrals/claim" => storefront::proxy_claim_referral, Proxy;
    post "/proxy/activities/social" => storefront::proxy_social, Proxy;
}

/// The `shop` parameter of a query, validated; 400 when missing or invalid.
pub(crate) fn shop_param(pairs: &[(String, String)]) -> Result<ShopDomain, crate::error::ApiError> {
    query::get(pairs, "shop")
        .and_then(|s| ShopDomain::parse(s).ok())
        .ok_or(crate::error::ApiError::BadRequest(
            "missing or invalid shop (expected name.myshopify.com)".into(),
        ))
}

/// Every route Advocate serves.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::post().to(webhooks::receive_webhook))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::get_metrics))
        .route("/", web::get().to(home::app_home))
        .route("/assets/{path:.*}", web::get().to(home::get_asset))
        .route("/auth", web::get().to(auth::begin_auth))
        .route("/auth/callback", web::get().to(auth::finish_auth))
        .route("/api/v1/openapi.json", web::get().to(v1::openapi))
        .route(
            "/sandbox/session-token",
            web::get().to(sandbox::session_token),
        )
        .route(
            "/api/checkout/{tail:.*}",
            web::method(actix_web::http::Method::OPTIONS).to(storefront::checkout_preflight),
        )
        .route(
            "/api/account/{tail:.*}",
            web::method(actix_web::http::Method::OPTIONS).to(storefront::checkout_preflight),
        )
        .route(
            "/api/pos/{tail:.*}",
            web::method(actix_web::http::Method::OPTIONS).to(storefront::checkout_preflight),
        );
    configure_api(cfg);
}

/// The routes UI extensions call from Shopify's sandbox origin: CORS for
/// any origin (they authenticate with a bearer token, never a cookie).
pub const EXTENSION_PREFIXES: &[&str] = &["/api/checkout/", "/api/account/", "/api/pos/"];

/// Response headers that depend on the request: CORS for checkout
/// extensions, and for HTML (the embedded page) a `frame-ancestors` policy
/// that lets only Shopify admin and the requesting shop frame it.
pub async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let checkout = EXTENSION_PREFIXES
        .iter()
        .any(|prefix| req.path().starts_with(prefix));
    let shop = query::get(&query::parse_pairs(req.query_string()), "shop")
        .and_then(|s| ShopDomain::parse(s).ok());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if checkout {
        headers.insert(
            HeaderName::from_static("access-control-allow-origin"),
            HeaderValue::from_static("*"),
        );
    }
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let ancestors = match shop {
            Some(shop) => format!("frame-ancestors https://{shop} https://admin.shopify.com;"),
            None => "frame-ancestors 'none';".to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&ancestors) {
            headers.insert(HeaderName::from_static("content-security-policy"), value);
        }
        headers.insert(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
    }
    Ok(res)
}
