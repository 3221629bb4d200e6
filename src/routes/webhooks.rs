//! `POST /webhooks`: every topic arrives here. The order of checks is the
//! contract. What the headers can refuse is refused before a byte of the
//! body is read:
//! 1. a declared `Content-Length` over `ADVOCATE_WEBHOOK_MAX_BYTES`: 413;
//! 2. no HMAC header: 401;
//! 3. a missing or malformed identifying header (topic, shop domain, event
//!    or webhook id): 400.
//!
//! Then the body is read within `ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS` (408
//! past it). Its bytes are held in segments of at most 64 KiB, each taken
//! from the process-wide body budget (`ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES`,
//! see [`super::body_budget`]) when the bytes that fill it arrive, and no
//! larger than twice what the sender has sent: 413 past the limit, 503 with
//! `Retry-After` past the budget, so Shopify sends it again. A connection
//! that declares a large body and sends a byte holds a byte. Then:
//! 4. the HMAC over the raw bytes, in constant time: 401;
//! 5. a durable insert into the inbox (503 when it fails), and only then 200.
//!
//! No JSON is parsed and no business work runs in the request. A refused
//! request's connection is closed: the unread rest of its body is never
//! buffered nor waited for.

use std::{
    borrow::Cow,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use actix_web::{
    body::{BodySize, MessageBody},
    http::{header::CONTENT_LENGTH, ConnectionType},
    web, HttpMessage, HttpRequest, HttpResponse, ResponseError,
};
use futures_util::StreamExt;

use crate::{
    error::ApiError,
    metrics::Rejection,
    routes::{
        body_budget::Reservation,
        request_id::{record_shop, RequestId},
        AppState,
    },
    shopify::webhook::{find_header, header, DeliveryHeaders, WebhookTopic},
    store::{
        inbox::{NewDelivery, StoredBody},
        now_ms,
    },
};

/// What a refusal for want of budget asks Shopify to wait: a reservation
/// lasts as long as one body takes to arrive, well under a second for
/// Shopify's own.
const OVER_BUDGET_RETRY_AFTER_SECS: u64 = 5;

/// Largest piece a body is held in. Pieces are allocated as bytes arrive,
/// never ahead of them; at this size each is mapped on its own and handed
/// back to the system when freed (see [`crate::memory`]), so a burst of
/// bodies leaves nothing behind.
const SEGMENT_BYTES: usize = crate::memory::LARGE_BLOCK_BYTES;

pub async fn receive_webhook(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    state.metrics.webhook_received();
    match store_delivery(&req, &mut payload, &state).await {
        Ok(topic) => {
            state
                .metrics
                .webhook_accepted(&topic, started.elapsed().as_secs_f64());
            HttpResponse::Ok().finish()
        }
        Err((why, error)) => {
            state.metrics.webhook_rejected(why);
            closing(error.error_response(), payload)
        }
    }
}

/// A refusal that closes the connection: the rest of a refused body is not
/// wanted. The unread body stream lives until the answer's last byte is
/// written, so actix sees it unfinished and closes, instead of draining a
/// chunked body for as long as the client cares to keep sending it.
fn closing(mut response: HttpResponse, unread: web::Payload) -> HttpResponse {
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    let (response, body) = response.into_parts();
    let bytes = body.try_into_bytes().unwrap_or_default();
    response
        .set_body(AnswerThenClose {
            bytes,
            _unread: unread,
        })
        .map_into_boxed_body()
}

/// An answer's bytes, holding the request's unread body until they are sent.
struct AnswerThenClose {
    bytes: web::Bytes,
    _unread: web::Payload,
}

impl MessageBody for AnswerThenClose {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(std::mem::take(&mut this.bytes))))
        }
    }
}

/// The checks in order, then the durable insert; returns the topic stored.
async fn store_delivery(
    req: &HttpRequest,
    payload: &mut web::Payload,
    state: &AppState,
) -> Result<WebhookTopic, (Rejection, ApiError)> {
    let headers = check_headers(req, state.config.runtime.webhook_max_bytes)?;
    let stored = read_signed_body(payload, state, &headers).await?;
    submit(req, state, headers.delivery, stored).await
}

/// What the headers said, once they passed checks 1 to 3.
struct CheckedHeaders<'r> {
    /// The declared `Content-Length`, at most the limit.
    declared: Option<usize>,
    /// The HMAC header's value.
    signature: &'r str,
    delivery: DeliveryHeaders,
}

/// Checks 1 to 3: the declared length, the HMAC header's presence, the
/// identifying headers.
fn check_headers(
    req: &HttpRequest,
    limit: usize,
) -> Result<CheckedHeaders<'_>, (Rejection, ApiError)> {
    let declared = declared_length(req);
    if declared.is_some_and(|len| len > limit) {
        return Err((Rejection::TooLarge, ApiError::PayloadTooLarge { limit }));
    }
    let lookup = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signature = find_header(lookup, header::HMAC).ok_or((
        Rejection::Unsigned,
        ApiError::Unauthorized("missing X-Shopify-Hmac-Sha256 header"),
    ))?;
    let delivery = DeliveryHeaders::parse(lookup)
        .map_err(|e| (Rejection::BadHeaders, ApiError::BadRequest(e.to_string())))?;
    Ok(CheckedHeaders {
        declared,
        signature,
        delivery,
    })
}

/// Reads the body within its deadline and budget, checks its HMAC (check
/// 4), and makes it the body to store. The bytes it arrived in and their
/// budget are given back before the function returns, so before the wait
/// for the commit.
async fn read_signed_body(
    payload: &mut web::Payload,
    state: &AppState,
    headers: &CheckedHeaders<'_>,
) -> Result<StoredBody, (Rejection, ApiError)> {
    let runtime = &state.config.runtime;
    let limit = runtime.webhook_max_bytes;
    // Budget is taken as bytes arrive, not for what the client declares:
    // declared lengths cost an attacker nothing to send.
    let reservation = state.webhook_bodies.reserve_nothing();
    let body = tokio::time::timeout(
        runtime.webhook_body_timeout,
        read_body(
            payload,
            headers.declared.unwrap_or(limit),
            limit,
            reservation,
        ),
    )
    .await
    .map_err(|_| {
        (
            Rejection::SlowBody,
            ApiError::RequestTimeout("the body did not arrive in time"),
        )
    })??;
    if !state
        .signer
        .verify_webhook_chunks(&body.segments, headers.signature)
    {
        return Err((
            Rejection::BadSignature,
            ApiError::Unauthorized("webhook signature does not match"),
        ));
    }
    Ok(state.intake.body(body.contiguous()))
}

/// Step 5: the durable insert, through the intake writer; returns the
/// topic stored.
async fn submit(
    req: &HttpRequest,
    state: &AppState,
    delivery: DeliveryHeaders,
    body: StoredBody,
) -> Result<WebhookTopic, (Rejection, ApiError)> {
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
            body,
            received_at: now_ms(),
            request_id,
        })
        .await
        .map_err(|e| (Rejection::Unavailable, ApiError::Unavailable(e.to_string())))?;
    Ok(delivery.topic)
}

/// The `Content-Length` the client declared. actix has already refused a
/// malformed one, and never yields more body than it declares.
fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
}

fn over_budget() -> (Rejection, ApiError) {
    (
        Rejection::OverBudget,
        ApiError::Overloaded {
            retry_after_secs: OVER_BUDGET_RETRY_AFTER_SECS,
        },
    )
}

/// A body as received: its bytes in segments, and the share of the
/// body budget that covers every byte allocated for them.
struct ReceivedBody {
    segments: Vec<Vec<u8>>,
    /// Given back when the body is dropped, whatever path dropped it.
    reservation: Reservation,
}

impl ReceivedBody {
    fn new(reservation: Reservation) -> Self {
        Self {
            segments: Vec::new(),
            reservation,
        }
    }

    fn len(&self) -> usize {
        self.segments.iter().map(Vec::len).sum()
    }

    fn allocated(&self) -> usize {
        self.segments.iter().map(Vec::capacity).sum()
    }

    /// Copies `bytes` in, allocating a segment at a time. A segment is as
    /// large as the bytes in hand or the bytes already received, whichever
    /// is more (at most 64 KiB), so what a body holds of the budget is never
    /// more than twice what its sender has sent: a byte costs a byte, not a
    /// segment. `expected` is the length the body will have at most
    /// (declared, or the limit), so the last segment is no larger than what
    /// is left of it.
    fn append(&mut self, mut bytes: &[u8], expected: usize) -> Result<(), (Rejection, ApiError)> {
        while !bytes.is_empty() {
            let room = self.segments.last().map_or(0, |s| s.capacity() - s.len());
            if room == 0 {
                let received = self.len();
                let size = bytes
                    .len()
                    .max(received)
                    .min(expected.saturating_sub(received))
                    .clamp(1, SEGMENT_BYTES);
                if !self.reservation.cover(self.allocated() + size) {
                    return Err(over_budget());
                }
                self.segments.push(Vec::with_capacity(size));
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            if let Some(segment) = self.segments.last_mut() {
                segment.extend_from_slice(now);
            }
            bytes = rest;
        }
        Ok(())
    }

    /// The body in one piece: copied only when it arrived in more than one
    /// segment, and only once its signature has been checked.
    fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.segments.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        }
    }
}

/// The raw body, refused as soon as it is known to exceed `limit` or the
/// budget cannot cover it.
async fn read_body(
    payload: &mut web::Payload,
    expected: usize,
    limit: usize,
    reservation: Reservation,
) -> Result<ReceivedBody, (Rejection, ApiError)> {
    let mut body = ReceivedBody::new(reservation);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            (
                Rejection::BadHeaders,
                ApiError::BadRequest(format!("could not read body: {e}")),
            )
        })?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err((Rejection::TooLarge, ApiError::PayloadTooLarge { limit }));
        }
        body.append(&chunk, expected)?;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::body_budget::BodyBudget;

    fn body_with_budget(capacity: usize, reserved: usize) -> (BodyBudget, ReceivedBody) {
        let budget = BodyBudget::new(capacity);
        let reservation = budget.try_reserve(reserved).unwrap();
        (budget, ReceivedBody::new(reservation))
    }

    #[test]
    fn a_declared_body_fills_exactly_its_reservation_however_it_is_split() {
        let declared = 3 * SEGMENT_BYTES + 123;
        let (budget, mut body) = body_with_budget(declared, declared);
        let bytes: Vec<u8> = (0..declared).map(|i| (i % 251) as u8).collect();
        for piece in bytes.chunks(1000) {
            body.append(piece, declared).unwrap();
        }
        assert_eq!(body.len(), declared);
        assert_eq!(body.allocated(), declared, "no byte allocated ahead");
        assert_eq!(budget.reserved(), declared);
        assert_eq!(body.contiguous().as_ref(), bytes.as_slice());
        drop(body);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn a_body_holds_budget_for_the_bytes_it_sent_and_stops_at_the_budget() {
        let (budget, mut body) = body_with_budget(2 * SEGMENT_BYTES, 0);
        body.append(b"x", usize::MAX).unwrap();
        assert_eq!(budget.reserved(), 1, "one byte sent, one byte held");
        body.append(&[1; 100], usize::MAX).unwrap();
        assert_eq!(budget.reserved(), 101);
        body.append(&vec![1; SEGMENT_BYTES], usize::MAX).unwrap();
        assert_eq!(budget.reserved(), 101 + SEGMENT_BYTES);
        assert!(budget.reserved() <= 2 * body.len());
        let (why, error) = body
            .append(&vec![2; SEGMENT_BYTES], usize::MAX)
            .unwrap_err();
        assert_eq!(why, Rejection::OverBudget);
        assert!(matches!(error, ApiError::Overloaded { .. }));
        drop(body);
        assert_eq!(budget.reserved(), 0, "given back on the refusal path too");
    }

    #[test]
    fn a_trickled_body_never_holds_more_than_twice_what_it_sent() {
        let (budget, mut body) = body_with_budget(usize::MAX, 0);
        for size in [1, 1, 3, 7, 1, 500, 2, 9000, 1, 70_000, 5, 1] {
            body.append(&vec![0; size], usize::MAX).unwrap();
            assert!(
                budget.reserved() <= 2 * body.len(),
                "{} held for {} sent",
                budget.reserved(),
                body.len()
            );
        }
    }

    #[test]
    fn one_segment_is_used_in_place() {
        let (_budget, mut body) = body_with_budget(1024, 10);
        body.append(b"{\"id\":1}", 10).unwrap();
        assert!(matches!(body.contiguous(), Cow::Borrowed(b"{\"id\":1}")));
        let (_budget, empty) = body_with_budget(1024, 0);
        assert!(empty.contiguous().is_empty());
    }
}
