use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| "herald=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    herald::cli::run(herald::cli::Cli::parse()).await
}
