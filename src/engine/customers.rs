//! Customer accounts as Shopify reports them: the profile is saved, a new
//! account earns the signup bonus, and guest orders placed with its e-mail
//! become its own.

use sqlx::AnyConnection;

use super::{
    activities,
    orders::{self, OrderEvent},
    EngineError,
};
use crate::store::{customers, ledger, orders as stored_orders, program};

/// A profile as Shopify sent it; saved as it comes.
pub use crate::store::customers::CustomerProfile;

/// What a customers/create or customers/update delivery tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEvent {
    pub profile: CustomerProfile,
    /// customers/create: a new account (the signup bonus).
    pub created: bool,
}

/// Saves the profile, in the caller's transaction. False when nothing was
/// saved: the customer was erased, or the update is older than the one kept.
pub async fn save(
    conn: &mut AnyConnection,
    shop_id: i64,
    event: &CustomerEvent,
    now: i64,
) -> Result<bool, EngineError> {
    let customer = event.profile.customer_id;
    // The consent Advocate knew before this profile, for the newsletter
    // action (None: unknown, the customer or their consent unseen).
    let before = customers::find_customer(conn, shop_id, customer)
        .await?
        .and_then(|c| c.email_marketing_state);
    if !customers::upsert_profile(conn, shop_id, &event.profile, now).await? {
        return Ok(false);
    }
    activities::newsletter_consent(
        conn,
        shop_id,
        customer,
        before.as_deref(),
        event.profile.email_marketing_state.as_deref(),
        event.created,
        now,
    )
    .await
    .map_err(|e| match e {
        activities::ActivityError::Db(e) => EngineError::Db(e),
        other => EngineError::Db(sqlx::Error::Protocol(other.to_string())),
    })?;
    if event.created {
        let created_at = event.profile.shopify_created_at;
        signed_up(conn, shop_id, customer, created_at, now).await?;
    }
    // Guest orders placed with this email are the customer's now.
    if let Some(email_hash) = &event.profile.email_hash {
        for order_id in stored_orders::guest_orders_for_email(conn, shop_id, email_hash).await? {
            let event = OrderEvent::Attach {
                order_id,
                customer_id: customer,
            };
            orders::apply(conn, shop_id, event, now).await?;
        }
    }
    Ok(true)
}

/// The signup bonus of a new account, when the program gives one, dated
/// when the account was created (`created_at`; None: now). Its source key
/// is the customer's, so it is given once.
pub async fn signed_up(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    created_at: Option<i64>,
    now: i64,
) -> Result<(), EngineError> {
    let program = program::get_program(conn, shop_id).await?;
    let points = program.settings.earning.signup_points;
    if points > 0 {
        let key = format!("signup:{customer_id}");
        let entry = ledger::NewEntry {
            settings_version: Some(program.version),
            occurred_at: created_at,
            ..ledger::NewEntry::new(
                shop_id,
                customer_id,
                points,
                ledger::kind::SIGNUP,
                "Welcome: account created",
                &key,
            )
        };
        ledger::append(conn, &entry, now).await?;
    }
    Ok(())
}
