//! Customer deliveries (customers/create, update, delete) and the
//! compliance requests about a customer (customers/data_request,
//! customers/redact).

use serde::Deserialize;

use super::{parse, parse_time, Payload, PayloadError};
use crate::{
    engine::customers::{CustomerEvent, CustomerProfile},
    loyalty::identity,
    shopify::webhook::WebhookTopic,
};

#[derive(Deserialize)]
struct CustomerPayload {
    id: i64,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    tags: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    email_marketing_consent: Option<Consent>,
    sms_marketing_consent: Option<Consent>,
    default_address: Option<identity::Address>,
}

#[derive(Deserialize)]
struct Consent {
    state: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

#[derive(Deserialize)]
struct DataRequestPayload {
    customer: IdOnly,
    #[serde(default)]
    orders_requested: Vec<i64>,
    data_request: IdOnly,
}

#[derive(Deserialize)]
struct RedactPayload {
    customer: RedactedCustomer,
    #[serde(default)]
    orders_to_redact: Vec<i64>,
}

#[derive(Deserialize)]
struct RedactedCustomer {
    id: i64,
    email: Option<String>,
    phone: Option<String>,
}

/// customers/create or customers/update: the profile, with its identifiers
/// hashed for matching guest orders.
pub(super) fn parse_customer(
    topic: &WebhookTopic,
    body: &[u8],
) -> Result<CustomerEvent, PayloadError> {
    let c: CustomerPayload = parse(body)?;
    let (email_hash, phone_hash, address_hash) = identity::hashes(
        c.email.as_deref(),
        c.phone.as_deref(),
        c.default_address.as_ref(),
    );
    let profile = CustomerProfile {
        email_hash,
        phone_hash,
        address_hash,
        customer_id: c.id,
        email: c.email,
        first_name: c.first_name,
        last_name: c.last_name,
        phone: c.phone,
        tags: c.tags,
        email_marketing_state: c.email_marketing_consent.and_then(|s| s.state),
        sms_marketing_state: c.sms_marketing_consent.and_then(|s| s.state),
        shopify_created_at: c.created_at.as_deref().and_then(parse_time),
        shopify_updated_at: c.updated_at.as_deref().and_then(parse_time),
    };
    Ok(CustomerEvent {
        profile,
        created: *topic == WebhookTopic::CustomersCreate,
    })
}

/// customers/delete: the customer's id.
pub(super) fn parse_deleted(body: &[u8]) -> Result<i64, PayloadError> {
    Ok(parse::<IdOnly>(body)?.id)
}

pub(super) fn parse_data_request(body: &[u8]) -> Result<Payload, PayloadError> {
    let p: DataRequestPayload = parse(body)?;
    Ok(Payload::DataRequest {
        customer_id: p.customer.id,
        request_id: p.data_request.id,
        orders_requested: p.orders_requested,
    })
}

pub(super) fn parse_redact(body: &[u8]) -> Result<Payload, PayloadError> {
    let p: RedactPayload = parse(body)?;
    Ok(Payload::CustomerRedact {
        customer_id: p.customer.id,
        orders_to_redact: p.orders_to_redact,
        email: p.customer.email,
        phone: p.customer.phone,
    })
}
