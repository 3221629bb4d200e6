//! Post-purchase NPS answers: stored once per order, with the customer's
//! segment and tier at that moment, the NPS Flow trigger, and the bonus
//! points. The thank-you page often answers before the order's webhook
//! arrives: the answer is kept as `waiting` and the bonus is credited when
//! the order is known and belongs to the customer who answered, at answer
//! time or in the order's own transaction ([`on_order`]), whichever comes
//! second. The ledger source key `nps:{order_id}` makes a second credit
//! impossible whatever happens.

use serde_json::json;
use sqlx::AnyConnection;

use super::enqueue;
use crate::{
    loyalty::nps::Category,
    shopify::admin::effects::FlowTrigger,
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
    #[error("the score must be a whole number from 0 to 10")]
    InvalidScore,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An answer, validated by the caller (score 0–10, comment trimmed).
#[derive(Debug, Clone)]
pub struct Answer {
    pub order_id: i64,
    pub customer_id: i64,
    pub score: i64,
    pub comment: Option<String>,
}

/// What answering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub category: Category,
    /// The bonus this answer earns (0: none).
    pub bonus_points: i64,
    /// `credited`, `waiting` (for the order) or `none`.
    pub credit_state: &'static str,
}

/// Stores the answer, fires the Flow trigger and credits the bonus when the
/// order is already known, in the caller's transaction.
pub async fn answer(
    conn: &mut AnyConnection,
    shop_id: i64,
    a: &Answer,
    now: i64,
) -> Result<Answered, NpsError> {
    let category = Category::of(a.score).ok_or(NpsError::InvalidScore)?;
    let program = program::get_program(conn, shop_id).await?;
    if !program.settings.nps.enabled {
        return Err(NpsError::Disabled);
    }
    orders::lock(conn, shop_id, a.order_id).await?;
    let order = nps::find_order_owner(conn, shop_id, a.order_id).await?;
    let owner = order.as_ref().and_then(|o| o.customer_id);
    if owner.is_some_and(|c| c != a.customer_id) {
        return Err(NpsError::NotYours);
    }
    if owner == Some(a.customer_id) {
        // Someone else answered about this order before its webhook said
        // whose it is: that answer never counted, and must not stop the
        // order's own customer from answering.
        nps::delete_foreign_answer(conn, shop_id, a.order_id, a.customer_id).await?;
    }
    let bonus_points = program.settings.nps.bonus_points;
    let credit_state = if bonus_points == 0 {
        credit::NONE
    } else if owner == Some(a.customer_id) {
        credit::CREDITED
    } else {
        credit::WAITING
    };
    let (segment, tier_id) = nps::customer_context(conn, shop_id, a.customer_id).await?;
    let new = NewResponse {
        shop_id,
        order_id: a.order_id,
        customer_id: a.customer_id,
        score: a.score,
        comment: a.comment.as_deref(),
        segment: segment.as_deref(),
        tier_id: tier_id.as_deref(),
        bonus_points,
        credit_state,
    };
    if nps::insert_response(conn, &new, now).await?.is_none() {
        return Err(NpsError::AlreadyAnswered);
    }
    let order_name = order.and_then(|o| o.name);
    if credit_state == credit::CREDITED {
        credit_bonus(
            conn,
            shop_id,
            a.customer_id,
            a.order_id,
            order_name.as_deref(),
            bonus_points,
            now,
        )
        .await?;
    }
    let trigger = FlowTrigger::NpsResponse.effect(
        a.customer_id,
        serde_json::Map::from_iter([
            ("Score".to_owned(), json!(a.score)),
            ("Category".to_owned(), json!(category.as_str())),
            (
                "Comment".to_owned(),
                json!(a.comment.as_deref().unwrap_or("")),
            ),
            (
                "Order name".to_owned(),
                json!(order_name.as_deref().unwrap_or("")),
            ),
        ]),
    );
    enqueue(
        conn,
        shop_id,
        &trigger,
        &format!("nps:{}:flow", a.order_id),
        None,
    )
    .await?;
    Ok(Answered {
        category,
        bonus_points,
        credit_state,
    })
}

/// In an order's transaction, after the order is saved (the transaction
/// holds [`orders::lock`], as an answer's does): credits a waiting
/// answer's bonus when the order is its customer's, refuses it when the
/// order is someone else's, and leaves it waiting while the order names no
/// customer. Returns the points credited.
pub async fn on_order(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    order_name: Option<&str>,
    customer_id: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let Some(customer) = customer_id else {
        return Ok(0);
    };
    let Some(response) = nps::find_for_order(conn, shop_id, order_id).await? else {
        return Ok(0);
    };
    if response.credit_state != credit::WAITING {
        return Ok(0);
    }
    if response.customer_id != customer {
        nps::settle_credit(conn, shop_id, response.id, credit::REFUSED, now).await?;
        return Ok(0);
    }
    if !nps::settle_credit(conn, shop_id, response.id, credit::CREDITED, now).await? {
        return Ok(0);
    }
    credit_bonus(
        conn,
        shop_id,
        customer,
        order_id,
        order_name,
        response.bonus_points,
        now,
    )
    .await?;
    Ok(response.bonus_points)
}

async fn credit_bonus(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    order_id: i64,
    order_name: Option<&str>,
    points: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let label = order_name.map_or_else(|| format!("#{order_id}"), str::to_owned);
    let reason = format!("Survey answered for order {label}: {points} points");
    let source_key = format!("nps:{order_id}");
    ledger::append(
        conn,
        &NewEntry {
            order_id: Some(order_id),
            ..NewEntry::new(
                shop_id,
                customer_id,
                points,
                ledger::kind::NPS,
                &reason,
                &source_key,
            )
        },
        now,
    )
    .await
}
