//! A local stand-in for Shopify, for tests and local runs: it answers like
//! Shopify does, for any number of shops, on one local origin (Advocate
//! reaches it through `SHOPIFY_API_ORIGIN`). This part serves OAuth: the
//! authorize redirect, code exchange, token exchange and refresh with
//! rotation; and the Admin GraphQL endpoint for the operations Advocate
//! sends, with a leaky bucket per shop and injectable faults.

mod admin;
mod control;
mod oauth;

pub use admin::{AdminState, Faults};
pub use oauth::{ShopifySim, SimConfig};
