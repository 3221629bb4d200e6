//! The trust boundary, probed as an attacker would: each file holds the
//! regression tests for one class of defect, on both backends.

mod abuse;
mod erasure;
mod intake;
mod parsers;
mod points;
mod referral_abuse;
mod storefront;
mod tokens;
