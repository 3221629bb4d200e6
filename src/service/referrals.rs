//! Referrals: the merchant's list and decisions, the shopper's code and
//! share link, and the friend's claim of their discount.

use serde::Serialize;

use crate::{
    engine::{
        self,
        referrals::{self as referral_engine, ReferralError},
    },
    loyalty::{referrals::FriendEmail, CustomerId, EpochMs, ShopId},
    store::{
        referrals::{self, Referral},
        Store,
    },
};

/// The shop's referrals, by id after `after` (100 at most), optionally of
/// one status.
pub async fn list_referrals(
    store: &Store,
    shop_id: i64,
    status: Option<&str>,
    after: i64,
) -> Result<Vec<Referral>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    referrals::list(&mut conn, shop_id, status, after, 100).await
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no such referral awaiting a decision")]
    NotAwaiting,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The merchant approves or rejects a held (or pending) referral; answers
/// the referral as it leaves it. Commits only on success: a referral not
/// awaiting a decision leaves nothing behind.
pub async fn decide_referral(
    store: &Store,
    shop_id: i64,
    referral_id: i64,
    approve: bool,
    actor: &str,
) -> Result<Referral, DecideError> {
    let mut tx = store.begin().await?;
    let decided = referral_engine::decide(
        &mut tx,
        ShopId(shop_id),
        referral_id,
        approve,
        actor,
        EpochMs::now(),
    )
    .await;
    match decided {
        Ok(Some(referral)) => {
            tx.commit().await?;
            Ok(referral)
        }
        Ok(None) => {
            tx.rollback().await?;
            Err(DecideError::NotAwaiting)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e.into())
        }
    }
}

/// `GET /proxy/referral`: the shopper's referral code and share link.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralLink {
    pub code: String,
    pub link: String,
}

/// The shopper's referral code (created on first use) and its share link
/// on `shop_domain`.
pub async fn referral_link(
    store: &Store,
    shop_id: i64,
    shop_domain: &str,
    customer_id: i64,
) -> Result<ReferralLink, sqlx::Error> {
    let mut conn = store.writer().acquire().await?;
    let code = referral_engine::code_for(
        &mut conn,
        ShopId(shop_id),
        CustomerId(customer_id),
        EpochMs::now(),
    )
    .await?;
    let link = referral_engine::share_link(shop_domain, &code);
    Ok(ReferralLink { code, link })
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("a valid email is required")]
    InvalidEmail,
    #[error(transparent)]
    Refused(#[from] ReferralError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// `POST /proxy/referrals/claim`: the friend's single-use discount.
#[derive(Debug, Clone, Serialize)]
pub struct FriendDiscount {
    pub code: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Issues (or gives again) the friend's discount for the advocate's code
/// and the friend's email; commits only on success.
pub async fn claim_friend_discount(
    store: &Store,
    shop_id: i64,
    advocate_code: &str,
    email: &str,
) -> Result<FriendDiscount, ClaimError> {
    let email = FriendEmail::parse(email).ok_or(ClaimError::InvalidEmail)?;
    let mut tx = store.begin().await?;
    let issued = referral_engine::issue_friend_code(
        &mut tx,
        ShopId(shop_id),
        advocate_code.trim(),
        &email,
        EpochMs::now(),
    )
    .await;
    match issued {
        Ok(issued) => {
            tx.commit().await?;
            Ok(FriendDiscount {
                code: issued.code,
                expires_at: engine::rfc3339(issued.expires_at),
            })
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e.into())
        }
    }
}
