//! Query parameters several routes share, parsed once.

use actix_web::HttpRequest;

use crate::{analytics::metrics::PeriodKey, error::ApiError, shopify::query};

/// `period=30d|90d|365d`, 90d when absent; 400 otherwise.
pub(crate) fn period(req: &HttpRequest) -> Result<PeriodKey, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    match query::get(&pairs, "period") {
        None => Ok(PeriodKey::DEFAULT),
        Some(raw) => PeriodKey::parse(raw)
            .ok_or_else(|| ApiError::BadRequest("period must be one of 30d, 90d, 365d".into())),
    }
}
