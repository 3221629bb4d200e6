//! Tier changes. A customer's tier follows from their spend (or points
//! earned) over the tier window; when it changes, the old tag is removed
//! and the new one added (in that order, one ordering key per customer),
//! the tier metafield is set for the VIP discount Function, the change is
//! recorded in the tier history, and the new tier's entry reward is granted
//! once per customer and tier, ever: dropping out and back in earns nothing.

use sqlx::AnyConnection;

use super::{customer_gid, enqueue, EngineError, DAY_MS};
use crate::{
    engine::effects::{Effect, FlowTrigger, Metafield},
    loyalty::{
        settings::{TierBasis, TierWindow},
        tiers, CustomerId, EpochMs, ShopId,
    },
    store::{
        customers::{self, TierMove},
        ledger::{self, NewEntry},
        orders,
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
    let any_perk = program
        .settings
        .tiers
        .levels
        .iter()
        .any(|l| l.perk_percent > 0);
    if !any_perk
        && crate::store::shops::vip_discount_id(conn, shop_id)
            .await?
            .is_none()
    {
        return Ok(());
    }
    let configuration = serde_json::json!({
        "perks": perks,
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
    let value = standing(conn, shop, program, customer, now).await?;
    let (shop_id, customer_id) = (shop.get(), customer.get());
    let target = tiers::tier_for(&program.settings.tiers, program.exponent(), value);
    let current = customers::tier_of(conn, shop_id, customer_id).await?;
    let target_id = target.map(|l| l.id.as_str());
    if current.tier_id.as_deref() == target_id {
        return Ok(false);
    }
    let change = TierMove {
        customer_id: customer,
        seq: current.tier_seq,
        from: current.tier_id.as_deref(),
        to: target.map(|l| (l.id.as_str(), l.tag.as_str())),
        reason,
    };
    if !customers::change_tier(conn, shop, &change, now).await? {
        return Err(EngineError::Conflict(format!(
            "tier of customer {customer_id}"
        )));
    }
    let seq = current.tier_seq + 1;
    let gid = customer_gid(customer_id);
    let ordering = format!("customer:{customer_id}");
    if let Some(old) = current
        .tier_tag
        .filter(|t| target.is_none_or(|l| &l.tag != t))
    {
        let effect = Effect::RemoveTags {
            customer_gid: gid.clone(),
            tags: vec![old],
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
    if let Some(level) = target {
        let effect = Effect::AddTags {
            customer_gid: gid.clone(),
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
    let effect = Effect::SetMetafields {
        metafields: vec![Metafield {
            owner_id: gid,
            namespace: TIER_NAMESPACE.into(),
            key: TIER_KEY.into(),
            kind: "single_line_text_field".into(),
            value: target_id.unwrap_or(NO_TIER).into(),
        }],
    };
    enqueue(
        conn,
        shop_id,
        &effect,
        &format!("tier:{customer_id}:{seq}:metafield"),
        Some(&ordering),
    )
    .await?;
    // Entry rewards are for moving up; a downgrade into a tier never
    // reached before grants nothing.
    let ranked = tiers::ranked(&program.settings.tiers, program.exponent());
    let rank = |id: Option<&str>| id.and_then(|id| ranked.iter().position(|(_, l)| l.id == id));
    let upward = rank(target_id) > rank(current.tier_id.as_deref());
    if let Some(level) = target.filter(|_| upward) {
        // After the tag and metafield, so a workflow sees them set.
        let previous = current
            .tier_id
            .as_deref()
            .and_then(|id| program.settings.tiers.levels.iter().find(|l| l.id == id))
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
            shop_id,
            &trigger,
            &format!("tier:{customer_id}:{seq}:flow"),
            Some(&ordering),
        )
        .await?;
    }
    if let Some(level) = target.filter(|l| l.entry_points > 0 && upward) {
        let reason = format!("Welcome to {}: {} points", level.name, level.entry_points);
        ledger::append(
            conn,
            &NewEntry {
                settings_version: Some(program.version),
                ..NewEntry::new(
                    shop_id,
                    customer_id,
                    level.entry_points,
                    ledger::kind::TIER_ENTRY,
                    &reason,
                    &format!("tier-entry:{customer_id}:{}", level.id),
                )
            },
            now.get(),
        )
        .await?;
    }
    tracing::debug!(
        shop_id,
        tier = target_id.unwrap_or(NO_TIER),
        "customer tier changed"
    );
    Ok(true)
}
