//! Reorder reminders for the merchant: the products with their intervals
//! (learned, or the merchant's), the holdout report, and a product's
//! interval or switch changed. The rounds themselves are
//! [`crate::engine::reorder`]'s.

use serde::Serialize;

use crate::{
    analytics::metrics::{PeriodKey, Rate, Window},
    engine::reorder::{self as engine, Report},
    store::{lease, now_ms, program, reorder, schedule, Store},
};

/// Why a product's setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReorderError {
    #[error("override_days must be between 1 and 365, or null")]
    OutOfRange,
    #[error("no product of this shop has been bought again")]
    UnknownProduct,
    #[error("the shop's products are being learned already; try again when that is done")]
    Learning,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How long a learning round a merchant asked for holds the shop's lease:
/// far longer than one takes (about 20 s at a million orders). A process
/// that stops holding it frees it then.
const LEARN_LEASE_MS: i64 = 10 * 60 * 1000;

/// A product as the merchant sees it.
#[derive(Debug, Serialize)]
pub struct ProductView {
    /// The Shopify product id, as a string (64-bit).
    pub product_id: String,
    pub title: String,
    /// The learned interval in days; null while too few customers show one.
    pub learned_days: Option<i64>,
    pub repeat_customers: i64,
    /// The merchant's interval, used instead of the learned one.
    pub override_days: Option<i64>,
    pub enabled: bool,
    /// The interval reminders use; null: none are sent for it.
    pub interval_days: Option<i64>,
    /// When it was last learned (RFC 3339).
    pub learned_at: String,
}

/// `GET /api/admin/reorder`.
#[derive(Debug, Serialize)]
pub struct ReorderView {
    pub enabled: bool,
    pub period: &'static str,
    /// The shop's currency, of `revenue_minor`.
    pub currency: String,
    pub report: Report,
    /// Reminders followed by a reorder, of the reminded and of the held out.
    pub reminded_rate: Rate,
    pub held_out_rate: Rate,
    pub products: Vec<ProductView>,
}

pub async fn overview(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> Result<ReorderView, sqlx::Error> {
    let window = Window::ending_at(key, now_ms());
    let mut conn = store.reader().acquire().await?;
    let shop_program = program::get_program(&mut conn, shop_id).await?;
    let settings = shop_program.settings.reorder;
    let report = engine::report(
        &mut conn,
        shop_id,
        (window.from, window.to),
        settings.attribution_days,
    )
    .await?;
    let products = reorder::products(&mut conn, shop_id)
        .await?
        .into_iter()
        .map(|p| {
            let enabled = p.disabled == 0;
            ProductView {
                product_id: p.product_id.to_string(),
                title: p.title,
                learned_days: p.learned_days,
                repeat_customers: p.repeat_customers,
                override_days: p.override_days,
                enabled,
                interval_days: enabled
                    .then_some(p.override_days.or(p.learned_days))
                    .flatten(),
                learned_at: crate::loyalty::time::rfc3339(p.learned_at),
            }
        })
        .collect();
    Ok(ReorderView {
        enabled: settings.enabled,
        period: key.as_str(),
        currency: shop_program.currency,
        reminded_rate: Rate::new(report.reminded.reordered, report.reminded.reminders),
        held_out_rate: Rate::new(report.held_out.reordered, report.held_out.reminders),
        report,
        products,
    })
}

/// `PUT /api/admin/reorder/products/{id}`: `override_days` 1–365 or null
/// (the learned interval), and `enabled`.
pub async fn set_product(
    store: &Store,
    shop_id: i64,
    product_id: i64,
    override_days: Option<i64>,
    enabled: bool,
) -> Result<(), ReorderError> {
    if override_days.is_some_and(|d| !(1..=365).contains(&d)) {
        return Err(ReorderError::OutOfRange);
    }
    let mut tx = store.begin().await?;
    let setting = reorder::Setting {
        override_days,
        disabled: !enabled,
    };
    if !reorder::set_product(&mut tx, shop_id, product_id, setting).await? {
        return Err(ReorderError::UnknownProduct);
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /api/admin/reorder/learn`: learns the shop's products from its
/// orders now (after a history import, say), sends nothing, and answers
/// the overview.
///
/// One round per shop at a time, whichever process is asked: a second
/// request while one runs is refused ([`ReorderError::Learning`]) rather
/// than reading every order again beside it. The round runs on a task of
/// its own: a merchant who leaves the page cannot stop it halfway with the
/// lease still held.
pub async fn learn_now(store: &Store, shop_id: i64) -> Result<ReorderView, ReorderError> {
    let lease = format!("reorder-learn:{shop_id}");
    let owner = lease::reorder_learning();
    let now = now_ms();
    {
        let mut conn = store.writer().acquire().await?;
        if schedule::take(&mut conn, &lease, &owner, now, now + LEARN_LEASE_MS, now)
            .await?
            .is_none()
        {
            return Err(ReorderError::Learning);
        }
    }
    let round = {
        let store = store.clone();
        tokio::spawn(async move {
            let learned = engine::learn(&store, shop_id, now).await.map(|_| ());
            let finished = async {
                let mut conn = store.writer().acquire().await?;
                schedule::finish(&mut conn, &lease, &owner, now_ms()).await
            }
            .await;
            learned?;
            Ok::<_, ReorderError>(finished?)
        })
    };
    round
        .await
        .map_err(|e| ReorderError::Failed(anyhow::anyhow!("the learning round stopped: {e}")))??;
    Ok(overview(store, shop_id, PeriodKey::DEFAULT).await?)
}
