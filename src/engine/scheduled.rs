//! Scheduled jobs, in-process and safe with several processes on one
//! database: each job runs under a lease (one process at a time), and every
//! change it makes is idempotent (conditional updates, unique ledger source
//! keys), so a job that dies halfway and runs again does not double.
//!
//! - `mature`: pending points whose return window has passed become
//!   spendable; referrals whose friend's order matured pay out (or void).
//! - `expiry`: points of customers inactive for the configured months
//!   expire, after a warning (a customer metafield with the date).
//! - `tiers`: re-evaluated for shops whose settings changed, and daily for
//!   rolling 12-month windows (downgrades included).
//! - `birthdays`: the birthday bonus, once a year.
//! - `anniversaries`: the membership anniversary bonus and its Flow
//!   trigger, once a year on the anniversary of joining.
//! - `reorder`: products' repurchase intervals learned and reorder
//!   reminders sent, once a day per shop (see [`super::reorder`]).
//!
//! Days are the shop's own ([`calendar::Zone`], read from Shopify): a
//! birthday, an anniversary, the daily re-evaluation of rolling tiers and
//! the daily segments come round at the shop's midnight, not UTC's, and
//! each daily round is marked done per shop on its local date.
//! - `segments`: each shop's behaviour segments, once a day and after its
//!   settings change (see [`super::segments`]).
//! - `winback`: win-back episodes whose attribution window ended without a
//!   return purchase close as expired.

use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate};
use sqlx::AnyConnection;

use super::{
    enqueue, referrals as referral_engine, segments as segment_engine, tiers, winback, EngineError,
};
use crate::{
    engine::effects::{Effect, FlowTrigger, Metafield},
    loyalty::{
        calendar::{self, Zone},
        settings::{Expiry, TierWindow},
        CustomerId, EpochMs, ShopId,
    },
    store::{
        customers,
        ledger::{self, NewEntry},
        orders, program, referrals, schedule, segments, shops, Store,
    },
};

/// The expiry date goes in a shared namespace: Shopify Flow and Email
/// templates read it, and it grants nothing.
pub const EXPIRY_NAMESPACE: &str = "advocate";

/// Rows handled per transaction.
const CHUNK: i64 = 200;
/// How long a job may hold its lease.
const LEASE: Duration = Duration::from_secs(600);

/// What one round of jobs did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub orders_matured: u64,
    pub referrals_settled: u64,
    pub expiry_warnings: u64,
    pub customers_expired: u64,
    pub tier_changes: u64,
    pub birthdays: u64,
    pub anniversaries: u64,
    pub reorder_reminders: u64,
    pub segment_changes: u64,
    pub winback_expired: u64,
}

struct Job {
    name: &'static str,
    /// Least time between two runs.
    every: Duration,
}

const MATURE: Job = Job {
    name: "mature",
    every: Duration::ZERO,
};
const EXPIRY: Job = Job {
    name: "expiry",
    every: Duration::from_secs(3600),
};
const TIERS: Job = Job {
    name: "tiers",
    every: Duration::ZERO,
};
const BIRTHDAYS: Job = Job {
    name: "birthdays",
    every: Duration::from_secs(3600),
};
const ANNIVERSARIES: Job = Job {
    name: "anniversaries",
    every: Duration::from_secs(3600),
};
const REORDER: Job = Job {
    name: "reorder",
    every: Duration::from_secs(3600),
};
const WINBACK: Job = Job {
    name: "winback",
    every: Duration::from_secs(3600),
};
const SEGMENTS: Job = Job {
    name: "segments",
    every: Duration::ZERO,
};

/// Runs every job that is due at `now` and not running elsewhere.
pub async fn run_due(store: &Store, owner: &str, now: EpochMs) -> anyhow::Result<Report> {
    let now = now.get();
    let mut report = Report::default();
    for job in [
        MATURE,
        EXPIRY,
        TIERS,
        BIRTHDAYS,
        ANNIVERSARIES,
        REORDER,
        WINBACK,
        SEGMENTS,
    ] {
        let last_run = {
            let mut conn = store.writer().acquire().await?;
            schedule::take(
                &mut conn,
                job.name,
                owner,
                now,
                now + LEASE.as_millis() as i64,
                now - job.every.as_millis() as i64,
            )
            .await?
        };
        if last_run.is_none() {
            // Not due, or running elsewhere.
            continue;
        }
        let result = match job.name {
            "mature" => mature(store, now, &mut report).await,
            "expiry" => expiry(store, now, &mut report).await,
            "tiers" => tier_round(store, now, &mut report).await,
            "segments" => segment_round(store, now, &mut report).await,
            "winback" => expire_winback(store, now, &mut report).await,
            "anniversaries" => anniversaries(store, now, &mut report).await,
            "reorder" => reorder_round(store, now, &mut report).await,
            _ => birthdays(store, now, &mut report).await,
        };
        let mut conn = store.writer().acquire().await?;
        schedule::finish(&mut conn, job.name, owner, now).await?;
        result?;
    }
    Ok(report)
}

async fn mature(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    loop {
        let mut tx = store.begin().await?;
        let due = orders::maturing(&mut tx, now, CHUNK).await?;
        for (shop_id, order_id, customer_id, points, version) in &due {
            if orders::settle_points(&mut tx, *shop_id, *order_id, *version, now).await? {
                if let Some(customer) = customer_id {
                    ledger::release_pending(&mut tx, *shop_id, *customer, *points, now).await?;
                }
                report.orders_matured += 1;
            }
        }
        tx.commit().await?;
        if (due.len() as i64) < CHUNK {
            break;
        }
    }
    loop {
        let mut tx = store.begin().await?;
        let due = referrals::maturing(&mut tx, now, CHUNK).await?;
        for (shop_id, id) in &due {
            if let Some(referral) = referrals::find(&mut tx, ShopId(*shop_id), *id).await? {
                if referral_engine::settle(&mut tx, ShopId(*shop_id), &referral, EpochMs(now))
                    .await?
                {
                    report.referrals_settled += 1;
                }
            }
        }
        tx.commit().await?;
        if (due.len() as i64) < CHUNK {
            break;
        }
    }
    Ok(())
}

async fn expiry(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = shops::installed_ids(&mut *store.writer().acquire().await?).await?;
    for shop_id in shops {
        let mut tx = store.begin().await?;
        let program = program::get_program(&mut tx, shop_id).await?;
        tx.commit().await?;
        if !program.settings.expiry.enabled {
            continue;
        }
        let zone = shops::time_zone(&mut *store.writer().acquire().await?, shop_id).await?;
        let round = ExpiryRound {
            store,
            shop_id,
            program: &program,
            zone,
            now,
        };
        // Expire first: a customer past expiry needs no warning.
        round.expire(report).await?;
        round.warn(report).await?;
    }
    Ok(())
}

/// One shop's expiry round: the shop, its program (with expiry enabled),
/// its time zone (the expiry date is the shop's) and the time of the round.
struct ExpiryRound<'a> {
    store: &'a Store,
    shop_id: i64,
    program: &'a program::Program,
    zone: Zone,
    now: i64,
}

/// A customer with points and the time of their last activity, as
/// [`customers::inactive_with_points`] lists them.
#[derive(Clone, Copy)]
struct Inactive {
    customer: i64,
    points: i64,
    last: i64,
}

impl ExpiryRound<'_> {
    fn rules(&self) -> &Expiry {
        &self.program.settings.expiry
    }

    /// The last activity time before which a customer is inactive at `at`:
    /// `inactive_months` earlier.
    fn cutoff(&self, at: i64) -> i64 {
        let months = Months::new(self.rules().inactive_months);
        chrono::DateTime::from_timestamp_millis(at)
            .and_then(|t| t.checked_sub_months(months))
            .map_or(i64::MIN, |t| t.timestamp_millis())
    }

    /// Expires the points of every customer inactive now, a chunk per
    /// transaction.
    async fn expire(&self, report: &mut Report) -> anyhow::Result<()> {
        let cutoff = self.cutoff(self.now);
        loop {
            let mut tx = self.store.begin().await?;
            let due = self.inactive(&mut tx, cutoff, false).await?;
            let expired_before = report.customers_expired;
            for &inactive in &due {
                if self.expire_one(&mut tx, inactive).await? {
                    report.customers_expired += 1;
                }
            }
            tx.commit().await?;
            // A chunk that expired nothing would come back unchanged.
            if (due.len() as i64) < CHUNK || report.customers_expired == expired_before {
                break;
            }
        }
        Ok(())
    }

    /// The next chunk of customers with points and no activity since
    /// `before`; with `unwarned`, only those not yet warned for it.
    async fn inactive(
        &self,
        conn: &mut AnyConnection,
        before: i64,
        unwarned: bool,
    ) -> Result<Vec<Inactive>, sqlx::Error> {
        let rows =
            customers::inactive_with_points(conn, self.shop_id, before, unwarned, CHUNK).await?;
        Ok(rows
            .into_iter()
            .map(|(customer, points, last)| Inactive {
                customer,
                points,
                last,
            })
            .collect())
    }

    /// Writes the ledger entry that takes one customer's balance; false
    /// when that entry was already written.
    async fn expire_one(
        &self,
        conn: &mut AnyConnection,
        inactive: Inactive,
    ) -> Result<bool, sqlx::Error> {
        let Inactive {
            customer,
            points: balance,
            last,
        } = inactive;
        let shop_id = self.shop_id;
        let reason = format!(
            "{balance} points expired after {} months without activity",
            self.rules().inactive_months
        );
        // Points granted after an expiry without new activity (a
        // birthday bonus) expire too: the key names the balance's
        // latest entry, not only the stretch of inactivity, so it
        // is new each time there is something new to expire.
        let latest = ledger::latest_entry_id(conn, shop_id, customer).await?;
        let key = format!("expiry:{customer}:{last}:{latest}");
        let entry = NewEntry {
            settings_version: Some(self.program.version),
            ..NewEntry::new(
                shop_id,
                customer,
                -balance,
                ledger::kind::EXPIRY,
                &reason,
                &key,
            )
        };
        ledger::append(conn, &entry, self.now).await
    }

    /// Warns every customer whose points expire within `warning_days` and
    /// who was not warned for this stretch of inactivity, a chunk per
    /// transaction.
    async fn warn(&self, report: &mut Report) -> anyhow::Result<()> {
        let warn_from =
            self.cutoff(self.now + i64::from(self.rules().warning_days) * super::DAY_MS);
        loop {
            let mut tx = self.store.begin().await?;
            let due = self.inactive(&mut tx, warn_from, true).await?;
            for &inactive in &due {
                if self.warn_one(&mut tx, inactive).await? {
                    report.expiry_warnings += 1;
                }
            }
            tx.commit().await?;
            if (due.len() as i64) < CHUNK {
                break;
            }
        }
        Ok(())
    }

    /// Marks one customer warned and enqueues the expiry date metafield and
    /// the points-expiring Flow trigger; false when another round already
    /// warned them.
    async fn warn_one(
        &self,
        conn: &mut AnyConnection,
        inactive: Inactive,
    ) -> Result<bool, sqlx::Error> {
        let Inactive {
            customer,
            points,
            last,
        } = inactive;
        let shop_id = self.shop_id;
        if !customers::mark_expiry_warned(conn, shop_id, customer, last).await? {
            return Ok(false);
        }
        let expires = calendar::expires_at(last, self.rules().inactive_months);
        let expires_on = self.zone.date_of(expires).to_string();
        let effect = Effect::SetMetafields {
            metafields: vec![Metafield {
                owner_id: CustomerId(customer).gid(),
                namespace: EXPIRY_NAMESPACE.into(),
                key: "points_expire_on".into(),
                kind: "date".into(),
                value: expires_on.clone(),
            }],
        };
        enqueue(
            conn,
            shop_id,
            &effect,
            &format!("expiry-warning:{customer}:{last}"),
            Some(&format!("customer:{customer}")),
        )
        .await?;
        let trigger = FlowTrigger::PointsExpiring.effect(
            customer,
            serde_json::Map::from_iter([
                ("Points".to_owned(), serde_json::json!(points)),
                ("Expires on".to_owned(), serde_json::json!(expires_on)),
            ]),
        );
        enqueue(
            conn,
            shop_id,
            &trigger,
            &format!("expiry-warning:{customer}:{last}:flow"),
            Some(&format!("customer:{customer}")),
        )
        .await?;
        Ok(true)
    }
}

async fn expire_winback(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    // One conditional statement over the open episodes (a partial index):
    // a re-run finds nothing left to close.
    let mut tx = store.begin().await?;
    report.winback_expired += winback::expire(&mut tx, EpochMs(now)).await?;
    tx.commit().await?;
    Ok(())
}

async fn tier_round(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = program::shops_for_tier_evaluation(&mut *store.writer().acquire().await?).await?;
    for (shop_id, version, evaluated) in shops {
        let (program, today, done_today) = {
            let mut tx = store.begin().await?;
            let program = program::get_program(&mut tx, shop_id).await?;
            let today = shops::time_zone(&mut tx, shop_id)
                .await?
                .date_of(now)
                .to_string();
            let done_today = schedule::day_done(&mut tx, shop_id, ROLLING_TIERS, &today).await?;
            tx.commit().await?;
            (program, today, done_today)
        };
        // A rolling 12-month window moves every day: re-evaluated once a
        // day, on the shop's calendar.
        let rolling = program.settings.tiers.window == TierWindow::Rolling12Months;
        let daily_due = rolling && !done_today;
        if evaluated >= version && !daily_due {
            continue;
        }
        if evaluated < version {
            let mut tx = store.begin().await?;
            tiers::sync_vip_perks(&mut tx, ShopId(shop_id), &program).await?;
            tx.commit().await?;
        }
        let mut after = 0;
        loop {
            let mut tx = store.begin().await?;
            let ids = customers::page_ids(&mut tx, shop_id, after, CHUNK).await?;
            // The page at once; when another writer moved one of these
            // customers meanwhile, one by one.
            let mut page = sqlx::Connection::begin(&mut *tx).await?;
            let at = (ShopId(shop_id), &program, EpochMs(now));
            let one_by_one = match tiers::reevaluate_many(&mut page, at, &ids, "tier review").await
            {
                Ok(moved) => {
                    page.commit().await?;
                    report.tier_changes += moved as u64;
                    &[][..]
                }
                Err(EngineError::Conflict(_)) => {
                    page.rollback().await?;
                    &ids[..]
                }
                Err(e) => return Err(e.into()),
            };
            for customer in one_by_one {
                // A savepoint per customer: a lost race undoes only its
                // step, which is tried again.
                for attempt in 0.. {
                    let mut sp = sqlx::Connection::begin(&mut *tx).await?;
                    match tiers::reevaluate(
                        &mut sp,
                        ShopId(shop_id),
                        &program,
                        CustomerId(*customer),
                        EpochMs(now),
                        "tier review",
                    )
                    .await
                    {
                        Ok(changed) => {
                            sp.commit().await?;
                            report.tier_changes += u64::from(changed);
                            break;
                        }
                        Err(EngineError::Conflict(_)) if attempt < 5 => sp.rollback().await?,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            tx.commit().await?;
            match ids.last() {
                Some(last) if ids.len() as i64 == CHUNK => after = *last,
                _ => break,
            }
        }
        let mut tx = store.begin().await?;
        program::mark_tiers_evaluated(&mut tx, shop_id, version).await?;
        if rolling {
            schedule::mark_day_done(&mut tx, shop_id, ROLLING_TIERS, &today).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The daily rounds marked per shop in `shop_days`.
const ROLLING_TIERS: &str = "rolling-tiers";
const BIRTHDAY_ROUND: &str = "birthdays";
const ANNIVERSARY_ROUND: &str = "anniversaries";
const REORDER_ROUND: &str = "reorder";

/// Each shop's reorder round, once per local day.
async fn reorder_round(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = shops::installed_ids(&mut *store.writer().acquire().await?).await?;
    for shop_id in shops {
        let today = {
            let mut conn = store.writer().acquire().await?;
            let today = shops::time_zone(&mut conn, shop_id)
                .await?
                .date_of(now)
                .to_string();
            if schedule::day_done(&mut conn, shop_id, REORDER_ROUND, &today).await? {
                continue;
            }
            today
        };
        let round = super::reorder::run_shop(store, shop_id, now).await?;
        report.reorder_reminders += round.reminders;
        let mut conn = store.writer().acquire().await?;
        schedule::mark_day_done(&mut conn, shop_id, REORDER_ROUND, &today).await?;
    }
    Ok(())
}

/// Each shop's birthdays of its local today, once per local day.
async fn birthdays(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = shops::installed_ids(&mut *store.writer().acquire().await?).await?;
    for shop_id in shops {
        let mut tx = store.begin().await?;
        let today = shops::time_zone(&mut tx, shop_id).await?.date_of(now);
        if schedule::day_done(&mut tx, shop_id, BIRTHDAY_ROUND, &today.to_string()).await? {
            tx.commit().await?;
            continue;
        }
        let mut days = vec![format!("{:02}-{:02}", today.month(), today.day())];
        if calendar::is_birthday(2, 29, today) && today.day() == 28 {
            days.push("02-29".into());
        }
        let program = program::get_program(&mut tx, shop_id).await?;
        let points = program.settings.earning.birthday_points;
        if points > 0 {
            for customer in customers::with_birthday(&mut tx, shop_id, &days).await? {
                let key = format!("birthday:{customer}:{}", today.year());
                let entry = NewEntry {
                    settings_version: Some(program.version),
                    ..NewEntry::new(
                        shop_id,
                        customer,
                        points,
                        ledger::kind::BIRTHDAY,
                        "Happy birthday!",
                        &key,
                    )
                };
                if ledger::append(&mut tx, &entry, now).await? {
                    report.birthdays += 1;
                }
            }
        }
        schedule::mark_day_done(&mut tx, shop_id, BIRTHDAY_ROUND, &today.to_string()).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Each shop's membership anniversaries of its local today: the bonus and
/// the Flow trigger, once a year per customer (the ledger's source key
/// names the year), a chunk of customers per transaction; the day is
/// marked done with the last chunk.
async fn anniversaries(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = shops::installed_ids(&mut *store.writer().acquire().await?).await?;
    for shop_id in shops {
        let (program, zone, first) = {
            let mut tx = store.begin().await?;
            let program = program::get_program(&mut tx, shop_id).await?;
            let zone = shops::time_zone(&mut tx, shop_id).await?;
            let today = zone.date_of(now).to_string();
            if schedule::day_done(&mut tx, shop_id, ANNIVERSARY_ROUND, &today).await? {
                tx.commit().await?;
                continue;
            }
            let first = customers::first_joined(&mut tx, shop_id).await?;
            tx.commit().await?;
            (program, zone, first)
        };
        let today = zone.date_of(now);
        let points = program.settings.earning.anniversary_points;
        if points > 0 {
            if let Some(first) = first {
                let round = AnniversaryRound {
                    store,
                    shop_id,
                    program: &program,
                    zone,
                    today,
                    points,
                    now,
                };
                for year in zone.date_of(first).year()..today.year() {
                    report.anniversaries += round.pay_joined_in(year).await?;
                }
            }
        }
        let mut conn = store.writer().acquire().await?;
        schedule::mark_day_done(&mut conn, shop_id, ANNIVERSARY_ROUND, &today.to_string()).await?;
    }
    Ok(())
}

/// One shop's anniversaries of one local day.
struct AnniversaryRound<'a> {
    store: &'a Store,
    shop_id: i64,
    program: &'a program::Program,
    zone: Zone,
    today: NaiveDate,
    points: i64,
    now: i64,
}

impl AnniversaryRound<'_> {
    /// Pays the members who joined in `year` on a date whose anniversary
    /// is today (29 February's is the 28th in other years); returns how
    /// many were paid now.
    async fn pay_joined_in(&self, year: i32) -> anyhow::Result<u64> {
        let mut paid = 0;
        let mut dates = vec![NaiveDate::from_ymd_opt(
            year,
            self.today.month(),
            self.today.day(),
        )];
        if self.today.month() == 2 && self.today.day() == 28 {
            dates.push(NaiveDate::from_ymd_opt(year, 2, 29));
        }
        for joined_on in dates.into_iter().flatten() {
            if calendar::anniversary_in(joined_on, self.today.year()) != Some(self.today) {
                continue;
            }
            let day = self.zone.day(joined_on);
            let mut after = 0;
            loop {
                let mut tx = self.store.begin().await?;
                let due =
                    customers::joined_between(&mut tx, self.shop_id, day, after, CHUNK).await?;
                for &(customer, _) in &due {
                    paid += u64::from(self.pay(&mut tx, customer, joined_on).await?);
                }
                tx.commit().await?;
                match due.last() {
                    Some(&(last, _)) if due.len() as i64 == CHUNK => after = last,
                    _ => break,
                }
            }
        }
        Ok(paid)
    }

    /// The bonus and the Flow trigger for one member; false when this
    /// year's was paid before.
    async fn pay(
        &self,
        conn: &mut AnyConnection,
        customer: i64,
        joined_on: NaiveDate,
    ) -> Result<bool, sqlx::Error> {
        let years = self.today.year() - joined_on.year();
        let key = format!("anniversary:{customer}:{}", self.today.year());
        let reason = if years == 1 {
            "One year a member".to_owned()
        } else {
            format!("{years} years a member")
        };
        let entry = NewEntry {
            settings_version: Some(self.program.version),
            ..NewEntry::new(
                self.shop_id,
                customer,
                self.points,
                ledger::kind::ANNIVERSARY,
                &reason,
                &key,
            )
        };
        if !ledger::append(conn, &entry, self.now).await? {
            return Ok(false);
        }
        let trigger = FlowTrigger::MembershipAnniversary.effect(
            customer,
            serde_json::Map::from_iter([
                ("Years".to_owned(), serde_json::json!(years)),
                ("Points".to_owned(), serde_json::json!(self.points)),
                (
                    "Member since".to_owned(),
                    serde_json::json!(joined_on.to_string()),
                ),
            ]),
        );
        enqueue(
            conn,
            self.shop_id,
            &trigger,
            &format!("{key}:flow"),
            Some(&format!("customer:{customer}")),
        )
        .await?;
        Ok(true)
    }
}

/// Recomputes the segments of each shop not yet computed today (the
/// shop's date) or whose settings changed since.
async fn segment_round(store: &Store, now: i64, report: &mut Report) -> anyhow::Result<()> {
    let shops = shops::installed_ids(&mut *store.writer().acquire().await?).await?;
    for shop_id in shops {
        let due = {
            let mut conn = store.writer().acquire().await?;
            let zone = shops::time_zone(&mut conn, shop_id).await?;
            let today = zone.date_of(now);
            let program = program::get_program(&mut conn, shop_id).await?;
            program.settings.segments.enabled
                && segments::find_state(&mut conn, shop_id)
                    .await?
                    .is_none_or(|s| {
                        zone.date_of(s.computed_at) != today
                            || s.settings_version != program.version
                    })
        };
        if !due {
            continue;
        }
        if let Some(done) = segment_engine::recompute_shop(store, shop_id, now).await? {
            report.segment_changes += done.changed;
        }
    }
    Ok(())
}
