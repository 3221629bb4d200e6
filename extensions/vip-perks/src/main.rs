//! Advocate's VIP perk: a Shopify discount Function (Discount Function API
//! 2026-04, targets `cart.lines.discounts.generate.run` and
//! `cart.delivery-options.discounts.generate.run`) that gives the customer
//! the percentage off the order, and off shipping, of their VIP tier. The
//! tier is the customer metafield
//! `$app:advocate` / `tier` that Advocate writes; the perk table is the discount's
//! own metafield `$app:vip-perks.function-configuration` (see `perks`).
//!
//! Built with `shopify_function` 0.8 for `wasm32-wasip1`: each target is an
//! export that reads its input as JSON from stdin and writes its output as
//! JSON to stdout (see `cart_lines_discounts_generate_run`, whose
//! `#[shopify_function_target]` generates the types and the export).

use std::process;

pub mod cart_delivery_options_discounts_generate_run;
pub mod cart_lines_discounts_generate_run;
pub mod perks;

/// Shopify only calls the named exports; the WASI `_start` is never used.
fn main() {
    eprintln!("Please invoke a named export.");
    process::exit(1);
}

#[cfg(test)]
mod tests;
