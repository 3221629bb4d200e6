//! Installation through the authorization code grant: `/auth` sends the
//! merchant to Shopify with a single-use `state`; `/auth/callback` checks
//! the signed query, the timestamp, the state and the shop, trades the code
//! for expiring offline tokens, stores them encrypted, and returns the
//! merchant to the app inside Shopify admin.
//!
//! Webhook subscriptions are declared in `shopify.app.toml`, which Shopify
//! applies on deploy, so none are registered here.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::{
    error::ApiError,
    routes::AppState,
    shopify::query,
    store::{now_ms, oauth_states},
};

/// How long a merchant has to approve the app.
const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// When `/auth` finds the table of pending installs full, how long to wait:
/// the oldest states expire within `STATE_TTL_MS`.
const FULL_RETRY_AFTER_SECS: u64 = 60;
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
    let nonce = hex::encode(rand::random::<[u8; 32]>());
    let stored = {
        let mut conn = state.store.writer().acquire().await?;
        let now = now_ms();
        oauth_states::insert_state(
            &mut conn,
            &nonce,
            shop.as_str(),
            now + STATE_TTL_MS,
            now,
            state.config.runtime.oauth_states_max,
        )
        .await?
    };
    if !stored {
        tracing::warn!("pending OAuth states at their cap; install refused for now");
        return Err(ApiError::Overloaded {
            retry_after_secs: FULL_RETRY_AFTER_SECS,
        });
    }
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
    let consumed = {
        let mut conn = state.store.writer().acquire().await?;
        oauth_states::consume_state(&mut conn, nonce, shop.as_str(), now_ms()).await?
    };
    if !consumed {
        return Err(ApiError::Forbidden("unknown, used or expired OAuth state"));
    }
    let tokens = state
        .tokens
        .oauth()
        .exchange_code(&shop, code)
        .await
        .map_err(|e| {
            tracing::warn!(shop = %shop, error = %e, "code exchange failed");
            ApiError::Unavailable("Shopify did not issue a token; try installing again".into())
        })?;
    state
        .tokens
        .install(&shop, tokens)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let location = format!("https://{shop}/admin/apps/{}", state.config.shopify.api_key);
    Ok(HttpResponse::Found()
        .insert_header(("Location", location))
        .finish())
}
