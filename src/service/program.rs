//! The loyalty program's settings: read and saved by the merchant.

use serde::Serialize;

use crate::{
    engine::program::{self as engine_program, SaveError},
    loyalty::{settings::ProgramSettings, EpochMs, ShopId},
    store::{program, Store},
};

/// `GET /api/admin/program`: the settings, their version and currency.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramView {
    pub version: i64,
    pub currency: String,
    pub settings: ProgramSettings,
}

/// The program as it stands.
pub async fn get_program(store: &Store, shop_id: i64) -> Result<ProgramView, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let p = program::get_program(&mut conn, shop_id).await?;
    Ok(ProgramView {
        version: p.version,
        currency: p.currency,
        settings: p.settings,
    })
}

/// A save: the new settings, the version they were edited from (None:
/// whatever is current; a save over a newer version is refused), who saves.
#[derive(Debug, Clone)]
pub struct SaveProgram<'a> {
    pub shop_id: i64,
    pub settings: ProgramSettings,
    pub version: Option<i64>,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// The answer to a save: the new version and the settings saved.
#[derive(Debug, Clone, Serialize)]
pub struct SavedProgram {
    pub version: i64,
    pub settings: ProgramSettings,
}

/// Validates and saves the settings (see [`crate::engine::program`]); the
/// transaction commits only on success.
pub async fn save_program(
    store: &Store,
    request: SaveProgram<'_>,
) -> Result<SavedProgram, SaveError> {
    let mut tx = store.begin().await?;
    let saved = engine_program::save(
        &mut tx,
        ShopId(request.shop_id),
        request.version,
        &request.settings,
        request.actor,
        EpochMs::now(),
    )
    .await;
    match saved {
        Ok(version) => {
            tx.commit().await?;
            Ok(SavedProgram {
                version,
                settings: request.settings,
            })
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// `POST /api/admin/program/forecast`: what `settings` would have done
/// over the last `days` of the shop's orders, next to what the settings in
/// force would have done over the same orders, and what the ledger
/// recorded (see [`crate::loyalty::forecast`]). Reads only: nothing is
/// saved or queued.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub days: i64,
    /// The period (RFC 3339): the `days` before now.
    pub from: String,
    pub to: String,
    pub currency: String,
    /// Customers with orders before the period's end (the replay's
    /// population).
    pub customers: i64,
    /// Points redeemed per point issued in the period, as the ledger
    /// recorded them: `{redeemed, issued}`.
    pub redemption_rate: RedemptionRate,
    pub recorded: Recorded,
    pub current: ScenarioView,
    pub proposed: ScenarioView,
    /// Customers ending in a higher / lower tier under the proposed
    /// settings than under the current ones.
    pub tier_moves: TierMoves,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RedemptionRate {
    pub redeemed: i64,
    pub issued: i64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TierMoves {
    pub up: i64,
    pub down: i64,
}

/// What the ledger recorded for the period: points orders earned (less
/// clawbacks and cancellations), tier entry points, and points redeemed as
/// the dashboard counts them (less points given back).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Recorded {
    pub order_points: i64,
    pub entry_points: i64,
    pub redeemed: i64,
}

impl Recorded {
    fn of(points_by_kind: Vec<(String, i64)>) -> Self {
        use crate::{
            analytics::metrics::{points_flow, PointsFlow},
            store::ledger::kind,
        };
        let mut r = Recorded::default();
        for (k, points) in points_by_kind {
            match k.as_str() {
                kind::EARN | kind::CLAWBACK | kind::CANCEL => {
                    r.order_points = r.order_points.saturating_add(points)
                }
                kind::TIER_ENTRY => r.entry_points = r.entry_points.saturating_add(points),
                k if points_flow(k) == PointsFlow::Redeemed => {
                    r.redeemed = r.redeemed.saturating_sub(points)
                }
                _ => {}
            }
        }
        r
    }
}

/// One column of the forecast: the replay, with redemptions at the
/// observed rate and what stays outstanding, in points and in money.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioView {
    #[serde(flatten)]
    pub replay: crate::loyalty::forecast::Scenario,
    pub points_redeemed: i64,
    pub points_outstanding: i64,
    /// The outstanding points at the fixed-amount reward worth most per
    /// point (None without one), minor units.
    pub liability_minor: Option<i64>,
    /// The entry points at the same value.
    pub entry_cost_minor: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("the settings are not valid")]
    Invalid(Vec<crate::loyalty::settings::FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn forecast(
    store: &Store,
    shop_id: i64,
    proposed: &ProgramSettings,
    days: i64,
    now: EpochMs,
) -> Result<Forecast, ForecastError> {
    use crate::{
        analytics::metrics::{best_point_value, liability_minor},
        loyalty::{forecast as rules, time::DAY_MS},
        store::forecast as facts,
    };
    if !rules::PERIODS.contains(&days) {
        return Err(ForecastError::Invalid(vec![
            crate::loyalty::settings::FieldError {
                field: "days".into(),
                message: "must be 90 or 365".into(),
            },
        ]));
    }
    // One snapshot for every read, in a transaction that cannot write.
    let mut conn = store.reader().begin().await?;
    if store.dialect() == crate::store::Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *conn)
            .await?;
    }
    let current = program::get_program(&mut conn, shop_id).await?;
    proposed
        .validate(&current.currency)
        .map_err(ForecastError::Invalid)?;
    let exponent = current.exponent();
    let (to, from) = (now.get(), now.get() - days * DAY_MS);
    let recorded = Recorded::of(facts::points_by_kind(&mut conn, shop_id, from, to).await?);
    let mut replay_current = rules::Replayer::new(&current.settings, exponent, from, to);
    let mut replay_proposed = rules::Replayer::new(proposed, exponent, from, to);
    let mut customers = 0_i64;
    facts::each_customer(&mut conn, shop_id, to, |c| {
        customers += 1;
        replay_proposed.customer(c.clone());
        replay_current.customer(c);
    })
    .await?;
    conn.rollback().await?;
    let rate = RedemptionRate {
        redeemed: recorded.redeemed.max(0),
        issued: recorded
            .order_points
            .saturating_add(recorded.entry_points)
            .max(0),
    };
    let view = |settings: &ProgramSettings, replay: rules::Scenario| {
        let redeemed = rules::redeemed_at_rate(replay.points_issued, (rate.redeemed, rate.issued));
        let outstanding = replay.points_issued.saturating_sub(redeemed);
        let value = best_point_value(settings, exponent);
        ScenarioView {
            points_redeemed: redeemed,
            points_outstanding: outstanding,
            liability_minor: liability_minor(outstanding, value),
            entry_cost_minor: liability_minor(replay.entry_points, value),
            replay,
        }
    };
    let (current_replay, current_ranks) = replay_current.finish();
    let (proposed_replay, proposed_ranks) = replay_proposed.finish();
    let (up, down) = rules::moves(&current_ranks, &proposed_ranks);
    Ok(Forecast {
        days,
        from: crate::loyalty::time::rfc3339(from),
        to: crate::loyalty::time::rfc3339(to),
        currency: current.currency.clone(),
        customers,
        redemption_rate: rate,
        recorded,
        current: view(&current.settings, current_replay),
        proposed: view(proposed, proposed_replay),
        tier_moves: TierMoves { up, down },
    })
}
