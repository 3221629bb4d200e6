//! `/api/admin/imports/members*`: members brought over from another
//! loyalty program as a CSV file ([`crate::service::member_import`]). The
//! file is the request body (`text/csv`), read up to [`MAX_FILE_BYTES`];
//! the format and the column mapping are query parameters.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::guards::AdminSession;
use crate::{
    error::ApiError,
    loyalty::member_import::{Mapping, FIELDS},
    routes::AppState,
    service::member_import::{self, Reading},
    shopify::query,
    store::now_ms,
};

/// The largest file accepted: 250,000 rows of a typical export.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// Files read at once by this process: what imports hold in memory is at
/// most this many files (and their rows).
static FILES_IN_FLIGHT: Semaphore = Semaphore::const_new(2);

/// `POST /api/admin/imports/members/inspect`: the file's columns, the app
/// format they look like and the mapping it suggests.
pub async fn inspect(
    session: AdminSession,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let file = receive(payload).await?;
    let inspection = member_import::inspect(&state.store, session.shop_id, &file.bytes).await?;
    Ok(HttpResponse::Ok().json(inspection))
}

/// `POST /api/admin/imports/members/dry-run?format=&email=&points=…`: what
/// importing the file would do; changes nothing.
pub async fn dry_run(
    session: AdminSession,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reading = reading(&req)?;
    let file = receive(payload).await?;
    let report =
        member_import::dry_run(&state.store, session.shop_id, &file.bytes, &reading).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /api/admin/imports/members?format=&email=&points=…`: imports the
/// file, once.
pub async fn import(
    session: AdminSession,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reading = reading(&req)?;
    let file = receive(payload).await?;
    let report = member_import::import(
        &state.store,
        session.shop_id,
        &file.bytes,
        &reading,
        now_ms(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /api/admin/imports/members`: the shop's imports, latest first.
pub async fn list(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let imports = member_import::history(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "imports": imports })))
}

/// A file received, holding one of the process's [`FILES_IN_FLIGHT`]
/// until it is dropped.
struct Received {
    bytes: Vec<u8>,
    _permit: SemaphorePermit<'static>,
}

/// Takes a turn among the files read at once (`429` when none is free),
/// then reads the body, refused past [`MAX_FILE_BYTES`].
async fn receive(payload: web::Payload) -> Result<Received, ApiError> {
    let permit = FILES_IN_FLIGHT
        .try_acquire()
        .map_err(|_| ApiError::TooManyRequests {
            retry_after_secs: 10,
        })?;
    Ok(Received {
        bytes: read_file(payload).await?,
        _permit: permit,
    })
}

/// The format and mapping of a request: `format` (an id of
/// `loyalty::member_import::FORMATS`), and a column for any of the fields
/// (`customer_id`, `email`, `points`, `tier`, `referral_code`,
/// `birthday`). Naming any field gives the whole mapping: the fields not
/// named are not imported.
fn reading(req: &HttpRequest) -> Result<Reading, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let mut mapping = Mapping::default();
    let mut named = false;
    for field in FIELDS {
        if let Some(column) = query::get(&pairs, field) {
            if column.len() > 200 {
                return Err(ApiError::BadRequest(format!(
                    "{field}: a column name is at most 200 characters"
                )));
            }
            mapping.set(field, Some(column.to_owned()));
            named = true;
        }
    }
    Ok(Reading {
        format: query::get(&pairs, "format")
            .filter(|f| !f.is_empty())
            .map(str::to_owned),
        mapping: named.then_some(mapping),
    })
}

/// The request body, refused past [`MAX_FILE_BYTES`].
async fn read_file(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut file = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("the file did not arrive whole".into()))?;
        if file.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_FILE_BYTES,
            });
        }
        file.extend_from_slice(&chunk);
    }
    Ok(file)
}
