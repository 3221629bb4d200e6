//! Referrals. Each customer has a short, unguessable code and a share
//! link. A friend asks for their discount through the link (the storefront
//! widget): they get a single-use code of their own. When a friend's first
//! paid order uses that code, the fraud rules decide
//! ([`crate::loyalty::referrals::assess`]); a qualifying referral pays the
//! advocate once the order has passed the pending period unrefunded and
//! uncancelled. Held referrals wait for the merchant.

use sqlx::AnyConnection;

use super::{enqueue, redeem::discount_value, rfc3339, DAY_MS};
use crate::{
    engine::effects::{Effect, FlowTrigger},
    loyalty::{
        codes,
        earning::{Counting, OrderState},
        identity,
        referrals::{assess, FriendEmail, Identity, ReferredOrder, Verdict},
        settings::AdvocateReward,
        CustomerId, EpochMs, OrderId, ShopId,
    },
    store::{
        customers,
        ledger::{self, NewEntry},
        orders::{self, OrderRow},
        outbound,
        program::{self, Program},
        referrals::{self, status, Conversion, NewIssuedReferral, Referral, Transition},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum ReferralError {
    #[error("referrals are switched off for this shop")]
    Disabled,
    #[error("no such referral code")]
    UnknownCode,
    #[error("a customer cannot refer themselves")]
    SelfReferral,
    #[error("referral discounts are for new customers")]
    NotNew,
    /// The advocate's code, or the shop, issued as many friend codes as
    /// the program allows in its window; nothing was issued.
    #[error("this referral code cannot be claimed again yet")]
    TooManyClaims { retry_after_secs: u64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The customer's referral code, created on first use.
pub async fn code_for(
    conn: &mut AnyConnection,
    shop: ShopId,
    customer: CustomerId,
    now: EpochMs,
) -> Result<String, sqlx::Error> {
    let (shop_id, customer_id, now) = (shop.get(), customer.get(), now.get());
    for _ in 0..8 {
        if let Some(code) = referrals::find_code(conn, shop_id, customer_id).await? {
            return Ok(code);
        }
        // A collision (40 random bits) is possible in a large shop: try another.
        referrals::insert_code(conn, shop_id, customer_id, &codes::referral_code(), now).await?;
    }
    Err(sqlx::Error::Protocol(
        "could not allocate a referral code".into(),
    ))
}

/// The share link for a code.
pub fn share_link(shop_domain: &str, code: &str) -> String {
    format!("https://{shop_domain}/?ref={code}")
}

/// A friend's discount, issued for an advocate's code.
#[derive(Debug, Clone)]
pub struct FriendCode {
    pub code: String,
    pub expires_at: i64,
}

const HOUR_MS: i64 = 3_600_000;

/// Issues (or returns the already issued) friend discount for
/// `friend_email`. One code per advocate and normalised email; a new code
/// only while the advocate's code is under `claims_per_code_per_day` in
/// the last 24 hours and the shop under `claims_per_shop_per_hour` in the
/// last hour. The caps are read under the shop's claim lock, in the
/// caller's transaction, so concurrent claims cannot overshoot them.
pub async fn issue_friend_code(
    conn: &mut AnyConnection,
    shop: ShopId,
    advocate_code: &str,
    friend_email: &FriendEmail,
    now: EpochMs,
) -> Result<FriendCode, ReferralError> {
    let (shop_id, now_ms) = (shop.get(), now.get());
    let program = program::get_program(conn, shop_id).await?;
    let rules = &program.settings.referrals;
    if !rules.enabled {
        return Err(ReferralError::Disabled);
    }
    let advocate = referrals::advocate_for_code(conn, shop, &advocate_code.to_uppercase())
        .await?
        .ok_or(ReferralError::UnknownCode)?;
    let email_hash =
        identity::email(Some(friend_email.as_str())).ok_or(ReferralError::UnknownCode)?;
    let advocate_identity = customers::identity(conn, shop, advocate).await?;
    if advocate_identity.email.as_deref() == Some(email_hash.as_str()) {
        return Err(ReferralError::SelfReferral);
    }
    let valid = i64::from(rules.friend_code_valid_days) * DAY_MS;
    referrals::lock_claims(conn, shop).await?;
    if let Some(existing) = referrals::find_issued(conn, shop, advocate, &email_hash).await? {
        return Ok(FriendCode {
            code: existing.friend_code,
            expires_at: existing.created_at.get() + valid,
        });
    }
    if orders::email_has_orders(conn, shop_id, &email_hash).await? {
        return Err(ReferralError::NotNew);
    }
    let per_code = ClaimCap {
        advocate: Some(advocate),
        cap: rules.claims_per_code_per_day,
        window_ms: DAY_MS,
    };
    claims_allowed(conn, shop, &per_code, now).await?;
    let per_shop = ClaimCap {
        advocate: None,
        cap: rules.claims_per_shop_per_hour,
        window_ms: HOUR_MS,
    };
    claims_allowed(conn, shop, &per_shop, now).await?;
    let code = codes::discount_code("REF");
    let issued = NewIssuedReferral {
        advocate_id: advocate,
        friend_code: &code,
        friend_email_hash: Some(&email_hash),
    };
    let id = referrals::insert_issued(conn, shop, &issued, now).await?;
    let effect = Effect::CreateDiscountCode {
        code: code.clone(),
        title: "Referral: welcome discount".into(),
        // The friend usually has no account yet: the code is for anyone,
        // once; it only pays the advocate on a new customer's order.
        customer_gid: None,
        value: discount_value(&rules.friend_reward),
        minimum_subtotal: None,
        ends_at: Some(rfc3339(now_ms + valid)),
        refund: None,
    };
    enqueue(
        conn,
        shop_id,
        &effect,
        &format!("referral:{id}:friend"),
        None,
    )
    .await?;
    Ok(FriendCode {
        code,
        expires_at: now_ms + valid,
    })
}

/// A cap on friend codes: at most `cap` within `window_ms`, for one
/// advocate or (with `None`) the whole shop.
struct ClaimCap {
    advocate: Option<CustomerId>,
    cap: u32,
    window_ms: i64,
}

/// Refuses a new claim when the cap's codes were all issued within its
/// window before `now`; the caller may retry once the oldest of them leaves
/// the window.
async fn claims_allowed(
    conn: &mut AnyConnection,
    shop: ShopId,
    limit: &ClaimCap,
    now: EpochMs,
) -> Result<(), ReferralError> {
    let (now, window_ms) = (now.get(), limit.window_ms);
    let since = EpochMs(now - window_ms);
    let (issued, oldest) = referrals::count_issued_since(conn, shop, limit.advocate, since).await?;
    if issued < i64::from(limit.cap) {
        return Ok(());
    }
    let free_at = oldest.map_or(now, EpochMs::get).saturating_add(window_ms);
    let wait_ms = free_at.saturating_sub(now).max(1000);
    Err(ReferralError::TooManyClaims {
        retry_after_secs: u64::try_from(wait_ms.saturating_add(999) / 1000).unwrap_or(1),
    })
}

/// Called after every order event: links a friend's first paid order to
/// its referral (with the fraud rules' verdict), and voids a referral
/// whose order was refunded or cancelled before it paid out.
pub async fn on_order(
    conn: &mut AnyConnection,
    program: &Program,
    shop: ShopId,
    row: &OrderRow,
    state: &OrderState,
    now: EpochMs,
) -> Result<(), sqlx::Error> {
    let order = FriendOrder {
        program,
        shop,
        row,
        state,
        now,
    };
    if let Some(referral) = referrals::find_by_order(conn, shop, OrderId(row.order_id)).await? {
        return order.void_if_undone(conn, &referral).await;
    }
    let rules = &program.settings.referrals;
    if !rules.enabled || !state.paid || !state.known || row.discount_codes.is_none() {
        return Ok(());
    }
    let Some(referral) = referrals::find_issued_by_codes(conn, shop, &order.codes()).await? else {
        return Ok(());
    };
    let facts = order.facts(conn, &referral).await?;
    let (next, note) = order.verdict(&facts);
    order
        .convert(conn, &referral, &facts, next, note.as_deref())
        .await
}

/// An order event that may concern a referral: the context shared by the
/// steps of [`on_order`].
struct FriendOrder<'a> {
    program: &'a Program,
    shop: ShopId,
    row: &'a OrderRow,
    state: &'a OrderState,
    now: EpochMs,
}

impl FriendOrder<'_> {
    fn undone(&self) -> bool {
        self.state.cancelled || !self.state.refunds.is_empty()
    }

    /// When the order was placed (the event's time if unknown). Bursts are
    /// judged by when the orders were placed, not when their webhooks were
    /// processed (a backlog is not a burst).
    fn placed(&self) -> i64 {
        self.row.processed_at.unwrap_or(self.now.get())
    }

    /// The discount codes the order used.
    fn codes(&self) -> Vec<String> {
        self.row
            .discount_codes
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }

    /// Voids the order's pending or held referral when the order was
    /// refunded or cancelled; nothing else for an order already linked.
    async fn void_if_undone(
        &self,
        conn: &mut AnyConnection,
        referral: &Referral,
    ) -> Result<(), sqlx::Error> {
        if self.undone() {
            let void = Transition {
                from: &[status::PENDING, status::HELD],
                to: status::VOID,
                note: Some("the friend's order was refunded or cancelled"),
                decided_by: None,
            };
            referrals::transition(conn, self.shop, referral.id, &void, self.now).await?;
        }
        Ok(())
    }

    /// Gathers what the fraud rules judge: both identities, the friend's
    /// earlier orders, the counted amount and the advocate's record.
    async fn facts(
        &self,
        conn: &mut AnyConnection,
        referral: &Referral,
    ) -> Result<ReferredOrder, sqlx::Error> {
        let (rules, row, state) = (&self.program.settings.referrals, self.row, self.state);
        let placed = self.placed();
        let (rewarded, recent) = referrals::advocate_counts(
            conn,
            self.shop,
            referral.advocate_id,
            EpochMs(placed - i64::from(rules.burst_window_hours) * 3_600_000),
        )
        .await?;
        Ok(ReferredOrder {
            advocate: customers::identity(conn, self.shop, referral.advocate_id).await?,
            friend: Identity {
                customer_id: state.customer_id,
                email: row.email_hash.clone(),
                phone: row.phone_hash.clone(),
                address: row.address_hash.clone(),
            },
            friend_earlier_orders: orders::count_earlier_orders(
                conn,
                self.shop.get(),
                state.customer_id,
                row.email_hash.as_deref(),
                row.order_id,
                placed,
            )
            .await?,
            amount: Counting::from_settings(&self.program.settings.earning).paid(&state.amounts),
            advocate_rewarded: rewarded,
            advocate_recent: recent,
        })
    }

    /// The referral's next status and note: void for an order already
    /// refunded or cancelled, else the fraud rules' verdict.
    fn verdict(&self, facts: &ReferredOrder) -> (&'static str, Option<String>) {
        if self.undone() {
            return (
                status::VOID,
                Some("the order was refunded or cancelled".to_owned()),
            );
        }
        match assess(
            &self.program.settings.referrals,
            self.program.exponent(),
            facts,
        ) {
            Verdict::Qualifies => (status::PENDING, None),
            Verdict::Held(why) => (status::HELD, Some(why)),
            Verdict::Rejected(why) => (status::REJECTED, Some(why)),
        }
    }

    /// Links the order to the referral with its status; a pending
    /// referral matures after the pending period.
    async fn convert(
        &self,
        conn: &mut AnyConnection,
        referral: &Referral,
        facts: &ReferredOrder,
        next: &str,
        note: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let pending_days = self.program.settings.earning.pending_days;
        let matures_at = self.now.get() + i64::from(pending_days) * DAY_MS;
        let conversion = Conversion {
            order_id: OrderId(self.row.order_id),
            order_minor: facts.amount,
            friend_customer_id: self.state.customer_id.map(CustomerId),
            status: next,
            note,
            matures_at: EpochMs(matures_at),
            placed_at: EpochMs(self.placed()),
        };
        referrals::convert(conn, self.shop, referral.id, &conversion, self.now).await?;
        Ok(())
    }
}

/// Pays a pending referral whose order has matured, or voids it if the
/// order was refunded or cancelled meanwhile. False when it is not due.
pub async fn settle(
    conn: &mut AnyConnection,
    shop: ShopId,
    referral: &Referral,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    let shop_id = shop.get();
    if referral.status != status::PENDING || referral.matures_at.is_some_and(|t| t > now) {
        return Ok(false);
    }
    let Some(order_id) = referral.order_id.map(OrderId::get) else {
        return Ok(false);
    };
    let order = orders::find_order(conn, shop_id, order_id).await?;
    if order_undone(conn, shop_id, order_id, order.as_ref()).await? {
        let void = Transition {
            from: &[status::PENDING],
            to: status::VOID,
            note: Some("the friend's order was refunded or cancelled"),
            decided_by: None,
        };
        return referrals::transition(conn, shop, referral.id, &void, now).await;
    }
    let rewarded = Transition {
        from: &[status::PENDING],
        to: status::REWARDED,
        note: None,
        decided_by: None,
    };
    if !referrals::transition(conn, shop, referral.id, &rewarded, now).await? {
        return Ok(false);
    }
    let program = program::get_program(conn, shop_id).await?;
    let payout = Payout {
        shop,
        referral,
        program: &program,
        now,
        label: order
            .and_then(|o| o.name)
            .unwrap_or_else(|| format!("#{order_id}")),
    };
    payout.reward_advocate(conn).await?;
    payout.announce(conn).await?;
    Ok(true)
}

/// Whether the referred order was refunded (its refunds are read first),
/// cancelled or is gone.
async fn order_undone(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    order: Option<&OrderRow>,
) -> Result<bool, sqlx::Error> {
    let refunded = !orders::list_refunds(conn, shop_id, order_id)
        .await?
        .is_empty();
    Ok(refunded || order.is_none_or(|o| o.cancelled_at.is_some()))
}

/// A referral just marked rewarded: the context shared by the steps of
/// [`settle`] that pay the advocate.
struct Payout<'a> {
    shop: ShopId,
    referral: &'a Referral,
    program: &'a Program,
    now: EpochMs,
    /// The friend's order as the merchant knows it (its name, or `#id`).
    label: String,
}

impl Payout<'_> {
    fn reward(&self) -> &AdvocateReward {
        &self.program.settings.referrals.advocate_reward
    }

    /// Pays the advocate the program's reward: a ledger entry for points,
    /// or an enqueued discount code of their own.
    async fn reward_advocate(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let (shop_id, referral, now) = (self.shop.get(), self.referral, self.now);
        match self.reward() {
            AdvocateReward::Points { points } => {
                let reason = format!("Referral: a friend's order {}", self.label);
                ledger::append(
                    conn,
                    &NewEntry {
                        settings_version: Some(self.program.version),
                        ..NewEntry::new(
                            shop_id,
                            referral.advocate_id.get(),
                            *points,
                            ledger::kind::REFERRAL,
                            &reason,
                            &format!("referral:{}", referral.id),
                        )
                    },
                    now.get(),
                )
                .await?;
            }
            AdvocateReward::Discount { value, valid_days } => {
                let effect = Effect::CreateDiscountCode {
                    code: codes::discount_code("THX"),
                    title: "Referral reward".into(),
                    customer_gid: Some(referral.advocate_id.gid()),
                    value: discount_value(value),
                    minimum_subtotal: None,
                    ends_at: Some(rfc3339(now.get() + i64::from(*valid_days) * DAY_MS)),
                    refund: None,
                };
                enqueue(
                    conn,
                    shop_id,
                    &effect,
                    &format!("referral:{}:advocate", referral.id),
                    None,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Enqueues the referral-completed Flow trigger for the advocate.
    async fn announce(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let advocate = self.referral.advocate_id.get();
        let ordering = outbound::customer_ordering(advocate);
        let data = serde_json::json!({
            "referral_id": self.referral.id,
            "advocate_customer_id": advocate,
            "order_id": self.referral.order_id.map(OrderId::get),
            "points": match self.reward() {
                AdvocateReward::Points { points } => *points,
                AdvocateReward::Discount { .. } => 0,
            },
        });
        outbound::emit(
            conn,
            self.shop.get(),
            &outbound::Event {
                topic: outbound::topic::REFERRAL_COMPLETED,
                ordering_key: Some(&ordering),
                data: &data,
            },
            self.now.get(),
        )
        .await?;
        let reward = match self.reward() {
            AdvocateReward::Points { points } => format!("{points} points"),
            AdvocateReward::Discount { .. } => "a discount code".to_owned(),
        };
        let trigger = FlowTrigger::ReferralCompleted.effect(
            self.referral.advocate_id.get(),
            serde_json::Map::from_iter([
                ("Friend order".to_owned(), serde_json::json!(self.label)),
                ("Advocate reward".to_owned(), serde_json::json!(reward)),
            ]),
        );
        enqueue(
            conn,
            self.shop.get(),
            &trigger,
            &format!("referral:{}:flow", self.referral.id),
            None,
        )
        .await?;
        Ok(())
    }
}

/// The merchant's decision on a held (or pending) referral.
pub async fn decide(
    conn: &mut AnyConnection,
    shop: ShopId,
    id: i64,
    approve: bool,
    staff: &str,
    now: EpochMs,
) -> Result<Option<Referral>, sqlx::Error> {
    let (from, to): (&[&str], &str) = if approve {
        (&[status::HELD], status::PENDING)
    } else {
        (&[status::HELD, status::PENDING], status::REJECTED)
    };
    let note = if approve {
        "approved by the merchant"
    } else {
        "rejected by the merchant"
    };
    let decision = Transition {
        from,
        to,
        note: Some(note),
        decided_by: Some(staff),
    };
    if !referrals::transition(conn, shop, id, &decision, now).await? {
        return Ok(None);
    }
    let referral = referrals::find(conn, shop, id).await?;
    if let Some(r) = &referral {
        if approve {
            settle(conn, shop, r, now).await?;
        }
    }
    referrals::find(conn, shop, id).await
}
