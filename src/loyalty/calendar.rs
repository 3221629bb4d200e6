//! Dates the program runs on: when points expire, when a birthday or a
//! membership anniversary comes round, what day it is for a shop. Times
//! are epoch milliseconds; a shop's days are those of its own time zone
//! ([`Zone`]), UTC until Advocate has read it from Shopify.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// A shop's time zone: an IANA name Shopify gives (`Shop.ianaTimezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    /// The zone named `name`; None for a name the time zone database does
    /// not know.
    pub fn parse(name: &str) -> Option<Zone> {
        name.trim().parse::<Tz>().ok().map(Zone)
    }

    /// The zone a shop stored, UTC when none was read (or it is unknown).
    pub fn of_shop(stored: Option<&str>) -> Zone {
        stored.and_then(Zone::parse).unwrap_or(Zone::UTC)
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The local date at a time.
    pub fn date_of(&self, ms: i64) -> NaiveDate {
        DateTime::from_timestamp_millis(ms)
            .map_or(NaiveDate::MIN, |t| t.with_timezone(&self.0).date_naive())
    }

    /// When the local day `date` begins: its first instant (local midnight,
    /// or the end of a daylight-saving gap that swallows midnight).
    pub fn start_of(&self, date: NaiveDate) -> i64 {
        let mut local = date.and_time(NaiveTime::MIN);
        // A gap is at most a few hours; step through it.
        for _ in 0..48 {
            if let Some(t) = self.0.from_local_datetime(&local).earliest() {
                return t.timestamp_millis();
            }
            local += chrono::Duration::minutes(30);
        }
        date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
    }

    /// The local day `date` as times: [start, end).
    pub fn day(&self, date: NaiveDate) -> (i64, i64) {
        let next = date.succ_opt().unwrap_or(date);
        (self.start_of(date), self.start_of(next))
    }
}

/// When points expire: `inactive_months` after the last activity.
pub fn expires_at(last_activity: i64, inactive_months: u32) -> i64 {
    DateTime::from_timestamp_millis(last_activity)
        .and_then(|t| t.checked_add_months(Months::new(inactive_months)))
        .map_or(i64::MAX, |t| t.timestamp_millis())
}

/// A birthday as month and day ("MM-DD"); the year is not kept.
pub fn parse_birthday(raw: &str) -> Option<(u32, u32)> {
    let (m, d) = raw.trim().split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    // 2024 is a leap year: 02-29 is a valid birthday.
    NaiveDate::from_ymd_opt(2024, m, d).map(|_| (m, d))
}

/// Whether `today` is the birthday; 29 February is celebrated on the 28th
/// in other years.
pub fn is_birthday(month: u32, day: u32, today: NaiveDate) -> bool {
    if month == 2 && day == 29 && NaiveDate::from_ymd_opt(today.year(), 2, 29).is_none() {
        return today.month() == 2 && today.day() == 28;
    }
    today.month() == month && today.day() == day
}

/// The anniversary in `year` of something that happened on `joined` (29
/// February's is the 28th in other years); None before its first.
pub fn anniversary_in(joined: NaiveDate, year: i32) -> Option<NaiveDate> {
    if year <= joined.year() {
        return None;
    }
    NaiveDate::from_ymd_opt(year, joined.month(), joined.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_counts_calendar_months() {
        let jan31 = 1_706_659_200_000; // 2024-01-31T00:00Z
        let at = expires_at(jan31, 1);
        assert_eq!(
            Zone::UTC.date_of(at),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
    }

    #[test]
    fn birthdays_parse_and_leap_days_come_round() {
        assert_eq!(parse_birthday("02-29"), Some((2, 29)));
        assert_eq!(parse_birthday("13-01"), None);
        assert_eq!(parse_birthday("2-3"), None);
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert!(is_birthday(2, 29, d(2025, 2, 28)));
        assert!(!is_birthday(2, 29, d(2024, 2, 28)));
        assert!(is_birthday(2, 29, d(2024, 2, 29)));
        assert!(is_birthday(7, 4, d(2030, 7, 4)));
    }

    #[test]
    fn a_shop_day_is_its_own_time_zones_day() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let auckland = Zone::parse("Pacific/Auckland").unwrap();
        // 2026-12-05T12:00Z is already the 6th in Auckland (UTC+13).
        let noon_utc = 1_796_472_000_000;
        assert_eq!(Zone::UTC.date_of(noon_utc), d(2026, 12, 5));
        assert_eq!(auckland.date_of(noon_utc), d(2026, 12, 6));
        let (start, end) = auckland.day(d(2026, 12, 6));
        assert_eq!(start, noon_utc - 1_000 * 3600);
        assert_eq!(end - start, 24 * 3600 * 1000);
        // A day that loses an hour to daylight saving (27 Sep 2026 in NZ).
        let (start, end) = auckland.day(d(2026, 9, 27));
        assert_eq!(end - start, 23 * 3600 * 1000);
        assert_eq!(Zone::of_shop(Some("Not/AZone")), Zone::UTC);
        assert_eq!(Zone::of_shop(None), Zone::UTC);
        assert_eq!(
            Zone::parse("America/New_York").unwrap().name(),
            "America/New_York"
        );
        // São Paulo once began daylight saving at midnight: that day
        // begins at 01:00 local.
        let sao_paulo = Zone::parse("America/Sao_Paulo").unwrap();
        let (start, _) = sao_paulo.day(d(2018, 11, 4));
        assert_eq!(start, 1_541_300_400_000); // 2018-11-04T03:00Z
    }

    #[test]
    fn anniversaries_come_round_once_a_year() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(anniversary_in(d(2024, 3, 10), 2024), None);
        assert_eq!(anniversary_in(d(2024, 3, 10), 2025), Some(d(2025, 3, 10)));
        assert_eq!(anniversary_in(d(2024, 2, 29), 2025), Some(d(2025, 2, 28)));
        assert_eq!(anniversary_in(d(2024, 2, 29), 2028), Some(d(2028, 2, 29)));
    }
}
