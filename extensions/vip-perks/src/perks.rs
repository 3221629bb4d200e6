//! The perk tables: which percentage off a VIP tier gets, off the order and
//! off shipping, and the messages the customer sees. Pure logic over the
//! discount's configuration metafield (`$app:vip-perks.function-configuration`,
//! type `json`):
//!
//! ```json
//! {
//!   "perks": {"silver": 0, "gold": 5, "platinum": 10},
//!   "shipping": {"gold": 50, "platinum": 100},
//!   "names": {"gold": "Gold", "platinum": "Platinum"},
//!   "message": "VIP {tier}: {percent}% off",
//!   "shipping_message": "VIP {tier}: {percent}% off shipping"
//! }
//! ```
//!
//! `perks` is required: tier id to percentage, a JSON number (or a decimal
//! string) from 0 to 100. `shipping` (the same, off shipping), `names`
//! (tier id to display name, for `{tier}`), `message` and
//! `shipping_message` are optional; an empty message sends no message, so
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

/// The shipping message when the configuration has none.
pub const DEFAULT_SHIPPING_MESSAGE: &str = "VIP {tier}: {percent}% off shipping";

/// The shipping message for a full perk when the configuration has none.
pub const DEFAULT_FREE_SHIPPING_MESSAGE: &str = "VIP {tier}: free shipping";

/// What a perk takes its percentage off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// The order subtotal, or its lines (`perks`).
    Order,
    /// The delivery groups (`shipping`).
    Shipping,
}

impl Table {
    fn message_key(self) -> &'static str {
        match self {
            Table::Order => "message",
            Table::Shipping => "shipping_message",
        }
    }

    fn default_message(self, percent: f64) -> &'static str {
        match self {
            Table::Order => DEFAULT_MESSAGE,
            Table::Shipping if percent >= 100.0 => DEFAULT_FREE_SHIPPING_MESSAGE,
            Table::Shipping => DEFAULT_SHIPPING_MESSAGE,
        }
    }
}

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
    /// The tier has no entry in the perk table (or there is no shipping
    /// table).
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

/// The order perk of a customer whose `$app:advocate` / `tier` metafield
/// holds `tier`, under the discount configuration `config`.
pub fn perk(tier: Option<&str>, config: Option<&JsonValue>) -> Result<Perk, NoPerk> {
    perk_in(Table::Order, tier, config)
}

/// The same customer's shipping perk.
pub fn shipping_perk(tier: Option<&str>, config: Option<&JsonValue>) -> Result<Perk, NoPerk> {
    perk_in(Table::Shipping, tier, config)
}

/// The perk of `table` for `tier`. The whole configuration is checked
/// whichever table is asked for: a bad entry anywhere is a configuration
/// error, and should show for every tier and both targets alike.
pub fn perk_in(
    table: Table,
    tier: Option<&str>,
    config: Option<&JsonValue>,
) -> Result<Perk, NoPerk> {
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
    let shipping = match config.get("shipping") {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Object(shipping)) => Some(shipping),
        Some(_) => return Err(NoPerk::Malformed("`shipping` is not an object")),
    };
    let order_percent = percent_of(perks, tier)?;
    let shipping_percent = match shipping {
        Some(shipping) => percent_of(shipping, tier)?,
        None => None,
    };
    let name = display_name(config, tier)?;
    // Both messages are checked, whichever is used.
    let order_message = template(config, Table::Order)?;
    let shipping_message = template(config, Table::Shipping)?;
    let (percent, template) = match table {
        Table::Order => (order_percent, order_message),
        Table::Shipping => (shipping_percent, shipping_message),
    };
    let percent = percent.ok_or(NoPerk::UnknownTier)?;
    if percent == 0.0 {
        return Err(NoPerk::Zero);
    }
    let template = template.map(|t| t.unwrap_or(table.default_message(percent)));
    Ok(Perk {
        percent,
        message: template.map(|t| {
            t.replace("{tier}", name)
                .replace("{percent}", &display_percent(percent))
        }),
    })
}

/// The percentage of `tier` in `table`, after checking every entry.
fn percent_of(table: &Map<String, JsonValue>, tier: &str) -> Result<Option<f64>, NoPerk> {
    let mut percent = None;
    for (id, value) in table {
        let p =
            percentage(value).ok_or(NoPerk::Malformed("a perk is not a number from 0 to 100"))?;
        if id == tier {
            percent = Some(p);
        }
    }
    Ok(percent.or_else(|| {
        // Tier ids are Advocate's own lower-case ids; tolerate a change of case.
        table
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(tier))
            .and_then(|(_, value)| percentage(value))
    }))
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

/// The message template of `table`: `Some(None)` for the default,
/// `None` for no message at all.
fn template(config: &Map<String, JsonValue>, table: Table) -> Result<Option<Option<&str>>, NoPerk> {
    match config.get(table.message_key()) {
        None | Some(JsonValue::Null) => Ok(Some(None)),
        Some(JsonValue::String(s)) if s.trim().is_empty() => Ok(None),
        Some(JsonValue::String(s)) => Ok(Some(Some(s.trim()))),
        Some(_) => Err(NoPerk::Malformed("a message is not a string")),
    }
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
    fn shipping_perks_come_from_their_own_table_and_message() {
        let config = obj(&[
            ("perks", obj(&[("gold", num(5.0)), ("platinum", num(10.0))])),
            (
                "shipping",
                obj(&[("gold", string("25")), ("platinum", num(100.0))]),
            ),
            ("names", obj(&[("platinum", string("Platinum"))])),
        ]);
        let gold = shipping_perk(Some("gold"), Some(&config)).unwrap();
        assert_eq!(gold.percent, 25.0);
        assert_eq!(gold.message.as_deref(), Some("VIP gold: 25% off shipping"));
        let platinum = shipping_perk(Some("platinum"), Some(&config)).unwrap();
        assert_eq!(platinum.percent, 100.0);
        assert_eq!(
            platinum.message.as_deref(),
            Some("VIP Platinum: free shipping")
        );
        // The order perk is unchanged by the shipping table.
        assert_eq!(perk(Some("gold"), Some(&config)).unwrap().percent, 5.0);
        // A tier without a shipping entry, and a configuration without a
        // shipping table, give no shipping perk (and keep the order perk).
        let no_table = obj(&[("perks", obj(&[("gold", num(5.0))]))]);
        assert_eq!(
            shipping_perk(Some("gold"), Some(&no_table)),
            Err(NoPerk::UnknownTier)
        );
        assert_eq!(perk(Some("gold"), Some(&no_table)).unwrap().percent, 5.0);
        let silent = obj(&[
            ("perks", obj(&[("gold", num(5.0))])),
            ("shipping", obj(&[("gold", num(10.0))])),
            ("shipping_message", string(" ")),
        ]);
        assert_eq!(
            shipping_perk(Some("gold"), Some(&silent)).unwrap().message,
            None
        );
    }

    #[test]
    fn a_malformed_shipping_entry_or_message_makes_the_whole_configuration_malformed() {
        let malformed = [
            obj(&[
                ("perks", obj(&[("gold", num(5.0))])),
                ("shipping", JsonValue::Array(vec![])),
            ]),
            obj(&[
                ("perks", obj(&[("gold", num(5.0))])),
                ("shipping", obj(&[("silver", num(101.0))])),
            ]),
            obj(&[
                ("perks", obj(&[("gold", num(5.0))])),
                ("shipping", obj(&[("gold", num(10.0))])),
                ("shipping_message", num(1.0)),
            ]),
        ];
        for config in &malformed {
            for table in [Table::Order, Table::Shipping] {
                assert!(
                    matches!(
                        perk_in(table, Some("gold"), Some(config)),
                        Err(NoPerk::Malformed(_))
                    ),
                    "{table:?} {config:?}"
                );
            }
        }
    }

    #[test]
    fn display_percent_rounds_for_the_message_only() {
        assert_eq!(display_percent(5.0), "5");
        assert_eq!(display_percent(7.5), "7.5");
        assert_eq!(display_percent(12.345_6), "12.35");
        assert_eq!(display_percent(0.1 + 0.2), "0.3");
    }
}
