//! The use cases: one function per thing a merchant, a shopper or Shopify
//! asks of Advocate (redeem a reward, adjust points, save a birthday,
//! change the program, answer a survey, read a report, …).
//!
//! Each use case owns its transaction: it opens it, applies the rules
//! through [`crate::engine`] and the store, commits only when the answer is
//! a success, and sends at once the Shopify effect a shopper waits for. It
//! returns a typed result (for the JSON answers, the struct that *is* the
//! contract) or a typed error; [`crate::error::ApiError`] maps every error
//! to its HTTP status in one place. The routes are adapters around these
//! functions: parse, call one use case, serialize.

pub mod activities;
pub mod analytics;
pub mod api_keys;
pub mod customers;
pub mod exports;
pub mod history;
pub mod install;
pub mod loyalty;
pub mod member_import;
pub mod nps;
pub mod open_api;
pub mod operations;
pub mod points;
pub mod program;
pub mod redemptions;
pub mod referrals;
pub mod reorder;
pub mod segments;
pub mod webhook_endpoints;
