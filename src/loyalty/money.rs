//! Money as integer minor units of the shop's currency. Shopify sends
//! amounts as decimal strings ("404.95"); they are parsed exactly, never
//! through floating point, and only within [`MAX_AMOUNT_MINOR`] either way,
//! so sums of amounts (an order's parts, a customer's spend) stay far from
//! overflow in Rust and in SQL.

/// Largest magnitude of an amount, in minor units (10^15: ten trillion
/// dollars, or a quadrillion yen). No real order comes near it; a payload
/// beyond it is malformed.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// Minor-unit digits of a currency (ISO 4217). Most have 2.
pub fn exponent(currency: &str) -> u32 {
    match currency.to_ascii_uppercase().as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Parses a decimal amount ("12.5", "-3.00", "7") into minor units with
/// `exponent` digits. Digits beyond the exponent must be zeros: a value
/// that cannot be represented exactly is refused, not rounded, and so is
/// one beyond [`MAX_AMOUNT_MINOR`].
pub fn parse_minor(raw: &str, exponent: u32) -> Option<i64> {
    let raw = raw.trim();
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exp = exponent as usize;
    let (kept, rest) = fraction.split_at(fraction.len().min(exp));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut value: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()) {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    for _ in kept.len()..exp {
        value = value.checked_mul(10)?;
    }
    if value > MAX_AMOUNT_MINOR {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// Formats minor units as a decimal string with `exponent` digits.
pub fn format_minor(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_in_minor_units() {
        assert_eq!(parse_minor("404.95", 2), Some(40495));
        assert_eq!(parse_minor("10", 2), Some(1000));
        assert_eq!(parse_minor("0.5", 2), Some(50));
        assert_eq!(parse_minor("-3.10", 2), Some(-310));
        assert_eq!(parse_minor("1500", 0), Some(1500));
        assert_eq!(parse_minor("1.250", 3), Some(1250));
        assert_eq!(parse_minor("1.2000", 2), Some(120));
        assert_eq!(parse_minor("1.234", 2), None);
        assert_eq!(parse_minor("1e3", 2), None);
        assert_eq!(parse_minor("", 2), None);
        assert_eq!(parse_minor(".", 2), None);
        assert_eq!(parse_minor("99999999999999999999", 2), None);
        assert_eq!(parse_minor("92233720368547758.07", 2), None);
        assert_eq!(parse_minor("10000000000000.00", 2), Some(MAX_AMOUNT_MINOR));
        assert_eq!(parse_minor("-10000000000000.01", 2), None);
    }

    #[test]
    fn minor_units_format_back() {
        assert_eq!(format_minor(40495, 2), "404.95");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1500, 0), "1500");
        assert_eq!(format_minor(1250, 3), "1.250");
    }

    #[test]
    fn currencies_know_their_minor_digits() {
        assert_eq!(exponent("USD"), 2);
        assert_eq!(exponent("jpy"), 0);
        assert_eq!(exponent("KWD"), 3);
    }
}
