//! Starting the measured servers (Advocate and the baselines, each in its
//! own process) and the databases they run on.

use std::{net::SocketAddr, path::PathBuf, process::Stdio, time::Duration, time::Instant};

use anyhow::{bail, Context};
use tokio::{
    net::TcpStream,
    process::{Child, Command},
};

use crate::{cli::Backend, SECRET};

/// A measured server in its own process; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let ticks = 100.0; // USER_HZ on Linux
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                let fields: Vec<&str> = after.split_whitespace().collect();
                let user: f64 = fields.get(11)?.parse().ok()?;
                let system: f64 = fields.get(12)?.parse().ok()?;
                Some((user + system) / ticks)
            })
            .unwrap_or(0.0)
    }

    /// The most memory the server has held, MB.
    pub fn peak_rss_mb(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Server {
    /// Stops the server as an operator would (SIGTERM) and waits until it
    /// has exited; killed if it takes longer than 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let signalled = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?
                .success();
            if signalled
                && tokio::time::timeout(Duration::from_secs(30), self.child.wait())
                    .await
                    .is_ok()
            {
                return Ok(());
            }
        }
        self.child.kill().await?;
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_until_up(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("server exited during start-up: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not start listening on {addr}")
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it with `cargo build --release --bins`",
            path.display()
        );
    }
    Ok(path)
}

/// Starts a baseline server (this program as `baseline-server`), with a
/// journal file when `journal` is given.
pub async fn start_baseline(
    workers: usize,
    journal: Option<&std::path::Path>,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "baseline-server",
        "--port",
        &port.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    if let Some(journal) = journal {
        command.arg("--journal").arg(journal);
    }
    let mut child = command.stdout(Stdio::null()).kill_on_drop(true).spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_up(addr, &mut child).await?;
    Ok(Server { child, addr })
}

/// Starts the official Node stack (`server.mjs` in `dir`, see
/// `bench/node-stack`) with its SQLite file at `database`.
pub async fn start_node_stack(
    dir: &std::path::Path,
    database: &std::path::Path,
) -> anyhow::Result<Server> {
    let script = dir.join("server.mjs");
    if !dir.join("node_modules").exists() || !script.exists() {
        bail!(
            "{} holds no installed Node stack: run `npm install` there",
            dir.display()
        );
    }
    let port = free_port()?;
    let mut child = Command::new("node")
        .arg(script)
        .args([
            "--port",
            &port.to_string(),
            "--secret",
            SECRET,
            "--database",
        ])
        .arg(database)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting node")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_up(addr, &mut child).await?;
    Ok(Server { child, addr })
}

/// Starts the `advocate` binary beside this one on `database_url`.
pub async fn start_advocate(
    database_url: &str,
    workers: usize,
    inbox_workers: Option<usize>,
) -> anyhow::Result<Server> {
    start_advocate_with(database_url, workers, inbox_workers, &[]).await
}

/// As [`start_advocate`], with more environment variables.
pub async fn start_advocate_with(
    database_url: &str,
    workers: usize,
    inbox_workers: Option<usize>,
    env: &[(&str, String)],
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut child = Command::new(sibling("advocate")?)
        .env_clear()
        .env("SHOPIFY_API_KEY", "bench-client-id")
        .env("SHOPIFY_API_SECRET", SECRET)
        .env("SHOPIFY_APP_URL", "https://advocate.bench")
        .env(
            "ADVOCATE_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("ADVOCATE_HTTP_WORKERS", workers.to_string())
        .envs(inbox_workers.map(|n| ("ADVOCATE_INBOX_WORKERS", n.to_string())))
        .env("ADVOCATE_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_up(addr, &mut child).await?;
    Ok(Server { child, addr })
}

/// Drops the PostgreSQL database [`fresh_database`] made (nothing for a
/// SQLite file: its directory goes with the run).
pub async fn drop_database(made: Option<(sqlx::AnyPool, String)>) -> anyhow::Result<()> {
    if let Some((admin, name)) = made {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}

/// A fresh database for a run: a SQLite file in `dir`, or a new database on
/// the PostgreSQL server (returned for dropping afterwards).
pub async fn fresh_database(
    backend: Backend,
    postgres_url: &str,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(String, Option<(sqlx::AnyPool, String)>)> {
    let database = Database::fresh(backend, postgres_url, dir, "bench").await?;
    Ok((database.url, database.postgres))
}

/// A database of the run: a SQLite file, or a database on the PostgreSQL
/// server that [`Database::remove`] drops.
pub struct Database {
    pub url: String,
    /// PostgreSQL: the server's admin pool and the database's name.
    postgres: Option<(sqlx::AnyPool, String)>,
}

impl Database {
    /// A new, empty database: `{name}.db` in `dir`, or a new database with
    /// a random name on the PostgreSQL server.
    pub async fn fresh(
        backend: Backend,
        postgres_url: &str,
        dir: &tempfile::TempDir,
        name: &str,
    ) -> anyhow::Result<Self> {
        Ok(match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}/{name}.db", dir.path().display()),
                postgres: None,
            },
            Backend::Postgres => {
                let name = format!("advocate_bench_{:08x}", rand::random::<u32>());
                let admin = sqlx_admin(postgres_url).await?;
                // Each measurement starts with no dirty pages of an earlier
                // one left for the server to write out during it (where the
                // role may not checkpoint, the run goes on without).
                if let Err(e) = sqlx::query("CHECKPOINT").execute(&admin).await {
                    println!("postgres: no CHECKPOINT before {name} ({e})");
                }
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await?;
                Self {
                    url: postgres_database_url(postgres_url, &name)?,
                    postgres: Some((admin, name)),
                }
            }
        })
    }

    /// A copy of this database as it is now, under `name` (SQLite: the
    /// file and its write-ahead log; PostgreSQL: a database made from this
    /// one as template). Nothing may be connected to it meanwhile.
    pub async fn copy(&self, dir: &tempfile::TempDir, name: &str) -> anyhow::Result<Self> {
        match &self.postgres {
            None => {
                let from = self
                    .url
                    .strip_prefix("sqlite://")
                    .context("not a SQLite URL")?;
                let to = dir.path().join(format!("{name}.db"));
                std::fs::copy(from, &to)?;
                let wal = format!("{from}-wal");
                if std::path::Path::new(&wal).exists() {
                    std::fs::copy(&wal, format!("{}-wal", to.display()))?;
                }
                Ok(Self {
                    url: format!("sqlite://{}", to.display()),
                    postgres: None,
                })
            }
            Some((admin, template)) => {
                let name = format!("advocate_bench_{:08x}", rand::random::<u32>());
                // Sessions of the stopped server may still be closing.
                let mut tries = 0;
                loop {
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity                          WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(template)
                    .execute(admin)
                    .await?;
                    let created = sqlx::query(&format!(
                        "CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"
                    ))
                    .execute(admin)
                    .await;
                    match created {
                        Ok(_) => break,
                        Err(_) if tries < 20 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(Self {
                    url: postgres_database_url(&self.url, &name)?,
                    postgres: Some((admin.clone(), name)),
                })
            }
        }
    }

    /// Drops a PostgreSQL database (a SQLite file goes with its directory).
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.postgres {
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await?;
        }
        Ok(())
    }
}

/// `postgres_url` with its database replaced by `name`.
fn postgres_database_url(postgres_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, _) = postgres_url
        .rsplit_once('/')
        .context("postgres URL has no database")?;
    Ok(format!("{base}/{name}"))
}

/// A one-connection pool for creating and dropping databases.
pub async fn sqlx_admin(url: &str) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?)
}
