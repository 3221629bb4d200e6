//! Earning actions: a newsletter signup, a product review, a social follow
//! or share, a custom action. Each is recorded once per idempotency key of
//! its customer, within the program's limits, and earns its points with a
//! ledger entry of its own (`activity:{id}`) in the same transaction, with
//! the `activity.recorded` event. A reversal claws the points back as far
//! as the balance allows (`activity-reversal:{id}`), once.
//!
//! The customer's row is held while the limits are counted, so concurrent
//! activities of one customer are counted one after another.

use chrono::{Datelike, TimeZone, Utc};
use serde_json::json;
use sqlx::AnyConnection;

use super::{rfc3339, EngineError};
use crate::{
    loyalty::settings::{ActionLimit, Actions, LimitPeriod},
    store::{
        activities::{self, status, ActivityRow, Kind, NewActivity},
        customers::{self, Customer},
        ledger::{self, NewEntry},
        outbound::{self, topic},
        program,
    },
};

/// The actions, as the API and the ledger name them.
pub mod action {
    pub const NEWSLETTER: &str = "newsletter";
    pub const REVIEW: &str = "review";
    pub const SOCIAL_FOLLOW: &str = "social_follow";
    pub const SOCIAL_SHARE: &str = "social_share";
    pub const CUSTOM: &str = "custom";
}

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error("no such customer")]
    UnknownCustomer,
    #[error("no such activity")]
    UnknownActivity,
    #[error("{0}")]
    Invalid(String),
    #[error("this action earns no points in the program (it is off)")]
    Off,
    #[error("the customer has reached this action's limit")]
    LimitReached,
    #[error(
        "this Idempotency-Key was used for a different activity of the customer; \
         nothing was changed"
    )]
    KeyReused,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<EngineError> for ActivityError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Db(e) => Self::Db(e),
            EngineError::Conflict(what) => Self::Db(sqlx::Error::Protocol(what)),
        }
    }
}

/// An activity as reported.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    /// One of [`action`].
    pub action: &'a str,
    /// The custom action's name.
    pub name: Option<&'a str>,
    /// The product reviewed, the network, or the custom action's own.
    pub subject: Option<&'a str>,
    /// The client's idempotency key.
    pub key: &'a str,
    /// `api-key:<id>`, `shopper`, `staff:<id>` or `system`.
    pub actor: &'a str,
}

/// What recording did, and the customer as it leaves them.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// False for a retry of a recorded activity.
    pub created: bool,
    pub activity: ActivityRow,
    pub customer: Customer,
}

/// What the program says of an action: its points, its limit per period,
/// whether each subject counts once, and the ledger's reason.
struct Rule {
    points: i64,
    limit: Option<ActionLimit>,
    once_per_subject: bool,
    reason: String,
}

/// The rule for the report, or why it cannot be recorded.
fn rule(actions: &Actions, report: &Report<'_>) -> Result<Rule, ActivityError> {
    let subject = report.subject.filter(|s| !s.is_empty());
    let invalid = |m: &str| ActivityError::Invalid(m.to_owned());
    if report.name.is_some() && report.action != action::CUSTOM {
        return Err(invalid("name is only for action \"custom\""));
    }
    if subject.is_some_and(|s| s.chars().count() > 100) {
        return Err(invalid("subject must be at most 100 characters"));
    }
    match report.action {
        action::NEWSLETTER => Ok(Rule {
            points: actions.newsletter.points,
            limit: None,
            once_per_subject: true,
            reason: "Newsletter signup".into(),
        }),
        action::REVIEW => {
            let product = subject.and_then(product_id).ok_or_else(|| {
                invalid("a review's subject is the product's id (digits, or its gid)")
            })?;
            Ok(Rule {
                points: actions.review.points,
                limit: Some(actions.review.limit),
                once_per_subject: true,
                reason: format!("Product review (product {product})"),
            })
        }
        action::SOCIAL_FOLLOW => {
            let network = subject.unwrap_or("");
            if !actions
                .social_follow
                .networks
                .iter()
                .any(|n| n.network == network)
            {
                return Err(invalid(
                    "the subject must be a network the program offers to follow",
                ));
            }
            Ok(Rule {
                points: actions.social_follow.points,
                limit: None,
                once_per_subject: true,
                reason: format!("Followed the shop on {network}"),
            })
        }
        action::SOCIAL_SHARE => {
            let network = subject.unwrap_or("");
            if !actions.social_share.networks.iter().any(|n| n == network) {
                return Err(invalid(
                    "the subject must be a network the program offers to share on",
                ));
            }
            Ok(Rule {
                points: actions.social_share.points,
                limit: None,
                once_per_subject: true,
                reason: format!("Shared the shop on {network}"),
            })
        }
        action::CUSTOM => {
            let name = report
                .name
                .ok_or_else(|| invalid("a custom action needs its name"))?;
            let custom = actions
                .custom(name)
                .ok_or_else(|| invalid("no custom action of that name in the program"))?;
            Ok(Rule {
                points: custom.points,
                limit: Some(custom.limit),
                once_per_subject: false,
                reason: custom.label.trim().to_owned(),
            })
        }
        _ => Err(invalid(
            "action must be one of review, social_follow, social_share, custom",
        )),
    }
}

/// A product id from digits or `gid://shopify/Product/<digits>`.
fn product_id(subject: &str) -> Option<i64> {
    let digits = subject
        .strip_prefix("gid://shopify/Product/")
        .unwrap_or(subject);
    digits
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The subject as stored: a review's product id as digits.
fn stored_subject(report: &Report<'_>) -> Option<String> {
    let subject = report.subject.filter(|s| !s.is_empty())?;
    Some(match report.action {
        action::REVIEW => {
            product_id(subject).map_or_else(|| subject.to_owned(), |id| id.to_string())
        }
        _ => subject.to_owned(),
    })
}

/// When the period of `limit` that contains `now` began (UTC).
fn period_start(per: LimitPeriod, now: i64) -> i64 {
    let Some(t) = Utc.timestamp_millis_opt(now).single() else {
        return 0;
    };
    let start = match per {
        LimitPeriod::Ever => return i64::MIN,
        LimitPeriod::Day => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0),
        LimitPeriod::Month => Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0),
    };
    start.single().map_or(0, |s| s.timestamp_millis())
}

/// A customer who can earn: known, not deleted or erased.
async fn earning_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Customer, ActivityError> {
    if !activities::lock_customer(conn, shop_id, customer_id).await? {
        return Err(ActivityError::UnknownCustomer);
    }
    customers::find_customer(conn, shop_id, customer_id)
        .await?
        .filter(|c| c.deleted_at.is_none() && c.redacted_at.is_none())
        .ok_or(ActivityError::UnknownCustomer)
}

/// Whether a recorded activity is the one reported again (a retry).
fn is_same(recorded: &ActivityRow, report: &Report<'_>) -> bool {
    recorded.action == report.action
        && recorded.name.as_deref() == report.name
        && recorded.subject == stored_subject(report)
}

/// Records the activity and its points, in the caller's transaction.
pub async fn record(
    conn: &mut AnyConnection,
    report: &Report<'_>,
    now: i64,
) -> Result<Recorded, ActivityError> {
    let (shop_id, customer_id) = (report.shop_id, report.customer_id);
    earning_customer(conn, shop_id, customer_id).await?;
    if let Some(done) = activities::find_by_key(conn, shop_id, customer_id, report.key).await? {
        return replay(conn, done, report).await;
    }
    let settings = program::get_program(conn, shop_id).await?.settings;
    let rule = rule(&settings.actions, report)?;
    if rule.points <= 0 {
        return Err(ActivityError::Off);
    }
    let subject = stored_subject(report);
    let kind = Kind {
        action: report.action,
        name: report.name,
    };
    let since = rule.limit.map_or(i64::MAX, |l| period_start(l.per, now));
    let (in_period, of_subject) =
        activities::counts(conn, shop_id, customer_id, kind, since, subject.as_deref()).await?;
    let once_taken = rule.once_per_subject && of_subject > 0;
    let over_limit = rule.limit.is_some_and(|l| in_period >= i64::from(l.max));
    if once_taken || over_limit {
        return Err(ActivityError::LimitReached);
    }
    let new = NewActivity {
        shop_id,
        customer_id,
        idempotency_key: report.key,
        action: report.action,
        name: report.name,
        subject: subject.as_deref(),
        points: rule.points,
        actor: report.actor,
        occurred_at: now,
        status: status::AWARDED,
    };
    let Some(activity) = activities::insert(conn, &new, now).await? else {
        // Recorded meanwhile under the same key.
        let done = activities::find_by_key(conn, shop_id, customer_id, report.key)
            .await?
            .ok_or(ActivityError::KeyReused)?;
        return replay(conn, done, report).await;
    };
    let source_key = format!("activity:{}", activity.id);
    let entry = NewEntry {
        actor: report.actor,
        ..NewEntry::new(
            shop_id,
            customer_id,
            rule.points,
            ledger::kind::ACTIVITY,
            &rule.reason,
            &source_key,
        )
    };
    ledger::append(conn, &entry, now).await?;
    announce(conn, shop_id, &activity, now).await?;
    let customer = customers::find_customer(conn, shop_id, customer_id)
        .await?
        .ok_or(ActivityError::UnknownCustomer)?;
    Ok(Recorded {
        created: true,
        activity,
        customer,
    })
}

async fn replay(
    conn: &mut AnyConnection,
    done: ActivityRow,
    report: &Report<'_>,
) -> Result<Recorded, ActivityError> {
    if !is_same(&done, report) {
        return Err(ActivityError::KeyReused);
    }
    let customer = customers::find_customer(conn, report.shop_id, report.customer_id)
        .await?
        .ok_or(ActivityError::UnknownCustomer)?;
    Ok(Recorded {
        created: false,
        activity: done,
        customer,
    })
}

/// Reverses the shop's activity `id`: its points are clawed back as far as
/// the spendable balance allows; what could not be taken back is recorded
/// as unrecovered. A reversed activity is answered as it is.
pub async fn reverse(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<ActivityRow, ActivityError> {
    let found = activities::find(conn, shop_id, id)
        .await?
        .ok_or(ActivityError::UnknownActivity)?;
    if found.status != status::AWARDED {
        return Ok(found);
    }
    if !activities::lock_customer(conn, shop_id, found.customer_id).await? {
        return Err(ActivityError::UnknownActivity);
    }
    let balance = customers::find_customer(conn, shop_id, found.customer_id)
        .await?
        .map_or(0, |c| c.points_balance);
    let take = found.points.min(balance).max(0);
    if take > 0 {
        let source_key = format!("activity-reversal:{id}");
        let reason = format!("Activity reversed (by {actor})");
        let entry = NewEntry {
            actor,
            ..NewEntry::new(
                shop_id,
                found.customer_id,
                -take,
                ledger::kind::ACTIVITY_REVERSAL,
                &reason,
                &source_key,
            )
        };
        match ledger::spend(conn, &entry, now).await? {
            ledger::Spent::Taken | ledger::Spent::AlreadyRecorded => {}
            // The row is held: the balance read is the balance.
            ledger::Spent::NotEnough => {
                return Err(ActivityError::Db(sqlx::Error::Protocol(
                    "the balance moved while the customer was held".into(),
                )))
            }
        }
    }
    activities::mark_reversed(conn, shop_id, id, take, found.points - take, now).await?;
    activities::find(conn, shop_id, id)
        .await?
        .ok_or(ActivityError::UnknownActivity)
}

/// The customer's activities, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    activities::list_for_customer(conn, shop_id, customer_id, 100).await
}

/// The newsletter rule, from a saved customers/* profile: points once when
/// email marketing consent becomes subscribed: at the account's creation,
/// or from a state Advocate knew to be another. A consent found already
/// given the first time Advocate learns the customer's consent is kept as
/// seen (no points, and none later for it).
pub async fn newsletter_consent(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    before: Option<&str>,
    now_state: Option<&str>,
    created: bool,
    now: i64,
) -> Result<(), ActivityError> {
    let subscribed = |s: Option<&str>| s.is_some_and(|s| s.eq_ignore_ascii_case("subscribed"));
    if !subscribed(now_state) || subscribed(before) {
        return Ok(());
    }
    let key = action::NEWSLETTER;
    if activities::find_by_key(conn, shop_id, customer_id, key)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let new_signup = created || before.is_some();
    if !new_signup {
        // Already there at first sight: remembered, never earned.
        let seen = NewActivity {
            shop_id,
            customer_id,
            idempotency_key: key,
            action: action::NEWSLETTER,
            name: None,
            subject: None,
            points: 0,
            actor: ledger::SYSTEM,
            occurred_at: now,
            status: status::PREEXISTING,
        };
        activities::insert(conn, &seen, now).await?;
        return Ok(());
    }
    let report = Report {
        shop_id,
        customer_id,
        action: action::NEWSLETTER,
        name: None,
        subject: None,
        key,
        actor: ledger::SYSTEM,
    };
    match record(conn, &report, now).await {
        Ok(_) | Err(ActivityError::Off | ActivityError::LimitReached) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The activity as the API and the webhooks show it.
pub fn activity_json(a: &ActivityRow) -> serde_json::Value {
    json!({
        "id": a.id,
        "customer_id": a.customer_id,
        "action": a.action,
        "name": a.name,
        "subject": a.subject,
        "points": a.points,
        "status": a.status,
        "clawed_back": a.clawed_back,
        "unrecovered": a.unrecovered,
        "actor": a.actor,
        "occurred_at": rfc3339(a.occurred_at),
        "created_at": rfc3339(a.created_at),
        "reversed_at": a.reversed_at.map(rfc3339),
    })
}

async fn announce(
    conn: &mut AnyConnection,
    shop_id: i64,
    activity: &ActivityRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    let ordering = outbound::customer_ordering(activity.customer_id);
    outbound::emit(
        conn,
        shop_id,
        &outbound::Event {
            topic: topic::ACTIVITY_RECORDED,
            ordering_key: Some(&ordering),
            data: &activity_json(activity),
        },
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{period_start, product_id};
    use crate::loyalty::settings::LimitPeriod;

    #[test]
    fn periods_start_at_the_utc_day_and_month() {
        // 2026-12-06T13:45:10Z
        let now = 1_796_564_710_000;
        assert_eq!(period_start(LimitPeriod::Day, now), 1_796_515_200_000);
        assert_eq!(period_start(LimitPeriod::Month, now), 1_796_083_200_000);
        assert_eq!(period_start(LimitPeriod::Ever, now), i64::MIN);
    }

    #[test]
    fn a_product_is_named_by_digits_or_its_gid() {
        assert_eq!(product_id("8123456"), Some(8_123_456));
        assert_eq!(product_id("gid://shopify/Product/8123456"), Some(8_123_456));
        assert_eq!(product_id("+8123456"), None);
        assert_eq!(product_id("0"), None);
        assert_eq!(product_id("gid://shopify/Order/1"), None);
        assert_eq!(product_id("99999999999999999999"), None);
    }
}
