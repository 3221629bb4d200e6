//! VIP tiers: which level a customer's spend (or points earned) reaches,
//! and how far the next one is. Levels are ranked by threshold, not by the
//! order the merchant listed them in.

use super::settings::{tier_threshold, TierLevel, Tiers};

/// The levels with their thresholds (minor units or points), lowest first;
/// malformed levels (refused by validation) are left out.
pub fn ranked(tiers: &Tiers, exponent: u32) -> Vec<(i64, &TierLevel)> {
    let mut levels: Vec<(i64, &TierLevel)> = tiers
        .levels
        .iter()
        .filter_map(|l| tier_threshold(tiers.basis, &l.threshold, exponent).map(|t| (t, l)))
        .collect();
    levels.sort_by_key(|(t, _)| *t);
    levels
}

/// The highest level `value` reaches, if any.
pub fn tier_for(tiers: &Tiers, exponent: u32, value: i64) -> Option<&TierLevel> {
    ranked(tiers, exponent)
        .into_iter()
        .rev()
        .find(|(t, _)| value >= *t)
        .map(|(_, l)| l)
}

/// The level a customer holds: the highest `value` reaches, or their
/// floor (a tier carried over from another program) when that ranks
/// higher. A floor the settings no longer have counts for nothing.
pub fn reached<'a>(
    tiers: &'a Tiers,
    exponent: u32,
    value: i64,
    floor: Option<&str>,
) -> Option<&'a TierLevel> {
    let ranked = ranked(tiers, exponent);
    let rank = |level: &TierLevel| ranked.iter().position(|(_, l)| l.id == level.id);
    let earned = tier_for(tiers, exponent, value);
    match (earned, level(tiers, floor)) {
        (Some(e), Some(f)) if rank(f) > rank(e) => Some(f),
        (None, Some(f)) if rank(f).is_some() => Some(f),
        (earned, _) => earned,
    }
}

/// The next level above `value` and what is missing to reach it.
pub fn next_tier(tiers: &Tiers, exponent: u32, value: i64) -> Option<(&TierLevel, i64)> {
    ranked(tiers, exponent)
        .into_iter()
        .find(|(t, _)| value < *t)
        .map(|(t, l)| (l, t - value))
}

pub fn level<'a>(tiers: &'a Tiers, id: Option<&str>) -> Option<&'a TierLevel> {
    let id = id?;
    tiers.levels.iter().find(|l| l.id == id)
}

/// The earning multiplier of the tier `id` (100 % without one, or when the
/// tier was removed).
pub fn multiplier(tiers: &Tiers, id: Option<&str>) -> u32 {
    level(tiers, id).map_or(100, |l| l.multiplier_percent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::settings::{TierBasis, Tiers};

    #[test]
    fn the_highest_reached_level_wins_whatever_the_listing_order() {
        let mut tiers = Tiers::default();
        tiers.levels.reverse();
        assert_eq!(tier_for(&tiers, 2, 24_999), None);
        assert_eq!(tier_for(&tiers, 2, 25_000).unwrap().id, "silver");
        assert_eq!(tier_for(&tiers, 2, 99_999).unwrap().id, "gold");
        assert_eq!(tier_for(&tiers, 2, 1_000_000).unwrap().id, "platinum");
        let (next, missing) = next_tier(&tiers, 2, 30_000).unwrap();
        assert_eq!((next.id.as_str(), missing), ("gold", 20_000));
        assert!(next_tier(&tiers, 2, 100_000).is_none());
    }

    #[test]
    fn a_tier_floor_holds_until_the_standing_reaches_higher() {
        let tiers = Tiers::default();
        let reached_with = |value, floor| reached(&tiers, 2, value, floor).map(|l| l.id.as_str());
        assert_eq!(reached_with(0, Some("gold")), Some("gold"));
        assert_eq!(reached_with(30_000, Some("gold")), Some("gold"));
        assert_eq!(reached_with(100_000, Some("silver")), Some("platinum"));
        assert_eq!(reached_with(30_000, None), Some("silver"));
        assert_eq!(
            reached_with(0, Some("removed")),
            None,
            "a tier no longer offered"
        );
        assert_eq!(reached_with(30_000, Some("removed")), Some("silver"));
    }

    #[test]
    fn points_thresholds_are_whole_points() {
        let mut tiers = Tiers {
            basis: TierBasis::PointsEarned,
            ..Default::default()
        };
        for (level, t) in tiers.levels.iter_mut().zip(["500", "1000", "2500"]) {
            level.threshold = t.into();
        }
        assert_eq!(tier_for(&tiers, 2, 1_000).unwrap().id, "gold");
        assert_eq!(multiplier(&tiers, Some("gold")), 120);
        assert_eq!(multiplier(&tiers, Some("removed")), 100);
        assert_eq!(multiplier(&tiers, None), 100);
    }
}
