//! The loyalty domain, pure: no SQL, no HTTP, no clock. Everything here is
//! a function of its inputs, so the rules can be tested exhaustively;
//! [`crate::engine`] applies them to stored facts inside transactions.
//!
//! | module | rules |
//! |---|---|
//! | [`settings`] | a shop's program, its defaults and validation |
//! | [`money`] | decimal amounts as integer minor units |
//! | [`earning`] | points from orders: award, proportional clawback, cancellation |
//! | [`tiers`] | which VIP level a customer reaches |
//! | [`referrals`] | referral fraud rules |
//! | [`identity`] | hashed emails, phones and addresses for matching |
//! | [`codes`] | referral and discount codes |
//! | [`calendar`] | expiry and birthdays |

pub mod calendar;
pub mod codes;
pub mod earning;
pub mod identity;
pub mod money;
pub mod referrals;
pub mod settings;
pub mod tiers;

#[cfg(test)]
mod properties;
