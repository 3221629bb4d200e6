//! Every request runs in a `request` span carrying its id (the caller's
//! `X-Request-Id` when it is a plain token, as nginx's `$request_id` is, else
//! a new one) and, once a guard or the webhook headers have established it,
//! its shop. The id is sent back in `X-Request-Id` and stored with each
//! webhook delivery, so the inbox processor's log lines for that delivery,
//! in whichever process, carry it too. Query strings are not logged: they
//! can hold a shopper's id.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    HttpMessage,
};
use tracing::Instrument;

use crate::shopify::ShopDomain;

const HEADER: &str = "x-request-id";

/// The id of the request being served (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps the request in its span and answers with its id.
pub async fn trace_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_plain_token(v))
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        shop = tracing::field::Empty,
    );
    let header = HeaderValue::from_str(&id).ok();
    req.extensions_mut().insert(RequestId(id));
    let mut res = next.call(req).instrument(span.clone()).await?;
    tracing::debug!(parent: &span, status = res.status().as_u16(), "request served");
    if let Some(value) = header {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}

/// Puts the shop on the current request's span (and so on every line
/// logged for the rest of the request).
pub fn record_shop(shop: &ShopDomain) {
    tracing::Span::current().record("shop", shop.as_str());
}

/// Up to 64 letters, digits, `-` and `_`: nothing a log reader could
/// mistake for structure, nothing long enough to carry data.
fn is_plain_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_tokens_are_taken_as_request_ids() {
        assert!(super::is_plain_token("0f3c2a9e8b7d6c5a"));
        assert!(super::is_plain_token("req_01-abc"));
        assert!(!super::is_plain_token(""));
        assert!(!super::is_plain_token("a b"));
        assert!(!super::is_plain_token("x\"}{\"email\":\"a@b.c"));
        assert!(!super::is_plain_token(&"a".repeat(65)));
    }
}
