//! SQLite on a file: where webhook intake commits, and how what it commits
//! reaches the inbox.
//!
//! SQLite has one write lock per file. With the inbox in the database, an
//! acknowledgement to Shopify waited for whatever else held that lock: an
//! inbox batch, a history import's chunk, a scheduled job. So intake
//! commits to a file of its own beside the database (`<database>-intake`,
//! table [`TABLE`]), whose lock only intake takes: its latency is the
//! disk's, whatever the rest of Advocate is doing.
//!
//! A mover ([`move_batch`], run by the intake writer's task after every
//! sync, and by anyone who needs the inbox complete, such as
//! [`crate::jobs::inbox::InboxProcessor::drain`]) copies landed deliveries
//! into `webhook_inbox` in landing order, and in the same transaction
//! advances `intake_landing.moved_through` in the database: a landed
//! delivery reaches the inbox exactly once, whoever moves it and whenever a
//! process stops. The copy dedupes redeliveries as intake used to
//! (`ON CONFLICT DO NOTHING` on shop and key). Landed rows up to the mark
//! are deleted by intake's own next transaction; after an erasure,
//! [`super::Store::erase_log`] deletes them at once, rebuilds the landing
//! file and empties its log with the database's.
//!
//! Landed ids never go back: the table is `AUTOINCREMENT`, and when the
//! database is opened the landing file's sequence is set at least to the
//! mark ([`continue_ids`]), so a landing file that was lost or replaced
//! cannot hide new deliveries behind an old mark. The landing file is part
//! of the database: copy or move `advocate.db*` together.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use anyhow::Context;
use sqlx::{AnyPool, Row};

use super::{
    inbox::{self, NewDelivery, StoredBody},
    Dialect, Store,
};

/// The landing table, in the landing file.
pub const TABLE: &str = "landed";

/// Column for column the rows intake inserts into `webhook_inbox`.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS landed (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_domain   TEXT    NOT NULL,
    delivery_key  TEXT    NOT NULL,
    webhook_id    TEXT,
    event_id      TEXT,
    topic         TEXT    NOT NULL,
    api_version   TEXT,
    triggered_at  TEXT,
    body          BLOB    NOT NULL,
    received_at   BIGINT  NOT NULL,
    status        TEXT    NOT NULL,
    available_at  BIGINT  NOT NULL,
    request_id    TEXT
)";

/// Intake's connection: durable commits (intake syncs the log itself, see
/// [`super::writer`]), checkpoints left to the store's checkpointer, and
/// deleted rows not overwritten. Every landed row is deleted soon after it
/// lands, so overwriting each would double what intake writes (measured:
/// p99 at 5,000/s offered 15.8 ms with it, 10.3 to 12.0 ms without); the
/// file is a few megabytes whose pages are reused at once, and after an
/// erasure [`erase`] rebuilds it, so nothing deleted outlives that.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
    PRAGMA busy_timeout = 5000; PRAGMA secure_delete = OFF; \
    PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864; \
    PRAGMA temp_store = MEMORY;";

/// Most landed rows, and bytes of their bodies, copied in one transaction.
const MOVE_ROWS: usize = 512;
const MOVE_BYTES: usize = 8 * 1024 * 1024;

/// The landing file's connections.
#[derive(Debug, Clone)]
pub(crate) struct Landing {
    /// Intake's one connection: the only writer of the file.
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    /// Checkpoints of the file's log, apart from intake's commits.
    pub(crate) checkpoints: Option<AnyPool>,
    pub(crate) wal: std::path::PathBuf,
    /// `moved_through` as last seen: landed rows up to it may be deleted.
    pub(crate) moved: Arc<AtomicI64>,
}

/// The landing file of the database file `main`.
pub fn path_of(main: &str) -> String {
    format!("{main}-intake")
}

/// A `sqlite://` URL for a path (characters the URL parser reads specially
/// are escaped).
fn url_of(path: &str, mode: &str) -> String {
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{escaped}?mode={mode}")
}

impl Landing {
    /// Opens (creating when missing) the landing file of the database file
    /// `main`.
    pub(crate) async fn open(main: &str) -> anyhow::Result<Self> {
        let file = path_of(main);
        let url = url_of(&file, "rwc");
        let writer = super::sqlite_pool(1, PRAGMAS)
            .connect(&url)
            .await
            .context("opening webhook intake's landing file")?;
        sqlx::query(SCHEMA)
            .execute(&writer)
            .await
            .context("creating webhook intake's landing table")?;
        let reader = super::sqlite_pool(1, super::READER_PRAGMAS)
            .connect(&url)
            .await
            .context("opening webhook intake's landing file for reading")?;
        let checkpoints = super::sqlite_pool(1, super::CHECKPOINT_PRAGMAS)
            .connect(&url)
            .await
            .context("opening webhook intake's landing file for checkpoints")?;
        Ok(Self {
            writer,
            reader,
            checkpoints: Some(checkpoints),
            wal: format!("{file}-wal").into(),
            moved: Arc::default(),
        })
    }

    /// Opens the landing file of `main` for reading, when there is one.
    pub(crate) async fn open_read_only(main: &str) -> anyhow::Result<Option<Self>> {
        let file = path_of(main);
        if !std::path::Path::new(&file).exists() {
            return Ok(None);
        }
        let reader = super::sqlite_pool(1, super::READER_PRAGMAS)
            .connect(&url_of(&file, "ro"))
            .await
            .context("opening webhook intake's landing file for reading")?;
        Ok(Some(Self {
            writer: reader.clone(),
            reader,
            checkpoints: None,
            wal: format!("{file}-wal").into(),
            moved: Arc::default(),
        }))
    }
}

/// A batch intake committed to the landing file: its deliveries, with ids
/// `last - len + 1 ..= last`.
pub struct Landed {
    last: i64,
    deliveries: Vec<NewDelivery>,
}

impl Landed {
    pub(crate) fn new(last: i64, deliveries: Vec<NewDelivery>) -> Self {
        Self { last, deliveries }
    }

    fn first(&self) -> i64 {
        self.last - self.deliveries.len() as i64 + 1
    }

    /// Bytes of its bodies, as held in memory.
    pub(crate) fn bytes(&self) -> usize {
        self.deliveries
            .iter()
            .map(|d| d.body.as_bytes().len())
            .sum()
    }
}

/// The id of the last row inserted into the landing table, on intake's
/// connection right after its commit.
pub(crate) async fn last_id(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'landed'")
        .fetch_one(conn)
        .await
}

/// The mark: the last landed id copied into the inbox.
async fn moved_through(store: &Store) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT moved_through FROM intake_landing WHERE id = 1")
        .fetch_one(store.reader())
        .await
}

/// Makes the landing file's next id follow the mark (see the module docs),
/// and remembers the mark. Run once the database is migrated.
pub(crate) async fn continue_ids(store: &Store) -> anyhow::Result<()> {
    let Some(landing) = store.landing() else {
        return Ok(());
    };
    let mark = moved_through(store)
        .await
        .context("reading how far landed deliveries were moved")?;
    let mut conn = landing.writer.acquire().await?;
    sqlx::query(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'landed', 0 \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'landed')",
    )
    .execute(&mut *conn)
    .await
    .context("starting the landing file's sequence")?;
    sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = 'landed'")
        .bind(mark)
        .execute(&mut *conn)
        .await
        .context("continuing the landing file's sequence")?;
    landing.moved.fetch_max(mark, Ordering::AcqRel);
    Ok(())
}

/// Copies the next landed deliveries (at most [`MOVE_ROWS`], or
/// [`MOVE_BYTES`] of bodies) into the inbox; answers how many landed rows
/// it moved, 0 when none waits (and always without a landing file).
///
/// Each read runs to its end: a statement left part-way would keep its
/// snapshot of the landing file open until the connection's next query,
/// and with it the file's log from starting over.
pub async fn move_batch(store: &Store) -> anyhow::Result<usize> {
    let Some(landing) = store.landing() else {
        return Ok(0);
    };
    loop {
        let mark = landing.moved.load(Ordering::Acquire);
        // First the sizes (SQLite reads a blob's length without its
        // pages), to know where the batch ends.
        let sizes: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, CAST(length(body) AS BIGINT) FROM landed WHERE id > $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(mark)
        .bind(MOVE_ROWS as i64)
        .fetch_all(&landing.reader)
        .await?;
        let mut through = mark;
        let mut bytes = 0_usize;
        for (id, size) in sizes {
            through = id;
            bytes = bytes.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
            if bytes >= MOVE_BYTES {
                break;
            }
        }
        if through == mark {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT id, shop_domain, delivery_key, webhook_id, event_id, topic, api_version, \
             triggered_at, body, received_at, request_id FROM landed \
             WHERE id > $1 AND id <= $2 ORDER BY id",
        )
        .bind(mark)
        .bind(through)
        .fetch_all(&landing.reader)
        .await?;
        let mut deliveries = Vec::with_capacity(rows.len());
        let mut last = mark;
        for row in rows {
            last = row.try_get("id")?;
            deliveries.push(NewDelivery {
                shop_domain: row.try_get("shop_domain")?,
                delivery_key: row.try_get("delivery_key")?,
                webhook_id: row.try_get("webhook_id")?,
                event_id: row.try_get("event_id")?,
                topic: row.try_get("topic")?,
                api_version: row.try_get("api_version")?,
                triggered_at: row.try_get("triggered_at")?,
                body: StoredBody::from_stored(row.try_get("body")?),
                received_at: row.try_get("received_at")?,
                request_id: row.try_get("request_id")?,
            });
        }
        if deliveries.is_empty() {
            // Moved and deleted between the two reads: another mover went
            // first. Read on from its mark.
            let now = moved_through(store).await?;
            if now <= mark {
                return Ok(0);
            }
            landing.moved.fetch_max(now, Ordering::AcqRel);
            continue;
        }
        if copy(store, landing, mark, last, &deliveries).await? {
            return Ok(deliveries.len());
        }
    }
}

/// Copies `deliveries` (landed ids `mark + 1 ..= last`) into the inbox and
/// advances the mark from `mark` to `last`, in one transaction. False,
/// with nothing copied, when the mark is no longer `mark`: another mover
/// (another process on the file) went first.
async fn copy(
    store: &Store,
    landing: &Landing,
    mark: i64,
    last: i64,
    deliveries: &[NewDelivery],
) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    inbox::insert_deliveries(&mut tx, Dialect::Sqlite, deliveries)
        .await
        .context("copying landed deliveries into the inbox")?;
    let advanced = sqlx::query(
        "UPDATE intake_landing SET moved_through = $1 WHERE id = 1 AND moved_through = $2",
    )
    .bind(last)
    .bind(mark)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if advanced == 0 {
        tx.rollback().await?;
        landing
            .moved
            .fetch_max(moved_through(store).await?, Ordering::AcqRel);
        return Ok(false);
    }
    tx.commit()
        .await
        .context("committing landed deliveries into the inbox")?;
    landing.moved.fetch_max(last, Ordering::AcqRel);
    Ok(true)
}

/// Copies batches intake handed over in memory (in landing order) into the
/// inbox, [`MOVE_ROWS`] a transaction, without reading the landing file;
/// rows it was not handed (a gap before a batch, or another mover's
/// progress) are taken from the file. Answers how many landed rows were
/// moved.
pub(crate) async fn move_handed(store: &Store, batches: Vec<Landed>) -> anyhow::Result<usize> {
    let Some(landing) = store.landing() else {
        return Ok(0);
    };
    let mut moved = 0;
    let mut run: Vec<NewDelivery> = Vec::new();
    let mut mark = landing.moved.load(Ordering::Acquire);
    for batch in batches {
        let first = batch.first();
        let next = mark + run.len() as i64 + 1;
        if batch.last < next {
            continue;
        }
        if first > next {
            // Rows landed before this batch were not handed over: move
            // what is held, then everything from the file.
            moved += flush(store, landing, &mut mark, &mut run).await?;
            moved += move_landed(store).await?;
            mark = landing.moved.load(Ordering::Acquire);
            continue;
        }
        let skip = (next - first) as usize;
        run.extend(batch.deliveries.into_iter().skip(skip));
        if run.len() >= MOVE_ROWS {
            moved += flush(store, landing, &mut mark, &mut run).await?;
        }
    }
    moved += flush(store, landing, &mut mark, &mut run).await?;
    Ok(moved)
}

/// Copies `run` (ids from `mark + 1` on) in transactions of [`MOVE_ROWS`];
/// when another mover went first, leaves the rest to the file.
async fn flush(
    store: &Store,
    landing: &Landing,
    mark: &mut i64,
    run: &mut Vec<NewDelivery>,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    for part in run.chunks(MOVE_ROWS) {
        let last = *mark + part.len() as i64;
        if !copy(store, landing, *mark, last, part).await? {
            run.clear();
            moved += move_landed(store).await?;
            *mark = landing.moved.load(Ordering::Acquire);
            return Ok(moved);
        }
        *mark = last;
        moved += part.len();
    }
    run.clear();
    Ok(moved)
}

/// Moves every delivery landed so far into the inbox; answers how many.
pub async fn move_landed(store: &Store) -> anyhow::Result<usize> {
    let mut moved = 0;
    loop {
        match move_batch(store).await? {
            0 => return Ok(moved),
            n => moved += n,
        }
    }
}

/// Landed deliveries not yet in the inbox: how many, and when the oldest
/// was received; of one shop, or of all.
pub async fn waiting(
    store: &Store,
    shop_domain: Option<&str>,
) -> anyhow::Result<(i64, Option<i64>)> {
    if store.landing().is_none() {
        return Ok((0, None));
    }
    let mark = moved_through(store).await?;
    waiting_after(store, mark, shop_domain).await
}

/// As [`waiting`], past `mark`: read the mark in the same snapshot as the
/// inbox's rows, and a delivery moved meanwhile is counted once, in one
/// place or the other.
pub async fn waiting_after(
    store: &Store,
    mark: i64,
    shop_domain: Option<&str>,
) -> anyhow::Result<(i64, Option<i64>)> {
    let Some(landing) = store.landing() else {
        return Ok((0, None));
    };
    Ok(sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), MIN(received_at) FROM landed \
         WHERE id > $1 AND ($2 IS NULL OR shop_domain = $2)",
    )
    .bind(mark)
    .bind(shop_domain)
    .fetch_one(&landing.reader)
    .await?)
}

/// After an erasure: deletes the landed rows already in the inbox (whose
/// copies there were just scrubbed) and rebuilds the file (`VACUUM`), so
/// no deleted row is left in a free page; the caller then empties the log.
/// Holds intake's connection for as long (a file of a few megabytes).
pub(crate) async fn erase(landing: &Landing) -> Result<(), sqlx::Error> {
    let mut conn = landing.writer.acquire().await?;
    sqlx::query("DELETE FROM landed WHERE id <= $1")
        .bind(landing.moved.load(Ordering::Acquire))
        .execute(&mut *conn)
        .await?;
    sqlx::query("VACUUM").execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::{move_landed, path_of};
    use crate::store::{
        inbox::{NewDelivery, StoredBody},
        writer::IntakeWriter,
        DatabaseUrl, Store,
    };

    fn url(dir: &tempfile::TempDir) -> DatabaseUrl {
        DatabaseUrl::parse(format!(
            "sqlite://{}",
            dir.path().join("advocate.db").display()
        ))
        .unwrap()
    }

    async fn open(dir: &tempfile::TempDir) -> Store {
        let store = Store::connect(&url(dir), 2).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn delivery(key: &str) -> NewDelivery {
        NewDelivery {
            shop_domain: "landing-test.myshopify.com".into(),
            delivery_key: key.into(),
            webhook_id: Some(key.into()),
            event_id: None,
            topic: "orders/paid".into(),
            api_version: Some("2026-07".into()),
            triggered_at: None,
            body: StoredBody::compress(format!("{{\"id\":\"{key}\"}}").as_bytes()),
            received_at: 1,
            request_id: None,
        }
    }

    async fn scalar(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(store.writer())
            .await
            .unwrap()
    }

    /// Intake lands; the mover, and two other processes' movers racing it,
    /// put each delivery in the inbox once, in landing order, redeliveries
    /// deduped; the landing file is then emptied by intake's next batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn landed_deliveries_reach_the_inbox_once_whoever_moves_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let others = [open(&dir).await, open(&dir).await];
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        let racing = others.clone().map(|other| {
            tokio::spawn(async move {
                let mut moved = 0;
                for _ in 0..200 {
                    moved += move_landed(&other).await.unwrap();
                    tokio::task::yield_now().await;
                }
                moved
            })
        });
        let sent = futures_util::future::join_all((0..400).map(|i| {
            let writer = writer.clone();
            // Every fourth delivery is a redelivery of the one before.
            let key = format!("d-{}", i - usize::from(i % 4 == 3));
            async move { writer.submit(delivery(&key)).await }
        }))
        .await;
        assert!(sent.iter().all(Result::is_ok));
        for race in racing {
            race.await.unwrap();
        }
        drop(writer);
        handle.shutdown().await;

        assert_eq!(
            scalar(&store, "SELECT COUNT(*) FROM webhook_inbox").await,
            300
        );
        assert_eq!(
            scalar(
                &store,
                "SELECT COUNT(DISTINCT delivery_key) FROM webhook_inbox"
            )
            .await,
            300
        );
        let mark = scalar(&store, "SELECT moved_through FROM intake_landing").await;
        assert_eq!(mark, 400, "every landed row is behind the mark");
        let landed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM landed WHERE id > $1")
            .bind(mark)
            .fetch_one(&store.landing().unwrap().reader)
            .await
            .unwrap();
        assert_eq!(landed, 0);

        // Intake's next batch deletes what was moved.
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        writer.submit(delivery("after")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM landed")
            .fetch_one(&store.landing().unwrap().reader)
            .await
            .unwrap();
        assert!(left <= 1, "{left} landed rows kept after they were moved");
        assert_eq!(
            scalar(&store, "SELECT COUNT(*) FROM webhook_inbox").await,
            301
        );
    }

    /// A landing file that is lost (or replaced by an empty one) cannot
    /// hide new deliveries behind the mark: its ids continue after it.
    #[tokio::test]
    async fn a_new_landing_file_continues_after_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        for i in 0..5 {
            writer
                .submit(delivery(&format!("before-{i}")))
                .await
                .unwrap();
        }
        drop(writer);
        handle.shutdown().await;
        store.close().await;
        drop(store);
        let main = dir.path().join("advocate.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path_of(&main.to_string_lossy())));
        }

        let store = open(&dir).await;
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        writer.submit(delivery("after")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        assert_eq!(
            scalar(&store, "SELECT COUNT(*) FROM webhook_inbox").await,
            6
        );
        assert_eq!(
            scalar(&store, "SELECT moved_through FROM intake_landing").await,
            6
        );
    }
}
