//! The perk table: which percentage off a VIP tier gets, and the message
//! the customer sees. Pure logic over the discount's configuration
//! metafield (`$app:vip-perks.function-configuration`, type `json`):
//!
//! ```json
//! {
//!   "perks": {"silver": 0, "gold": 5, "platinum": 10},
//!   "names": {"gold": "Gold", "platinum": "Platinum"},
//!   "message": "VIP {tier}: {percent}% off"
//! }
//! ```
//!
//! `perks` is required: tier id to percentage, a JSON number (or a decimal
//! string) from 0 to 100. `names` (tier id to display name, for `{tier}`)
//! and `message` are optional; an empty `message` sends no message, so
//! checkout shows the discount's title. Anything else that does not fit
//! this shape makes the whole configuration malformed: no discount, never
//! an error, since a failing Function would fail the checkout.

use std::fmt;

use serde_json::{Map, Value as JsonValue};
use shopify_function::scalars::Decimal;

/// The customer metafield value Advocate writes for a customer without a tier.
pub const NO_TIER: &str = "none";

/// The message when the configuration has none.
pub const DEFAULT_MESSAGE: &str = "VIP {tier}: {percent}% off";

/// The discount one customer gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Perk {
    /// Percentage off, greater than 0 and at most 100.
    pub percent: f64,
    /// The message shown at checkout, if any.
    pub message: Option<String>,
}

/// Why a customer gets no discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPerk {
    /// No customer, no tier metafield, an empty value, or "none".
    NoTier,
    /// The discount has no configuration metafield.
    NoConfiguration,
    /// The configuration does not have the documented shape.
    Malformed(&'static str),
    /// The tier has no entry in the perk table.
    UnknownTier,
    /// The tier's perk is 0 %.
    Zero,
}

impl fmt::Display for NoPerk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoPerk::NoTier => f.write_str("the customer has no VIP tier"),
            NoPerk::NoConfiguration => f.write_str("the discount has no perk configuration"),
            NoPerk::Malformed(why) => write!(f, "malformed perk configuration: {why}"),
            NoPerk::UnknownTier => f.write_str("the tier has no perk"),
            NoPerk::Zero => f.write_str("the tier's perk is 0%"),
        }
    }
}

/// The perk of a customer whose `$app:advocate` / `tier` metafield holds `tier`,
/// under the discount configuration `config`.
pub fn perk(tier: Option<&str>, config: Option<&JsonValue>) -> Result<Perk, NoPerk> {
    let tier = tier
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(NO_TIER))
        .ok_or(NoPerk::NoTier)?;
    let config = match config {
        None | Some(JsonValue::Null) => return Err(NoPerk::NoConfiguration),
        Some(JsonValue::Object(config)) => config,
        Some(_) => return Err(NoPerk::Malformed("not a JSON object")),
    };
    let perks = match config.get("perks") {
        Some(JsonValue::Object(perks)) => perks,
        _ => return Err(NoPerk::Malformed("`perks` is not an object")),
    };
    // Every entry is checked, not only this customer's: a table with a bad
    // entry is a configuration error, and should show for every tier alike.
    let mut percent = None;
    for (id, value) in perks {
        let p =
            percentage(value).ok_or(NoPerk::Malformed("a perk is not a number from 0 to 100"))?;
        if id == tier {
            percent = Some(p);
        }
    }
    let percent = match percent {
        Some(p) => p,
        // Tier ids are Advocate's own lower-case ids; tolerate a change of case.
        None => perks
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(tier))
            .and_then(|(_, value)| percentage(value))
            .ok_or(NoPerk::UnknownTier)?,
    };
    let name = display_name(config, tier)?;
    let message = message(config, name, percent)?;
    if percent == 0.0 {
        return Err(NoPerk::Zero);
    }
    Ok(Perk { percent, message })
}

/// A percentage from 0 to 100: a JSON number, or a decimal in a string (the
/// way Shopify writes decimals).
fn percentage(value: &JsonValue) -> Option<f64> {
    let p = match value {
        JsonValue::Number(n) => n.as_f64()?,
        JsonValue::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (p.is_finite() && (0.0..=100.0).contains(&p)).then_some(p)
}

fn display_name<'a>(config: &'a Map<String, JsonValue>, tier: &'a str) -> Result<&'a str, NoPerk> {
    match config.get("names") {
        None | Some(JsonValue::Null) => Ok(tier),
        Some(JsonValue::Object(names)) => match names.get(tier) {
            None | Some(JsonValue::Null) => Ok(tier),
            Some(JsonValue::String(name)) if !name.trim().is_empty() => Ok(name.trim()),
            Some(_) => Err(NoPerk::Malformed("a name in `names` is not a string")),
        },
        Some(_) => Err(NoPerk::Malformed("`names` is not an object")),
    }
}

fn message(
    config: &Map<String, JsonValue>,
    name: &str,
    percent: f64,
) -> Result<Option<String>, NoPerk> {
    let template = match config.get("message") {
        None | Some(JsonValue::Null) => DEFAULT_MESSAGE,
        Some(JsonValue::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(JsonValue::String(s)) => s.trim(),
        Some(_) => return Err(NoPerk::Malformed("`message` is not a string")),
    };
    Ok(Some(
        template
            .replace("{tier}", name)
            .replace("{percent}", &display_percent(percent)),
    ))
}

/// 5 → "5", 7.5 → "7.5", 12.345 → "12.35" (the message only; the discount
/// keeps the exact value). Formatted by `Decimal` (ryu), which the output
/// needs anyway: `format!` on an `f64` would add some 18 kB to the module.
pub fn display_percent(percent: f64) -> String {
    let rounded = String::from(Decimal((percent * 100.0).round() / 100.0));
    match rounded.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => rounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(entries: &[(&str, JsonValue)]) -> JsonValue {
        JsonValue::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// A JSON number. JSON has no NaN or infinity: serde_json makes those
    /// `null`, which is as malformed a perk as NaN was.
    fn num(n: f64) -> JsonValue {
        JsonValue::from(n)
    }

    fn string(s: &str) -> JsonValue {
        JsonValue::String(s.to_string())
    }

    fn table() -> JsonValue {
        obj(&[
            (
                "perks",
                obj(&[
                    ("silver", num(0.0)),
                    ("gold", num(5.0)),
                    ("platinum", num(10.0)),
                ]),
            ),
            ("message", string("VIP {tier}: {percent}% off")),
        ])
    }

    #[test]
    fn tiers_get_their_percentage() {
        let gold = perk(Some("gold"), Some(&table())).unwrap();
        assert_eq!(gold.percent, 5.0);
        assert_eq!(gold.message.as_deref(), Some("VIP gold: 5% off"));
        let platinum = perk(Some("platinum"), Some(&table())).unwrap();
        assert_eq!(platinum.percent, 10.0);
        assert_eq!(platinum.message.as_deref(), Some("VIP platinum: 10% off"));
    }

    #[test]
    fn no_tier_none_and_blank_get_nothing() {
        assert_eq!(perk(None, Some(&table())), Err(NoPerk::NoTier));
        assert_eq!(perk(Some("none"), Some(&table())), Err(NoPerk::NoTier));
        assert_eq!(perk(Some("NONE"), Some(&table())), Err(NoPerk::NoTier));
        assert_eq!(perk(Some("  "), Some(&table())), Err(NoPerk::NoTier));
    }

    #[test]
    fn unknown_tier_and_zero_get_nothing() {
        assert_eq!(
            perk(Some("diamond"), Some(&table())),
            Err(NoPerk::UnknownTier)
        );
        assert_eq!(perk(Some("silver"), Some(&table())), Err(NoPerk::Zero));
    }

    #[test]
    fn tier_ids_are_trimmed_and_matched_regardless_of_case() {
        assert_eq!(perk(Some(" Gold "), Some(&table())).unwrap().percent, 5.0);
    }

    #[test]
    fn missing_configuration_gets_nothing() {
        assert_eq!(perk(Some("gold"), None), Err(NoPerk::NoConfiguration));
        assert_eq!(
            perk(Some("gold"), Some(&JsonValue::Null)),
            Err(NoPerk::NoConfiguration)
        );
    }

    #[test]
    fn malformed_configurations_get_nothing() {
        let malformed = [
            string("{\"perks\": {\"gold\": 5}}"),
            JsonValue::Array(vec![]),
            obj(&[]),
            obj(&[("perks", JsonValue::Array(vec![num(5.0)]))]),
            obj(&[("perks", obj(&[("gold", string("five"))]))]),
            obj(&[("perks", obj(&[("gold", JsonValue::Bool(true))]))]),
            obj(&[("perks", obj(&[("gold", num(-5.0))]))]),
            obj(&[("perks", obj(&[("gold", num(150.0))]))]),
            obj(&[("perks", obj(&[("gold", num(f64::NAN))]))]),
            obj(&[("perks", obj(&[("gold", num(5.0)), ("silver", num(101.0))]))]),
            obj(&[("perks", obj(&[("gold", num(5.0))])), ("message", num(1.0))]),
            obj(&[
                ("perks", obj(&[("gold", num(5.0))])),
                ("names", string("Gold")),
            ]),
            obj(&[
                ("perks", obj(&[("gold", num(5.0))])),
                ("names", obj(&[("gold", num(1.0))])),
            ]),
        ];
        for config in &malformed {
            assert!(
                matches!(perk(Some("gold"), Some(config)), Err(NoPerk::Malformed(_))),
                "{config:?}"
            );
        }
    }

    #[test]
    fn decimals_and_decimal_strings() {
        let config = obj(&[(
            "perks",
            obj(&[("gold", string("7.5")), ("vip", num(100.0))]),
        )]);
        let gold = perk(Some("gold"), Some(&config)).unwrap();
        assert_eq!(gold.percent, 7.5);
        assert_eq!(gold.message.as_deref(), Some("VIP gold: 7.5% off"));
        assert_eq!(perk(Some("vip"), Some(&config)).unwrap().percent, 100.0);
    }

    #[test]
    fn names_default_and_empty_messages() {
        let config = obj(&[
            ("perks", obj(&[("gold", num(5.0)), ("platinum", num(10.0))])),
            ("names", obj(&[("gold", string("Gold"))])),
        ]);
        assert_eq!(
            perk(Some("gold"), Some(&config))
                .unwrap()
                .message
                .as_deref(),
            Some("VIP Gold: 5% off")
        );
        assert_eq!(
            perk(Some("platinum"), Some(&config))
                .unwrap()
                .message
                .as_deref(),
            Some("VIP platinum: 10% off")
        );
        let silent = obj(&[
            ("perks", obj(&[("gold", num(5.0))])),
            ("message", string("")),
        ]);
        assert_eq!(perk(Some("gold"), Some(&silent)).unwrap().message, None);
    }

    #[test]
    fn display_percent_rounds_for_the_message_only() {
        assert_eq!(display_percent(5.0), "5");
        assert_eq!(display_percent(7.5), "7.5");
        assert_eq!(display_percent(12.345_6), "12.35");
        assert_eq!(display_percent(0.1 + 0.2), "0.3");
    }
}
