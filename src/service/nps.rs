//! The post-purchase survey: what the checkout extension asks (is the
//! survey offered, was this order answered; answer it) and the merchant's
//! NPS report. The rules of an answer are in [`crate::engine::nps`], the
//! arithmetic in [`crate::loyalty::nps`].

use serde::Serialize;

pub use crate::engine::nps::{Answer, NpsError};
use crate::{
    analytics::metrics::PeriodKey,
    engine::{nps as engine, rfc3339, DAY_MS},
    loyalty::{
        nps::{ordered, Breakdown, Category, Counted, Labelled, Summary},
        segments::Segment,
        EpochMs, ShopId,
    },
    store::{
        now_ms,
        nps::{self, credit, Comment},
        program, Store,
    },
};

/// Comments per page of the admin report.
pub const COMMENTS_PER_PAGE: i64 = 20;

/// `GET /api/checkout/nps`: whether the survey is offered, with which
/// bonus, and (for a logged-in customer with an order) whether that order
/// was answered. Fields that do not apply are absent: `{"enabled": false}`
/// alone when the survey is off; no `order_id` and `answered` without an
/// order; `score`, `points_credited` and `credit_state` only once answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NpsStatus {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logged_in: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// The shop's bonus now, or the answer's bonus once answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus_points: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_credited: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_state: Option<String>,
}

impl NpsStatus {
    fn off() -> Self {
        NpsStatus {
            enabled: false,
            logged_in: None,
            order_id: None,
            answered: None,
            score: None,
            bonus_points: None,
            points_credited: None,
            credit_state: None,
        }
    }

    fn offered(logged_in: bool, bonus_points: i64) -> Self {
        NpsStatus {
            enabled: true,
            logged_in: Some(logged_in),
            bonus_points: Some(bonus_points),
            ..NpsStatus::off()
        }
    }
}

/// The points an answer's bonus has credited so far.
fn points_credited(credit_state: &str, bonus_points: i64) -> i64 {
    if credit_state == credit::CREDITED {
        bonus_points
    } else {
        0
    }
}

/// The survey's state for `customer_id` (None: not logged in) and, when
/// given, one of their orders. Someone else's order or a guest order is
/// refused ([`NpsError::NotYours`], [`NpsError::GuestOrder`]); an order not
/// known yet is answerable.
pub async fn checkout_status(
    store: &Store,
    shop_id: i64,
    customer_id: Option<i64>,
    order_id: Option<i64>,
) -> Result<NpsStatus, NpsError> {
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let settings = &program.settings.nps;
    if !settings.enabled {
        return Ok(NpsStatus::off());
    }
    let Some(customer_id) = customer_id else {
        return Ok(NpsStatus::offered(false, settings.bonus_points));
    };
    let Some(order_id) = order_id else {
        return Ok(NpsStatus::offered(true, settings.bonus_points));
    };
    match nps::find_order_owner(&mut conn, shop_id, order_id).await? {
        Some(o) if o.customer_id.is_some_and(|c| c != customer_id) => {
            return Err(NpsError::NotYours)
        }
        Some(o) if o.known == 1 && o.customer_id.is_none() => return Err(NpsError::GuestOrder),
        _ => {}
    }
    let answer = nps::find_for_order(&mut conn, shop_id, order_id)
        .await?
        .filter(|r| r.customer_id == customer_id);
    let base = NpsStatus {
        order_id: Some(order_id),
        answered: Some(answer.is_some()),
        ..NpsStatus::offered(true, settings.bonus_points)
    };
    Ok(match answer {
        None => base,
        Some(r) => NpsStatus {
            score: Some(r.score),
            bonus_points: Some(r.bonus_points),
            points_credited: Some(points_credited(&r.credit_state, r.bonus_points)),
            credit_state: Some(r.credit_state),
            ..base
        },
    })
}

/// `POST /api/checkout/nps` (201): the answer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NpsAnswered {
    pub order_id: i64,
    /// Always true.
    pub answered: bool,
    pub score: i64,
    pub category: Category,
    pub bonus_points: i64,
    pub points_credited: i64,
    /// `credited`, `none` or `waiting` (see [`crate::engine::nps::Answered`]).
    pub credit_state: &'static str,
}

/// Stores a validated answer, in one transaction committed only when the
/// answer is taken.
pub async fn answer(store: &Store, shop_id: i64, answer: &Answer) -> Result<NpsAnswered, NpsError> {
    let mut tx = store.begin().await?;
    let answered = match engine::answer(&mut tx, ShopId(shop_id), answer, EpochMs(now_ms())).await {
        Ok(answered) => {
            tx.commit().await?;
            answered
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(e);
        }
    };
    Ok(NpsAnswered {
        order_id: answer.order_id.get(),
        answered: true,
        score: answer.score,
        category: answered.category,
        bonus_points: answered.bonus_points,
        points_credited: points_credited(answered.credit_state, answered.bonus_points),
        credit_state: answered.credit_state,
    })
}

/// Which report the merchant asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportQuery {
    pub period: PeriodKey,
    /// The page of comments, from 1.
    pub page: i64,
}

/// `GET /api/admin/nps`: the NPS of the period overall, by month, by
/// segment and by tier (at answer time), and a page of comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NpsReport {
    pub period: &'static str,
    pub from: String,
    pub to: String,
    /// Whether the survey is offered now, and its bonus.
    pub enabled: bool,
    pub bonus_points: i64,
    pub overall: Summary,
    pub months: Vec<Labelled>,
    pub by_segment: Vec<Labelled>,
    pub by_tier: Vec<Labelled>,
    pub comments: CommentPage,
}

/// A page of comments, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentPage {
    pub page: i64,
    pub per_page: i64,
    pub has_more: bool,
    pub items: Vec<CommentItem>,
}

/// One answer with a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentItem {
    pub order_id: i64,
    pub order_name: Option<String>,
    pub customer_id: i64,
    /// First and last name; null when neither is known.
    pub customer_name: Option<String>,
    pub score: i64,
    pub category: Option<Category>,
    pub comment: String,
    pub answered_at: String,
}

impl From<Comment> for CommentItem {
    fn from(c: Comment) -> Self {
        let name = [c.first_name.as_deref(), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        CommentItem {
            order_id: c.order_id,
            order_name: c.order_name,
            customer_id: c.customer_id,
            customer_name: (!name.is_empty()).then_some(name),
            score: c.score,
            category: Category::of(c.score),
            comment: c.comment,
            answered_at: rfc3339(c.answered_at),
        }
    }
}

/// `YYYY-MM` of a day number (days since the epoch).
fn month_of(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .unwrap_or_default()
        .format("%Y-%m")
        .to_string()
}

/// The report for the period ending now, read from one reader connection.
pub async fn report(
    store: &Store,
    shop_id: i64,
    query: ReportQuery,
) -> Result<NpsReport, sqlx::Error> {
    let to = now_ms() + 1;
    let from = to - query.period.days() * DAY_MS;
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let counts = nps::counts(&mut conn, shop_id, from, to).await?;
    let mut comments = nps::list_comments(
        &mut conn,
        shop_id,
        from,
        to,
        COMMENTS_PER_PAGE + 1,
        (query.page - 1) * COMMENTS_PER_PAGE,
    )
    .await?;
    drop(conn);
    let has_more = comments.len() as i64 > COMMENTS_PER_PAGE;
    comments.truncate(COMMENTS_PER_PAGE as usize);

    let mut breakdown = Breakdown::default();
    for c in &counts {
        breakdown.add(Counted {
            month: &month_of(c.day),
            segment: c.segment.as_deref(),
            tier: c.tier_id.as_deref(),
            score: c.score,
            answers: c.answers,
        });
    }
    let months = breakdown.by_month();
    // Segments in the order a merchant reads them (best to worst); tiers in
    // the program's order (a tier removed since keeps its id).
    let segments: Vec<(&str, &str)> = Segment::ALL.iter().map(|s| (s.slug(), s.label())).collect();
    let tiers: Vec<(&str, &str)> = program
        .settings
        .tiers
        .levels
        .iter()
        .map(|l| (l.id.as_str(), l.name.as_str()))
        .collect();
    Ok(NpsReport {
        period: query.period.as_str(),
        from: rfc3339(from),
        to: rfc3339(to),
        enabled: program.settings.nps.enabled,
        bonus_points: program.settings.nps.bonus_points,
        overall: Summary::from(&breakdown.overall),
        months,
        by_segment: ordered(breakdown.segments, &segments, "No segment yet"),
        by_tier: ordered(breakdown.tiers, &tiers, "No tier"),
        comments: CommentPage {
            page: query.page,
            per_page: COMMENTS_PER_PAGE,
            has_more,
            items: comments.into_iter().map(CommentItem::from).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_status_leaves_out_what_does_not_apply() {
        let off = serde_json::to_value(NpsStatus::off()).unwrap();
        assert_eq!(off, json!({ "enabled": false }));
        let guest = serde_json::to_value(NpsStatus::offered(false, 50)).unwrap();
        assert_eq!(
            guest,
            json!({ "enabled": true, "logged_in": false, "bonus_points": 50 })
        );
        let answered = NpsStatus {
            order_id: Some(7),
            answered: Some(true),
            score: Some(9),
            bonus_points: Some(50),
            points_credited: Some(0),
            credit_state: Some("waiting".into()),
            ..NpsStatus::offered(true, 50)
        };
        assert_eq!(
            serde_json::to_value(answered).unwrap(),
            json!({
                "enabled": true,
                "logged_in": true,
                "order_id": 7,
                "answered": true,
                "score": 9,
                "bonus_points": 50,
                "points_credited": 0,
                "credit_state": "waiting",
            })
        );
    }

    #[test]
    fn a_comment_names_its_customer_or_null() {
        let comment = |first: Option<&str>, last: Option<&str>| Comment {
            order_id: 1,
            order_name: None,
            customer_id: 2,
            first_name: first.map(str::to_owned),
            last_name: last.map(str::to_owned),
            score: 6,
            comment: "slow".into(),
            answered_at: 0,
        };
        let item = serde_json::to_value(CommentItem::from(comment(None, None))).unwrap();
        assert_eq!(item["customer_name"], json!(null));
        assert_eq!(item["order_name"], json!(null));
        assert_eq!(item["category"], "detractor");
        assert_eq!(item["answered_at"], "1970-01-01T00:00:00Z");
        let named = CommentItem::from(comment(Some("Ada"), Some("Byron")));
        assert_eq!(named.customer_name.as_deref(), Some("Ada Byron"));
    }
}
