//! Tier changes. A customer's tier follows from their spend (or points
//! earned) over the tier window; when it changes, the old tag is removed
//! and the new one added (in that order, one ordering key per customer),
//! the tier metafield is set for the VIP discount Function, the change is
//! recorded in the tier history, and the new tier's entry reward is granted
//! once per customer and tier, ever: dropping out and back in earns nothing.

use sqlx::AnyConnection;

use super::{enqueue, EngineError, DAY_MS};
use crate::{
    engine::effects::{Effect, FlowTrigger, Metafield},
    loyalty::{
        settings::{TierBasis, TierLevel, TierWindow},
        tiers, CustomerId, EpochMs, ShopId,
    },
    store::{
        customers::{self, CustomerTier, TierMove},
        ledger::{self, NewEntry},
        orders, outbound,
        program::Program,
    },
};

/// The metafield the VIP Function reads: `tier` on the customer, in the
/// app-reserved namespace (only Advocate can write it, so no other app or
/// staff edit can hand out a perk).
pub const TIER_NAMESPACE: &str = "$app:advocate";
pub const TIER_KEY: &str = "tier";
/// The metafield value of a customer without a tier.
pub const NO_TIER: &str = "none";

/// Enqueues the VIP perks Function's configuration for the current
/// settings (once per settings version). Nothing is created in Shopify
/// while no tier has a perk.
pub async fn sync_vip_perks(
    conn: &mut AnyConnection,
    shop: ShopId,
    program: &Program,
) -> Result<(), sqlx::Error> {
    let shop_id = shop.get();
    let perks: serde_json::Map<String, serde_json::Value> = program
        .settings
        .tiers
        .levels
        .iter()
        .map(|l| (l.id.clone(), serde_json::json!(l.perk_percent)))
        .collect();
    let shipping: serde_json::Map<String, serde_json::Value> = program
        .settings
        .tiers
        .levels
        .iter()
        .map(|l| (l.id.clone(), serde_json::json!(l.shipping_perk_percent)))
        .collect();
    let names: serde_json::Map<String, serde_json::Value> = program
        .settings
        .tiers
        .levels
        .iter()
        .map(|l| (l.id.clone(), serde_json::json!(l.name)))
        .collect();
    let any_perk = program
        .settings
        .tiers
        .levels
        .iter()
        .any(|l| l.perk_percent > 0 || l.shipping_perk_percent > 0);
    if !any_perk
        && crate::store::shops::vip_discount_id(conn, shop_id)
            .await?
            .is_none()
    {
        return Ok(());
    }
    let configuration = serde_json::json!({
        "perks": perks,
        "shipping": shipping,
        "names": names,
        "message": "VIP {tier}: {percent}% off",
    })
    .to_string();
    let effect = Effect::SyncVipPerks {
        configuration,
        discount_id: None,
    };
    enqueue(
        conn,
        shop_id,
        &effect,
        &format!("vip-perks:v{}", program.version),
        Some("vip-perks"),
    )
    .await?;
    Ok(())
}

/// The customer's standing toward tiers: spend in minor units, or points.
pub async fn standing(
    conn: &mut AnyConnection,
    shop: ShopId,
    program: &Program,
    customer: CustomerId,
    now: EpochMs,
) -> Result<i64, sqlx::Error> {
    let (shop_id, customer_id, now) = (shop.get(), customer.get(), now.get());
    let since = match program.settings.tiers.window {
        TierWindow::Lifetime => None,
        TierWindow::Rolling12Months => Some(now - 365 * DAY_MS),
    };
    match program.settings.tiers.basis {
        TierBasis::Spend => orders::spend_since(conn, shop_id, customer_id, since).await,
        TierBasis::PointsEarned => {
            ledger::order_points_since(conn, shop_id, customer_id, since).await
        }
    }
}

/// Re-evaluates one customer's tier and applies a change.
pub async fn reevaluate(
    conn: &mut AnyConnection,
    shop: ShopId,
    program: &Program,
    customer: CustomerId,
    now: EpochMs,
    reason: &str,
) -> Result<bool, EngineError> {
    reevaluate_as(conn, (shop, program, customer, now), reason, false).await
}

/// [`reevaluate`] after a tier was carried over from another program (a
/// tier floor): a move up has no Flow trigger and no entry reward.
pub async fn reevaluate_carried_over(
    conn: &mut AnyConnection,
    shop: ShopId,
    program: &Program,
    customer: CustomerId,
    now: EpochMs,
    reason: &str,
) -> Result<bool, EngineError> {
    reevaluate_as(conn, (shop, program, customer, now), reason, true).await
}

async fn reevaluate_as(
    conn: &mut AnyConnection,
    (shop, program, customer, now): (ShopId, &Program, CustomerId, EpochMs),
    reason: &str,
    quiet: bool,
) -> Result<bool, EngineError> {
    let value = standing(conn, shop, program, customer, now).await?;
    let current = customers::tier_of(conn, shop.get(), customer.get()).await?;
    let target = tiers::reached(
        &program.settings.tiers,
        program.exponent(),
        value,
        current.tier_floor.as_deref(),
    );
    let change = TierChange {
        shop,
        customer,
        program,
        now,
        current: &current,
        target,
        quiet,
    };
    change.apply(conn, reason).await
}

/// The customer's tier after `change` is applied (as [`TierChange::apply`]
/// records it).
pub fn after(change: &TierChange<'_>) -> CustomerTier {
    if change.is_noop() {
        return change.current.clone();
    }
    CustomerTier {
        tier_id: change.target.map(|l| l.id.clone()),
        tier_tag: change.target.map(|l| l.tag.clone()),
        tier_seq: change.seq(),
        tier_floor: change.current.tier_floor.clone(),
    }
}

/// One customer's move from their current tier to the target tier.
pub struct TierChange<'a> {
    pub shop: ShopId,
    pub customer: CustomerId,
    pub program: &'a Program,
    pub now: EpochMs,
    pub current: &'a CustomerTier,
    /// The tier the standing earns (`None`: no tier).
    pub target: Option<&'a TierLevel>,
    /// A move up without the Flow trigger and the entry reward: a tier
    /// carried over from another program, where they were had already.
    pub quiet: bool,
}

impl TierChange<'_> {
    /// True when the target is the current tier: nothing to do.
    pub fn is_noop(&self) -> bool {
        self.current.tier_id.as_deref() == self.target_id()
    }

    /// Applies the move: the tier history and the customer row, the tags,
    /// the metafield and, going up, the Flow trigger and the entry reward.
    /// Returns false when there is nothing to move.
    pub async fn apply(&self, conn: &mut AnyConnection, reason: &str) -> Result<bool, EngineError> {
        if self.is_noop() {
            return Ok(false);
        }
        self.record(conn, reason).await?;
        self.publish(conn).await?;
        self.retag(conn).await?;
        self.set_metafield(conn).await?;
        if self.is_upward() && !self.quiet {
            self.announce(conn).await?;
            self.grant_entry_reward(conn).await?;
        }
        tracing::debug!(
            shop_id = self.shop.get(),
            tier = self.target_id().unwrap_or(NO_TIER),
            "customer tier changed"
        );
        Ok(true)
    }

    fn target_id(&self) -> Option<&str> {
        self.target.map(|l| l.id.as_str())
    }

    /// The change count after this move; it names the move's effects.
    fn seq(&self) -> i64 {
        self.current.tier_seq + 1
    }

    /// One ordering key per customer: the move's effects apply in order.
    fn ordering(&self) -> String {
        format!("customer:{}", self.customer.get())
    }

    /// Records the move in the customer row and the tier history; a
    /// concurrent move (the change count moved on) is a conflict.
    async fn record(&self, conn: &mut AnyConnection, reason: &str) -> Result<(), EngineError> {
        let change = TierMove {
            customer_id: self.customer,
            seq: self.current.tier_seq,
            from: self.current.tier_id.as_deref(),
            to: self.target.map(|l| (l.id.as_str(), l.tag.as_str())),
            reason,
        };
        if !customers::change_tier(conn, self.shop, &change, self.now).await? {
            return Err(EngineError::Conflict(format!(
                "tier of customer {}",
                self.customer.get()
            )));
        }
        Ok(())
    }

    /// The `tier.changed` event for the merchant's endpoints.
    async fn publish(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let level = |id: Option<&str>| {
            crate::loyalty::tiers::level(&self.program.settings.tiers, id)
                .map(|l| serde_json::json!({ "id": l.id, "name": l.name }))
        };
        let ordering = outbound::customer_ordering(self.customer.get());
        let data = serde_json::json!({
            "customer_id": self.customer.get(),
            "from": level(self.current.tier_id.as_deref()),
            "to": level(self.target_id()),
        });
        outbound::emit(
            conn,
            self.shop.get(),
            &outbound::Event {
                topic: outbound::topic::TIER_CHANGED,
                ordering_key: Some(&ordering),
                data: &data,
            },
            self.now.get(),
        )
        .await?;
        Ok(())
    }

    /// Removes the old tier's tag unless the new tier has the same tag,
    /// then adds the new tier's tag (when there is a new tier).
    async fn retag(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let (shop_id, customer_id, seq) = (self.shop.get(), self.customer.get(), self.seq());
        let ordering = self.ordering();
        if let Some(old) = self
            .current
            .tier_tag
            .as_ref()
            .filter(|t| self.target.is_none_or(|l| &l.tag != *t))
        {
            let effect = Effect::RemoveTags {
                customer_gid: CustomerId(customer_id).gid(),
                tags: vec![old.clone()],
            };
            enqueue(
                conn,
                shop_id,
                &effect,
                &format!("tier:{customer_id}:{seq}:untag"),
                Some(&ordering),
            )
            .await?;
        }
        if let Some(level) = self.target {
            let effect = Effect::AddTags {
                customer_gid: CustomerId(customer_id).gid(),
                tags: vec![level.tag.clone()],
            };
            enqueue(
                conn,
                shop_id,
                &effect,
                &format!("tier:{customer_id}:{seq}:tag"),
                Some(&ordering),
            )
            .await?;
        }
        Ok(())
    }

    /// Sets the tier metafield the VIP Function reads (`none` without a
    /// tier).
    async fn set_metafield(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let (customer_id, seq) = (self.customer.get(), self.seq());
        let effect = Effect::SetMetafields {
            metafields: vec![Metafield {
                owner_id: CustomerId(customer_id).gid(),
                namespace: TIER_NAMESPACE.into(),
                key: TIER_KEY.into(),
                kind: "single_line_text_field".into(),
                value: self.target_id().unwrap_or(NO_TIER).into(),
            }],
        };
        enqueue(
            conn,
            self.shop.get(),
            &effect,
            &format!("tier:{customer_id}:{seq}:metafield"),
            Some(&self.ordering()),
        )
        .await?;
        Ok(())
    }

    /// Whether the move goes up the ranking. Entry rewards are for moving
    /// up; a downgrade into a tier never reached before grants nothing.
    fn is_upward(&self) -> bool {
        let tiers = &self.program.settings.tiers;
        let ranked = tiers::ranked(tiers, self.program.exponent());
        let rank = |id: Option<&str>| id.and_then(|id| ranked.iter().position(|(_, l)| l.id == id));
        rank(self.target_id()) > rank(self.current.tier_id.as_deref())
    }

    /// Enqueues the Flow trigger for reaching the new tier, after the tag
    /// and metafield, so a workflow sees them set.
    async fn announce(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let Some(level) = self.target else {
            return Ok(());
        };
        let (customer_id, seq) = (self.customer.get(), self.seq());
        let previous = crate::loyalty::tiers::level(
            &self.program.settings.tiers,
            self.current.tier_id.as_deref(),
        )
        .map_or("", |l| l.name.as_str());
        let trigger = FlowTrigger::TierReached.effect(
            customer_id,
            serde_json::Map::from_iter([
                ("Tier".to_owned(), serde_json::json!(level.name)),
                ("Tier tag".to_owned(), serde_json::json!(level.tag)),
                ("Previous tier".to_owned(), serde_json::json!(previous)),
            ]),
        );
        enqueue(
            conn,
            self.shop.get(),
            &trigger,
            &format!("tier:{customer_id}:{seq}:flow"),
            Some(&self.ordering()),
        )
        .await?;
        Ok(())
    }

    /// Grants the new tier's entry points, once per customer and tier
    /// ever (the source key names both); nothing when the tier has none.
    async fn grant_entry_reward(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let Some(level) = self.target.filter(|l| l.entry_points > 0) else {
            return Ok(());
        };
        let customer_id = self.customer.get();
        let reason = format!("Welcome to {}: {} points", level.name, level.entry_points);
        ledger::append(
            conn,
            &NewEntry {
                settings_version: Some(self.program.version),
                ..NewEntry::new(
                    self.shop.get(),
                    customer_id,
                    level.entry_points,
                    ledger::kind::TIER_ENTRY,
                    &reason,
                    &format!("tier-entry:{customer_id}:{}", level.id),
                )
            },
            self.now.get(),
        )
        .await?;
        Ok(())
    }
}
