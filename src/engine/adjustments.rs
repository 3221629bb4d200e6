//! Manual point adjustments by the merchant's staff. An adjustment is one
//! ledger entry under the source key `adjustment:<customer>:<client key>`:
//! a positive one is appended, a negative one is a spend that never takes
//! the balance below zero. The same key with the same points and reason is
//! a retry (nothing is written again); with other points or another reason
//! it is refused rather than lost. Adjustments never create customers.

use sqlx::AnyConnection;

use crate::{
    loyalty::points::Points,
    store::{
        customers::{self, Customer},
        ledger::{self, LedgerEntry, NewEntry},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum AdjustmentError {
    #[error("no such customer")]
    UnknownCustomer,
    #[error("the deduction is larger than the spendable balance")]
    NotEnoughPoints,
    /// The database refuses a balance beyond `loyalty::points::MAX_STORED`
    /// (CHECK constraint): the client's conflict with the current balance,
    /// not a server fault.
    #[error("the adjustment would take the balance beyond the largest balance held")]
    BalanceOutOfRange,
    #[error(
        "this Idempotency-Key was used for a different adjustment \
         (other points or reason); nothing was changed"
    )]
    KeyReused,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An adjustment as the staff member asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Adjustment<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    /// Non-zero, within `loyalty::points::MAX_ADJUSTMENT` either way.
    pub points: Points,
    /// The merchant's words, trimmed.
    pub reason: &'a str,
    /// The client's idempotency key.
    pub key: &'a str,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// What an adjustment did: whether it wrote anything (false for a retry),
/// and the customer as it leaves them.
#[derive(Debug, Clone)]
pub struct Adjusted {
    pub applied: bool,
    pub customer: Customer,
}

/// The reason as the ledger keeps it: the merchant's words and who acted.
fn adjustment_reason(typed: &str, actor: &str) -> String {
    format!("{typed} (by {actor})")
}

/// Whether the adjustment recorded under the key is the one asked for now
/// (a retry), whoever of the staff sends it again.
fn is_same_adjustment(recorded: &LedgerEntry, points: i64, typed_reason: &str) -> bool {
    let actor = recorded.actor.as_deref().unwrap_or(ledger::SYSTEM);
    recorded.kind == ledger::kind::ADJUSTMENT
        && recorded.points == points
        && recorded.reason == adjustment_reason(typed_reason, actor)
}

/// Applies the adjustment in the caller's transaction, and reads the
/// customer as it leaves them in the same transaction, so that nothing
/// after the commit can fail the answer.
pub async fn adjust(
    conn: &mut AnyConnection,
    adjustment: &Adjustment<'_>,
    now: i64,
) -> Result<Adjusted, AdjustmentError> {
    let (shop_id, customer_id) = (adjustment.shop_id, adjustment.customer_id);
    customers::find_customer(conn, shop_id, customer_id)
        .await?
        .ok_or(AdjustmentError::UnknownCustomer)?;
    let points = adjustment.points.get();
    let source_key = format!("adjustment:{customer_id}:{}", adjustment.key);
    let reason = adjustment_reason(adjustment.reason, adjustment.actor);
    let entry = NewEntry {
        actor: adjustment.actor,
        ..NewEntry::new(
            shop_id,
            customer_id,
            points,
            ledger::kind::ADJUSTMENT,
            &reason,
            &source_key,
        )
    };
    let applied = if points > 0 {
        ledger::append(conn, &entry, now)
            .await
            .map_err(balance_out_of_range)?
    } else {
        match ledger::spend(conn, &entry, now).await? {
            ledger::Spent::Taken => true,
            ledger::Spent::AlreadyRecorded => false,
            ledger::Spent::NotEnough => return Err(AdjustmentError::NotEnoughPoints),
        }
    };
    if !applied {
        // The key was used before (the write above was a no-op): a retry of
        // that adjustment answers as before, a different one must not be
        // swallowed. Read after the write attempt, so a concurrent first
        // use that committed in between is seen too.
        let recorded = ledger::find_by_source_key(conn, shop_id, &source_key).await?;
        if !recorded.is_some_and(|r| is_same_adjustment(&r, points, adjustment.reason)) {
            return Err(AdjustmentError::KeyReused);
        }
    }
    let customer = customers::find_customer(conn, shop_id, customer_id)
        .await?
        .ok_or(AdjustmentError::UnknownCustomer)?;
    Ok(Adjusted { applied, customer })
}

/// A CHECK violation on the balance is [`AdjustmentError::BalanceOutOfRange`];
/// any other failure is the database's.
fn balance_out_of_range(e: sqlx::Error) -> AdjustmentError {
    match e.as_database_error().map(|db| db.kind()) {
        Some(sqlx::error::ErrorKind::CheckViolation) => AdjustmentError::BalanceOutOfRange,
        _ => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{adjustment_reason, is_same_adjustment};
    use crate::store::ledger::{kind, LedgerEntry};

    fn recorded(points: i64, typed: &str, actor: &str) -> LedgerEntry {
        LedgerEntry {
            id: 1,
            points,
            kind: kind::ADJUSTMENT.into(),
            reason: adjustment_reason(typed, actor),
            source_key: "adjustment:1:key".into(),
            settings_version: None,
            order_id: None,
            actor: Some(actor.into()),
            spendable_at: None,
            occurred_at: 0,
            created_at: 0,
        }
    }

    #[test]
    fn a_retry_with_the_same_points_and_reason_is_the_same_adjustment() {
        let r = recorded(250, "Goodwill", "staff:1");
        assert!(is_same_adjustment(&r, 250, "Goodwill"));
    }

    #[test]
    fn other_points_or_another_reason_is_a_different_adjustment() {
        let r = recorded(250, "Goodwill", "staff:1");
        assert!(!is_same_adjustment(&r, 300, "Goodwill"));
        assert!(!is_same_adjustment(&r, -250, "Goodwill"));
        assert!(!is_same_adjustment(&r, 250, "Apology"));
        // A reason that merely ends like the stored one is not the same.
        assert!(!is_same_adjustment(&r, 250, "Goodwil"));
    }

    #[test]
    fn another_staff_member_retrying_the_same_adjustment_is_a_retry() {
        let r = recorded(250, "Goodwill", "staff:1");
        // The stored reason names staff:1; the comparison uses the actor
        // recorded, not the one retrying.
        assert!(is_same_adjustment(&r, 250, "Goodwill"));
        let mut other_kind = recorded(250, "Goodwill", "staff:1");
        other_kind.kind = kind::EARN.into();
        assert!(!is_same_adjustment(&other_kind, 250, "Goodwill"));
    }
}
