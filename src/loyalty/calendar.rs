//! Dates the program runs on: when points expire and when a birthday
//! comes round. Times are epoch milliseconds, dates UTC.

use chrono::{DateTime, Datelike, Months, NaiveDate};

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

/// The UTC date of a time.
pub fn date_of(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).map_or(NaiveDate::MIN, |t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_counts_calendar_months() {
        let jan31 = 1_706_659_200_000; // 2024-01-31T00:00Z
        let at = expires_at(jan31, 1);
        assert_eq!(date_of(at), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
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
}
