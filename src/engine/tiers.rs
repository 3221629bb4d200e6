//! Tier changes. A customer's tier follows from their spend (or points
//! earned) over the tier window; when it changes, the old tag is removed
//! and the new one added (in that order, one ordering key per customer),
//! the tier metafield is set for the VIP discount Function, the change is
//! recorded in the tier history, and the new tier's entry reward is granted
//! once per customer and tier, ever: dropping out and back in earns nothing.

use std::collections::HashMap;

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
        ledger::{self, NewEntry, PointsChanged},
        orders, outbound, outbox,
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
    let standing = standing_of(conn, shop, program, &[customer.get()], now).await?;
    Ok(standing.get(&customer.get()).copied().unwrap_or(0))
}

/// [`standing`] for many customers, in a few statements (a customer
/// without orders in the window is left out: their standing is 0).
pub async fn standing_of(
    conn: &mut AnyConnection,
    shop: ShopId,
    program: &Program,
    customer_ids: &[i64],
    now: EpochMs,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let since = window_start(program, now);
    match program.settings.tiers.basis {
        TierBasis::Spend => orders::spend_since_of(conn, shop.get(), customer_ids, since).await,
        TierBasis::PointsEarned => {
            ledger::order_points_since_of(conn, shop.get(), customer_ids, since).await
        }
    }
}

/// When the tier window starts at `now` (None: a lifetime window).
pub fn window_start(program: &Program, now: EpochMs) -> Option<i64> {
    match program.settings.tiers.window {
        TierWindow::Lifetime => None,
        TierWindow::Rolling12Months => Some(now.get() - 365 * DAY_MS),
    }
}

/// [`reevaluate`] for many customers of the shop: their standing and
/// tiers are read together and every move is written together. Answers
/// how many moved. When another writer moved one of them first, the whole
/// call fails with a conflict: the caller rolls back and goes one by one.
pub async fn reevaluate_many(
    conn: &mut AnyConnection,
    (shop, program, now): (ShopId, &Program, EpochMs),
    customer_ids: &[i64],
    reason: &str,
) -> Result<usize, EngineError> {
    customers::lock_many(conn, shop.get(), customer_ids).await?;
    let standing = standing_of(conn, shop, program, customer_ids, now).await?;
    let tiers = customers::tiers_of(conn, shop.get(), customer_ids).await?;
    let mut writes = TierWrites::new(shop, now);
    let mut moved = 0;
    for customer in customer_ids {
        let current = tiers.get(customer).cloned().unwrap_or_default();
        let value = standing.get(customer).copied().unwrap_or(0);
        let review = (CustomerId(*customer), &current, value);
        moved += usize::from(stage_review(
            (shop, program, now),
            review,
            false,
            reason,
            &mut writes,
        ));
    }
    writes.write(conn, PointsChanged::LookUp).await?;
    Ok(moved)
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
    let mut writes = TierWrites::new(shop, now);
    if !stage_review(
        (shop, program, now),
        (customer, &current, value),
        quiet,
        reason,
        &mut writes,
    ) {
        return Ok(false);
    }
    writes.write(conn, PointsChanged::LookUp).await?;
    Ok(true)
}

/// Stages the move a customer's standing earns from their current tier
/// (see [`TierChange::stage`]); false when there is none.
fn stage_review(
    (shop, program, now): (ShopId, &Program, EpochMs),
    (customer, current, standing): (CustomerId, &CustomerTier, i64),
    quiet: bool,
    reason: &str,
    writes: &mut TierWrites,
) -> bool {
    let target = tiers::reached(
        &program.settings.tiers,
        program.exponent(),
        standing,
        current.tier_floor.as_deref(),
    );
    let change = TierChange {
        shop,
        customer,
        program,
        now,
        current,
        target,
        quiet,
    };
    change.stage(reason, writes)
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
        let mut writes = TierWrites::new(self.shop, self.now);
        if !self.stage(reason, &mut writes) {
            return Ok(false);
        }
        writes.write(conn, PointsChanged::LookUp).await?;
        Ok(true)
    }

    /// Adds what [`Self::apply`] writes to `writes`, to be written with
    /// other moves of the shop. Returns false when there is nothing to move.
    pub fn stage(&self, reason: &str, writes: &mut TierWrites) -> bool {
        debug_assert!(writes.shop == self.shop && writes.now == self.now);
        if self.is_noop() {
            return false;
        }
        writes.moves.push(StagedMove {
            customer: self.customer,
            seq: self.current.tier_seq,
            from: self.current.tier_id.clone(),
            to: self.target.map(|l| (l.id.clone(), l.tag.clone())),
            reason: reason.to_owned(),
        });
        self.publish(writes);
        self.retag(writes);
        self.set_metafield(writes);
        if self.is_upward() && !self.quiet {
            self.announce(writes);
            self.grant_entry_reward(writes);
        }
        true
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

    /// The `tier.changed` event for the merchant's endpoints.
    fn publish(&self, writes: &mut TierWrites) {
        let level = |id: Option<&str>| {
            crate::loyalty::tiers::level(&self.program.settings.tiers, id)
                .map(|l| serde_json::json!({ "id": l.id, "name": l.name }))
        };
        let data = serde_json::json!({
            "customer_id": self.customer.get(),
            "from": level(self.current.tier_id.as_deref()),
            "to": level(self.target_id()),
        });
        writes
            .events
            .push((outbound::customer_ordering(self.customer.get()), data));
    }

    /// Removes the old tier's tag unless the new tier has the same tag,
    /// then adds the new tier's tag (when there is a new tier).
    fn retag(&self, writes: &mut TierWrites) {
        let (customer_id, seq) = (self.customer.get(), self.seq());
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
            writes.effect(
                effect,
                format!("tier:{customer_id}:{seq}:untag"),
                self.ordering(),
            );
        }
        if let Some(level) = self.target {
            let effect = Effect::AddTags {
                customer_gid: CustomerId(customer_id).gid(),
                tags: vec![level.tag.clone()],
            };
            writes.effect(
                effect,
                format!("tier:{customer_id}:{seq}:tag"),
                self.ordering(),
            );
        }
    }

    /// Sets the tier metafield the VIP Function reads (`none` without a
    /// tier).
    fn set_metafield(&self, writes: &mut TierWrites) {
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
        writes.effect(
            effect,
            format!("tier:{customer_id}:{seq}:metafield"),
            self.ordering(),
        );
    }

    /// Whether the move goes up the ranking. Entry rewards are for moving
    /// up; a downgrade into a tier never reached before grants nothing.
    fn is_upward(&self) -> bool {
        let tiers = &self.program.settings.tiers;
        let ranked = tiers::ranked(tiers, self.program.exponent());
        let rank = |id: Option<&str>| id.and_then(|id| ranked.iter().position(|(_, l)| l.id == id));
        rank(self.target_id()) > rank(self.current.tier_id.as_deref())
    }

    /// The Flow trigger for reaching the new tier, after the tag and
    /// metafield, so a workflow sees them set.
    fn announce(&self, writes: &mut TierWrites) {
        let Some(level) = self.target else {
            return;
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
        writes.effect(
            trigger,
            format!("tier:{customer_id}:{seq}:flow"),
            self.ordering(),
        );
    }

    /// The new tier's entry points, once per customer and tier ever (the
    /// source key names both); nothing when the tier has none.
    fn grant_entry_reward(&self, writes: &mut TierWrites) {
        let Some(level) = self.target.filter(|l| l.entry_points > 0) else {
            return;
        };
        let customer_id = self.customer.get();
        writes.rewards.push(Reward {
            customer_id,
            points: level.entry_points,
            reason: format!("Welcome to {}: {} points", level.name, level.entry_points),
            source_key: format!("tier-entry:{customer_id}:{}", level.id),
            settings_version: self.program.version,
        });
    }
}

/// What tier moves of one shop write, gathered by [`TierChange::stage`] so
/// that many moves are written together in a few multi-row statements
/// ([`Self::write`]): the customer rows and the tier history, the
/// `tier.changed` events, the Shopify effects (tags, metafield, Flow
/// trigger, in that order per customer) and the entry rewards.
pub struct TierWrites {
    shop: ShopId,
    now: EpochMs,
    moves: Vec<StagedMove>,
    /// `tier.changed`: (ordering key, data).
    events: Vec<(String, serde_json::Value)>,
    /// (effect, idempotency key, ordering key).
    effects: Vec<(Effect, String, String)>,
    rewards: Vec<Reward>,
}

struct StagedMove {
    customer: CustomerId,
    seq: i64,
    from: Option<String>,
    /// The new tier's id and tag.
    to: Option<(String, String)>,
    reason: String,
}

struct Reward {
    customer_id: i64,
    points: i64,
    reason: String,
    source_key: String,
    settings_version: i64,
}

impl TierWrites {
    /// Moves of `shop` made at `now`.
    pub fn new(shop: ShopId, now: EpochMs) -> Self {
        Self {
            shop,
            now,
            moves: Vec::new(),
            events: Vec::new(),
            effects: Vec::new(),
            rewards: Vec::new(),
        }
    }

    fn effect(&mut self, effect: Effect, key: String, ordering: String) {
        self.effects.push((effect, key, ordering));
    }

    /// Writes the staged moves, in the caller's transaction. A customer
    /// moved by another writer since their tier was read is a conflict:
    /// the caller rolls back and tries again.
    pub async fn write(
        self,
        conn: &mut AnyConnection,
        points_changed: PointsChanged,
    ) -> Result<(), EngineError> {
        if self.moves.is_empty() {
            return Ok(());
        }
        let (shop, now) = (self.shop, self.now);
        let moves: Vec<TierMove<'_>> = self
            .moves
            .iter()
            .map(|m| TierMove {
                customer_id: m.customer,
                seq: m.seq,
                from: m.from.as_deref(),
                to: m.to.as_ref().map(|(id, tag)| (id.as_str(), tag.as_str())),
                reason: &m.reason,
            })
            .collect();
        if !customers::change_tiers(conn, shop, &moves, now).await? {
            return Err(EngineError::Conflict(match moves.as_slice() {
                [one] => format!("tier of customer {}", one.customer_id.get()),
                many => format!("tiers of {} customers", many.len()),
            }));
        }
        let events: Vec<outbound::Event<'_>> = self
            .events
            .iter()
            .map(|(ordering, data)| outbound::Event {
                topic: outbound::topic::TIER_CHANGED,
                ordering_key: Some(ordering),
                data,
            })
            .collect();
        outbound::emit_many(conn, shop.get(), &events, now.get()).await?;
        let payloads: Vec<String> = self
            .effects
            .iter()
            .map(|(effect, _, _)| super::payload(effect))
            .collect();
        let effects: Vec<outbox::NewEffect<'_>> = self
            .effects
            .iter()
            .zip(&payloads)
            .map(|((effect, key, ordering), payload)| outbox::NewEffect {
                kind: effect.kind(),
                payload,
                idempotency_key: key,
                ordering_key: Some(ordering),
            })
            .collect();
        outbox::enqueue_many(conn, shop.get(), &effects).await?;
        let entries: Vec<NewEntry<'_>> = self
            .rewards
            .iter()
            .map(|r| NewEntry {
                settings_version: Some(r.settings_version),
                ..NewEntry::new(
                    shop.get(),
                    r.customer_id,
                    r.points,
                    ledger::kind::TIER_ENTRY,
                    &r.reason,
                    &r.source_key,
                )
            })
            .collect();
        ledger::append_many_as(conn, shop.get(), &entries, &[], now.get(), points_changed).await?;
        for m in &self.moves {
            tracing::debug!(
                shop_id = shop.get(),
                tier = m.to.as_ref().map_or(NO_TIER, |(id, _)| id.as_str()),
                "customer tier changed"
            );
        }
        Ok(())
    }
}
