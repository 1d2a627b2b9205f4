use std::process::ExitCode;

use clap::Parser;
use log::error;
use tokio::net::TcpListener;

use loggerator::cli::{Cli, Command};
use loggerator::service::{shutdown_signal, Service};
use loggerator::{demo, emulator};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let system = actix_rt::System::new();
    let result: Result<(), Box<dyn std::error::Error>> = system.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let config = args
                    .tuning
                    .service_config(args.sources, args.db, args.listen);
                let service = Service::start(config).await?;
                shutdown_signal().await;
                service.shutdown().await;
            }
            Command::Emulate(args) => {
                let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
                tokio::select! {
                    result = emulator::serve(listener, args.count, args.seed) => result?,
                    _ = shutdown_signal() => {}
                }
            }
            Command::Demo(args) => demo::run(args).await?,
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
