//! Reorder reminders for the merchant: the products with their intervals
//! (learned, or the merchant's), the holdout report, and a product's
//! interval or switch changed. The rounds themselves are
//! [`crate::engine::reorder`]'s.

use serde::Serialize;

use crate::{
    analytics::metrics::{PeriodKey, Rate, Window},
    engine::reorder::{self as engine, Report},
    store::{now_ms, program, reorder, Store},
};

/// Why a product's setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReorderError {
    #[error("override_days must be between 1 and 365, or null")]
    OutOfRange,
    #[error("no product of this shop has been bought again")]
    UnknownProduct,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

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
pub async fn learn_now(store: &Store, shop_id: i64) -> anyhow::Result<ReorderView> {
    engine::learn(store, shop_id, now_ms()).await?;
    Ok(overview(store, shop_id, PeriodKey::DEFAULT).await?)
}
