//! Personal offers from stored facts: an order's products and the pair
//! counts follow each order delivery ([`record_order`]), and a shopper's
//! offers are read from them ([`offers_for`]).

use serde::Serialize;
use sqlx::AnyConnection;

use crate::{
    loyalty::{
        offers::{self, Line},
        settings::ProgramSettings,
        CustomerId, OrderId, ShopId,
    },
    store::offers as store,
};

/// Stores what an order delivery says about its products and moves the pair
/// counts by the difference from what was stored. `lines` is None when the
/// payload had no `line_items` (the stored products stay, but the order may
/// have stopped counting, by a cancellation).
pub async fn record_order(
    conn: &mut AnyConnection,
    shop: ShopId,
    order: OrderId,
    lines: Option<&[Line]>,
    counted: bool,
) -> Result<(), sqlx::Error> {
    let (shop_id, order_id) = (shop.get(), order.get());
    let stored = store::find_order_products(conn, shop_id, order_id).await?;
    let (old_ids, old_counted) = stored.clone().unwrap_or_default();
    let new_ids = match lines {
        Some(lines) => {
            let products = offers::distinct_products(lines);
            store::replace_order_products(conn, shop_id, order_id, &products, counted).await?;
            products.iter().map(|p| p.product_id).collect()
        }
        None if stored.is_some() && old_counted != counted => {
            store::set_counted(conn, shop_id, order_id, counted).await?;
            old_ids.clone()
        }
        None => old_ids.clone(),
    };
    let changes = offers::pair_changes(
        &offers::pairs(&old_ids, old_counted),
        &offers::pairs(&new_ids, counted),
    );
    store::move_pairs(conn, shop_id, &changes).await
}

/// The reward a shopper is closest to, as shoppers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosestReward {
    pub id: String,
    pub name: String,
    pub points_cost: i64,
    pub points_needed: i64,
    pub redeemable: bool,
}

/// A product bought together with the shopper's past purchases. Ids are
/// strings: JavaScript numbers cannot hold every 64-bit id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductOffer {
    pub product_id: String,
    pub variant_id: Option<String>,
    pub title: String,
    pub orders_together: i64,
}

/// What the widget and the checkout extension show the shopper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offers {
    pub closest_reward: Option<ClosestReward>,
    pub products: Vec<ProductOffer>,
}

/// The shopper's offers, as far as the program's settings enable them.
pub async fn offers_for(
    conn: &mut AnyConnection,
    shop: ShopId,
    settings: &ProgramSettings,
    customer: CustomerId,
    balance: i64,
) -> Result<Offers, sqlx::Error> {
    let (shop_id, customer_id) = (shop.get(), customer.get());
    let closest_reward = if settings.offers.closest_reward {
        offers::closest_reward(&settings.rewards, balance).map(|c| ClosestReward {
            id: c.reward.id.clone(),
            name: c.reward.name.clone(),
            points_cost: c.reward.points_cost,
            points_needed: c.points_needed,
            redeemable: c.redeemable,
        })
    } else {
        None
    };
    let mut products = Vec::new();
    if settings.offers.co_purchase {
        let bought = store::bought_products(conn, shop_id, customer_id).await?;
        if !bought.is_empty() {
            let limit = settings.offers.co_purchase_limit as usize;
            // Enough rows that `limit` remain once the shopper's own
            // products are left out.
            let rows = i64::try_from(limit + bought.len()).unwrap_or(i64::MAX);
            let candidates =
                store::co_purchase_candidates(conn, shop_id, customer_id, rows).await?;
            for ranked in offers::rank(&bought, &candidates, limit) {
                let Some((variant_id, title)) =
                    store::find_product(conn, shop_id, ranked.product_id).await?
                else {
                    continue;
                };
                products.push(ProductOffer {
                    product_id: ranked.product_id.to_string(),
                    variant_id: variant_id.map(|v| v.to_string()),
                    title,
                    orders_together: ranked.orders_together,
                });
            }
        }
    }
    Ok(Offers {
        closest_reward,
        products,
    })
}
