use std::process::ExitCode;

use clap::Parser;
use log::error;
use tokio::net::TcpListener;

use loggerator::cli::{Cli, Command};
use loggerator::service::{run_until_signal, Service, ShutdownSignals};
use loggerator::{demo, emulator};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
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
