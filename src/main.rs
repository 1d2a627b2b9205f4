use std::process::ExitCode;

use clap::Parser;
use log::error;
use tokio::net::TcpListener;

use loggerator::cli::{Cli, Command, ImportArgs, TokenCommand, TokenNewArgs};
use loggerator::db::backup;
use loggerator::import::{import_files, Destination};
use loggerator::ingest::push::PushConfig;
use loggerator::limits::{
    DEFAULT_BATCH_BYTES, DEFAULT_BATCH_LINES, DEFAULT_MAX_LINE_BYTES, DEFAULT_SEGMENT_ROWS,
};
use loggerator::service::{run_until_signal, Service, ShutdownSignals};
use loggerator::tokens::{self, Scope};
use loggerator::{demo, emulator, healthcheck};

/// Prints a fresh token once, and the line that grants it its scopes.
fn new_token(args: &TokenNewArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut scopes = Vec::new();
    for name in &args.scopes {
        let scope = Scope::parse(name).ok_or_else(|| {
            format!("unknown scope {name:?}; scopes are read, ingest, metrics and admin")
        })?;
        scopes.push(scope);
    }
    if args.name.is_empty() || args.name.contains(char::is_whitespace) || args.name.contains('#') {
        return Err(format!(
            "a token's name is one word without '#', not {:?}",
            args.name
        )
        .into());
    }
    let (token, line) = tokens::new_token(&args.name, &scopes);
    println!("token (shown this once; the service keeps only its SHA-256):");
    println!("{token}");
    println!("line to add to the tokens file:");
    println!("{line}");
    Ok(())
}

/// `loggerator import`: each file into the service at --api, or into --db.
async fn import(args: ImportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut destination = match &args.api {
        Some(url) => Destination::api(url, args.token.clone(), args.ca_cert.as_deref())?,
        None => Destination::db(
            &args.db,
            DEFAULT_SEGMENT_ROWS,
            PushConfig {
                batch_lines: DEFAULT_BATCH_LINES,
                batch_bytes: DEFAULT_BATCH_BYTES,
                max_line_bytes: DEFAULT_MAX_LINE_BYTES,
                max_body_bytes: u64::MAX,
            },
        )?,
    };
    let result = import_files(
        &args.files,
        &args.source,
        &mut destination,
        DEFAULT_MAX_LINE_BYTES,
    )
    .await;
    // What was stored before a failure is kept, and checkpointed either way.
    destination.finish().await?;
    result?;
    Ok(())
}

fn main() -> ExitCode {
    loggerator::allocator::tune();
    let cli = Cli::parse();
    loggerator::cli::init_log(cli.log_format);
    let system = actix_rt::System::new();
    let result: Result<(), Box<dyn std::error::Error>> = system.block_on(async move {
        let mut signals = ShutdownSignals::new()?;
        match cli.command {
            Command::Serve(mut args) => {
                // `--source ''` serves a database without ingesting into it.
                args.sources.retain(|s| !s.trim().is_empty());
                let config = args
                    .tuning
                    .service_config(args.sources, args.db, args.listen);
                let service = Service::start(config).await?;
                // Losing received lines is a failure the exit code must show.
                run_until_signal(service, signals).await?;
            }
            Command::Emulate(args) => {
                let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
                tokio::select! {
                    result = emulator::serve_sequence(listener, emulator::Sequence {
                        count: args.count,
                        seed: args.seed,
                        rare_user_every: args.rare_user_every,
                    }) => result?,
                    _ = signals.recv() => {}
                }
            }
            Command::Demo(args) => demo::run(args, signals).await?,
            Command::Token(TokenCommand::New(args)) => new_token(&args)?,
            Command::Backup(args) => {
                let bytes = backup::backup(&args.db, &args.out)?;
                log::info!(
                    "{} copied to {} ({bytes} bytes)",
                    args.db.display(),
                    args.out.display()
                );
            }
            Command::Import(args) => import(args).await?,
            Command::Healthcheck(args) => {
                let timeout = std::time::Duration::from_millis(args.timeout_ms);
                match healthcheck::status_of(&args.url, timeout).await {
                    Ok(200) => {}
                    Ok(status) => return Err(format!("{}: {status}", args.url).into()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
