//! The merchant's outbound webhook endpoints (see
//! [`crate::jobs::outbound`]): registered with a URL Advocate may send to
//! ([`crate::egress`]) and topics; the signing secret is made here, shown
//! once, and kept encrypted like the access tokens. And the deliveries, as
//! the Activity screen shows them, with a resend by hand.

use serde::Serialize;

use crate::{
    crypto::TokenCipher,
    egress::{self, EgressError, Policy},
    store::{
        now_ms,
        outbound::{self, topic, AttemptRow, DeliveryRow, EndpointRow, NewEndpoint},
        shops, Store,
    },
};

/// Most enabled endpoints per shop.
pub const MAX_ENDPOINTS: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("url: {0}")]
    Url(#[from] EgressError),
    #[error("topics: each must be one of {}, and at least one", topic::ALL.join(", "))]
    Topics,
    #[error("a shop may have at most 10 enabled endpoints; disable one first")]
    TooMany,
    #[error("no such endpoint")]
    UnknownEndpoint,
    #[error("no such delivery, or it is queued already, or its endpoint is disabled")]
    NotResendable,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An endpoint as listed (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointOut {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "https://hooks.example.com/advocate")]
    pub url: String,
    #[schema(example = json!(["points.changed", "tier.changed"]))]
    pub topics: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    pub disabled_at: Option<String>,
}

impl From<EndpointRow> for EndpointOut {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: r.id,
            url: r.url.clone(),
            topics: r.topic_list(),
            created_at: crate::engine::rfc3339(r.created_at),
            disabled_at: r.disabled_at.map(crate::engine::rfc3339),
        }
    }
}

/// An endpoint just registered, with its signing secret (shown this once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    pub endpoint: EndpointOut,
    /// The key of the `Advocate-Webhook-Signature` HMAC: not shown again.
    #[schema(example = "whsec_5f2b…")]
    pub secret: String,
}

/// Registers an endpoint for the shop: the URL must be one Advocate may
/// send to under `policy`, the topics known (repeats collapse).
pub async fn create(
    store: &Store,
    cipher: &TokenCipher,
    policy: Policy,
    shop_id: i64,
    url: &str,
    topics: &[String],
    created_by: &str,
) -> Result<CreatedEndpoint, EndpointError> {
    let chosen: Vec<&str> = topic::ALL
        .iter()
        .copied()
        .filter(|t| topics.iter().any(|asked| asked == t))
        .collect();
    if chosen.is_empty() || topics.iter().any(|t| !topic::ALL.contains(&t.as_str())) {
        return Err(EndpointError::Topics);
    }
    let url = egress::check_url_resolved(url.trim(), policy).await?;
    let mut conn = store.writer().acquire().await?;
    if outbound::count_enabled(&mut conn, shop_id).await? >= MAX_ENDPOINTS {
        return Err(EndpointError::TooMany);
    }
    let shop = shops::find_by_id(&mut conn, shop_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let secret = format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()));
    let sealed = cipher.encrypt(&shop.domain, &secret);
    let row = outbound::insert_endpoint(
        &mut conn,
        &NewEndpoint {
            shop_id,
            url: url.as_str(),
            topics: &chosen,
            secret_enc: &sealed,
            created_by,
        },
        now_ms(),
    )
    .await?;
    Ok(CreatedEndpoint {
        endpoint: row.into(),
        secret,
    })
}

/// The shop's endpoints, newest first.
pub async fn list(store: &Store, shop_id: i64) -> Result<Vec<EndpointOut>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    Ok(outbound::list_endpoints(&mut conn, shop_id)
        .await?
        .into_iter()
        .map(EndpointOut::from)
        .collect())
}

/// Disables the shop's endpoint: nothing more is sent to it, and what was
/// queued for it is given up.
pub async fn disable(store: &Store, shop_id: i64, id: i64) -> Result<EndpointOut, EndpointError> {
    let mut tx = store.begin().await?;
    let Some(row) = outbound::disable_endpoint(&mut tx, shop_id, id, now_ms()).await? else {
        tx.rollback().await?;
        return Err(EndpointError::UnknownEndpoint);
    };
    tx.commit().await?;
    Ok(row.into())
}

/// A delivery as the Activity screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryOut {
    pub id: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub topic: String,
    pub event_id: String,
    /// `queued`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// While queued: when the next try is due.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptOut {
    pub attempted_at: String,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

fn delivery_out((d, tries): (DeliveryRow, Vec<AttemptRow>)) -> DeliveryOut {
    DeliveryOut {
        id: d.id,
        endpoint_id: d.endpoint_id,
        url: d.url,
        topic: d.topic,
        event_id: d.event_id,
        next_attempt_at: (d.status == outbound::status::QUEUED)
            .then(|| crate::engine::rfc3339(d.next_attempt_at)),
        status: d.status,
        attempts: d.attempts,
        created_at: crate::engine::rfc3339(d.created_at),
        delivered_at: d.delivered_at.map(crate::engine::rfc3339),
        last_status: d.last_status,
        last_error: d.last_error,
        attempt_log: tries
            .into_iter()
            .map(|a| AttemptOut {
                attempted_at: crate::engine::rfc3339(a.attempted_at),
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                error: a.error,
            })
            .collect(),
    }
}

/// The shop's latest 100 deliveries, newest first, with their tries.
pub async fn deliveries(store: &Store, shop_id: i64) -> Result<Vec<DeliveryOut>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    Ok(outbound::list_deliveries(&mut conn, shop_id, 100)
        .await?
        .into_iter()
        .map(delivery_out)
        .collect())
}

/// Queues the shop's delivery `id` again at once.
pub async fn resend(store: &Store, shop_id: i64, id: i64) -> Result<DeliveryOut, EndpointError> {
    let mut conn = store.writer().acquire().await?;
    if !outbound::resend(&mut conn, shop_id, id, now_ms()).await? {
        return Err(EndpointError::NotResendable);
    }
    let found = outbound::find_delivery(&mut conn, shop_id, id)
        .await?
        .ok_or(EndpointError::NotResendable)?;
    Ok(delivery_out(found))
}
