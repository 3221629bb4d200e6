//! The Shopify changes the engine asks for, as values: the engine enqueues
//! them in the outbox in the same transaction as the facts that cause them,
//! and the outbox sender performs them later (see
//! `crate::shopify::admin::effects` for how each becomes Admin API calls).
//! Each is safe to perform more than once: a discount code has a
//! deterministic code string (a retry finds the code created before instead
//! of creating another), tags and metafields are idempotent.
//!
//! The serialized form is what the outbox stores: the serde tags and field
//! names are part of the stored format and must not change.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Below this many customers, one Admin API call each is quicker than one
/// bulk operation; above it, [`Effect::TagMany`] goes as a bulk run.
pub const DEFAULT_BULK_THRESHOLD: usize = 250;

/// What a discount code takes off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DiscountValue {
    /// A fixed amount in the shop's currency, as a decimal string ("5.00").
    Amount {
        amount: String,
    },
    /// A share of the order, as a decimal fraction string ("0.1" = 10 %).
    Percentage {
        fraction: String,
    },
    FreeShipping,
    /// One unit of a product variant free: the variant's price off it
    /// (read when the code is made).
    FreeProduct {
        variant_gid: String,
    },
}

/// The ordering key of a customer's store credits and debits (rewards,
/// cashback): one at a time, in the order they were made, so a credit whose answer was lost can be told
/// apart from the customer's other credits (see `crate::jobs::outbox`).
pub fn store_credit_ordering(customer_gid: &str) -> String {
    format!("store-credit:{customer_gid}")
}

/// Points to give back if a code can never be created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub customer_id: i64,
    pub points: i64,
    /// The ledger source key of the refund entry (unique: refunds once).
    pub source_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// A single-use code for one customer (a redeemed reward, a referral).
    CreateDiscountCode {
        code: String,
        title: String,
        customer_gid: Option<String>,
        value: DiscountValue,
        minimum_subtotal: Option<String>,
        ends_at: Option<String>,
        refund: Option<Refund>,
    },
    /// Store credit for one customer (a reward redeemed for it), in the
    /// shop's currency; never given twice (see `crate::jobs::outbox`).
    CreditStoreCredit {
        customer_gid: String,
        /// A decimal amount ("5.00").
        amount: String,
        /// ISO 4217.
        currency: String,
        /// RFC 3339; None: the credit does not expire.
        expires_at: Option<String>,
        /// Whether Shopify emails the customer about it.
        notify: bool,
        refund: Option<Refund>,
    },
    /// Takes back the share of an order's cashback that a refund or a
    /// cancellation removed: debits the customer's store credit account,
    /// never below zero. What the balance cannot cover (the customer spent
    /// it) is recorded in the outcome as `unrecovered`, never retried.
    DebitStoreCredit {
        customer_gid: String,
        /// A decimal amount ("2.50"): what the order's cashback lost.
        amount: String,
        /// ISO 4217.
        currency: String,
    },
    AddTags {
        customer_gid: String,
        tags: Vec<String>,
    },
    RemoveTags {
        customer_gid: String,
        tags: Vec<String>,
    },
    SetMetafields {
        metafields: Vec<Metafield>,
    },
    /// The VIP perks Function's configuration (perk per tier): written on
    /// the shop's automatic app discount, which is created the first time
    /// (`discount_id` is filled in by the sender from what it created
    /// before, so a retry never creates a second one).
    SyncVipPerks {
        /// JSON for the Function: `{"perks": {"gold": 5, ...}, "message"}`.
        configuration: String,
        #[serde(default)]
        discount_id: Option<String>,
    },
    /// The same tags added to (or removed from) many customers: a tier
    /// renamed, a re-sync. Goes as a bulk operation above the threshold.
    TagMany {
        customer_gids: Vec<String>,
        tags: Vec<String>,
        remove: bool,
    },
    /// Starts the merchant's Shopify Flow workflows that begin with one of
    /// Advocate's triggers ([`FlowTrigger`]).
    FlowTrigger {
        handle: String,
        /// The trigger's fields: `customer_id` for its customer reference,
        /// and the keys of its custom fields.
        payload: Value,
    },
    /// Reads what Advocate keeps of the shop itself (its time zone), after
    /// an install; the sender stores the answer.
    ReadShop,
}

/// Advocate's Shopify Flow triggers: each is an extension
/// `extensions/flow-{handle}` whose fields the payload fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowTrigger {
    TierReached,
    RewardRedeemed,
    ReferralCompleted,
    PointsExpiring,
    /// A customer entered a behaviour segment; entering "at risk" carries
    /// the win-back offer, when one was issued.
    SegmentEntered,
    NpsResponse,
    /// A customer's membership anniversary came round (and its bonus was
    /// paid).
    MembershipAnniversary,
    /// A customer's next purchase of a product they buy again came due
    /// (a reorder reminder; never for one held out).
    ReorderDue,
}

impl FlowTrigger {
    pub const ALL: [FlowTrigger; 8] = [
        FlowTrigger::TierReached,
        FlowTrigger::RewardRedeemed,
        FlowTrigger::ReferralCompleted,
        FlowTrigger::PointsExpiring,
        FlowTrigger::SegmentEntered,
        FlowTrigger::NpsResponse,
        FlowTrigger::MembershipAnniversary,
        FlowTrigger::ReorderDue,
    ];

    /// The extension's handle (at most 30 characters, letters, digits and
    /// hyphens).
    pub fn handle(self) -> &'static str {
        match self {
            FlowTrigger::TierReached => "advocate-tier-reached",
            FlowTrigger::RewardRedeemed => "advocate-reward-redeemed",
            FlowTrigger::ReferralCompleted => "advocate-referral-completed",
            FlowTrigger::PointsExpiring => "advocate-points-expiring",
            FlowTrigger::SegmentEntered => "advocate-segment-entered",
            FlowTrigger::NpsResponse => "advocate-nps-response",
            FlowTrigger::MembershipAnniversary => "advocate-member-anniversary",
            FlowTrigger::ReorderDue => "advocate-reorder-due",
        }
    }

    /// The effect that fires this trigger for `customer_id` with `fields`
    /// (the custom fields, by their keys in the extension).
    pub fn effect(self, customer_id: i64, mut fields: serde_json::Map<String, Value>) -> Effect {
        fields.insert("customer_id".into(), json!(customer_id));
        Effect::FlowTrigger {
            handle: self.handle().to_owned(),
            payload: Value::Object(fields),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metafield {
    pub owner_id: String,
    pub namespace: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::CreateDiscountCode { .. } => "create_discount_code",
            Effect::AddTags { .. } => "add_tags",
            Effect::RemoveTags { .. } => "remove_tags",
            Effect::SetMetafields { .. } => "set_metafields",
            Effect::TagMany { .. } => "tag_many",
            Effect::SyncVipPerks { .. } => "sync_vip_perks",
            Effect::CreditStoreCredit { .. } => "credit_store_credit",
            Effect::DebitStoreCredit { .. } => "debit_store_credit",
            Effect::FlowTrigger { .. } => "flow_trigger",
            Effect::ReadShop => "read_shop",
        }
    }

    /// Points to give back when this effect fails for good.
    pub fn refund(&self) -> Option<&Refund> {
        match self {
            Effect::CreateDiscountCode { refund, .. }
            | Effect::CreditStoreCredit { refund, .. } => refund.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outbox stores effects as this JSON: rows written by earlier
    /// versions must still decode, so the tags and field names are fixed.
    #[test]
    fn the_stored_form_is_fixed() {
        let effect = Effect::CreateDiscountCode {
            code: "ADV-1".into(),
            title: "5 off".into(),
            customer_gid: Some("gid://shopify/Customer/7".into()),
            value: DiscountValue::Amount {
                amount: "5.00".into(),
            },
            minimum_subtotal: None,
            ends_at: None,
            refund: Some(Refund {
                customer_id: 7,
                points: 500,
                source_key: "refund:1".into(),
            }),
        };
        let stored = r#"{"effect":"create_discount_code","code":"ADV-1","title":"5 off","customer_gid":"gid://shopify/Customer/7","value":{"type":"amount","amount":"5.00"},"minimum_subtotal":null,"ends_at":null,"refund":{"customer_id":7,"points":500,"source_key":"refund:1"}}"#;
        assert_eq!(serde_json::to_string(&effect).unwrap(), stored);
        assert_eq!(serde_json::from_str::<Effect>(stored).unwrap(), effect);
        let tags = Effect::TagMany {
            customer_gids: vec!["g".into()],
            tags: vec!["t".into()],
            remove: true,
        };
        assert_eq!(
            serde_json::to_string(&tags).unwrap(),
            r#"{"effect":"tag_many","customer_gids":["g"],"tags":["t"],"remove":true}"#
        );
        let metafields = Effect::SetMetafields {
            metafields: vec![Metafield {
                owner_id: "o".into(),
                namespace: "n".into(),
                key: "k".into(),
                kind: "json".into(),
                value: "{}".into(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&metafields).unwrap(),
            r#"{"effect":"set_metafields","metafields":[{"owner_id":"o","namespace":"n","key":"k","type":"json","value":"{}"}]}"#
        );
        let flow = FlowTrigger::TierReached.effect(7, serde_json::Map::new());
        assert_eq!(
            serde_json::to_string(&flow).unwrap(),
            r#"{"effect":"flow_trigger","handle":"advocate-tier-reached","payload":{"customer_id":7}}"#
        );
        assert_eq!(
            serde_json::to_string(&Effect::SyncVipPerks {
                configuration: "{}".into(),
                discount_id: None
            })
            .unwrap(),
            r#"{"effect":"sync_vip_perks","configuration":"{}","discount_id":null}"#
        );
    }
}
