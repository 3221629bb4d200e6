//! `POST /webhooks`: every topic arrives here. The order of checks is the
//! contract: size (413), then the HMAC over the raw bytes (401), then the
//! identifying headers (400), then a durable insert into the inbox, and only
//! then 200. No JSON is parsed and no business work runs in the request.

use actix_web::{http::header::CONTENT_LENGTH, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::{
    app::AppState,
    error::ApiError,
    shopify::webhook::{find_header, header, DeliveryHeaders},
    store::{
        inbox::{NewDelivery, StoredBody},
        now_ms,
    },
};

pub async fn receive_webhook(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, state.config.runtime.webhook_max_bytes).await?;

    let lookup = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signature = find_header(lookup, header::HMAC).ok_or(ApiError::Unauthorized(
        "missing X-Shopify-Hmac-Sha256 header",
    ))?;
    if !state.signer.verify_webhook(&body, signature) {
        return Err(ApiError::Unauthorized("webhook signature does not match"));
    }

    let delivery =
        DeliveryHeaders::parse(lookup).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .intake
        .submit(NewDelivery {
            shop_domain: delivery.shop.as_str().to_owned(),
            delivery_key: delivery.delivery_key().to_owned(),
            webhook_id: delivery.webhook_id,
            event_id: delivery.event_id,
            topic: delivery.topic.as_str().to_owned(),
            api_version: delivery.api_version,
            triggered_at: delivery.triggered_at,
            body: StoredBody::compress(&body),
            received_at: now_ms(),
        })
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().finish())
}

/// The raw body, refused as soon as it is known to exceed `limit`.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
