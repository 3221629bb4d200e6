//! The baselines Advocate is measured against, run as `advocate-bench
//! baseline-server` in their own process: the ceiling (verify the HMAC,
//! answer 200) and, with a journal, the floor for any durable receiver.

use std::path::PathBuf;

use advocate::shopify::hmac::Signer;
use anyhow::Context;

use crate::SECRET;

/// Only what every webhook receiver must do: read the body, check its HMAC.
/// With a journal, also what every durable one must do: append the body to
/// a file and answer once it is synced. One thread owns the file; it takes
/// every body waiting, writes them with one call and syncs once for all of
/// them (group commit), so the sync's cost is shared as Advocate's is. No
/// index, no deduplication, no database: a floor for any design that
/// answers 200 only after the delivery is on disk.
pub fn serve(port: u16, workers: usize, journal: Option<PathBuf>) -> anyhow::Result<()> {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let signer = web::Data::new(Signer::new(&SECRET.to_owned().into(), None));
    let journal = match journal {
        Some(path) => Some(web::Data::new(Journal::open(&path)?)),
        None => None,
    };
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .app_data(signer.clone())
                .app_data(web::PayloadConfig::new(5 * 1024 * 1024));
            let app = match &journal {
                Some(journal) => app.app_data(journal.clone()),
                None => app,
            };
            app.route(
                "/webhooks",
                web::post().to(
                    |req: HttpRequest,
                     body: web::Bytes,
                     signer: web::Data<Signer>,
                     journal: Option<web::Data<Journal>>| async move {
                        let ok = req
                            .headers()
                            .get("x-shopify-hmac-sha256")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|sig| signer.verify_webhook(&body, sig));
                        if !ok {
                            return HttpResponse::Unauthorized().finish();
                        }
                        match journal {
                            Some(journal) if !journal.append(body).await => {
                                HttpResponse::ServiceUnavailable().finish()
                            }
                            _ => HttpResponse::Ok().finish(),
                        }
                    },
                ),
            )
        })
        .backlog(4096);
        if workers > 0 {
            server = server.workers(workers);
        }
        server.bind(("127.0.0.1", port))?.run().await
    })?;
    Ok(())
}

/// The durable baseline's append-only file and the thread that writes it.
struct Journal {
    bodies: std::sync::mpsc::Sender<JournalEntry>,
}

/// A verified body and where to say whether it is on disk.
type JournalEntry = (actix_web::web::Bytes, tokio::sync::oneshot::Sender<bool>);

impl Journal {
    fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let (bodies, waiting) = std::sync::mpsc::channel::<JournalEntry>();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                let mut buffer = Vec::new();
                let mut answers = Vec::new();
                while let Ok(first) = waiting.recv() {
                    buffer.clear();
                    for (body, answer) in std::iter::once(first).chain(waiting.try_iter()) {
                        buffer.extend_from_slice(&(body.len() as u32).to_le_bytes());
                        buffer.extend_from_slice(&body);
                        answers.push(answer);
                    }
                    let stored = file
                        .write_all(&buffer)
                        .and_then(|()| file.sync_data())
                        .is_ok();
                    for answer in answers.drain(..) {
                        let _ = answer.send(stored);
                    }
                }
            })?;
        Ok(Self { bodies })
    }

    /// True once the body is synced; false if it could not be written.
    async fn append(&self, body: actix_web::web::Bytes) -> bool {
        let (answer, stored) = tokio::sync::oneshot::channel();
        self.bodies.send((body, answer)).is_ok() && stored.await.unwrap_or(false)
    }
}
