//! CSV exports for the merchant: the members (balance, pending, tier,
//! segment, referral code) and the points ledger of a period. An export is
//! a stream of pages ([`PAGE`] rows each) read one after another, so the
//! memory it holds does not grow with the shop, whatever its size. Text
//! fields are quoted as RFC 4180 asks, and a text starting like a
//! spreadsheet formula is made inert with a leading `'`.

use chrono::{DateTime, NaiveDate, SecondsFormat};
use futures_util::{stream, Stream, StreamExt};

use crate::{
    analytics::metrics::{points_flow, PointsFlow},
    loyalty::tiers,
    store::{
        exports::{self, LedgerCursor},
        program, Store,
    },
};

/// Rows read, and written out, at a time.
pub const PAGE: i64 = 1_000;

/// The longest period one ledger export covers, in days (ten years).
pub const MAX_PERIOD_DAYS: i64 = 3_660;
/// The period of a ledger export that names no start, in days.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

pub const MEMBERS_HEADER: &str =
    "customer_id,points_balance,points_pending,tier,segment,referral_code\r\n";
pub const LEDGER_HEADER: &str =
    "id,customer_id,occurred_at,recorded_at,kind,flow,points,reason,order_id\r\n";

/// A chunk of CSV text, or the read that failed (the answer is then cut
/// short: its status has already been sent).
pub type Chunks = std::pin::Pin<Box<dyn Stream<Item = Result<String, sqlx::Error>> + Send>>;

/// Why an export's period is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

/// A period `[from, to)` in epoch ms, from the `from` and `to` of a
/// request: each a date (`2026-11-01`, a UTC day; `to` includes its day) or
/// an RFC 3339 time (`to` excluded), as the dashboard's period gives them.
/// Without `to` the period ends `now`; without `from` it starts
/// [`DEFAULT_PERIOD_DAYS`] before its end.
pub fn period(from: Option<&str>, to: Option<&str>, now: i64) -> Result<(i64, i64), PeriodError> {
    let to_ms = match to {
        Some(to) => instant(to, true).ok_or_else(|| {
            PeriodError("to is not a date (2026-11-30) or an RFC 3339 time".into())
        })?,
        None => now.saturating_add(1),
    };
    let from_ms = match from {
        Some(from) => instant(from, false).ok_or_else(|| {
            PeriodError("from is not a date (2026-11-01) or an RFC 3339 time".into())
        })?,
        None => to_ms.saturating_sub(DEFAULT_PERIOD_DAYS * DAY_MS),
    };
    if to_ms <= from_ms {
        return Err(PeriodError("to must come after from".into()));
    }
    if to_ms - from_ms > MAX_PERIOD_DAYS * DAY_MS {
        return Err(PeriodError(format!(
            "a period covers at most {MAX_PERIOD_DAYS} days"
        )));
    }
    Ok((from_ms, to_ms))
}

/// A date's first millisecond (or, for the end of a period, the next
/// day's), or an RFC 3339 time; None when it is neither or out of range.
fn instant(raw: &str, end: bool) -> Option<i64> {
    let raw = raw.trim();
    if raw.len() > 40 {
        return None;
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end { day.succ_opt()? } else { day };
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The members export of a shop.
pub async fn members(store: &Store, shop_id: i64) -> Result<Chunks, sqlx::Error> {
    let settings = {
        let mut conn = store.reader().acquire().await?;
        program::get_program(&mut conn, shop_id).await?.settings
    };
    let tiers = std::sync::Arc::new(settings.tiers);
    let store = store.clone();
    // State: the last customer id written, None once done.
    let pages = stream::try_unfold(Some(0_i64), move |after| {
        let store = store.clone();
        let tiers = tiers.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows = exports::members_page(store.reader(), shop_id, after, PAGE).await?;
            let next = (rows.len() as i64 == PAGE)
                .then(|| rows.last().map(|r| r.customer_id))
                .flatten();
            let mut out = String::with_capacity(rows.len() * 48);
            for r in &rows {
                // By its name; a tier since removed from the settings by
                // its id.
                let tier = r
                    .tier_id
                    .as_deref()
                    .map(|id| tiers::level(&tiers, Some(id)).map_or(id, |l| l.name.as_str()));
                out.push_str(&format!(
                    "{},{},{},{},{},{}\r\n",
                    r.customer_id,
                    r.points_balance,
                    r.points_pending,
                    field(tier.unwrap_or("")),
                    field(r.segment.as_deref().unwrap_or("")),
                    field(r.referral_code.as_deref().unwrap_or("")),
                ));
            }
            Ok(Some((out, next)))
        }
    });
    Ok(Box::pin(
        stream::once(async { Ok(MEMBERS_HEADER.to_owned()) }).chain(pages),
    ))
}

/// An epoch-ms time as RFC 3339 UTC with milliseconds.
fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The ledger export of a shop: the entries that happened in `[from, to)`
/// (epoch ms), in the order they happened.
/// `flow` is how the dashboard counts the entry: points issued, redeemed
/// or expired; the sums of a period's `points` by flow are the dashboard's
/// issued, redeemed (negated) and expired (negated) for that period.
pub fn ledger(store: &Store, shop_id: i64, period: (i64, i64)) -> Chunks {
    let store = store.clone();
    // State: where the next page starts (Some(None) before the first
    // page), None once done.
    let pages = stream::try_unfold(Some(None::<LedgerCursor>), move |after| {
        let store = store.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows = exports::ledger_page(store.reader(), shop_id, period, after, PAGE).await?;
            let next = (rows.len() as i64 == PAGE)
                .then(|| {
                    rows.last().map(|r| LedgerCursor {
                        occurred_at: r.occurred_at,
                        id: r.id,
                    })
                })
                .flatten();
            let mut out = String::with_capacity(rows.len() * 80);
            for r in &rows {
                let flow = match points_flow(&r.kind) {
                    PointsFlow::Issued => "issued",
                    PointsFlow::Redeemed => "redeemed",
                    PointsFlow::Expired => "expired",
                };
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{}\r\n",
                    r.id,
                    r.customer_id,
                    rfc3339(r.occurred_at),
                    rfc3339(r.created_at),
                    field(&r.kind),
                    flow,
                    r.points,
                    field(&r.reason),
                    r.order_id.map(|o| o.to_string()).unwrap_or_default(),
                ));
            }
            Ok(Some((out, next.map(Some))))
        }
    });
    Box::pin(stream::once(async { Ok(LEDGER_HEADER.to_owned()) }).chain(pages))
}

/// A text field: quoted when it holds a comma, a quote or a line end
/// (quotes doubled), and with a leading `'` when a spreadsheet would read
/// it as a formula.
pub fn field(text: &str) -> String {
    let inert = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if inert.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", inert.replace('"', "\"\""))
    } else {
        inert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_made_inert() {
        assert_eq!(field("Gold"), "Gold");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-5 points"), "'-5 points");
        assert_eq!(field("@sum"), "'@sum");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn periods_are_dates_or_times_and_bounded() {
        let day = DAY_MS;
        let now = 1_764_000_000_000;
        let (from, to) = period(Some("2026-11-01"), Some("2026-11-30"), now).unwrap();
        assert_eq!(from, 1_793_491_200_000);
        assert_eq!(to - from, 30 * day, "to includes its day");
        let (from, to) = period(
            Some("2026-11-01T00:00:00.000Z"),
            Some("2026-11-02T00:00:00Z"),
            now,
        )
        .unwrap();
        assert_eq!(to - from, day, "an RFC 3339 to is excluded");
        assert_eq!(
            period(None, None, now).unwrap(),
            (now + 1 - 30 * day, now + 1),
            "the last 30 days, now included"
        );
        assert!(period(Some("yesterday"), Some("2026-11-01"), now).is_err());
        assert!(period(Some("2026-11-02"), Some("2026-11-01"), now).is_err());
        assert!(period(Some("2000-01-01"), Some("2026-11-01"), now).is_err());
        assert!(period(Some("2026-13-01"), Some("2026-12-01"), now).is_err());
        assert!(period(Some(&"9".repeat(500)), None, now).is_err());
    }
}
