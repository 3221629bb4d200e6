//! Saving program settings, and what a change implies: a tier whose tag
//! changed is retagged on all its members (in bulk above the threshold);
//! every other tier consequence (thresholds moved, tiers removed) is picked
//! up by the scheduled tier re-evaluation, which runs for every shop whose
//! settings changed since it last ran.

use sqlx::AnyConnection;

use super::{enqueue, EngineError};
use crate::{
    engine::effects::Effect,
    loyalty::{
        settings::{FieldError, ProgramSettings},
        CustomerId, EpochMs, ShopId,
    },
    store::{customers, program},
};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the settings are not valid")]
    Invalid(Vec<FieldError>),
    #[error("the settings were changed by someone else (now version {current})")]
    Stale { current: i64 },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Engine(e.into())
    }
}

/// Validates and saves `settings` over `expected_version` (None: whatever
/// is current). Returns the new version.
pub async fn save(
    conn: &mut AnyConnection,
    shop: ShopId,
    expected_version: Option<i64>,
    settings: &ProgramSettings,
    actor: &str,
    now: EpochMs,
) -> Result<i64, SaveError> {
    let (shop_id, now) = (shop.get(), now.get());
    let current = program::get_program(conn, shop_id).await?;
    settings
        .validate(&current.currency)
        .map_err(SaveError::Invalid)?;
    let expected = expected_version.unwrap_or(current.version);
    if expected != current.version {
        return Err(SaveError::Stale {
            current: current.version,
        });
    }
    let Some(version) =
        program::save_program(conn, shop_id, expected, settings, actor, now).await?
    else {
        return Err(SaveError::Stale {
            current: current.version,
        });
    };
    for old in &current.settings.tiers.levels {
        let Some(new) = settings.tiers.levels.iter().find(|l| l.id == old.id) else {
            continue;
        };
        if new.tag == old.tag {
            continue;
        }
        let members = customers::members_of_tier(conn, shop_id, &old.id).await?;
        if !members.is_empty() {
            let gids: Vec<String> = members.iter().map(|c| CustomerId(*c).gid()).collect();
            let ordering = format!("tier-tags:{}", old.id);
            let remove = Effect::TagMany {
                customer_gids: gids.clone(),
                tags: vec![old.tag.clone()],
                remove: true,
            };
            enqueue(
                conn,
                shop_id,
                &remove,
                &format!("retag:{}:v{version}:remove", old.id),
                Some(&ordering),
            )
            .await?;
            let add = Effect::TagMany {
                customer_gids: gids,
                tags: vec![new.tag.clone()],
                remove: false,
            };
            enqueue(
                conn,
                shop_id,
                &add,
                &format!("retag:{}:v{version}:add", old.id),
                Some(&ordering),
            )
            .await?;
        }
        customers::retag_tier(conn, shop_id, &old.id, &new.tag).await?;
    }
    Ok(version)
}
