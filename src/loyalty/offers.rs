//! Personal offers, pure: the reward a shopper is closest to, which order
//! lines count toward co-purchase, and the ranking of products bought
//! together with the shopper's past purchases.
//!
//! Co-purchase counts come from a maintained table of product pairs (see
//! [`crate::store::offers`]): each counted order adds one to every ordered
//! pair of its distinct products. A product `q`'s score for a shopper who
//! bought the products `P` is the sum over `p ∈ P` of the orders holding both
//! `p` and `q`. It equals the number of orders holding `q` and some `p` when
//! no such order holds two of the shopper's products; otherwise an order
//! counts once per past product it shares, which ranks products bought along
//! with several of the shopper's purchases higher. An exact count would need
//! a join over every order of the shopper's products on each request, which
//! a best-seller in a shop with a million orders makes too slow for a widget
//! that loads on every page.

use std::collections::{BTreeMap, BTreeSet};

use super::settings::Reward;

/// Orders with more distinct products than this are stored but not paired:
/// a wholesale basket says little about what goes together, and its pairs
/// grow with the square of its size.
pub const MAX_PAIRED_PRODUCTS: usize = 50;

/// One distinct product of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderProduct {
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub title: String,
    pub quantity: i64,
}

/// An order line as a webhook carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: Option<i64>,
    pub variant_id: Option<i64>,
    pub title: String,
    /// What the order holds now (`current_quantity`: an edit or a refund
    /// lowers it), else the quantity ordered.
    pub quantity: i64,
}

/// The order's distinct products, in product id order: lines without a
/// product (custom items) or with nothing left are skipped; lines of one
/// product (several variants) become one, with their quantities summed and
/// the first line's variant and title.
pub fn distinct_products(lines: &[Line]) -> Vec<OrderProduct> {
    let mut by_product: BTreeMap<i64, OrderProduct> = BTreeMap::new();
    for line in lines {
        let Some(product_id) = line.product_id else {
            continue;
        };
        if line.quantity <= 0 {
            continue;
        }
        by_product
            .entry(product_id)
            .and_modify(|p| p.quantity += line.quantity)
            .or_insert_with(|| OrderProduct {
                product_id,
                variant_id: line.variant_id,
                title: line.title.clone(),
                quantity: line.quantity,
            });
    }
    by_product.into_values().collect()
}

/// Whether an order counts as a purchase: for the shopper's own products
/// and for co-purchase counts.
pub fn counted(cancelled: bool, test: bool) -> bool {
    !cancelled && !test
}

/// The ordered pairs a counted order contributes (both directions), sorted;
/// none for an order that does not count or a basket too big to pair.
pub fn pairs(products: &BTreeSet<i64>, counted: bool) -> BTreeSet<(i64, i64)> {
    if !counted || products.len() > MAX_PAIRED_PRODUCTS {
        return BTreeSet::new();
    }
    products
        .iter()
        .flat_map(|a| {
            products
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (*a, *b))
        })
        .collect()
}

/// How the pair counts move when an order's contribution changes from
/// `old` to `new`: each pair with its delta (+1 or -1), sorted so that
/// concurrent transactions touch rows in the same order. Pairs in both
/// move nothing, so a re-delivery writes no pair at all.
pub fn pair_changes(
    old: &BTreeSet<(i64, i64)>,
    new: &BTreeSet<(i64, i64)>,
) -> Vec<((i64, i64), i64)> {
    let mut changes: Vec<((i64, i64), i64)> = old
        .difference(new)
        .map(|p| (*p, -1))
        .chain(new.difference(old).map(|p| (*p, 1)))
        .collect();
    changes.sort_unstable();
    changes
}

/// A product ranked for the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked {
    pub product_id: i64,
    pub orders_together: i64,
}

/// Ranks candidate products (`(product, score)`, see the module doc):
/// products the shopper bought are left out, the rest ordered by score,
/// highest first, ties by product id, at most `limit`.
pub fn rank(bought: &BTreeSet<i64>, candidates: &[(i64, i64)], limit: usize) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = candidates
        .iter()
        .filter(|(product, score)| !bought.contains(product) && *score > 0)
        .map(|&(product_id, orders_together)| Ranked {
            product_id,
            orders_together,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.orders_together
            .cmp(&a.orders_together)
            .then(a.product_id.cmp(&b.product_id))
    });
    ranked.truncate(limit);
    ranked
}

/// The reward a shopper is closest to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closest<'a> {
    pub reward: &'a Reward,
    /// Points still missing; 0 when redeemable.
    pub points_needed: i64,
    pub redeemable: bool,
}

/// The cheapest reward the balance does not reach yet (the first listed
/// among equals); when every reward is within reach, the most valuable one,
/// by what the merchant asks for it in points. None without rewards.
pub fn closest_reward(rewards: &[Reward], balance: i64) -> Option<Closest<'_>> {
    let out_of_reach = rewards.iter().filter(|r| r.points_cost > balance).fold(
        None,
        |best: Option<&Reward>, r| match best {
            Some(b) if b.points_cost <= r.points_cost => Some(b),
            _ => Some(r),
        },
    );
    if let Some(reward) = out_of_reach {
        return Some(Closest {
            reward,
            points_needed: reward.points_cost - balance,
            redeemable: false,
        });
    }
    rewards
        .iter()
        .fold(None, |best: Option<&Reward>, r| match best {
            Some(b) if b.points_cost >= r.points_cost => Some(b),
            _ => Some(r),
        })
        .map(|reward| Closest {
            reward,
            points_needed: 0,
            redeemable: true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::settings::RewardValue;

    fn reward(id: &str, cost: i64) -> Reward {
        Reward {
            id: id.into(),
            name: id.to_uppercase(),
            value: RewardValue::FreeShipping,
            points_cost: cost,
            minimum_order: None,
            valid_days: 30,
        }
    }

    fn line(product: Option<i64>, variant: i64, title: &str, quantity: i64) -> Line {
        Line {
            product_id: product,
            variant_id: Some(variant),
            title: title.into(),
            quantity,
        }
    }

    #[test]
    fn the_cheapest_reward_out_of_reach_is_the_closest() {
        let rewards = [reward("b", 1000), reward("a", 500), reward("c", 500)];
        let c = closest_reward(&rewards, 120).unwrap();
        assert_eq!(
            (c.reward.id.as_str(), c.points_needed, c.redeemable),
            ("a", 380, false)
        );
        // 500 is reached: the next step is the 1000-point reward.
        let c = closest_reward(&rewards, 500).unwrap();
        assert_eq!(
            (c.reward.id.as_str(), c.points_needed, c.redeemable),
            ("b", 500, false)
        );
        let c = closest_reward(&rewards, 999).unwrap();
        assert_eq!((c.reward.id.as_str(), c.points_needed), ("b", 1));
    }

    #[test]
    fn with_every_reward_in_reach_the_most_valuable_is_redeemable() {
        let rewards = [reward("a", 500), reward("b", 1000), reward("c", 1000)];
        let c = closest_reward(&rewards, 1000).unwrap();
        assert_eq!(
            (c.reward.id.as_str(), c.points_needed, c.redeemable),
            ("b", 0, true)
        );
        assert_eq!(closest_reward(&[], 1000), None);
        assert_eq!(closest_reward(&[], 0), None);
    }

    #[test]
    fn lines_become_distinct_products_without_custom_items_or_removed_lines() {
        let lines = [
            line(Some(30), 301, "Mug", 1),
            line(None, 0, "Gift wrap", 1),
            line(Some(10), 101, "Tea, green", 2),
            line(Some(10), 102, "Tea, black", 1),
            line(Some(20), 201, "Removed by an edit", 0),
        ];
        let products = distinct_products(&lines);
        assert_eq!(
            products,
            [
                OrderProduct {
                    product_id: 10,
                    variant_id: Some(101),
                    title: "Tea, green".into(),
                    quantity: 3
                },
                OrderProduct {
                    product_id: 30,
                    variant_id: Some(301),
                    title: "Mug".into(),
                    quantity: 1
                },
            ]
        );
    }

    #[test]
    fn cancelled_test_single_and_wholesale_orders_pair_nothing() {
        assert!(counted(false, false));
        assert!(!counted(true, false) && !counted(false, true));
        let basket = |n: i64| (1..=n).collect::<BTreeSet<i64>>();
        assert_eq!(pairs(&basket(1), true).len(), 0);
        let n = MAX_PAIRED_PRODUCTS as i64;
        assert_eq!(pairs(&basket(n), true).len(), (n * (n - 1)) as usize);
        assert!(pairs(&basket(n + 1), true).is_empty());
    }

    #[test]
    fn pairs_go_both_ways_and_a_redelivery_changes_none() {
        let set: BTreeSet<i64> = [1, 2, 3].into();
        let p = pairs(&set, true);
        assert_eq!(p.len(), 6);
        assert!(p.contains(&(3, 1)) && p.contains(&(1, 3)));
        assert!(pairs(&set, false).is_empty());
        assert!(pair_changes(&p, &p).is_empty());
        // An edit drops product 3 and adds 4.
        let edited = pairs(&[1, 2, 4].into(), true);
        let changes = pair_changes(&p, &edited);
        assert_eq!(
            changes,
            [
                ((1, 3), -1),
                ((1, 4), 1),
                ((2, 3), -1),
                ((2, 4), 1),
                ((3, 1), -1),
                ((3, 2), -1),
                ((4, 1), 1),
                ((4, 2), 1),
            ]
        );
        // Cancelling takes every pair back.
        assert_eq!(
            pair_changes(&edited, &BTreeSet::new())
                .iter()
                .map(|c| c.1)
                .sum::<i64>(),
            -6
        );
    }

    #[test]
    fn ranking_leaves_out_what_was_bought_orders_by_score_then_id_and_limits() {
        let bought: BTreeSet<i64> = [1, 2].into();
        let candidates = [(2, 9), (7, 3), (5, 3), (9, 4), (8, 1), (6, 0)];
        let ranked = rank(&bought, &candidates, 3);
        assert_eq!(
            ranked
                .iter()
                .map(|r| (r.product_id, r.orders_together))
                .collect::<Vec<_>>(),
            [(9, 4), (5, 3), (7, 3)]
        );
        assert_eq!(
            rank(&bought, &candidates, 10).len(),
            4,
            "a zero score is no offer"
        );
        assert!(rank(&bought, &candidates, 0).is_empty());
    }
}
