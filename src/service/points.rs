//! The merchant's manual point adjustments.

use serde::Serialize;

use crate::{
    engine::adjustments::{self, Adjustment, AdjustmentError},
    loyalty::{
        points::{Points, MAX_ADJUSTMENT},
        settings::FieldError,
    },
    store::{now_ms, Store},
};

#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    /// The points or the reason are not valid; nothing was changed.
    #[error("the adjustment is not valid")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Refused(#[from] AdjustmentError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An adjustment as sent: `points` as any JSON integer (None when it is not
/// one), the reason as typed.
#[derive(Debug, Clone, Copy)]
pub struct AdjustRequest<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    pub points: Option<i64>,
    pub reason: &'a str,
    /// The client's `Idempotency-Key`.
    pub key: &'a str,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// The answer: whether the adjustment was applied now (201) or is a retry
/// of one applied before (200), and the balance it leaves.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Adjusted {
    pub applied: bool,
    pub points_balance: i64,
    pub points_pending: i64,
}

/// `points` is non-zero and at most `MAX_ADJUSTMENT` either way; the
/// reason, trimmed, 1-500 characters.
fn validate(points: Option<i64>, reason: &str) -> Result<Points, Vec<FieldError>> {
    let mut errors = Vec::new();
    let points = points.and_then(Points::adjustment);
    if points.is_none() {
        errors.push(FieldError {
            field: "points".into(),
            message: format!(
                "must be a non-zero number of points between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}"
            ),
        });
    }
    if reason.is_empty() || reason.len() > 500 {
        errors.push(FieldError {
            field: "reason".into(),
            message: "a reason (1-500 characters) is required".into(),
        });
    }
    points.filter(|_| errors.is_empty()).ok_or(errors)
}

/// Adjusts the customer's points (see [`crate::engine::adjustments`]).
/// The transaction commits only when the answer is a success.
pub async fn adjust_points(
    store: &Store,
    request: AdjustRequest<'_>,
) -> Result<Adjusted, AdjustError> {
    let reason = request.reason.trim();
    let points = validate(request.points, reason).map_err(AdjustError::Invalid)?;
    let adjustment = Adjustment {
        shop_id: request.shop_id,
        customer_id: request.customer_id,
        points,
        reason,
        key: request.key,
        actor: request.actor,
    };
    let mut tx = store.begin().await?;
    match adjustments::adjust(&mut tx, &adjustment, now_ms()).await {
        Ok(done) => {
            tx.commit().await?;
            Ok(Adjusted {
                applied: done.applied,
                points_balance: done.customer.points_balance,
                points_pending: done.customer.points_pending,
            })
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate;
    use crate::loyalty::points::MAX_ADJUSTMENT;

    #[test]
    fn points_and_reason_are_checked_together() {
        assert_eq!(validate(Some(250), "Goodwill").unwrap().get(), 250);
        let fields = |e: Vec<crate::loyalty::settings::FieldError>| {
            e.into_iter().map(|f| f.field).collect::<Vec<_>>()
        };
        assert_eq!(
            fields(validate(Some(0), "Goodwill").unwrap_err()),
            ["points"]
        );
        assert_eq!(
            fields(validate(Some(MAX_ADJUSTMENT + 1), "").unwrap_err()),
            ["points", "reason"]
        );
        assert_eq!(
            fields(validate(None, &"x".repeat(501)).unwrap_err()),
            ["points", "reason"]
        );
        assert_eq!(fields(validate(Some(-5), "").unwrap_err()), ["reason"]);
    }
}
