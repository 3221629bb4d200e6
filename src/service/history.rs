//! The shop's history for the merchant: how its import stands, a new
//! import (history only, or with retroactive points since a day), and a
//! preview of what retroactive points would issue and cost.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    analytics::metrics::{best_point_value, liability_minor},
    engine::orders::{retroactive_points, BEFORE_PROGRAM},
    loyalty::points::Points,
    store::{
        history::{self, status, HistoryImport},
        orders,
        program::{self},
        shops, Store,
    },
};

const DAY_MS: i64 = 86_400_000;
/// Orders read per page of a preview.
const PAGE: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0}")]
    Invalid(String),
    #[error("an import of this shop's history is running; wait until it ends")]
    Running,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// How an import stands, for the admin page.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryStatus {
    #[serde(flatten)]
    pub import: HistoryImport,
    /// `history` (analytics, segments and tiers) or `points` (also
    /// retroactive points).
    pub mode: &'static str,
    /// The stage's share done, in percent (None before its result is read).
    pub percent: Option<u32>,
    /// Seconds the stage's result still takes to read at the rate so far.
    pub remaining_secs: Option<i64>,
}

pub async fn status(
    store: &Store,
    shop_id: i64,
    now: i64,
) -> Result<Option<HistoryStatus>, HistoryError> {
    let mut conn = store.reader().acquire().await?;
    Ok(history::find(&mut conn, shop_id)
        .await?
        .map(|import| described(import, now)))
}

fn described(import: HistoryImport, now: i64) -> HistoryStatus {
    let percent = import.objects.map(|objects| {
        if objects <= 0 {
            100
        } else {
            (import.lines_done.clamp(0, objects) * 100 / objects) as u32
        }
    });
    let remaining_secs = match (import.objects, import.started_at) {
        (Some(objects), Some(started))
            if import.lines_done > 0 && status::is_open(&import.status) =>
        {
            let elapsed = (now - started).max(1);
            let left = (objects - import.lines_done).max(0);
            Some(
                i64::try_from(
                    i128::from(elapsed) * i128::from(left) / i128::from(import.lines_done) / 1000,
                )
                .unwrap_or(i64::MAX),
            )
        }
        _ => None,
    };
    HistoryStatus {
        mode: if import.points_since.is_some() {
            "points"
        } else {
            "history"
        },
        percent,
        remaining_secs,
        import,
    }
}

/// A merchant's request for an import.
#[derive(Debug, Clone, Deserialize)]
pub struct StartIn {
    /// `history` (the default) or `points`.
    #[serde(default)]
    pub mode: Option<String>,
    /// With `points`: the first day (UTC) whose orders earn.
    #[serde(default)]
    pub points_since: Option<String>,
}

/// The first day of retroactive points: a date, at most ten years back,
/// not in the future.
fn points_since(raw: Option<&str>, now: i64) -> Result<i64, HistoryError> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty() && r.len() <= 10)
        .ok_or_else(|| {
            HistoryError::Invalid("points_since: give the first day as YYYY-MM-DD".into())
        })?;
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| HistoryError::Invalid("points_since is not a date as YYYY-MM-DD".into()))?;
    let at = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| HistoryError::Invalid("points_since is out of range".into()))?;
    if at > now || now - at > 3_660 * DAY_MS {
        return Err(HistoryError::Invalid(
            "points_since must be a day of the last ten years".into(),
        ));
    }
    Ok(at)
}

/// Queues an import of the shop's history. Orders from before the shop
/// installed Advocate earn nothing, unless the merchant asks for points
/// since a day. Refused while one runs.
pub async fn start(
    store: &Store,
    shop_id: i64,
    input: &StartIn,
    now: i64,
) -> Result<HistoryStatus, HistoryError> {
    let since = match input.mode.as_deref().unwrap_or("history") {
        "history" => None,
        "points" => Some(points_since(input.points_since.as_deref(), now)?),
        _ => return Err(HistoryError::Invalid("mode is history or points".into())),
    };
    let mut tx = store.begin().await?;
    let installed = shops::find_by_id(&mut tx, shop_id)
        .await?
        .and_then(|shop| shop.installed_at);
    let cutoff = installed.unwrap_or(now).min(now);
    if !history::queue(&mut tx, shop_id, since, cutoff, now).await? {
        return Err(HistoryError::Running);
    }
    let import = history::find(&mut tx, shop_id)
        .await?
        .expect("queued above");
    tx.commit().await?;
    Ok(described(import, now))
}

/// What retroactive points since a day would issue.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub points_since: String,
    /// Orders of the history since then that would earn.
    pub orders: i64,
    pub points: i64,
    /// What the points would cost if all were redeemed for the fixed-amount
    /// reward worth most per point (None without one), in minor units.
    pub worth_minor: Option<i64>,
    pub currency: String,
}

/// The points the stored history since `since` (a day; without one, a
/// year before today) would earn (orders the
/// import kept out of the program), under the program as it is now. The
/// history must have been imported first.
pub async fn preview(
    store: &Store,
    shop_id: i64,
    since: Option<&str>,
    now: i64,
) -> Result<Preview, HistoryError> {
    // Without a day: the last year.
    let default_day = chrono::DateTime::from_timestamp_millis(now - 365 * DAY_MS)
        .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let since = since
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(&default_day);
    let from = points_since(Some(since), now)?;
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let (mut orders_count, mut points, mut after) = (0_i64, Points::ZERO, i64::MIN);
    loop {
        let ids =
            history::kept_out_page(&mut conn, shop_id, BEFORE_PROGRAM, from, after, PAGE).await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = last;
        let rows = orders::find_orders(&mut conn, shop_id, &ids).await?;
        let mut refunds = orders::list_refunds_of(&mut conn, shop_id, &ids).await?;
        for row in &rows {
            let earned = retroactive_points(
                row,
                refunds.remove(&row.order_id).unwrap_or_default(),
                &program,
            );
            if earned > 0 {
                orders_count += 1;
                points = points
                    .checked_add(Points::new(earned).unwrap_or(Points::MAX))
                    .unwrap_or(Points::MAX);
            }
        }
    }
    Ok(Preview {
        points_since: since.to_owned(),
        orders: orders_count,
        points: points.get(),
        worth_minor: liability_minor(
            points.get(),
            best_point_value(&program.settings, program.exponent()),
        ),
        currency: program.currency.clone(),
    })
}
