//! `POST /webhooks`: every topic arrives here. The order of checks is the
//! contract: size (413), then the HMAC over the raw bytes (401), then the
//! identifying headers (400), then a durable insert into the inbox, and only
//! then 200. No JSON is parsed and no business work runs in the request.

use std::time::Instant;

use actix_web::{http::header::CONTENT_LENGTH, web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::{
    app::AppState,
    error::ApiError,
    metrics::Rejection,
    routes::request_id::{record_shop, RequestId},
    shopify::webhook::{find_header, header, DeliveryHeaders, WebhookTopic},
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
    let started = Instant::now();
    state.metrics.webhook_received();
    match store_delivery(&req, payload, &state).await {
        Ok(topic) => {
            state
                .metrics
                .webhook_accepted(&topic, started.elapsed().as_secs_f64());
            Ok(HttpResponse::Ok().finish())
        }
        Err((why, error)) => {
            state.metrics.webhook_rejected(why);
            Err(error)
        }
    }
}

/// The checks in order, then the durable insert; returns the topic stored.
async fn store_delivery(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<WebhookTopic, (Rejection, ApiError)> {
    let body = read_body(req, payload, state.config.runtime.webhook_max_bytes)
        .await
        .map_err(|e| match e {
            ApiError::PayloadTooLarge { .. } => (Rejection::TooLarge, e),
            e => (Rejection::BadHeaders, e),
        })?;

    let lookup = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signature = find_header(lookup, header::HMAC).ok_or((
        Rejection::Unsigned,
        ApiError::Unauthorized("missing X-Shopify-Hmac-Sha256 header"),
    ))?;
    if !state.signer.verify_webhook(&body, signature) {
        return Err((
            Rejection::BadSignature,
            ApiError::Unauthorized("webhook signature does not match"),
        ));
    }

    let delivery = DeliveryHeaders::parse(lookup)
        .map_err(|e| (Rejection::BadHeaders, ApiError::BadRequest(e.to_string())))?;
    record_shop(&delivery.shop);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
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
            request_id,
        })
        .await
        .map_err(|e| (Rejection::Unavailable, ApiError::Unavailable(e.to_string())))?;
    Ok(delivery.topic)
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
