//! Points as a bounded integer whose arithmetic can never wrap. Every
//! points figure Advocate stores (a balance, the pending total, a ledger
//! entry, a redemption's cost) lies within `±MAX_STORED`; the database
//! refuses anything else (CHECK constraints, migration 0014). The bound is
//! far below `i64::MAX` (about 9.2e18), so even the sum of two in-range
//! figures computed by SQL cannot overflow before the constraint refuses
//! it. Operations return `None` (or saturate, where saying so is the
//! rule) instead of wrapping.
//!
//! Input ranges, each refused with a 422 naming the field:
//!
//! | input | range |
//! |---|---|
//! | a staff adjustment | non-zero, at most [`MAX_ADJUSTMENT`] either way |
//! | reward costs, bonuses, entry and referral points (settings) | up to [`MAX_SETTING`] |
//! | tier multipliers (settings) | 100 to 1000 percent |
//! | order amounts from Shopify | up to [`crate::loyalty::money::MAX_AMOUNT_MINOR`] minor units |

use serde::Serialize;

/// Largest magnitude of any stored points figure (10^15).
pub const MAX_STORED: i64 = 1_000_000_000_000_000;
/// Largest magnitude of one staff adjustment (ten million points).
pub const MAX_ADJUSTMENT: i64 = 10_000_000;
/// Largest points value a program setting may hold (a reward's cost, a
/// bonus): no program needs more, and sums stay far from the stored bound.
pub const MAX_SETTING: i64 = 100_000_000;

/// A points figure within `±MAX_STORED`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Points(i64);

/// A points figure outside the stored range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("points out of range: the limit is {MAX_STORED} either way")]
pub struct OutOfRange;

impl Points {
    pub const ZERO: Points = Points(0);
    pub const MAX: Points = Points(MAX_STORED);
    pub const MIN: Points = Points(-MAX_STORED);

    /// The figure, or `OutOfRange` beyond `±MAX_STORED`.
    pub fn new(value: i64) -> Result<Self, OutOfRange> {
        if (-MAX_STORED..=MAX_STORED).contains(&value) {
            Ok(Self(value))
        } else {
            Err(OutOfRange)
        }
    }

    /// A staff adjustment: non-zero and at most [`MAX_ADJUSTMENT`] either
    /// way. `i64::MIN` and its kin are refused here, before any negation.
    pub fn adjustment(value: i64) -> Option<Self> {
        (value != 0 && (-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&value)).then_some(Self(value))
    }

    /// The nearest figure in range: for results computed in a wider type
    /// (points from an order amount) whose excess means "as many as can be
    /// held", never a wrapped value.
    pub fn saturating_from_i128(value: i128) -> Self {
        Self(value.clamp(i128::from(-MAX_STORED), i128::from(MAX_STORED)) as i64)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Points) -> Option<Points> {
        // Both lie within ±10^15: the i64 sum cannot overflow, only leave
        // the stored range.
        Self::new(self.0 + other.0).ok()
    }

    pub fn checked_sub(self, other: Points) -> Option<Points> {
        Self::new(self.0 - other.0).ok()
    }

    /// The range is symmetric, so negation always stays in it.
    pub fn negated(self) -> Points {
        Self(-self.0)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl TryFrom<i64> for Points {
    type Error = OutOfRange;

    fn try_from(value: i64) -> Result<Self, OutOfRange> {
        Self::new(value)
    }
}

impl From<Points> for i64 {
    fn from(points: Points) -> i64 {
        points.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_extremes_of_i64_are_refused() {
        assert_eq!(Points::new(i64::MIN), Err(OutOfRange));
        assert_eq!(Points::new(i64::MAX), Err(OutOfRange));
        assert_eq!(Points::adjustment(i64::MIN), None);
        assert_eq!(Points::adjustment(0), None);
        assert_eq!(
            Points::adjustment(-MAX_ADJUSTMENT),
            Some(Points(-MAX_ADJUSTMENT))
        );
        assert_eq!(Points::adjustment(MAX_ADJUSTMENT + 1), None);
        assert_eq!(Points::MAX.checked_add(Points(1)), None);
        assert_eq!(Points::MIN.checked_sub(Points(1)), None);
        assert_eq!(Points::saturating_from_i128(i128::MAX), Points::MAX);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn construction_accepts_exactly_the_stored_range(value in any::<i64>()) {
            let made = Points::new(value);
            prop_assert_eq!(made.is_ok(), (-MAX_STORED..=MAX_STORED).contains(&value));
            if let Ok(p) = made {
                prop_assert_eq!(p.get(), value);
                prop_assert_eq!(p.negated().negated(), p);
                prop_assert!(Points::new(p.negated().get()).is_ok());
            }
        }

        #[test]
        fn sums_and_differences_are_exact_or_refused(
            a in -MAX_STORED..=MAX_STORED,
            b in -MAX_STORED..=MAX_STORED,
        ) {
            let (pa, pb) = (Points(a), Points(b));
            let exact_sum = i128::from(a) + i128::from(b);
            match pa.checked_add(pb) {
                Some(sum) => prop_assert_eq!(i128::from(sum.get()), exact_sum),
                None => prop_assert!(exact_sum.abs() > i128::from(MAX_STORED)),
            }
            let exact_difference = i128::from(a) - i128::from(b);
            match pa.checked_sub(pb) {
                Some(difference) => prop_assert_eq!(i128::from(difference.get()), exact_difference),
                None => prop_assert!(exact_difference.abs() > i128::from(MAX_STORED)),
            }
        }

        #[test]
        fn saturation_never_wraps(value in any::<i128>()) {
            let p = Points::saturating_from_i128(value);
            prop_assert!(Points::new(p.get()).is_ok());
            if value.abs() <= i128::from(MAX_STORED) {
                prop_assert_eq!(i128::from(p.get()), value);
            } else {
                prop_assert_eq!(p.get().signum(), value.signum() as i64);
            }
        }

        #[test]
        fn adjustments_stay_within_their_bound(value in any::<i64>()) {
            match Points::adjustment(value) {
                Some(p) => {
                    prop_assert_eq!(p.get(), value);
                    prop_assert!(value != 0 && value.unsigned_abs() <= MAX_ADJUSTMENT as u64);
                }
                None => prop_assert!(value == 0 || value.unsigned_abs() > MAX_ADJUSTMENT as u64),
            }
        }
    }
}
