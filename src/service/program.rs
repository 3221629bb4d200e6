//! The loyalty program's settings: read and saved by the merchant.

use serde::Serialize;

use crate::{
    engine::program::{self as engine_program, SaveError},
    loyalty::{settings::ProgramSettings, EpochMs, ShopId},
    store::{program, Store},
};

/// `GET /api/admin/program`: the settings, their version and currency.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramView {
    pub version: i64,
    pub currency: String,
    pub settings: ProgramSettings,
}

/// The program as it stands.
pub async fn get_program(store: &Store, shop_id: i64) -> Result<ProgramView, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let p = program::get_program(&mut conn, shop_id).await?;
    Ok(ProgramView {
        version: p.version,
        currency: p.currency,
        settings: p.settings,
    })
}

/// A save: the new settings, the version they were edited from (None:
/// whatever is current; a save over a newer version is refused), who saves.
#[derive(Debug, Clone)]
pub struct SaveProgram<'a> {
    pub shop_id: i64,
    pub settings: ProgramSettings,
    pub version: Option<i64>,
    /// `staff:<id>`.
    pub actor: &'a str,
}

/// The answer to a save: the new version and the settings saved.
#[derive(Debug, Clone, Serialize)]
pub struct SavedProgram {
    pub version: i64,
    pub settings: ProgramSettings,
}

/// Validates and saves the settings (see [`crate::engine::program`]); the
/// transaction commits only on success.
pub async fn save_program(
    store: &Store,
    request: SaveProgram<'_>,
) -> Result<SavedProgram, SaveError> {
    let mut tx = store.begin().await?;
    let saved = engine_program::save(
        &mut tx,
        ShopId(request.shop_id),
        request.version,
        &request.settings,
        request.actor,
        EpochMs::now(),
    )
    .await;
    match saved {
        Ok(version) => {
            tx.commit().await?;
            Ok(SavedProgram {
                version,
                settings: request.settings,
            })
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}
