//! Win-back: a customer who enters the at-risk segment opens an episode,
//! which gets the shop's offer (or is held out, to measure the effect), and
//! a return purchase closes it with the revenue it recovered.
//!
//! Invariants: one open episode per customer, and one offer per episode: a
//! second [`entered_at_risk`] while the episode is open answers the offer
//! already made and issues nothing (the ledger entry's source key
//! `winback:{episode}` and the code's idempotency key `winback:{episode}:code`
//! make a retried step safe too). Whether an episode is held out is drawn
//! from the shop's holdout key and the customer's episode number
//! ([`crate::loyalty::winback::held_out`]), so a re-run draws the same. The
//! holdout is drawn whether or not offers are on, so the comparison group
//! stays a random share of at-risk customers when a merchant turns offers on.
//!
//! A counted order (paid, not cancelled, not a test) paid while an episode
//! is open and inside its attribution window closes it as `returned` with
//! that order ([`on_order`]); the scheduled sweep closes the rest as
//! `expired` when their window ends ([`expire`]).

use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::{enqueue, redeem::discount_value, rfc3339, EngineError, DAY_MS};
use crate::{
    engine::effects::Effect,
    loyalty::{
        codes,
        settings::{AdvocateReward, ProgramSettings},
        winback::held_out,
        CustomerId, EpochMs, ShopId,
    },
    store::{
        ledger::{self, NewEntry},
        orders::OrderRow,
        winback::{self as episodes, offer_kind, Episode, NewEpisode},
    },
};

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

impl Offer {
    /// The offer as the segment-entered trigger's "Offer" field names it:
    /// `none`, `holdout`, `points` or `discount_code`.
    pub fn kind(&self) -> &'static str {
        match self {
            Offer::None => "none",
            Offer::Holdout => "holdout",
            Offer::Points { .. } => "points",
            Offer::DiscountCode { .. } => "discount_code",
        }
    }

    /// The segment-entered trigger's offer fields ("Offer", "Offer points",
    /// "Discount code", "Expires at"), empty or 0 where they do not apply.
    pub fn flow_fields(&self) -> Map<String, Value> {
        let (points, code, expires) = match self {
            Offer::Points { points } => (*points, String::new(), String::new()),
            Offer::DiscountCode { code, expires_at } => (0, code.clone(), rfc3339(*expires_at)),
            Offer::None | Offer::Holdout => (0, String::new(), String::new()),
        };
        Map::from_iter([
            ("Offer".to_owned(), json!(self.kind())),
            ("Offer points".to_owned(), json!(points)),
            ("Discount code".to_owned(), json!(code)),
            ("Expires at".to_owned(), json!(expires)),
        ])
    }

    fn of(episode: &Episode) -> Self {
        if episode.held_out == 1 {
            return Offer::Holdout;
        }
        match (
            episode.offer_kind.as_str(),
            episode.offer_points,
            &episode.offer_code,
            episode.offer_expires_at,
        ) {
            (offer_kind::POINTS, Some(points), _, _) => Offer::Points { points },
            (offer_kind::DISCOUNT_CODE, _, Some(code), Some(expires_at)) => Offer::DiscountCode {
                code: code.clone(),
                expires_at,
            },
            // Offers off, or a code erased by customers/redact.
            _ => Offer::None,
        }
    }
}

/// The outbox ordering key of a customer's win-back code: the customer's
/// (as the expiry warning's), so their effects reach Shopify in the order
/// they were enqueued. A caller that enqueues an effect which must follow
/// the code (the segment-entered Flow trigger that may email it) gives it
/// this key.
pub fn ordering_key(customer_id: i64) -> String {
    format!("customer:{customer_id}")
}

/// Called in the caller's transaction when `customer` enters the
/// at-risk segment at `now` (ms): opens an episode unless one is open and
/// issues its offer, once. With an episode already open, answers its offer
/// and changes nothing.
pub async fn entered_at_risk(
    conn: &mut AnyConnection,
    shop: ShopId,
    settings: &ProgramSettings,
    customer: CustomerId,
    now: EpochMs,
) -> Result<Offer, EngineError> {
    let (shop_id, customer_id, now) = (shop.get(), customer.get(), now.get());
    if let Some(open) = episodes::find_open(conn, shop_id, customer_id).await? {
        return Ok(Offer::of(&open));
    }
    let rules = &settings.winback;
    let seq = episodes::next_seq(conn, shop_id, customer_id).await?;
    let key = episodes::holdout_key(conn, shop_id, now).await?;
    let held = held_out(&key, shop_id, customer_id, seq, rules.holdout_percent);
    let offer = if held {
        Offer::Holdout
    } else if !rules.enabled {
        Offer::None
    } else {
        match &rules.offer {
            AdvocateReward::Points { points } => Offer::Points { points: *points },
            AdvocateReward::Discount { valid_days, .. } => Offer::DiscountCode {
                code: codes::discount_code("WIN"),
                expires_at: now + i64::from(*valid_days) * DAY_MS,
            },
        }
    };
    let (kind, points, code, expires_at) = match &offer {
        Offer::None | Offer::Holdout => (offer_kind::NONE, None, None, None),
        Offer::Points { points } => (offer_kind::POINTS, Some(*points), None, None),
        Offer::DiscountCode { code, expires_at } => (
            offer_kind::DISCOUNT_CODE,
            None,
            Some(code.as_str()),
            Some(*expires_at),
        ),
    };
    let new = NewEpisode {
        shop_id,
        customer_id,
        seq,
        opened_at: now,
        attribution_ends_at: now + i64::from(rules.attribution_days) * DAY_MS,
        held_out: held,
        offer_kind: kind,
        offer_points: points,
        offer_code: code,
        offer_expires_at: expires_at,
    };
    let Some(episode_id) = episodes::insert(conn, &new).await? else {
        // A concurrent opening won: its episode (committed, or this step
        // retries) is the answer.
        return match episodes::find_open(conn, shop_id, customer_id).await? {
            Some(open) => Ok(Offer::of(&open)),
            None => Err(EngineError::Conflict(format!(
                "win-back episode of customer {customer_id}"
            ))),
        };
    };
    issue(conn, shop_id, customer_id, episode_id, &offer, rules, now).await?;
    Ok(offer)
}

/// Credits the points or enqueues the code of a new episode.
async fn issue(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    episode_id: i64,
    offer: &Offer,
    rules: &crate::loyalty::settings::Winback,
    now: i64,
) -> Result<(), sqlx::Error> {
    let source_key = format!("winback:{episode_id}");
    match (offer, &rules.offer) {
        (Offer::Points { points }, _) => {
            let reason = format!("We miss you: {points} bonus points");
            ledger::append(
                conn,
                &NewEntry::new(
                    shop_id,
                    customer_id,
                    *points,
                    ledger::kind::WINBACK,
                    &reason,
                    &source_key,
                ),
                now,
            )
            .await?;
        }
        (Offer::DiscountCode { code, expires_at }, AdvocateReward::Discount { value, .. }) => {
            let effect = Effect::CreateDiscountCode {
                code: code.clone(),
                title: "We miss you (win-back offer)".into(),
                customer_gid: Some(CustomerId(customer_id).gid()),
                value: discount_value(value),
                minimum_subtotal: None,
                ends_at: Some(rfc3339(*expires_at)),
                refund: None,
            };
            enqueue(
                conn,
                shop_id,
                &effect,
                &format!("{source_key}:code"),
                Some(&ordering_key(customer_id)),
            )
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Called after every order event, with the order as saved: a counted order
/// of a customer with an open episode, paid inside its window, closes it as
/// returned. True when it closed one.
pub async fn on_order(
    conn: &mut AnyConnection,
    shop: ShopId,
    row: &OrderRow,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    let (shop_id, now) = (shop.get(), now.get());
    let counted = row.known == 1 && row.is_test == 0 && row.cancelled_at.is_none();
    let (Some(customer_id), Some(paid_at), true) = (row.customer_id, row.paid_at, counted) else {
        return Ok(false);
    };
    episodes::close_returned(conn, shop_id, customer_id, row.order_id, paid_at, now).await
}

/// The scheduled sweep: episodes whose attribution window ended by `now`
/// without a return purchase close as expired. Returns how many.
pub async fn expire(conn: &mut AnyConnection, now: EpochMs) -> Result<u64, sqlx::Error> {
    episodes::close_expired(conn, now.get()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(held_out: i64, kind: &str) -> Episode {
        Episode {
            id: 1,
            customer_id: 2,
            seq: 1,
            opened_at: 0,
            attribution_ends_at: DAY_MS,
            held_out,
            offer_kind: kind.into(),
            offer_points: None,
            offer_code: None,
            offer_expires_at: None,
            closed_at: None,
            outcome: None,
            return_order_id: None,
        }
    }

    #[test]
    fn a_stored_episode_answers_the_offer_it_was_given() {
        assert_eq!(Offer::of(&episode(1, offer_kind::NONE)), Offer::Holdout);
        assert_eq!(Offer::of(&episode(0, offer_kind::NONE)), Offer::None);
        let points = Episode {
            offer_points: Some(250),
            ..episode(0, offer_kind::POINTS)
        };
        assert_eq!(Offer::of(&points), Offer::Points { points: 250 });
        let code = Episode {
            offer_code: Some("WIN-A".into()),
            offer_expires_at: Some(5),
            ..episode(0, offer_kind::DISCOUNT_CODE)
        };
        assert_eq!(
            Offer::of(&code),
            Offer::DiscountCode {
                code: "WIN-A".into(),
                expires_at: 5
            }
        );
        let erased = Episode {
            offer_code: None,
            ..code
        };
        assert_eq!(Offer::of(&erased), Offer::None, "redacted code");
    }

    #[test]
    fn the_flow_fields_carry_the_offer_or_empty_values() {
        let fields = Offer::DiscountCode {
            code: "WIN-A".into(),
            expires_at: 0,
        }
        .flow_fields();
        assert_eq!(fields["Offer"], "discount_code");
        assert_eq!(fields["Discount code"], "WIN-A");
        assert_eq!(fields["Expires at"], "1970-01-01T00:00:00Z");
        assert_eq!(fields["Offer points"], 0);
        let fields = Offer::Points { points: 300 }.flow_fields();
        assert_eq!(fields["Offer points"], 300);
        assert_eq!(fields["Discount code"], "");
        assert_eq!(Offer::Holdout.flow_fields()["Offer"], "holdout");
    }
}
