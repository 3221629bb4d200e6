//! Win-back: a customer who enters the at-risk segment opens an episode,
//! which gets the shop's offer (or is held out, to measure the effect), and
//! a return purchase closes it with the revenue it recovered.

use sqlx::AnyConnection;

use super::EngineError;
use crate::loyalty::settings::ProgramSettings;

/// What an at-risk customer was given, for the segment-entered Flow trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Offers are off.
    None,
    /// In the holdout: no offer, to compare against.
    Holdout,
    Points {
        points: i64,
    },
    DiscountCode {
        code: String,
        expires_at: i64,
    },
}

/// Called in the caller's transaction when `customer_id` enters the
/// at-risk segment at `now` (ms): opens an episode unless one is open and
/// issues its offer, once.
pub async fn entered_at_risk(
    _conn: &mut AnyConnection,
    _shop_id: i64,
    _settings: &ProgramSettings,
    _customer_id: i64,
    _now: i64,
) -> Result<Offer, EngineError> {
    Ok(Offer::None)
}
