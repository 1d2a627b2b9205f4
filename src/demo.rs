//! `loggerator demo`: emulated sources, ingestion and the API in one process, for a first look
//! on a machine without the loggerator image.

use std::io;
use std::path::PathBuf;

use tokio::net::TcpListener;

use crate::cli::DemoArgs;
use crate::emulator;
use crate::service::{run_until_signal, Failed, Service, ShutdownSignals, StartError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start an emulated source: {0}")]
    Emulator(#[from] io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Failed(#[from] Failed),
}

/// Runs until a signal; fails as `serve` does when received lines could not be stored.
pub async fn run(args: DemoArgs, signals: ShutdownSignals) -> Result<(), DemoError> {
    // Fixed ports by default: sources are known by their address, so the same addresses on a
    // second run against the same `--db` let the service recognise their streams and store
    // nothing twice. `--first-port 0` takes any free ports instead.
    let mut sources = Vec::new();
    for seed in 1..=args.source_count.max(1) {
        let port = match args.first_port {
            0 => 0,
            first => first.saturating_add((seed - 1) as u16),
        };
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        sources.push(listener.local_addr()?.to_string());
        actix_rt::spawn(emulator::serve(listener, args.count, seed));
    }
    // Kept alive until the end of the demo: dropping it removes the folder.
    let (db, _folder): (PathBuf, Option<tempfile::TempDir>) = match args.db {
        Some(db) => (db, None),
        None => {
            let folder = tempfile::tempdir()?;
            (folder.path().join("loggerator-demo.db"), Some(folder))
        }
    };
    let config = args
        .tuning
        .service_config(sources.clone(), db.clone(), args.listen);
    let service = Service::start(config).await?;
    let base = format!("http://{}", service.http_addr);
    println!(
        "loggerator demo: {} emulated sources ({}) of {} lines each, stored in {}\n\
         \n\
         Open {base}/ in a browser to search, filter and follow the lines,\n\
         and {base}/docs/ for the API's documentation (OpenAPI).\n\
         \n\
         Or try with curl:\n  \
           curl '{base}/sources'\n  \
           curl '{base}/logs?limit=3'\n  \
           curl '{base}/logs?code=500&method=post&limit=3'\n  \
           curl '{base}/logs?user=tgraham&format=lines&limit=5'\n  \
           curl '{base}/logs/count?code=403'\n  \
           curl -i '{base}/logs?since=2000-07-04&until=2000-07-05&limit=2'   # see the Link header\n\
         \n\
         Press Ctrl-C to stop.",
        sources.len(),
        sources.join(", "),
        args.count,
        db.display(),
    );
    Ok(run_until_signal(service, signals).await?)
}
