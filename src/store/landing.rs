//! SQLite on a file: where webhook intake lands deliveries, and how what
//! lands reaches the inbox.
//!
//! SQLite has one write lock per file. With the inbox in the database, an
//! acknowledgement to Shopify waited for whatever else held that lock: an
//! inbox batch, a history import's chunk, a scheduled job. So intake
//! appends to a journal beside the database (the directory
//! `<database>-intake-log`, see [`path_of`]) and answers once the journal is
//! synced: what a durable answer needs and no more, one write and one
//! `fdatasync` for each group of deliveries (see [`super::writer`]).
//!
//! # The journal
//!
//! The journal is a run of segment files, `<n>.seg`, each a sequence of
//! records: a magic number, the payload's length, its CRC-32, the segment
//! it was written in, then the delivery (see [`encode`]). Intake lands
//! bodies as they arrived ([`MAGIC_RAW`]), and the mover compresses them
//! on their way into the inbox; records of an earlier version hold them
//! compressed ([`MAGIC`]).
//! Every process on the database writes to the same segment, one batch (one
//! `pwrite`) at a time, holding an exclusive `flock` on the directory's
//! `lock` file, which also holds where the next batch goes; so records
//! never interleave. A batch that could not be written whole is never
//! written over: the next one starts a new segment. A process starts a
//! segment of its own when it starts (after the newest), and whoever writes
//! starts the next once the segment holds [`SEGMENT_BYTES`]; the others
//! follow at their next batch. A new segment's name is synced into the
//! directory before anything in it is answered (by the sync thread, not the
//! writer).
//!
//! # The mover and the mark
//!
//! A mover ([`move_batch`], run by the intake writer's task after every
//! sync, and by anyone who needs the inbox complete, such as
//! [`crate::jobs::inbox::InboxProcessor::drain`]) copies records into
//! `webhook_inbox` in journal order, and in the same transaction advances
//! the mark, `intake_journal` (a segment and an offset in it): a record
//! reaches the inbox exactly once, whoever moves it and whenever a process
//! stops. The copy dedupes redeliveries as intake always has (`ON CONFLICT
//! DO NOTHING` on shop and key). The journal already holds what is copied,
//! so only the commit that moves the mark on to a later segment syncs the
//! database's log, and with it every copy before it: a segment's file is
//! reused or deleted only after that (see [`copy`]). A segment is finished
//! once a later one exists: nobody writes to it any more, so a mover that
//! saw the later segment before reading this one to its end moves the mark
//! on to the next segment. Reading a segment stops at the first record that
//! is cut off, does not match its CRC or was written in another segment:
//! the end of what was written, a write that failed or a crash of the
//! machine during a write (never answered), or older records of a reused
//! file.
//!
//! # Reused files, and erasure
//!
//! A finished segment's file is kept for reuse (`<n>.free`, at most
//! [`KEEP_FREE`]) and becomes a later segment, written over from the
//! start: writing over a file's blocks costs the disk less than growing a
//! new file, and deleting files stalls every sync on a file system that
//! trims freed blocks in its commits (`discard`). Only past that number
//! are finished segments deleted.
//!
//! After an erasure [`erase`] starts a new segment in a new file, moves
//! everything before it into the inbox (where it was just scrubbed), then
//! deletes every finished segment and every kept file; the lock file
//! records that no file of a segment before it may be reused (it is
//! deleted instead), so no copy of an erased delivery stays in the
//! journal.
//!
//! The journal is part of the database: copy or move `advocate.db*`
//! together. Earlier versions landed deliveries in a SQLite file
//! (`<database>-intake`); what is left in one is moved into the inbox when
//! the database is opened ([`recover`]), and the file is emptied.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::Context;
use sqlx::Row;

use super::{
    inbox::{self, NewDelivery, StoredBody},
    Dialect, Store,
};

/// Bytes after which the next batch starts a new segment.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Most records, and bytes of their bodies, copied in one transaction.
const MOVE_ROWS: usize = 512;
const MOVE_BYTES: usize = 8 * 1024 * 1024;

/// How much of a segment is read at once. The buffer is used again for
/// each read: a larger one would be taken from the system, zeroed and
/// faulted in page by page at every move, for bytes copied once.
const READ_AHEAD: usize = 256 * 1024;

/// The first bytes of a record whose body is compressed ("ADVJ"), and of
/// one whose body is as it arrived ("ADVR").
///
/// Intake lands bodies as they arrive: compressing them (LZ4 was 9.6 % of
/// intake's CPU with processing off, more than the HMAC) is the mover's
/// work, off the acknowledgement's path. Records of either kind are read:
/// a journal may still hold "ADVJ" records from an earlier version, and
/// the version before this one read "ADVR" records without writing them,
/// so processes of the two can share a journal during a rolling restart.
const MAGIC: u32 = 0x4144_564a;
const MAGIC_RAW: u32 = 0x4144_5652;
/// Magic, payload length and CRC-32 (four bytes each), and the segment
/// the record was written in (eight).
const HEADER: usize = 20;
/// No payload is larger: a body is at most 5 MiB (the request limit), its
/// headers a few hundred bytes. A longer length is a damaged record.
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// A place in the journal: a segment, and a byte offset in it. Every
/// record before it is in the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: i64,
    pub offset: i64,
}

/// The journal of a database file.
#[derive(Debug, Clone)]
pub(crate) struct Landing {
    /// The database file.
    main: String,
    /// The journal's directory.
    pub(crate) dir: PathBuf,
    /// The mark as last seen: never ahead of the database's.
    moved: Arc<Mutex<Position>>,
    /// Bytes after which the next batch starts a new segment.
    pub(crate) segment_bytes: u64,
}

/// The journal directory of the database file `main`. (Not `-journal`:
/// SQLite would take that for the database's rollback journal.)
pub fn path_of(main: &str) -> String {
    format!("{main}-intake-log")
}

/// The SQLite landing file of earlier versions.
fn legacy_path_of(main: &str) -> String {
    format!("{main}-intake")
}

impl Landing {
    /// The journal of the database file `main` (created by the first
    /// process that appends to it).
    pub(crate) fn new(main: &str) -> Self {
        Self {
            main: main.to_owned(),
            dir: PathBuf::from(path_of(main)),
            moved: Arc::default(),
            segment_bytes: SEGMENT_BYTES,
        }
    }

    fn seen(&self) -> Position {
        *self.moved.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn saw(&self, at: Position) {
        let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        *moved = (*moved).max(at);
    }
}

fn segment_path(dir: &Path, segment: i64) -> PathBuf {
    dir.join(format!("{segment}.seg"))
}

/// The segments in `dir`, in order (none when there is no directory).
fn segments(dir: &Path) -> std::io::Result<Vec<i64>> {
    numbered(dir, ".seg")
}

/// The numbers of the files `<n><suffix>` in `dir`, in order (none when
/// there is no directory).
fn numbered(dir: &Path, suffix: &str) -> std::io::Result<Vec<i64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<i64>().ok())
        {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Syncs `dir` itself, so that a file just created in it is found after a
/// crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Holds the journal's lock while alive.
struct Locked(Arc<File>);

impl Locked {
    fn take(lock: &Arc<File>) -> std::io::Result<Self> {
        lock.lock()?;
        Ok(Self(lock.clone()))
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn open_lock(dir: &Path) -> std::io::Result<Arc<File>> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join("lock"))
        .map(Arc::new)
}

/// What the lock file holds, read and written only under its lock: where
/// the next batch goes, and below which segment no file may be reused
/// (set by an erasure). In the page cache, shared by every process; after
/// a crash of the machine each process starts a new segment anyway.
#[derive(Debug, Clone, Copy, Default)]
struct Shared {
    at: Position,
    scrub_below: i64,
}

impl Shared {
    fn read(lock: &File) -> std::io::Result<Self> {
        let mut bytes = [0_u8; 24];
        let n = lock.read_at(&mut bytes, 0)?;
        if n < bytes.len() {
            return Ok(Self::default());
        }
        let word = |i: usize| i64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Ok(Self {
            at: Position {
                segment: word(0),
                offset: word(8),
            },
            scrub_below: word(16),
        })
    }

    fn write(self, lock: &File) -> std::io::Result<()> {
        let mut bytes = [0_u8; 24];
        bytes[0..8].copy_from_slice(&self.at.segment.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.at.offset.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.scrub_below.to_le_bytes());
        lock.write_all_at(&bytes, 0)
    }
}

/// Finished segments kept for reuse (`<n>.free`). Writing over a file's
/// blocks costs the disk less than growing a new one, and deleting a file
/// may stall every sync on the disk meanwhile (a file system mounted with
/// `discard` trims the freed blocks in its commit).
pub(crate) const KEEP_FREE: usize = 2;

fn free_path(dir: &Path, segment: i64) -> PathBuf {
    dir.join(format!("{segment}.free"))
}

/// The segments kept for reuse, by their old number.
fn free_files(dir: &Path) -> std::io::Result<Vec<i64>> {
    numbered(dir, ".free")
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Starts segment `segment`: a kept file renamed (its old records carry
/// their old segment number, so none is read as this segment's), else a
/// new file. Under the lock. Its name is not synced into the directory
/// yet: see [`Segment::sync`].
fn create_segment(dir: &Path, segment: i64, scrub_below: i64) -> std::io::Result<File> {
    let path = segment_path(dir, segment);
    for old in free_files(dir)? {
        if old < scrub_below {
            remove(&free_path(dir, old))?;
        } else if !path.exists() {
            std::fs::rename(free_path(dir, old), &path)?;
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// A segment being written, shared with the sync thread.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) number: i64,
    file: Arc<File>,
    dir: Arc<PathBuf>,
    /// Whether the segment's name is known to be synced into the directory.
    named: Arc<std::sync::atomic::AtomicBool>,
}

impl Segment {
    fn new(dir: &Path, number: i64, file: File) -> Self {
        Self {
            number,
            file: Arc::new(file),
            dir: Arc::new(dir.to_owned()),
            named: Arc::default(),
        }
    }

    /// Makes what was written durable: the segment's data, and the first
    /// time its name in the directory (so that it is found after a crash).
    /// Done by the sync thread, so a new segment costs the writer nothing.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()?;
        if !self.named.load(std::sync::atomic::Ordering::Acquire) {
            sync_dir(&self.dir)?;
            self.named.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }
}

/// A process's writing end of the journal: owned by intake's writer.
pub(crate) struct Appender {
    dir: PathBuf,
    lock: Arc<File>,
    current: Segment,
    segment_bytes: u64,
}

impl Appender {
    /// Starts a segment of this process's own, after every one there is and
    /// after the mark's (see the module docs).
    pub(crate) fn open(landing: &Landing) -> std::io::Result<Self> {
        let dir = landing.dir.clone();
        let lock = open_lock(&dir)?;
        let current = {
            let _locked = Locked::take(&lock)?;
            let shared = Shared::read(&lock)?;
            let after = landing.seen().segment.max(shared.at.segment);
            start(&dir, &lock, shared, after)?
        };
        Ok(Self {
            dir,
            lock,
            current,
            segment_bytes: landing.segment_bytes,
        })
    }

    /// Writes `records` (whole records, see [`encode`], starting at
    /// `starts`) in one write after the last batch of any process, setting
    /// their segment; answers the segment and the offset they start at.
    /// Not synced: the caller syncs the segment before answering anyone.
    pub(crate) fn append(
        &mut self,
        records: &mut [u8],
        starts: &[usize],
    ) -> std::io::Result<(Segment, u64)> {
        let _locked = Locked::take(&self.lock)?;
        let mut shared = Shared::read(&self.lock)?;
        if shared.at.segment != self.current.number {
            // Another process went on to a later segment: follow it. (An
            // earlier one: the lock file was lost; start a new one.)
            let followed = (shared.at.segment > self.current.number)
                .then(|| {
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(segment_path(&self.dir, shared.at.segment))
                        .ok()
                })
                .flatten();
            match followed {
                Some(file) => self.current = Segment::new(&self.dir, shared.at.segment, file),
                None => {
                    let after = self.current.number.max(shared.at.segment);
                    self.current = start(&self.dir, &self.lock, shared, after)?;
                    shared = Shared::read(&self.lock)?;
                }
            }
        }
        if u64::try_from(shared.at.offset).unwrap_or(u64::MAX) >= self.segment_bytes {
            self.current = start(&self.dir, &self.lock, shared, self.current.number)?;
            shared = Shared::read(&self.lock)?;
        }
        for &start in starts {
            records[start + 12..start + HEADER].copy_from_slice(&self.current.number.to_le_bytes());
        }
        let at = u64::try_from(shared.at.offset).unwrap_or(0);
        let written = self.current.file.write_all_at(records, at);
        // A batch not written whole is never written over: the next batch
        // goes to a new segment, and readers stop at the cut.
        shared.at.offset = match written {
            Ok(()) => shared.at.offset + records.len() as i64,
            Err(_) => i64::try_from(self.segment_bytes).unwrap_or(i64::MAX),
        };
        shared.write(&self.lock)?;
        written?;
        Ok((self.current.clone(), at))
    }
}

/// Starts the segment after `after` and every segment there is, and makes
/// it where the next batch goes. Under the lock.
fn start(dir: &Path, lock: &File, shared: Shared, after: i64) -> std::io::Result<Segment> {
    let newest = segments(dir)?.last().copied().unwrap_or(0);
    let number = newest.max(after) + 1;
    let file = create_segment(dir, number, shared.scrub_below)?;
    Shared {
        at: Position {
            segment: number,
            offset: 0,
        },
        ..shared
    }
    .write(lock)?;
    Ok(Segment::new(dir, number, file))
}

/// After an erasure: starts a new segment in a new file, so that every one
/// before it is finished, and no file of those is ever reused.
fn start_scrubbed(dir: &Path) -> std::io::Result<()> {
    let lock = open_lock(dir)?;
    let _locked = Locked::take(&lock)?;
    let shared = Shared::read(&lock)?;
    let newest = segments(dir)?.last().copied().unwrap_or(0);
    let number = newest.max(shared.at.segment) + 1;
    let scrubbed = Shared {
        at: shared.at,
        scrub_below: number,
    };
    let segment = start(dir, &lock, scrubbed, number - 1)?;
    segment.sync()
}

/// Puts the segments before `segment` aside for reuse, or deletes them
/// (past [`KEEP_FREE`], or when an erasure scrubbed them): every record in
/// them is in the inbox. Under the lock.
fn finish_before(dir: &Path, segment: i64) -> std::io::Result<()> {
    let lock = open_lock(dir)?;
    let _locked = Locked::take(&lock)?;
    let shared = Shared::read(&lock)?;
    let mut kept = free_files(dir)?.len();
    for n in segments(dir)? {
        if n >= segment {
            break;
        }
        if kept < KEEP_FREE && n >= shared.scrub_below {
            std::fs::rename(segment_path(dir, n), free_path(dir, n))?;
            kept += 1;
        } else {
            remove(&segment_path(dir, n))?;
        }
    }
    Ok(())
}

/// After an erasure: deletes every kept file and every segment before
/// `segment`.
fn delete_before(dir: &Path, segment: i64) -> std::io::Result<()> {
    let lock = open_lock(dir)?;
    let _locked = Locked::take(&lock)?;
    for n in free_files(dir)? {
        remove(&free_path(dir, n))?;
    }
    for n in segments(dir)? {
        if n >= segment {
            break;
        }
        remove(&segment_path(dir, n))?;
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Appends `delivery` to `out` as one record; answers the record's length.
pub(crate) fn encode(out: &mut Vec<u8>, delivery: &NewDelivery) -> usize {
    let start = out.len();
    let magic = if delivery.body.is_compressed() {
        MAGIC
    } else {
        MAGIC_RAW
    };
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    let payload = out.len();
    out.extend_from_slice(&delivery.received_at.to_le_bytes());
    put_str(out, &delivery.shop_domain);
    put_str(out, &delivery.delivery_key);
    put_opt(out, delivery.webhook_id.as_deref());
    put_opt(out, delivery.event_id.as_deref());
    put_str(out, &delivery.topic);
    put_opt(out, delivery.api_version.as_deref());
    put_opt(out, delivery.triggered_at.as_deref());
    put_opt(out, delivery.request_id.as_deref());
    let body = delivery.body.as_bytes();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let length = (out.len() - payload) as u32;
    let crc = crc32fast::hash(&out[payload..]);
    out[start + 4..start + 8].copy_from_slice(&length.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// Reads a payload written by [`encode`].
struct Payload<'a>(&'a [u8]);

impl<'a> Payload<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u32()? {
            u32::MAX => Some(None),
            n => Some(Some(self.take(n as usize)?)),
        }
    }

    fn string(&mut self) -> Option<Option<String>> {
        match self.bytes()? {
            None => Some(None),
            Some(b) => Some(Some(String::from_utf8(b.to_vec()).ok()?)),
        }
    }

    /// The delivery; its body as held in the record, compressed or not.
    fn delivery(mut self, compressed: bool) -> Option<NewDelivery> {
        let received_at = i64::from_le_bytes(self.take(8)?.try_into().ok()?);
        let delivery = NewDelivery {
            received_at,
            shop_domain: self.string()??,
            delivery_key: self.string()??,
            webhook_id: self.string()?,
            event_id: self.string()?,
            topic: self.string()??,
            api_version: self.string()?,
            triggered_at: self.string()?,
            request_id: self.string()?,
            body: match compressed {
                true => StoredBody::from_stored(self.bytes()??.to_vec()),
                false => StoredBody::uncompressed(self.bytes()??.to_vec()),
            },
        };
        self.0.is_empty().then_some(delivery)
    }
}

/// Records read, each with the offset just past it.
type Records = Vec<(i64, NewDelivery)>;

/// Reads the whole records of `segment` from `offset` on: at most
/// `max_rows`, and past `max_bytes` no further record. Stops at a record
/// cut off or damaged (see the module docs). Nothing when the segment
/// file is not there.
fn read_segment(
    dir: &Path,
    segment: i64,
    offset: i64,
    max_rows: usize,
    max_bytes: usize,
) -> std::io::Result<Records> {
    let file = match File::open(segment_path(dir, segment)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut at = u64::try_from(offset).unwrap_or(u64::MAX);
    let mut records = Vec::new();
    let mut bytes = 0_usize;
    let mut chunk = Vec::new();
    let mut chunk_at = at;
    while records.len() < max_rows && bytes < max_bytes && at + HEADER as u64 <= len {
        // Read ahead in chunks; a record longer than what is held is read
        // on its own.
        let held = |chunk: &Vec<u8>, chunk_at: u64, from: u64, n: u64| {
            from >= chunk_at && from + n <= chunk_at + chunk.len() as u64
        };
        if !held(&chunk, chunk_at, at, HEADER as u64) {
            let want = (len - at).min(READ_AHEAD as u64) as usize;
            chunk.resize(want, 0);
            file.read_exact_at(&mut chunk, at)?;
            chunk_at = at;
        }
        let h = (at - chunk_at) as usize;
        let magic = u32::from_le_bytes(chunk[h..h + 4].try_into().expect("4 bytes"));
        let length = u32::from_le_bytes(chunk[h + 4..h + 8].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(chunk[h + 8..h + 12].try_into().expect("4 bytes"));
        let written_in = i64::from_le_bytes(chunk[h + 12..h + 20].try_into().expect("8 bytes"));
        if (magic != MAGIC && magic != MAGIC_RAW)
            || written_in != segment
            || length > MAX_PAYLOAD
            || at + (HEADER + length) as u64 > len
        {
            break;
        }
        let payload_at = at + HEADER as u64;
        if !held(&chunk, chunk_at, payload_at, length as u64) {
            let want = ((len - at) as usize).min(READ_AHEAD).max(HEADER + length);
            chunk.resize(want, 0);
            file.read_exact_at(&mut chunk, at)?;
            chunk_at = at;
        }
        let p = (payload_at - chunk_at) as usize;
        let payload = &chunk[p..p + length];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(delivery) = Payload(payload).delivery(magic == MAGIC) else {
            break;
        };
        at = payload_at + length as u64;
        bytes = bytes.saturating_add(delivery.body.as_bytes().len());
        records.push((i64::try_from(at).unwrap_or(i64::MAX), delivery));
    }
    Ok(records)
}

/// A batch intake appended to the journal and synced: its deliveries and
/// where each record starts and ends, for the mover to copy from memory.
pub struct Landed {
    segment: i64,
    /// Where each delivery's record starts, and where the last one ends.
    starts: Vec<i64>,
    end: i64,
    deliveries: Vec<NewDelivery>,
}

impl Landed {
    pub(crate) fn new(
        segment: i64,
        starts: Vec<i64>,
        end: i64,
        deliveries: Vec<NewDelivery>,
    ) -> Self {
        Self {
            segment,
            starts,
            end,
            deliveries,
        }
    }

    /// Bytes of its bodies, as held in memory.
    pub(crate) fn bytes(&self) -> usize {
        self.deliveries
            .iter()
            .map(|d| d.body.as_bytes().len())
            .sum()
    }
}

/// The mark as two columns of another query, so that it is read in the
/// same snapshot as that query's rows (see [`waiting_after`]).
pub(crate) const MARK_COLUMNS: &str = "(SELECT segment FROM intake_journal WHERE id = 1), \
     (SELECT moved_through FROM intake_journal WHERE id = 1)";

/// The mark, from the database.
async fn mark(store: &Store) -> Result<Position, sqlx::Error> {
    let (segment, offset): (i64, i64) =
        sqlx::query_as("SELECT segment, moved_through FROM intake_journal WHERE id = 1")
            .fetch_one(store.writer())
            .await?;
    Ok(Position { segment, offset })
}

/// Copies `deliveries` (the records from `from` to `to`) into the inbox and
/// advances the mark from `from` to `to`, in one transaction. False, with
/// nothing copied, when the mark is no longer `from`: another mover went
/// first.
///
/// Within a segment the commit does not sync the database's log
/// ([`inbox::Unsynced`]): the records stay in the journal until the mark
/// leaves their segment, so a copy lost to a power cut takes the mark back
/// with it and is made again. The commit that moves the mark on to the
/// next segment is synced, and with it every copy before it (the log is
/// synced whole), before that segment's file is reused or deleted.
async fn copy(
    store: &Store,
    landing: &Landing,
    from: Position,
    to: Position,
    deliveries: &[NewDelivery],
) -> anyhow::Result<bool> {
    let mut conn = store.writer().acquire().await?;
    let advanced = if to.segment == from.segment {
        let mut unsynced = inbox::Unsynced::start(&mut conn).await?;
        let advanced = copy_on(unsynced.conn(), from, to, deliveries).await;
        unsynced.end().await?;
        advanced?
    } else {
        copy_on(&mut conn, from, to, deliveries).await?
    };
    drop(conn);
    if !advanced {
        landing.saw(mark(store).await?);
        return Ok(false);
    }
    landing.saw(to);
    Ok(true)
}

/// [`copy`]'s transaction, on `conn`; false, rolled back, when the mark is
/// no longer `from`.
async fn copy_on(
    conn: &mut sqlx::AnyConnection,
    from: Position,
    to: Position,
    deliveries: &[NewDelivery],
) -> anyhow::Result<bool> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    if !deliveries.is_empty() {
        inbox::insert_deliveries(&mut tx, Dialect::Sqlite, deliveries)
            .await
            .context("copying landed deliveries into the inbox")?;
    }
    let advanced = sqlx::query(
        "UPDATE intake_journal SET segment = $1, moved_through = $2 \
         WHERE id = 1 AND segment = $3 AND moved_through = $4",
    )
    .bind(to.segment)
    .bind(to.offset)
    .bind(from.segment)
    .bind(from.offset)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if advanced == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit()
        .await
        .context("committing landed deliveries into the inbox")?;
    Ok(true)
}

/// Copies the next records (at most [`MOVE_ROWS`], or [`MOVE_BYTES`] of
/// bodies) into the inbox, moving on past finished segments; answers how
/// many it copied, 0 when none waits (and always without a journal).
pub async fn move_batch(store: &Store) -> anyhow::Result<usize> {
    let Some(landing) = store.landing() else {
        return Ok(0);
    };
    loop {
        let from = landing.seen();
        let dir = landing.dir.clone();
        // Whether a later segment exists, looked at before this one is
        // read: then nothing was appended to this one after the read.
        let (later, read) = tokio::task::spawn_blocking(move || {
            let later = segments(&dir)?.into_iter().find(|&n| n > from.segment);
            let read: Records =
                read_segment(&dir, from.segment, from.offset, MOVE_ROWS, MOVE_BYTES)?
                    .into_iter()
                    .map(|(end, d)| (end, compressed(d)))
                    .collect();
            Ok::<_, std::io::Error>((later, read))
        })
        .await
        .context("reading the journal")?
        .context("reading the journal")?;
        if let Some((end, _)) = read.last() {
            let to = Position {
                segment: from.segment,
                offset: *end,
            };
            let deliveries: Vec<NewDelivery> = read.into_iter().map(|(_, d)| d).collect();
            if copy(store, landing, from, to, &deliveries).await? {
                return Ok(deliveries.len());
            }
            continue;
        }
        let Some(next) = later else {
            return Ok(0);
        };
        // This segment is finished (or gone): on to the next.
        let to = Position {
            segment: next,
            offset: 0,
        };
        if copy(store, landing, from, to, &[]).await? {
            let dir = landing.dir.clone();
            tokio::task::spawn_blocking(move || finish_before(&dir, next))
                .await
                .context("putting finished journal segments aside")?
                .context("putting finished journal segments aside")?;
        }
    }
}

/// Copies batches intake handed over in memory (in journal order) into the
/// inbox, [`MOVE_ROWS`] a transaction, without reading the journal;
/// records it was not handed (another process's, or dropped from memory)
/// are taken from the journal. Answers how many were copied.
pub(crate) async fn move_handed(store: &Store, batches: Vec<Landed>) -> anyhow::Result<usize> {
    let Some(landing) = store.landing() else {
        return Ok(0);
    };
    let mut moved = 0;
    let mut run: Vec<(Position, NewDelivery)> = Vec::new();
    let mut from = landing.seen();
    for batch in batches {
        let at = run.last().map_or(from, |(end, _)| *end);
        let end = Position {
            segment: batch.segment,
            offset: batch.end,
        };
        if end <= at {
            continue; // moved already
        }
        let Some(first) = (batch.segment == at.segment)
            .then(|| batch.starts.iter().position(|&s| s == at.offset))
            .flatten()
        else {
            // Records before this batch were not handed over: copy what
            // is held, then everything from the journal.
            moved += flush(store, landing, &mut from, &mut run).await?;
            moved += move_landed(store).await?;
            from = landing.seen();
            continue;
        };
        let ends = batch.starts[first + 1..]
            .iter()
            .copied()
            .chain(std::iter::once(batch.end));
        run.extend(
            ends.zip(batch.deliveries.into_iter().skip(first))
                .map(|(offset, d)| {
                    (
                        Position {
                            segment: batch.segment,
                            offset,
                        },
                        d,
                    )
                }),
        );
        if run.len() >= MOVE_ROWS {
            moved += flush(store, landing, &mut from, &mut run).await?;
        }
    }
    moved += flush(store, landing, &mut from, &mut run).await?;
    Ok(moved)
}

/// Copies `run` (records from `from` on) in transactions of [`MOVE_ROWS`];
/// when another mover went first, leaves the rest to the journal.
async fn flush(
    store: &Store,
    landing: &Landing,
    from: &mut Position,
    run: &mut Vec<(Position, NewDelivery)>,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    let mut held = std::mem::take(run).into_iter().peekable();
    while held.peek().is_some() {
        let part: Vec<_> = held.by_ref().take(MOVE_ROWS).collect();
        let to = part.last().expect("not empty").0;
        let deliveries: Vec<NewDelivery> = part.into_iter().map(|(_, d)| d).collect();
        // Compressed off the runtime, and only when a body needs it.
        let deliveries = if deliveries.iter().all(|d| d.body.is_compressed()) {
            deliveries
        } else {
            tokio::task::spawn_blocking(move || deliveries.into_iter().map(compressed).collect())
                .await
                .context("compressing landed deliveries")?
        };
        if !copy(store, landing, *from, to, &deliveries).await? {
            moved += move_landed(store).await?;
            *from = landing.seen();
            return Ok(moved);
        }
        *from = to;
        moved += deliveries.len();
    }
    Ok(moved)
}

/// `delivery` with its body compressed, as the inbox stores it (intake
/// lands bodies as they came: see [`MAGIC_RAW`]).
fn compressed(delivery: NewDelivery) -> NewDelivery {
    NewDelivery {
        body: delivery.body.into_compressed(),
        ..delivery
    }
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
    let from = mark(store).await?;
    waiting_after(store, from, shop_domain).await
}

/// As [`waiting`], past `from`: read the mark in the same snapshot as the
/// inbox's rows, and a delivery moved meanwhile is counted once, in one
/// place or the other.
pub async fn waiting_after(
    store: &Store,
    from: Position,
    shop_domain: Option<&str>,
) -> anyhow::Result<(i64, Option<i64>)> {
    let Some(landing) = store.landing() else {
        return Ok((0, None));
    };
    let dir = landing.dir.clone();
    let shop = shop_domain.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut count = 0_i64;
        let mut oldest: Option<i64> = None;
        for segment in segments(&dir)? {
            if segment < from.segment {
                continue;
            }
            let mut offset = if segment == from.segment {
                from.offset
            } else {
                0
            };
            loop {
                let read = read_segment(&dir, segment, offset, MOVE_ROWS, MOVE_BYTES)?;
                let Some((end, _)) = read.last() else {
                    break;
                };
                offset = *end;
                for (_, d) in &read {
                    if shop.as_deref().is_none_or(|s| s == d.shop_domain) {
                        count += 1;
                        oldest = Some(oldest.map_or(d.received_at, |o| o.min(d.received_at)));
                    }
                }
            }
        }
        Ok::<_, std::io::Error>((count, oldest))
    })
    .await
    .context("reading the journal")?
    .context("reading the journal")
}

/// Run once the database is migrated: remembers the mark, and moves into
/// the inbox what an earlier version left in its SQLite landing file,
/// then empties that file.
pub(crate) async fn recover(store: &Store) -> anyhow::Result<()> {
    let Some(landing) = store.landing() else {
        return Ok(());
    };
    landing.saw(
        mark(store)
            .await
            .context("reading how far landed deliveries were moved")?,
    );
    drain_legacy(store, landing)
        .await
        .context("moving deliveries from the earlier landing file into the inbox")
}

/// Moves the rows of an earlier version's landing file (a SQLite file with
/// a table `landed`, its mark `intake_landing.moved_through`) into the
/// inbox, deletes them and rebuilds the file, so nothing is left in it.
/// The file stays: a process of the earlier version may still be running
/// on it during a rolling restart, and moves what it lands itself.
async fn drain_legacy(store: &Store, landing: &Landing) -> anyhow::Result<()> {
    let file = legacy_path_of(&landing.main);
    if !Path::new(&file).exists() {
        return Ok(());
    }
    let url = format!(
        "sqlite://{}?mode=rw",
        file.replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23")
    );
    let legacy = super::sqlite_pool(1, "PRAGMA busy_timeout = 5000;")
        .connect(&url)
        .await?;
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'landed'",
    )
    .fetch_one(&legacy)
    .await?;
    if exists == 0 {
        legacy.close().await;
        return Ok(());
    }
    loop {
        let mark: i64 = sqlx::query_scalar("SELECT moved_through FROM intake_landing WHERE id = 1")
            .fetch_one(store.writer())
            .await?;
        let rows = sqlx::query(
            "SELECT id, shop_domain, delivery_key, webhook_id, event_id, topic, api_version, \
             triggered_at, body, received_at, request_id FROM landed \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(mark)
        .bind(MOVE_ROWS as i64)
        .fetch_all(&legacy)
        .await?;
        let Some(last) = rows.last().map(|r| r.try_get::<i64, _>("id")).transpose()? else {
            break;
        };
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in rows {
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
        let mut tx = store.begin().await?;
        inbox::insert_deliveries(&mut tx, Dialect::Sqlite, &deliveries).await?;
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
        } else {
            tx.commit().await?;
        }
    }
    let mark: i64 = sqlx::query_scalar("SELECT moved_through FROM intake_landing WHERE id = 1")
        .fetch_one(store.writer())
        .await?;
    sqlx::query("DELETE FROM landed WHERE id <= $1")
        .bind(mark)
        .execute(&legacy)
        .await?;
    sqlx::query("VACUUM").execute(&legacy).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&legacy)
        .await?;
    legacy.close().await;
    Ok(())
}

/// After an erasure: starts a new segment, moves every record before it
/// into the inbox (whose rows were just scrubbed) and deletes the finished
/// segments, so no copy of an erased delivery is left in the journal; an
/// earlier version's landing file is emptied too.
pub(crate) async fn erase(store: &Store) -> anyhow::Result<()> {
    let Some(landing) = store.landing() else {
        return Ok(());
    };
    let dir = landing.dir.clone();
    if dir.exists() {
        tokio::task::spawn_blocking(move || start_scrubbed(&dir))
            .await
            .context("starting a journal segment")?
            .context("starting a journal segment")?;
        move_landed(store).await?;
        let dir = landing.dir.clone();
        let through = landing.seen().segment;
        tokio::task::spawn_blocking(move || delete_before(&dir, through))
            .await
            .context("deleting finished journal segments")?
            .context("deleting finished journal segments")?;
    }
    drain_legacy(store, landing).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::{
        encode, move_landed, path_of, read_segment, segments, Appender, Payload, HEADER, MAGIC,
        MAGIC_RAW,
    };
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

    fn journal(dir: &tempfile::TempDir) -> std::path::PathBuf {
        path_of(&dir.path().join("advocate.db").to_string_lossy()).into()
    }

    fn delivery(key: &str) -> NewDelivery {
        let body = format!("{{\"id\":\"{key}\"}}");
        NewDelivery {
            request_id: Some(format!("req-{key}")),
            ..NewDelivery::for_test("landing-test.myshopify.com", key, body.as_bytes())
        }
    }

    /// The inbox's delivery keys, in the order they reached it.
    async fn inbox_keys(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT delivery_key FROM webhook_inbox ORDER BY id")
            .fetch_all(store.writer())
            .await
            .unwrap()
    }

    async fn scalar(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(store.writer())
            .await
            .unwrap()
    }

    /// A record reads back as it was written, and a record cut off or
    /// changed anywhere is not read at all.
    #[test]
    fn a_record_reads_back_whole_or_not_at_all() {
        let d = delivery("k-1");
        let mut out = Vec::new();
        let length = encode(&mut out, &d);
        assert_eq!(length, out.len());
        let back = Payload(&out[HEADER..]).delivery(true).expect("reads back");
        assert_eq!(
            (
                &back.shop_domain,
                &back.delivery_key,
                &back.webhook_id,
                &back.event_id,
                &back.topic,
                &back.api_version,
                &back.triggered_at,
                back.body.as_bytes(),
                back.received_at,
                &back.request_id
            ),
            (
                &d.shop_domain,
                &d.delivery_key,
                &d.webhook_id,
                &d.event_id,
                &d.topic,
                &d.api_version,
                &d.triggered_at,
                d.body.as_bytes(),
                d.received_at,
                &d.request_id
            )
        );

        let dir = tempfile::tempdir().unwrap();
        let seg = |bytes: &[u8]| {
            std::fs::write(dir.path().join("7.seg"), bytes).unwrap();
            read_segment(dir.path(), 7, 0, 100, 1 << 20).unwrap().len()
        };
        // Written in segment 7, as the writer sets it.
        let stamp = |bytes: &mut [u8], start: usize, segment: i64| {
            bytes[start + 12..start + HEADER].copy_from_slice(&segment.to_le_bytes());
        };
        let mut two = out.clone();
        encode(&mut two, &delivery("k-2"));
        stamp(&mut two, 0, 7);
        stamp(&mut two, out.len(), 7);
        assert_eq!(seg(&two), 2);
        // The second written in another segment (an older record of a
        // reused file): the first alone.
        let mut older = two.clone();
        stamp(&mut older, out.len(), 6);
        assert_eq!(seg(&older), 1);
        // Cut off anywhere in the second record: the first alone.
        for cut in [out.len() + 1, out.len() + HEADER, two.len() - 1] {
            assert_eq!(seg(&two[..cut]), 1, "cut at {cut}");
        }
        // A byte changed in the second record's payload or header.
        for at in [
            out.len() + 2,
            out.len() + 5,
            out.len() + 9,
            out.len() + HEADER + 3,
            two.len() - 1,
        ] {
            let mut bad = two.clone();
            bad[at] ^= 0x40;
            assert_eq!(seg(&bad), 1, "changed at {at}");
        }
    }

    /// Intake lands; the mover, and two other processes' movers racing it,
    /// put each delivery in the inbox once, in journal order, redeliveries
    /// deduped; finished segments are deleted.
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
        assert_eq!(super::waiting(&store, None).await.unwrap(), (0, None));
        // Copies within a segment commit without syncing the log; every
        // mover's writer syncs each commit again once it is done.
        for store in std::iter::once(&store).chain(&others) {
            assert_eq!(scalar(store, "PRAGMA synchronous").await, 2);
        }
    }

    /// A body landed as it came (as intake lands them) is in a record that
    /// says so, and the inbox gets it compressed, whether the mover copies
    /// it from memory or reads it back from the journal; a record with its
    /// body compressed, as an earlier version wrote them, reads back as it
    /// was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_landed_as_it_came_is_stored_compressed() {
        let raw = br#"{"id":1,"note":"landed as it came"}"#.repeat(40);
        let as_it_came = |key: &str| NewDelivery {
            body: StoredBody::uncompressed(raw.clone()),
            ..delivery(key)
        };
        let mut record = Vec::new();
        encode(&mut record, &as_it_came("raw-0"));
        assert_eq!(record[..4], MAGIC_RAW.to_le_bytes());
        let back = Payload(&record[HEADER..]).delivery(false).unwrap();
        assert!(!back.body.is_compressed());
        assert_eq!(back.body.as_bytes(), raw.as_slice());
        let mut earlier = Vec::new();
        encode(&mut earlier, &delivery("old-0"));
        assert_eq!(earlier[..4], MAGIC.to_le_bytes());
        let back = Payload(&earlier[HEADER..]).delivery(true).unwrap();
        assert!(back.body.is_compressed());

        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        // Handed to the mover in memory.
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 16, Arc::new(Notify::new()));
        writer.submit(as_it_came("raw-1")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        // Read back from the journal, beside an earlier version's record.
        let mut appender = Appender::open(store.landing().unwrap()).unwrap();
        let mut records = Vec::new();
        encode(&mut records, &as_it_came("raw-2"));
        let second = records.len();
        encode(&mut records, &delivery("old-2"));
        let (segment, _) = appender.append(&mut records, &[0, second]).unwrap();
        segment.sync().unwrap();
        assert_eq!(move_landed(&store).await.unwrap(), 2);

        // Each body is kept apart (webhook_bodies), the row's own empty.
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT i.delivery_key, b.body FROM webhook_inbox i \
             JOIN webhook_bodies b ON b.id = i.id WHERE LENGTH(i.body) = 0 ORDER BY i.id",
        )
        .fetch_all(store.writer())
        .await
        .unwrap();
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["raw-1", "raw-2", "old-2"]);
        for (key, stored) in &rows[..2] {
            assert!(stored.len() < raw.len(), "{key} is stored compressed");
            assert_eq!(StoredBody::decompress(stored).unwrap(), raw, "{key}");
        }
        assert_eq!(
            StoredBody::decompress(&rows[2].1).unwrap(),
            br#"{"id":"old-2"}"#
        );
    }

    /// Two processes appending at once, and a third starting a segment
    /// meanwhile: every record lands whole, each in the inbox once, and
    /// the finished segments are deleted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_appending_at_once_interleave_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let stores = [open(&dir).await, open(&dir).await];
        let writers: Vec<_> = stores
            .iter()
            .map(|s| IntakeWriter::spawn(s.clone(), 16, Arc::new(Notify::new())))
            .collect();
        let sent = futures_util::future::join_all((0..600).map(|i| {
            let writer = writers[i % 2].0.clone();
            let journal = journal(&dir);
            async move {
                if i == 300 {
                    tokio::task::spawn_blocking(move || super::start_scrubbed(&journal))
                        .await
                        .unwrap()
                        .unwrap();
                }
                writer.submit(delivery(&format!("p-{i}"))).await
            }
        }))
        .await;
        assert!(sent.iter().all(Result::is_ok));
        for (writer, handle) in writers {
            drop(writer);
            handle.shutdown().await;
        }
        move_landed(&stores[0]).await.unwrap();
        assert_eq!(
            scalar(
                &stores[0],
                "SELECT COUNT(DISTINCT delivery_key) FROM webhook_inbox"
            )
            .await,
            600
        );
        // Only the newest segment is left: the others are finished.
        let left = segments(&journal(&dir)).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    /// A crash of the machine during a write leaves a record cut off at the
    /// end of a segment: the records before it are moved, the cut one is
    /// not (it was never answered), and the deliveries of the process that
    /// starts next, in a segment of its own, are moved too.
    #[tokio::test]
    async fn a_record_cut_off_by_a_crash_ends_its_segment_and_loses_nothing_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        store.close().await;
        drop(store);
        let mut records = Vec::new();
        let mut starts = Vec::new();
        for key in ["a", "b", "cut"] {
            starts.push(records.len());
            encode(&mut records, &delivery(key));
        }
        for &start in &starts {
            records[start + 12..start + HEADER].copy_from_slice(&1_i64.to_le_bytes());
        }
        let cut = starts[2] + (records.len() - starts[2]) / 2;
        std::fs::create_dir_all(journal(&dir)).unwrap();
        std::fs::write(journal(&dir).join("1.seg"), &records[..cut]).unwrap();

        let store = open(&dir).await;
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        writer.submit(delivery("after")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        move_landed(&store).await.unwrap();
        let keys = inbox_keys(&store).await;
        assert_eq!(keys, ["a", "b", "after"]);
        assert_eq!(super::waiting(&store, None).await.unwrap(), (0, None));
        assert!(
            !journal(&dir).join("1.seg").exists(),
            "the finished segment is put aside"
        );
    }

    /// A journal that is lost (or replaced by an empty one) cannot hide
    /// new deliveries behind the mark: the next process starts after it.
    #[tokio::test]
    async fn a_lost_journal_hides_no_new_delivery_behind_the_mark() {
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
        std::fs::remove_dir_all(journal(&dir)).unwrap();

        let store = open(&dir).await;
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 64, Arc::new(Notify::new()));
        writer.submit(delivery("after")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        assert_eq!(
            scalar(&store, "SELECT COUNT(*) FROM webhook_inbox").await,
            6
        );
    }

    /// What an earlier version left in its SQLite landing file reaches the
    /// inbox when the database is opened, and the file is emptied.
    #[tokio::test]
    async fn an_earlier_landing_file_is_moved_into_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        store.close().await;
        drop(store);
        let main = dir.path().join("advocate.db");
        let legacy = super::legacy_path_of(&main.to_string_lossy());
        let pool = crate::store::sqlite_pool(1, "")
            .connect(&format!("sqlite://{legacy}?mode=rwc"))
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE landed (id INTEGER PRIMARY KEY AUTOINCREMENT, shop_domain TEXT NOT NULL, \
             delivery_key TEXT NOT NULL, webhook_id TEXT, event_id TEXT, topic TEXT NOT NULL, \
             api_version TEXT, triggered_at TEXT, body BLOB NOT NULL, received_at BIGINT NOT NULL, \
             status TEXT NOT NULL, available_at BIGINT NOT NULL, request_id TEXT)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for i in 0..3 {
            let d = delivery(&format!("old-{i}"));
            sqlx::query(
                "INSERT INTO landed (shop_domain, delivery_key, webhook_id, topic, body, \
                 received_at, status, available_at) VALUES ($1, $2, $3, $4, $5, 1, 'queued', 1)",
            )
            .bind(d.shop_domain)
            .bind(d.delivery_key)
            .bind(d.webhook_id)
            .bind(d.topic)
            .bind(d.body.as_bytes().to_vec())
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
        // The first row was moved before the upgrade.
        let store = Store::connect(&url(&dir), 2).await.unwrap();
        sqlx::query("UPDATE intake_landing SET moved_through = 1")
            .execute(store.writer())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let keys = inbox_keys(&store).await;
        assert_eq!(keys, ["old-1", "old-2"]);
        let bytes = std::fs::read(&legacy).unwrap();
        assert!(
            !bytes.windows(5).any(|w| w == b"old-2"),
            "the earlier landing file still holds a moved delivery"
        );
    }
}
