//! `advocate backup`: a consistent copy of a running SQLite database, taken
//! under write load, holds every delivery acknowledged before it started.
//! On PostgreSQL the command refuses and names pg_dump.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::{
    helpers::{Backend, TestDb},
    processes::{advocate_command, connect, scalar, send_customer, Advocate},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_restores_every_acknowledged_delivery() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut advocate = Advocate::start(&db.url).await;
    let http = reqwest::Client::new();
    let total = 3000;
    let backup_after = 1000;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let halfway = Arc::new(Notify::new());
    let target = db.sqlite_path().unwrap().with_file_name("backup.db");

    let load = futures_util::stream::iter(0..total)
        .map(|i| {
            let (http, address) = (http.clone(), advocate.address.clone());
            let (acked, halfway) = (acked.clone(), halfway.clone());
            async move {
                if let Ok(200) = send_customer(&http, &address, i).await {
                    let mut acked = acked.lock().unwrap();
                    acked.push(i);
                    if acked.len() == backup_after {
                        halfway.notify_one();
                    }
                }
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>();
    let backup = async {
        halfway.notified().await;
        // Everything acknowledged before the backup starts must be in it.
        let before: Vec<usize> = acked.lock().unwrap().clone();
        let output = advocate_command(&db.url)
            .arg("backup")
            .arg(&target)
            .env("ADVOCATE_LOG", "warn")
            .output()
            .await
            .expect("run advocate backup");
        assert!(
            output.status.success(),
            "backup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("integrity ok"));
        before
    };
    let (_, before) = tokio::join!(load, backup);
    let acked_total = acked.lock().unwrap().len();
    assert!(
        acked_total > before.len(),
        "writes went on during the backup ({} before, {acked_total} in all)",
        before.len()
    );
    advocate.stop().await;

    // The restore drill: the copy is a database Advocate opens as it is.
    let restored = connect(&format!("sqlite://{}", target.display())).await;
    restored
        .migrate()
        .await
        .expect("the copy is a current Advocate database");
    for i in &before {
        let found: Option<String> =
            sqlx::query_scalar("SELECT status FROM webhook_inbox WHERE delivery_key = $1")
                .bind(format!("crash-{i}"))
                .fetch_optional(restored.reader())
                .await
                .unwrap();
        assert!(
            found.is_some(),
            "acknowledged delivery crash-{i} is in the backup"
        );
    }
    let rows = scalar(
        &restored,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox",
    )
    .await;
    assert!(rows >= before.len() as i64);
    assert!(rows <= total as i64);
    let again = advocate_command(&db.url)
        .arg("backup")
        .arg(&target)
        .output()
        .await
        .unwrap();
    assert!(!again.status.success(), "a backup never overwrites");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_refuses_and_names_pg_dump() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let output = advocate_command(&db.url)
        .arg("backup")
        .arg(dir.path().join("copy.db"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump -Fc"));
    assert!(!dir.path().join("copy.db").exists());
}
