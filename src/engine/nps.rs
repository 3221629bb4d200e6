//! Post-purchase NPS answers: stored once per order, with the customer's
//! segment and tier at that moment, the NPS Flow trigger, and the bonus
//! points. The thank-you page often answers before the order's webhook
//! arrives: the answer is kept as `waiting` and has no effect yet (no
//! bonus, no Flow trigger, not in the merchant's figures), because anyone
//! logged in can name any order id. It takes effect when the order is known
//! and belongs to the customer who answered, at answer time or in the
//! order's own transaction ([`on_order`]), whichever comes second; an order
//! that turns out to be someone else's drops the waiting answer, so its
//! owner can still answer. An order known to have no customer (a guest
//! checkout) cannot be answered. The ledger source key `nps:{order_id}`
//! makes a second credit impossible whatever happens, and the Flow trigger's
//! key names the order and the customer, so an answer's trigger can never be
//! taken for another customer's.

use serde_json::json;
use sqlx::AnyConnection;

use super::enqueue;
use crate::{
    engine::effects::FlowTrigger,
    loyalty::{nps::Category, CustomerId, EpochMs, OrderId, ShopId},
    store::{
        ledger::{self, NewEntry},
        nps::{self, credit, NewResponse},
        orders, program,
    },
};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum NpsError {
    #[error("the survey is not offered by this shop")]
    Disabled,
    #[error("this order was already answered")]
    AlreadyAnswered,
    #[error("this order belongs to another customer")]
    NotYours,
    #[error("this order was placed without a customer account")]
    GuestOrder,
    #[error("the score must be a whole number from 0 to 10")]
    InvalidScore,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An answer, validated by the caller (score 0–10, comment trimmed).
#[derive(Debug, Clone)]
pub struct Answer {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub score: i64,
    pub comment: Option<String>,
}

/// The order an order webhook saved, as the survey needs it.
#[derive(Debug, Clone, Copy)]
pub struct OrderFacts<'a> {
    pub id: OrderId,
    pub name: Option<&'a str>,
    /// The order's customer; `None` while it names none.
    pub customer_id: Option<CustomerId>,
}

/// What answering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub category: Category,
    /// The bonus this answer earns (0: none).
    pub bonus_points: i64,
    /// `credited`, `none` (no bonus) or `waiting` (for the order's webhook
    /// to confirm that it is the customer's).
    pub credit_state: &'static str,
}

/// The Flow trigger's idempotency key: one trigger per answer, and an
/// answer is one customer's about one order.
fn flow_trigger_key(order_id: OrderId, customer_id: CustomerId) -> String {
    format!("nps:{order_id}:{customer_id}:flow")
}

/// What a confirmed answer's bonus becomes.
fn confirmed_state(bonus_points: i64) -> &'static str {
    if bonus_points == 0 {
        credit::NONE
    } else {
        credit::CREDITED
    }
}

/// Stores the answer and, when the order is already known to be the
/// caller's, fires the Flow trigger and credits the bonus, in the caller's
/// transaction.
pub async fn answer(
    conn: &mut AnyConnection,
    shop: ShopId,
    a: &Answer,
    now: EpochMs,
) -> Result<Answered, NpsError> {
    let (shop_id, order_id, customer_id) = (shop.get(), a.order_id.get(), a.customer_id.get());
    let category = Category::of(a.score).ok_or(NpsError::InvalidScore)?;
    let program = program::get_program(conn, shop_id).await?;
    if !program.settings.nps.enabled {
        return Err(NpsError::Disabled);
    }
    orders::lock(conn, shop_id, order_id).await?;
    let order = nps::find_order_owner(conn, shop_id, order_id).await?;
    let owner = order.as_ref().and_then(|o| o.customer_id);
    if owner.is_some_and(|c| c != customer_id) {
        return Err(NpsError::NotYours);
    }
    if order
        .as_ref()
        .is_some_and(|o| o.known == 1 && o.customer_id.is_none())
    {
        return Err(NpsError::GuestOrder);
    }
    let confirmed = owner == Some(customer_id);
    if confirmed {
        // Someone else answered about this order before its webhook said
        // whose it is: that answer never counted, and must not stop the
        // order's own customer from answering.
        nps::delete_foreign_answer(conn, shop_id, order_id, customer_id).await?;
    }
    let bonus_points = program.settings.nps.bonus_points;
    let credit_state = if confirmed {
        confirmed_state(bonus_points)
    } else {
        credit::WAITING
    };
    let (segment, tier_id) = nps::customer_context(conn, shop_id, customer_id).await?;
    let new = NewResponse {
        shop_id,
        order_id,
        customer_id,
        score: a.score,
        comment: a.comment.as_deref(),
        segment: segment.as_deref(),
        tier_id: tier_id.as_deref(),
        bonus_points,
        credit_state,
    };
    if nps::insert_response(conn, &new, now.get()).await?.is_none() {
        return Err(NpsError::AlreadyAnswered);
    }
    let order_name = order.and_then(|o| o.name);
    if confirmed {
        let confirmation = Confirmation {
            answer: a,
            category,
            order_name: order_name.as_deref(),
            credit_state,
            bonus_points,
        };
        confirm(conn, shop, &confirmation, now).await?;
    }
    Ok(Answered {
        category,
        bonus_points,
        credit_state,
    })
}

/// An answer whose order is confirmed to be its customer's, with what it
/// earns.
struct Confirmation<'a> {
    answer: &'a Answer,
    category: Category,
    order_name: Option<&'a str>,
    /// `credited` or `none`.
    credit_state: &'a str,
    bonus_points: i64,
}

/// The effects of a confirmed answer: the bonus (when there is one) and the
/// Flow trigger, once each.
async fn confirm(
    conn: &mut AnyConnection,
    shop: ShopId,
    c: &Confirmation<'_>,
    now: EpochMs,
) -> Result<(), sqlx::Error> {
    let (a, order_name) = (c.answer, c.order_name);
    if c.credit_state == credit::CREDITED {
        credit_bonus(conn, shop, c, now).await?;
    }
    let trigger = FlowTrigger::NpsResponse.effect(
        a.customer_id.get(),
        serde_json::Map::from_iter([
            ("Score".to_owned(), json!(a.score)),
            ("Category".to_owned(), json!(c.category.as_str())),
            (
                "Comment".to_owned(),
                json!(a.comment.as_deref().unwrap_or("")),
            ),
            ("Order name".to_owned(), json!(order_name.unwrap_or(""))),
        ]),
    );
    enqueue(
        conn,
        shop.get(),
        &trigger,
        &flow_trigger_key(a.order_id, a.customer_id),
        None,
    )
    .await?;
    Ok(())
}

/// In an order's transaction, after the order is saved (the transaction
/// holds [`orders::lock`], as an answer's does): confirms a waiting answer
/// when the order is its customer's (bonus and Flow trigger), drops it when
/// the order is someone else's (it never had an effect, and its owner may
/// still answer), and leaves it waiting while the order names no customer.
/// Returns the points credited.
pub async fn on_order(
    conn: &mut AnyConnection,
    shop: ShopId,
    order: &OrderFacts<'_>,
    now: EpochMs,
) -> Result<i64, sqlx::Error> {
    let Some(customer_id) = order.customer_id else {
        return Ok(0);
    };
    let (shop_id, order_id, customer) = (shop.get(), order.id.get(), customer_id.get());
    let Some(response) = nps::find_for_order(conn, shop_id, order_id).await? else {
        return Ok(0);
    };
    if response.credit_state != credit::WAITING {
        return Ok(0);
    }
    if response.customer_id != customer {
        nps::delete_foreign_answer(conn, shop_id, order_id, customer).await?;
        return Ok(0);
    }
    let state = confirmed_state(response.bonus_points);
    if !nps::settle_credit(conn, shop_id, response.id, state, now.get()).await? {
        return Ok(0);
    }
    // A score outside 0-10 cannot be stored (CHECK constraint).
    let Some(category) = Category::of(response.score) else {
        return Ok(0);
    };
    let answer = Answer {
        order_id: order.id,
        customer_id,
        score: response.score,
        comment: response.comment,
    };
    let confirmation = Confirmation {
        answer: &answer,
        category,
        order_name: order.name,
        credit_state: state,
        bonus_points: response.bonus_points,
    };
    confirm(conn, shop, &confirmation, now).await?;
    Ok(if state == credit::CREDITED {
        response.bonus_points
    } else {
        0
    })
}

async fn credit_bonus(
    conn: &mut AnyConnection,
    shop: ShopId,
    c: &Confirmation<'_>,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    let (order_id, order_name, points) = (c.answer.order_id.get(), c.order_name, c.bonus_points);
    let label = order_name.map_or_else(|| format!("#{order_id}"), str::to_owned);
    let reason = format!("Survey answered for order {label}: {points} points");
    let source_key = format!("nps:{order_id}");
    ledger::append(
        conn,
        &NewEntry {
            order_id: Some(order_id),
            ..NewEntry::new(
                shop.get(),
                c.answer.customer_id.get(),
                points,
                ledger::kind::NPS,
                &reason,
                &source_key,
            )
        },
        now.get(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_trigger_key_tells_customers_apart() {
        let key = |order, customer| flow_trigger_key(OrderId(order), CustomerId(customer));
        assert_eq!(key(42, 7), "nps:42:7:flow");
        assert_ne!(key(42, 7), key(42, 8));
        assert_ne!(key(42, 7), key(43, 7));
    }

    #[test]
    fn a_confirmed_answer_is_credited_only_with_a_bonus() {
        assert_eq!(confirmed_state(25), credit::CREDITED);
        assert_eq!(confirmed_state(0), credit::NONE);
    }
}
