//! Installation through the authorization code grant: `/auth` sends the
//! merchant to Shopify with a single-use `state`; `/auth/callback` checks
//! the signed query, the timestamp, the state and the shop, trades the code
//! for expiring offline tokens, stores them encrypted, and returns the
//! merchant to the app inside Shopify admin. The protocol checks are made
//! here; the states and tokens are [`crate::service::install`]'s.
//!
//! Webhook subscriptions are declared in `shopify.app.toml`, which Shopify
//! applies on deploy, so none are registered here.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::{
    error::ApiError,
    routes::AppState,
    service::install::{self as service, Callback},
    shopify::query,
};

/// Callbacks signed further from now than this are refused.
const CALLBACK_MAX_SKEW_SECS: i64 = 90;

/// Starts an install. Anyone may call it and each call writes a row, so it
/// is rate limited per client address and refused (503) while the table of
/// pending installs is full.
pub async fn begin_auth(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.limiter.check_install(&super::guards::peer(&req))?;
    let pairs = query::parse_pairs(req.query_string());
    let shop = super::shop_param(&pairs)?;
    let nonce = service::begin(&state.store, &shop, state.config.runtime.oauth_states_max).await?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &state.config.shopify.api_key)
        .append_pair("scope", &state.scopes)
        .append_pair(
            "redirect_uri",
            &format!("{}/auth/callback", state.config.shopify.app_url),
        )
        .append_pair("state", &nonce)
        .finish();
    let location = state.tokens.oauth().endpoint().authorize_url(&shop, &query);
    Ok(HttpResponse::Found()
        .insert_header(("Location", location))
        .finish())
}

/// Ends an install: checks the callback's signature and timestamp, the shop
/// and the state, stores the tokens, and sends the merchant to the app.
pub async fn finish_auth(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    query::verify_oauth(
        &state.signer,
        &pairs,
        chrono::Utc::now().timestamp(),
        CALLBACK_MAX_SKEW_SECS,
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "OAuth callback refused");
        ApiError::Unauthorized("invalid or expired OAuth callback")
    })?;
    let shop = super::shop_param(&pairs)?;
    let nonce = query::get(&pairs, "state").ok_or(ApiError::BadRequest("missing state".into()))?;
    let code = query::get(&pairs, "code").ok_or(ApiError::BadRequest("missing code".into()))?;
    let callback = Callback {
        shop: &shop,
        state: nonce,
        code,
    };
    service::finish(&state.store, &state.tokens, callback).await?;
    let location = format!("https://{shop}/admin/apps/{}", state.config.shopify.api_key);
    Ok(HttpResponse::Found()
        .insert_header(("Location", location))
        .finish())
}
