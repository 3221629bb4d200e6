//! Earning actions reported by the merchant's systems (the API), the
//! storefront widget (social) or found in Shopify's customer updates
//! (newsletter, in the engine), and their reversal by the merchant. Each
//! use case owns its transaction: it commits only when the answer is a
//! success.

use serde::Serialize;

use crate::{
    engine::activities::{self, ActivityError, Report},
    store::{activities::ActivityRow, now_ms, Store},
};

/// An activity as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityOut {
    #[schema(example = 12)]
    pub id: i64,
    #[schema(example = 7_400_000_000_000_i64)]
    pub customer_id: i64,
    /// `newsletter`, `review`, `social_follow`, `social_share` or `custom`.
    #[schema(example = "review")]
    pub action: String,
    /// The custom action's name.
    #[schema(example = json!(null))]
    pub name: Option<String>,
    /// The product reviewed, or the network.
    #[schema(example = "8123456")]
    pub subject: Option<String>,
    #[schema(example = 100)]
    pub points: i64,
    /// `awarded`, `reversed`, or `preexisting` (a newsletter consent
    /// already given when Advocate first saw the customer: no points).
    #[schema(example = "awarded")]
    pub status: String,
    /// Points taken back by the reversal.
    pub clawed_back: i64,
    /// Points the reversal could not take back (already spent).
    pub unrecovered: i64,
    #[schema(example = "api-key:3")]
    pub actor: String,
    /// RFC 3339.
    #[schema(example = "2026-12-06T12:00:00Z")]
    pub occurred_at: String,
    #[schema(example = "2026-12-06T12:00:00Z")]
    pub created_at: String,
    pub reversed_at: Option<String>,
}

impl From<ActivityRow> for ActivityOut {
    fn from(a: ActivityRow) -> Self {
        Self {
            id: a.id,
            customer_id: a.customer_id,
            action: a.action,
            name: a.name,
            subject: a.subject,
            points: a.points,
            status: a.status,
            clawed_back: a.clawed_back,
            unrecovered: a.unrecovered,
            actor: a.actor,
            occurred_at: crate::engine::rfc3339(a.occurred_at),
            created_at: crate::engine::rfc3339(a.created_at),
            reversed_at: a.reversed_at.map(crate::engine::rfc3339),
        }
    }
}

/// What recording answered: the activity, whether it is new, and the
/// customer's balance after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordedOut {
    pub activity: ActivityOut,
    /// False for a retry of an activity recorded before.
    pub created: bool,
    pub points_balance: i64,
    pub points_pending: i64,
}

/// Records a reported activity (see [`crate::engine::activities`]).
pub async fn record(store: &Store, report: &Report<'_>) -> Result<RecordedOut, ActivityError> {
    let mut tx = store.begin().await?;
    match activities::record(&mut tx, report, now_ms()).await {
        Ok(done) => {
            tx.commit().await?;
            Ok(RecordedOut {
                activity: done.activity.into(),
                created: done.created,
                points_balance: done.customer.points_balance,
                points_pending: done.customer.points_pending,
            })
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// Reverses the shop's activity `id`, clawing its points back.
pub async fn reverse(
    store: &Store,
    shop_id: i64,
    id: i64,
    actor: &str,
) -> Result<ActivityOut, ActivityError> {
    let mut tx = store.begin().await?;
    match activities::reverse(&mut tx, shop_id, id, actor, now_ms()).await {
        Ok(done) => {
            tx.commit().await?;
            Ok(done.into())
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// The customer's activities, newest first.
pub async fn list(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<ActivityOut>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    Ok(activities::list(&mut conn, shop_id, customer_id)
        .await?
        .into_iter()
        .map(ActivityOut::from)
        .collect())
}

/// The social actions the storefront widget offers a shopper: each
/// network, its points, and whether they have done it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SocialOffer {
    pub follow: Vec<SocialItem>,
    pub share: Vec<SocialItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SocialItem {
    pub network: String,
    /// The shop's profile (follow only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub points: i64,
    pub done: bool,
}

/// What the widget shows a logged-in shopper (nothing when logged out or
/// when the program offers no social action).
pub async fn social_offer(
    store: &Store,
    shop_id: i64,
    customer_id: Option<i64>,
) -> Result<SocialOffer, sqlx::Error> {
    let Some(customer_id) = customer_id else {
        return Ok(SocialOffer::default());
    };
    let mut conn = store.reader().acquire().await?;
    let actions = crate::store::program::get_program(&mut conn, shop_id)
        .await?
        .settings
        .actions;
    let done: Vec<(String, Option<String>)> = activities::list(&mut conn, shop_id, customer_id)
        .await?
        .into_iter()
        .filter(|a| a.action.starts_with("social_"))
        .map(|a| (a.action, a.subject))
        .collect();
    let did = |action: &str, network: &str| {
        done.iter()
            .any(|(a, s)| a == action && s.as_deref() == Some(network))
    };
    let mut offer = SocialOffer::default();
    if actions.social_follow.points > 0 {
        offer.follow = actions
            .social_follow
            .networks
            .iter()
            .map(|n| SocialItem {
                network: n.network.clone(),
                url: Some(n.url.clone()),
                points: actions.social_follow.points,
                done: did(activities::action::SOCIAL_FOLLOW, &n.network),
            })
            .collect();
    }
    if actions.social_share.points > 0 {
        offer.share = actions
            .social_share
            .networks
            .iter()
            .map(|n| SocialItem {
                network: n.clone(),
                url: None,
                points: actions.social_share.points,
                done: did(activities::action::SOCIAL_SHARE, n),
            })
            .collect();
    }
    Ok(offer)
}
