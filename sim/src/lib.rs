//! A local stand-in for Shopify, for tests and local runs: it answers like
//! Shopify does, for any number of shops, on one local origin (Advocate
//! reaches it through `SHOPIFY_API_ORIGIN`). This part serves OAuth: the
//! authorize redirect, code exchange, token exchange and refresh with
//! rotation; and the Admin GraphQL endpoint for the operations Advocate
//! sends, with a leaky bucket per shop and injectable faults.
//!
//! The stand-in does not use Advocate's code: it applies Shopify's rules
//! (signatures, the OAuth query form, session tokens, shop domains) in its
//! own `platform` module, written from Shopify's documents, so a mistake
//! in Advocate's reading of them is not repeated here and hidden.

mod admin;
mod control;
pub mod history;
mod oauth;
mod platform;

pub use admin::{AdminState, Faults};
pub use oauth::{ShopifySim, SimConfig};
