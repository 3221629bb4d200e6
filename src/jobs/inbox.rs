//! The inbox processor: claims webhook deliveries with a lease, hands each to
//! its topic handler inside one transaction, and finishes the row in that
//! same transaction. A worker that dies mid-row commits nothing; its lease
//! runs out and another worker takes the row. A worker that outlived its
//! lease cannot finish the row (the finish is conditional on the owner), so
//! no delivery's effect commits twice.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use sqlx::{AnyConnection, Connection};

use super::{
    privacy,
    topics::{self, Delivery, Handled, HandlerError, Lane, Outcome, Payload},
};
use crate::{
    engine::{self, batch::Taken, orders::OrderEvent},
    error_text,
    shopify::webhook::WebhookTopic,
    store::{
        customers,
        inbox::{self, status, ClaimedDelivery, Finish, KeepBody, StoredBody},
        now_ms, orders,
        shops::{self, Shop},
        writer::IntakeGate,
        Dialect, Store, Tx,
    },
};

/// How often an idle worker looks for rows committed by other processes or
/// due for a retry; rows committed here wake it at once.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Times a row is applied in a row while it conflicts with another
/// worker's commit, before it is rescheduled with backoff.
const CONFLICT_TRIES: u32 = 5;
/// Longest a batch waits for webhook intake to go idle. On SQLite intake
/// writes to its own journal, and processing costs it little CPU.
/// On PostgreSQL the engine's statements take the database server's CPU
/// from intake's inserts: measured on 2 cores (`advocate-bench webhooks
/// --distinct-orders --database postgres`), waiting up to 200 ms rather
/// than 50 ms took acknowledgements from 44-49 % to 52-60 % of the HMAC +
/// fsync floor, and processing, which then runs uncontended, from about
/// 3,800 to 4,300 deliveries/s.
const MAX_DEFER_SQLITE: Duration = Duration::from_millis(50);
const MAX_DEFER_POSTGRES: Duration = Duration::from_millis(200);
/// Rows claimed, and committed, together by one worker, while intake is
/// idle and while busy (a claim holds the SQLite writer for its whole
/// transaction, so it stays a few milliseconds of work then, and
/// acknowledgements are not held up behind it). Order events are applied
/// as one batch ([`engine::batch`]) and cost little each, so claims grow
/// while they hold mostly those; other deliveries are applied one by one,
/// and a claim of them stays small enough to finish well within its lease.
const CLAIM: ClaimSizes = ClaimSizes { idle: 32, busy: 4 };
/// Claims while they hold mostly order events (see [`order_claim_rows`]).
fn orders_claim(dialect: Dialect) -> ClaimSizes {
    ClaimSizes {
        idle: order_claim_rows(dialect),
        busy: 16,
    }
}

/// Rows a claim takes while intake is idle and the claims hold mostly
/// order events (a backlog of them), on `dialect`. Measured on 2 cores
/// (`advocate-bench webhooks --distinct-orders --backlog 60000`, two runs
/// each): on SQLite, where one worker applies every batch, 512 rather than
/// 256 drained the backlog 13 % faster, a batch's fixed costs (its claim,
/// one statement per table loaded or written, a synced commit) shared by
/// twice the rows; on PostgreSQL, whose workers run side by side, 512
/// drained it 29 % slower. The bench's processing floor claims as many.
pub fn order_claim_rows(dialect: Dialect) -> i64 {
    match dialect {
        Dialect::Sqlite => 512,
        Dialect::Postgres => 256,
    }
}

struct ClaimSizes {
    idle: i64,
    busy: i64,
}

/// What became of a row whose handler writes.
enum RowEnd {
    /// Applied and finished (in a savepoint of the batch's transaction).
    Finished,
    /// Another worker holds the row now; nothing of this try is kept.
    LeaseLost,
    /// Recorded as failed (retry later or dead letter); `erased` when the
    /// shopper's personal data was scrubbed from the stored delivery.
    Failed { erased: bool },
}

#[derive(Clone)]
pub struct InboxProcessor {
    store: Store,
    /// When set, each batch first gives way to pending webhook intake.
    intake: Option<IntakeGate>,
    /// Unique per worker and process: whose lease a row is under.
    owner: String,
    lease: Duration,
    max_attempts: i64,
    /// True while the last claim held mostly order events.
    orders_claimed: Arc<AtomicBool>,
}

impl InboxProcessor {
    pub fn new(store: Store, owner: impl Into<String>, lease: Duration, max_attempts: i64) -> Self {
        Self {
            store,
            intake: None,
            owner: owner.into(),
            lease,
            max_attempts,
            orders_claimed: Arc::default(),
        }
    }

    /// Gives way to webhook intake before each batch (at most
    /// [`MAX_DEFER_SQLITE`], [`MAX_DEFER_POSTGRES`]), so acknowledgements
    /// stay fast under load; processing catches up when the burst is over.
    pub fn yielding_to(mut self, gate: IntakeGate) -> Self {
        self.intake = Some(gate);
        self
    }

    /// How long a batch gives way to intake at most, on this backend.
    fn max_defer(&self) -> Duration {
        match self.store.dialect() {
            Dialect::Sqlite => MAX_DEFER_SQLITE,
            Dialect::Postgres => MAX_DEFER_POSTGRES,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims one batch of ready rows and processes it. Bodies are
    /// decompressed and parsed before any transaction starts; then the whole
    /// batch is applied in one transaction (one commit, one fsync). A row
    /// whose handler writes runs in a savepoint, so its failure undoes only
    /// that row; rows that only change their own state are finished together
    /// in one statement. Returns how many rows were claimed; 0 means nothing
    /// is ready.
    ///
    /// On SQLite it overlaps the work of two batches: when a full batch
    /// comes back (a backlog), the next is claimed at once and its bodies
    /// are decompressed and parsed on a blocking thread while this one is
    /// applied, so the database and the parsing each keep a core busy.
    /// `ahead` carries that next batch to the following call; it is only
    /// ever set while rows are queued. PostgreSQL runs several workers,
    /// which already overlap one another's parsing and database work.
    async fn process_pipelined(&self, ahead: &mut Option<AheadBatch>) -> anyhow::Result<usize> {
        let (rows, parsed, full) = match ahead.take() {
            Some(next) => next.await.context("parsing a claimed batch")?,
            None => {
                let (rows, full) = self.claim().await?;
                let parsed = parse_rows(&rows);
                (rows, parsed, full)
            }
        };
        if full && self.store.dialect() == Dialect::Sqlite {
            // Claiming ahead is an optimisation: when it fails, this batch
            // is still applied (and the failure, if it lasts, shows there).
            *ahead = match self.claim_ahead().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %error_text::sanitise(&format!("{e:#}")), "claiming the next inbox batch ahead failed");
                    None
                }
            };
        }
        self.apply_claimed(rows, parsed).await
    }

    /// Claims the next batch without waiting and starts parsing it on a
    /// blocking thread; None when nothing is ready.
    async fn claim_ahead(&self) -> anyhow::Result<Option<AheadBatch>> {
        let (rows, full) = self.claim_now().await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(tokio::task::spawn_blocking(move || {
            let parsed = parse_rows(&rows);
            (rows, parsed, full)
        })))
    }

    /// Applies a claimed batch whose bodies are parsed (see
    /// [`Self::process_pipelined`]).
    async fn apply_claimed(
        &self,
        rows: Vec<ClaimedDelivery>,
        parsed: Vec<Parsed>,
    ) -> anyhow::Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        if let Some(gate) = &self.intake {
            gate.wait_idle(self.max_defer()).await;
        }
        // On PostgreSQL several workers run at once: a row that writes
        // commits on its own, so no transaction holds a customer's row lock
        // while it works on the next (two batches locking the same
        // customers in different orders would deadlock). Commits there are
        // cheap; on SQLite one commit per batch saves the fsyncs.
        let commit_each_row = self.store.dialect() == Dialect::Postgres;
        let mut tx = self.store.begin().await?;
        let mut shops: HashMap<String, Shop> = HashMap::new();
        let mut settled = Vec::new();
        // Order events waiting to be applied together.
        let mut batched: Vec<(Batched, OrderEvent)> = Vec::new();
        let mut orders = 0;
        // Personal data of a redacted shopper scrubbed from a late delivery.
        let mut erased_late = false;
        for (row, parsed) in rows.iter().zip(parsed) {
            let now = now_ms();
            // Every line logged for this row names its shop and the request
            // that stored it.
            let span = row_span(row);
            let (body, payload) = match parsed {
                Ok(parsed) => parsed,
                Err(error) => {
                    erased_late |= self
                        .record_failure(&mut tx, row, error)
                        .instrument(span)
                        .await?;
                    continue;
                }
            };
            let shop = match shops.get(&row.shop_domain) {
                Some(shop) => shop.clone(),
                None => shops::ensure_shop(&mut tx, &row.shop_domain, now).await?,
            };
            let topic = WebhookTopic::from(row.topic.as_str());
            let delivery = Delivery {
                inbox_id: row.id,
                shop: &shop,
                topic: &topic,
                triggered_at: row.triggered_at.as_deref().and_then(topics::parse_time),
                now,
            };
            match topics::lane(&delivery, &payload) {
                Lane::Batch => {
                    orders += 1;
                    let Payload::Order(event) = payload else {
                        unreachable!("only order events are batched")
                    };
                    batched.push((
                        Batched {
                            row,
                            shop: shop.clone(),
                            body,
                        },
                        event,
                    ));
                    shops.insert(row.shop_domain.clone(), shop);
                    continue;
                }
                Lane::InTurn if !batched.is_empty() => {
                    let run = std::mem::take(&mut batched);
                    tx = self.apply_batched(tx, run, commit_each_row).await?;
                }
                Lane::InTurn | Lane::Aside => {}
            }
            if !payload.writes() {
                let handled = topics::apply(&mut tx, &delivery, payload)
                    .instrument(span)
                    .await?;
                settled.push((row.id, shop.id, body, handled));
                shops.insert(row.shop_domain.clone(), shop);
                continue;
            }
            // A handler that writes may also change the shop.
            shops.remove(&row.shop_domain);
            match self
                .apply_writing(&mut tx, row, &delivery, &body, payload, &span)
                .await?
            {
                RowEnd::Finished if commit_each_row => {
                    tx.commit().await?;
                    tx = self.store.begin().await?;
                }
                RowEnd::Failed { erased } => erased_late |= erased,
                RowEnd::Finished | RowEnd::LeaseLost => {}
            }
        }
        // At least nine in ten: the next claim may be large.
        self.orders_claimed
            .store(orders * 10 >= rows.len() * 9, Ordering::Relaxed);
        let mut tx = self.apply_batched(tx, batched, commit_each_row).await?;
        self.finish_settled(&mut tx, settled).await?;
        tx.commit()
            .await
            .context("committing processed inbox rows")?;
        if erased_late || rows.iter().any(|r| topics::erases_personal_data(&r.topic)) {
            self.empty_log_after_erasure().await;
        }
        Ok(rows.len())
    }

    /// Applies order events together, one batch per shop
    /// ([`engine::batch`]), each in a savepoint with its rows finished in
    /// it. Events the engine hands back, and every event of a batch that
    /// fails (a conflict, a lost lease, one delivery that cannot be
    /// applied), are then applied one by one, so that one poisoned
    /// delivery is isolated and the others still go through.
    /// Answers the transaction to go on with.
    async fn apply_batched(
        &self,
        mut tx: Tx,
        batched: Vec<(Batched<'_>, OrderEvent)>,
        commit_each_row: bool,
    ) -> anyhow::Result<Tx> {
        let mut by_shop: Vec<(i64, Vec<(Batched<'_>, OrderEvent)>)> = Vec::new();
        for (b, event) in batched {
            match by_shop.iter_mut().find(|(shop, _)| *shop == b.shop.id) {
                Some((_, group)) => group.push((b, event)),
                None => by_shop.push((b.shop.id, vec![(b, event)])),
            }
        }
        for (shop_id, group) in by_shop {
            let one_by_one = self.apply_shop_batch(&mut tx, shop_id, group).await?;
            if commit_each_row {
                tx.commit().await?;
                tx = self.store.begin().await?;
            }
            for (b, event) in one_by_one {
                let topic = WebhookTopic::from(b.row.topic.as_str());
                let delivery = Delivery {
                    inbox_id: b.row.id,
                    shop: &b.shop,
                    topic: &topic,
                    triggered_at: b.row.triggered_at.as_deref().and_then(topics::parse_time),
                    now: now_ms(),
                };
                let span = row_span(b.row);
                let end = self
                    .apply_writing(
                        &mut tx,
                        b.row,
                        &delivery,
                        &b.body,
                        Payload::Order(event),
                        &span,
                    )
                    .await?;
                if commit_each_row && matches!(end, RowEnd::Finished) {
                    tx.commit().await?;
                    tx = self.store.begin().await?;
                }
            }
        }
        Ok(tx)
    }

    /// One shop's order events, applied together in a savepoint. Answers
    /// the deliveries left to be applied one by one, with their events.
    async fn apply_shop_batch<'r>(
        &self,
        tx: &mut Tx,
        shop_id: i64,
        group: Vec<(Batched<'r>, OrderEvent)>,
    ) -> anyhow::Result<Vec<(Batched<'r>, OrderEvent)>> {
        let (rows, events): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let order_ids: Vec<i64> = events.iter().map(OrderEvent::order_id).collect();
        let mut savepoint = tx.begin().await?;
        let taken = match engine::batch::apply(&mut savepoint, shop_id, events, now_ms()).await {
            Ok(taken) => taken,
            Err(e) => {
                savepoint.rollback().await?;
                tracing::info!(shop_id, deliveries = rows.len(), error = %error_text::sanitise(&e.to_string()), "order batch falls back to one delivery at a time");
                return reparsed(rows);
            }
        };
        let mut finishes = Vec::new();
        let mut one_by_one = Vec::new();
        let mut handled = Vec::new();
        for ((b, taken), order_id) in rows.into_iter().zip(taken).zip(order_ids) {
            match taken {
                Taken::Applied(applied) => {
                    handled.push((
                        b.row.id,
                        Handled::about(Outcome::Done, applied.customer_id, Some(order_id)),
                    ));
                    finishes.push(b);
                }
                Taken::Deferred(event) => one_by_one.push((b, event)),
            }
        }
        let done: Vec<_> = handled
            .iter()
            .map(|(id, h)| (*id, finish_for(h, KeepBody::Clear)))
            .collect();
        let finished =
            inbox::finish_many(&mut savepoint, self.store.dialect(), &self.owner, &done).await?;
        if finished < done.len() as u64 {
            // Another worker holds some of these rows now: none of the
            // batch is kept, and each row is tried on its own (where a lost
            // lease leaves that row alone).
            savepoint.rollback().await?;
            tracing::warn!(
                shop_id,
                "inbox leases lost in an order batch; applying one by one"
            );
            let mut all = reparsed(finishes)?;
            all.extend(one_by_one);
            return Ok(all);
        }
        savepoint.commit().await?;
        Ok(one_by_one)
    }

    /// Gives way to pending intake, then claims a batch of ready rows
    /// under this worker's lease (a smaller batch while intake is busy).
    /// Also answers whether the claim came back full at the size taken
    /// while intake is idle: more rows are likely queued.
    async fn claim(&self) -> anyhow::Result<(Vec<ClaimedDelivery>, bool)> {
        if let Some(gate) = &self.intake {
            gate.wait_idle(self.max_defer()).await;
        }
        self.claim_now().await
    }

    /// Claims a batch of ready rows at once (a smaller batch while intake
    /// is busy), and whether it came back full at the size taken while
    /// intake is idle.
    async fn claim_now(&self) -> anyhow::Result<(Vec<ClaimedDelivery>, bool)> {
        let lease_until = now_ms() + self.lease.as_millis() as i64;
        let sizes = if self.orders_claimed.load(Ordering::Relaxed) {
            orders_claim(self.store.dialect())
        } else {
            CLAIM
        };
        let limit = match &self.intake {
            Some(gate) if gate.is_busy() => sizes.busy,
            _ => sizes.idle,
        };
        let mut conn = self.store.writer().acquire().await?;
        let rows = inbox::claim_unsynced(
            &mut conn,
            self.store.dialect(),
            &self.owner,
            lease_until,
            limit,
        )
        .await
        .context("claiming inbox rows")?;
        let full = limit == sizes.idle && rows.len() as i64 == limit;
        Ok((rows, full))
    }

    /// Applies a row whose handler writes, in a savepoint so that a failure
    /// halfway undoes only this row's writes. A conflict means another
    /// worker has just committed a newer version of the same order or
    /// customer: tried again at once it reads that version and goes
    /// through. Only a row that keeps conflicting waits for a retry with
    /// backoff.
    async fn apply_writing(
        &self,
        tx: &mut Tx,
        row: &ClaimedDelivery,
        delivery: &Delivery<'_>,
        body: &[u8],
        payload: Payload,
        span: &tracing::Span,
    ) -> anyhow::Result<RowEnd> {
        let mut tries = 0;
        let mut next = Some(payload);
        let mut end = RowEnd::LeaseLost;
        while let Some(payload) = next.take() {
            tries += 1;
            let mut savepoint = tx.begin().await?;
            match topics::apply(&mut savepoint, delivery, payload)
                .instrument(span.clone())
                .await
            {
                Ok(handled) => {
                    let finish = finish_for(&handled, keep_body(&handled, body, &[]));
                    if inbox::finish(&mut savepoint, row.id, &self.owner, finish).await? {
                        savepoint.commit().await?;
                        end = RowEnd::Finished;
                    } else {
                        savepoint.rollback().await?;
                        tracing::warn!(parent: span, "inbox lease lost; another worker has the row");
                        end = RowEnd::LeaseLost;
                    }
                }
                Err(HandlerError::Conflict(_)) if tries < CONFLICT_TRIES => {
                    savepoint.rollback().await?;
                    // The handler took the payload: the same bytes again.
                    next = Some(topics::parse_payload(delivery.topic, body)?);
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    let erased = self
                        .record_failure(tx, row, error)
                        .instrument(span.clone())
                        .await?;
                    end = RowEnd::Failed { erased };
                }
            }
        }
        Ok(end)
    }

    /// After a commit that erased personal data: the erased values must
    /// not outlive it in SQLite's log. A failure is logged; a checkpoint
    /// retries.
    async fn empty_log_after_erasure(&self) {
        match self.store.erase_log().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the log still holds erased data; a checkpoint will retry")
            }
            Err(e) => {
                tracing::warn!(error = %error_text::sanitise(&e.to_string()), "emptying the log after an erasure failed")
            }
        }
    }

    /// Processes until no row is ready (rows waiting for a retry later stay).
    /// Tests use this to drain the inbox synchronously.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        // Deliveries still in intake's journal are queued too.
        crate::store::landing::move_landed(&self.store).await?;
        let mut total = 0;
        let mut ahead = None;
        loop {
            match self.process_pipelined(&mut ahead).await {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) => {
                    // A batch claimed ahead is given back, so that the
                    // next drain finds its rows ready.
                    if let Some(next) = ahead.take() {
                        let _ = next.await;
                        inbox::release_leases(&self.store, &self.owner).await?;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Runs until `shutdown` turns true, then gives back any lease it holds.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        let mut ahead = None;
        while !*shutdown.borrow() {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.process_pipelined(&mut ahead).await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => tracing::error!(
                    error = error_text::sanitise(&format!("{e:#}")),
                    "inbox processing failed"
                ),
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        // A batch claimed ahead is given back with the rest.
        if let Some(next) = ahead.take() {
            let _ = next.await;
        }
        if let Err(e) = inbox::release_leases(&self.store, &self.owner).await {
            tracing::warn!(error = %e, "could not release inbox leases; they will expire");
        }
    }

    /// Finishes, in one statement, the rows whose handling wrote nothing
    /// else. Kept bodies of customers redacted meanwhile are scrubbed.
    async fn finish_settled(
        &self,
        conn: &mut AnyConnection,
        settled: Vec<(i64, i64, Vec<u8>, Handled)>,
    ) -> anyhow::Result<()> {
        if settled.is_empty() {
            return Ok(());
        }
        let mut redacted: HashMap<i64, Vec<i64>> = HashMap::new();
        for (_, shop_id, _, handled) in &settled {
            if let (Outcome::Held(_), Some(customer)) = (&handled.outcome, handled.customer_id) {
                redacted.entry(*shop_id).or_default().push(customer);
            }
        }
        for (shop_id, customers) in redacted.iter_mut() {
            *customers = customers::redacted_among(conn, *shop_id, customers).await?;
        }
        let finishes: Vec<_> = settled
            .iter()
            .map(|(id, shop_id, body, handled)| {
                let redacted = redacted.get(shop_id).map_or(&[][..], Vec::as_slice);
                (*id, finish_for(handled, keep_body(handled, body, redacted)))
            })
            .collect();
        let finished =
            inbox::finish_many(conn, self.store.dialect(), &self.owner, &finishes).await?;
        if finished < finishes.len() as u64 {
            tracing::warn!(
                lost = finishes.len() as u64 - finished,
                "inbox leases lost; other workers have those rows"
            );
        }
        Ok(())
    }

    /// Records a handler failure: a dead letter, or a retry with backoff.
    /// A body about a customer or order redacted before it came is
    /// scrubbed in the same transaction; returns whether it was.
    async fn record_failure(
        &self,
        conn: &mut AnyConnection,
        row: &ClaimedDelivery,
        error: HandlerError,
    ) -> anyhow::Result<bool> {
        // In a savepoint: a failed look-up (the database in trouble) must
        // not take the failure's own record down with it. A body that could
        // not be checked is not made a dead letter: it is tried again, and
        // checked again, later.
        let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
        let (scrubbed, error) = match scrub_late_body(&mut savepoint, row).await {
            Ok(scrubbed) => {
                savepoint.commit().await?;
                (scrubbed, error)
            }
            Err(e) => {
                savepoint.rollback().await?;
                tracing::warn!(inbox_id = row.id, error = %error_text::sanitise(&format!("{e:#}")), "could not check a failed delivery against redactions");
                let error = match error {
                    HandlerError::Permanent(message) => HandlerError::Conflict(format!(
                        "{message}; not yet checked against redactions"
                    )),
                    other => other,
                };
                (false, error)
            }
        };
        match error {
            HandlerError::Permanent(message) => {
                let message = error_text::sanitise(&message);
                tracing::warn!(inbox_id = row.id, topic = %row.topic, shop = %row.shop_domain, error = %message, "webhook kept as a dead letter");
                inbox::fail(conn, row.id, &self.owner, &message).await?;
            }
            e @ (HandlerError::Transient(_) | HandlerError::Conflict(_))
                if row.attempts >= self.max_attempts =>
            {
                let message =
                    error_text::sanitise(&format!("gave up after {} attempts: {e}", row.attempts));
                tracing::error!(inbox_id = row.id, topic = %row.topic, shop = %row.shop_domain, error = %message, "webhook kept as a dead letter");
                inbox::fail(conn, row.id, &self.owner, &message).await?;
            }
            e @ (HandlerError::Transient(_) | HandlerError::Conflict(_)) => {
                let retry_at = now_ms() + backoff(row.attempts).as_millis() as i64;
                tracing::warn!(inbox_id = row.id, topic = %row.topic, shop = %row.shop_domain, error = %error_text::sanitise(&e.to_string()), "webhook will be retried");
                inbox::reschedule(conn, row.id, &self.owner, retry_at, &e.to_string()).await?;
            }
        }
        Ok(scrubbed)
    }
}

/// A kept body that arrived after customers/redact (whose scan reached only
/// the rows there were) is scrubbed as that scan scrubs, when it names a
/// redacted customer or order. Returns whether it was.
async fn scrub_late_body(conn: &mut AnyConnection, row: &ClaimedDelivery) -> anyhow::Result<bool> {
    // A body that does not decompress says nothing; it stays as it is
    // until a redaction of its shop's customers replaces it.
    let Ok(body) = StoredBody::decompress(&row.body) else {
        return Ok(false);
    };
    let named = privacy::NamedIds::of(&row.topic, &body);
    if named.is_empty() {
        return Ok(false);
    }
    let Some(shop_id) = shops::find_shop_id(conn, &row.shop_domain).await? else {
        return Ok(false);
    };
    let customers = customers::redacted_among(conn, shop_id, &named.customers).await?;
    let orders = orders::redacted_among(conn, shop_id, &named.orders).await?;
    if customers.is_empty() && orders.is_empty() {
        return Ok(false);
    }
    let scrubbed = StoredBody::compress(&privacy::redact_body(&body));
    inbox::replace_body(conn, row.id, &scrubbed).await?;
    Ok(true)
}

/// The final state of a handled row.
fn finish_for(handled: &Handled, body: KeepBody) -> Finish<'_> {
    let (status, note) = match &handled.outcome {
        Outcome::Done => (status::DONE, None),
        Outcome::Ignored(why) => (status::IGNORED, Some(why.as_str())),
        Outcome::Held(why) => (status::HELD, Some(why.as_str())),
    };
    Finish {
        status,
        note,
        body,
        customer_id: handled.customer_id,
        order_id: handled.order_id,
    }
}

/// Held rows keep their body (scrubbed when their customer is among
/// `redacted`); everything else is cleared.
fn keep_body(handled: &Handled, body: &[u8], redacted: &[i64]) -> KeepBody {
    match (&handled.outcome, handled.customer_id) {
        (Outcome::Held(_), Some(customer)) if redacted.contains(&customer) => {
            KeepBody::Replace(StoredBody::compress(&privacy::redact_body(body)))
        }
        (Outcome::Held(_), _) => KeepBody::Keep,
        _ => KeepBody::Clear,
    }
}

/// Decompresses and parses a claimed row's body: CPU work, done before the
/// transaction so it never holds the database.
/// A claimed row's body, decompressed, and its payload.
type Parsed = Result<(Vec<u8>, Payload), HandlerError>;

/// A batch claimed ahead, its bodies being parsed on a blocking thread.
type AheadBatch = tokio::task::JoinHandle<(Vec<ClaimedDelivery>, Vec<Parsed>, bool)>;

fn parse_rows(rows: &[ClaimedDelivery]) -> Vec<Parsed> {
    rows.iter().map(parse_row).collect()
}

fn parse_row(row: &ClaimedDelivery) -> Parsed {
    let body = StoredBody::decompress(&row.body).map_err(HandlerError::Permanent)?;
    let payload = topics::parse_payload(&WebhookTopic::from(row.topic.as_str()), &body)?;
    Ok((body, payload))
}

/// An order delivery waiting for its batch.
struct Batched<'r> {
    row: &'r ClaimedDelivery,
    shop: Shop,
    body: Vec<u8>,
}

/// The deliveries of a batch that was not kept, each with its event
/// parsed again from its body (the batch consumed the first parse).
fn reparsed(rows: Vec<Batched<'_>>) -> anyhow::Result<Vec<(Batched<'_>, OrderEvent)>> {
    rows.into_iter()
        .map(|b| {
            let topic = WebhookTopic::from(b.row.topic.as_str());
            match topics::parse_payload(&topic, &b.body)? {
                Payload::Order(event) => Ok((b, event)),
                _ => anyhow::bail!("an order delivery parsed as another kind"),
            }
        })
        .collect()
}

/// The span every line logged about a row is in: its shop, topic and the
/// request that stored it.
fn row_span(row: &ClaimedDelivery) -> tracing::Span {
    tracing::info_span!(
        "inbox_row",
        inbox_id = row.id,
        shop = %row.shop_domain,
        topic = %row.topic,
        request_id = row.request_id.as_deref().unwrap_or("-"),
    )
}

/// Exponential backoff with jitter: about 1 s, 2 s, 4 s ... capped at 15 min.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 11) - 1;
    let base = Duration::from_secs(1 << exp).min(Duration::from_secs(900));
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(super::backoff(1) <= Duration::from_millis(1200));
        assert!(super::backoff(4) >= Duration::from_millis(6400));
        assert!(super::backoff(50) <= Duration::from_secs(1080));
    }
}
