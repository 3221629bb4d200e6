//! The loyalty domain, pure: no SQL, no HTTP, no clock (apart from
//! [`EpochMs::now`], which callers read once at the edge). Everything here is
//! a function of its inputs, so the rules can be tested exhaustively;
//! [`crate::engine`] applies them to stored facts inside transactions.
//!
//! | module | rules |
//! |---|---|
//! | [`ids`] | typed shop, customer and order ids |
//! | [`time`] | instants as epoch milliseconds, with checked day arithmetic |
//! | [`settings`] | a shop's program, its defaults and validation |
//! | [`money`] | decimal amounts as integer minor units |
//! | [`points`] | points as a bounded integer with checked arithmetic, and the input ranges |
//! | [`offers`] | personal offers: the closest reward, order products and the co-purchase ranking |
//! | [`earning`] | points from orders: award, proportional clawback, cancellation |
//! | [`tiers`] | which VIP level a customer reaches |
//! | [`forecast`] | what settings would have done over the shop's own orders (the what-if forecast) |
//! | [`referrals`] | referral fraud rules |
//! | [`winback`] | at-risk by the customer's own purchase interval, and the keyed holdout draw |
//! | [`segments`] | recency, frequency and monetary scores on the shop's own quintiles, and named segments |
//! | [`nps`] | Net Promoter Score categories and the exact score |
//! | [`identity`] | hashed emails, phones and addresses for matching |
//! | [`codes`] | referral and discount codes |
//! | [`calendar`] | expiry and birthdays |
//! | [`member_import`] | a CSV of members from another loyalty app: reading, column mappings, the apps' formats, row checks |

pub(crate) mod calendar;
pub(crate) mod codes;
pub(crate) mod earning;
pub mod forecast;
pub mod identity;
pub mod ids;
pub mod member_import;
pub(crate) mod money;
pub(crate) mod nps;
pub(crate) mod offers;
pub mod points;
pub(crate) mod referrals;
pub mod reorder;
pub(crate) mod segments;
pub mod settings;
pub(crate) mod tiers;
pub mod time;
pub mod winback;

pub use ids::{CustomerId, OrderId, ShopId};
pub use points::Points;
pub use time::EpochMs;

#[cfg(test)]
mod properties;
