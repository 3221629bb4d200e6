//! Online backups of a SQLite database. `VACUUM INTO` copies the database
//! as one read transaction sees it, so the copy is consistent while
//! Advocate keeps writing (WAL readers do not block the writer, and the
//! writer does not block them). Webhook intake's journal
//! ([`super::landing`]) is moved into the inbox first and is not copied: a
//! restored copy starts with an empty one. PostgreSQL has its own tool
//! (`pg_dump`).

use std::path::Path;

use anyhow::Context;

use super::{Dialect, Store};

/// What a backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    /// Webhook deliveries in the copy.
    pub inbox_rows: i64,
}

/// Writes a consistent copy of the SQLite database to `target`, which must
/// not exist. The copy is written beside it under a temporary name, checked
/// (`PRAGMA integrity_check`), flushed to disk and only then renamed, so
/// `target` is either a whole, sound backup or absent.
pub async fn sqlite_backup(store: &Store, target: &Path) -> anyhow::Result<BackupReport> {
    anyhow::ensure!(
        store.dialect() == Dialect::Sqlite,
        "backup copies SQLite databases; use pg_dump for PostgreSQL"
    );
    anyhow::ensure!(
        !target.exists(),
        "{} already exists; a backup never overwrites",
        target.display()
    );
    let file_name = target
        .file_name()
        .context("the backup path must name a file")?
        .to_string_lossy();
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let partial = dir.join(format!(".{file_name}.partial"));
    let _ = std::fs::remove_file(&partial);
    let partial_str = partial
        .to_str()
        .context("the backup path must be valid UTF-8")?;

    // Deliveries intake has landed but not yet moved into the inbox are
    // part of what was acknowledged: move them first, so the copy holds
    // every delivery answered before the backup began.
    super::landing::move_landed(store)
        .await
        .context("moving landed deliveries into the inbox")?;
    sqlx::query("VACUUM INTO $1")
        .bind(partial_str)
        .execute(store.writer())
        .await
        .context("copying the database (VACUUM INTO)")?;

    let checked = check_copy(partial_str).await;
    let report = match checked {
        Ok(inbox_rows) => inbox_rows,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let file = std::fs::File::open(&partial).context("opening the copy")?;
    file.sync_all().context("flushing the copy to disk")?;
    let bytes = file.metadata()?.len();
    std::fs::rename(&partial, target).context("moving the copy into place")?;
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(BackupReport {
        bytes,
        inbox_rows: report,
    })
}

/// Opens the copy read-only, checks its integrity, counts its inbox rows.
async fn check_copy(path: &str) -> anyhow::Result<i64> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .context("opening the copy")?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .context("checking the copy")?;
    anyhow::ensure!(integrity == "ok", "the copy is damaged: {integrity}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox")
        .fetch_one(&mut conn)
        .await
        .context("reading the copy")?;
    conn.close().await?;
    Ok(rows)
}
