//! The `herald` command line. `serve` runs the server; the other commands are for scripts,
//! cron and operators. `keys` and `send-notification` mirror web-push for Node's CLI so its
//! users can switch without relearning flags.

mod keys;
mod notify;
mod reminders;
mod send_notification;
mod subscriptions;

use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Self-hosted Web Push notification server")]
pub struct Cli {
    /// Configuration file (default: ./herald.toml when it exists). Environment variables win.
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (API, delivery engine, scheduler).
    Serve,
    /// VAPID keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Generate VAPID keys (web-push's name for `keys generate`).
    #[command(name = "generate-vapid-keys", hide = true)]
    GenerateVapidKeys(keys::GenerateArgs),
    /// Send one push to one subscription, like web-push's send-notification.
    SendNotification(send_notification::SendArgs),
    /// Send a titled message to a uid, an aid or everyone, through the server's queue.
    Notify(notify::NotifyArgs),
    /// Delete expired messages and their delivery rows now.
    Cleanup,
    /// Bulk export and import of subscriptions as JSON lines.
    #[command(subcommand)]
    Subscriptions(subscriptions::SubscriptionsCommand),
    /// Reminders: messages on a schedule.
    #[command(subcommand)]
    Reminders(reminders::RemindersCommand),
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => serve(cli.config).await,
        Command::Keys(keys::KeysCommand::Generate(args)) | Command::GenerateVapidKeys(args) => keys::generate(&args),
        Command::SendNotification(args) => send_notification::run(args).await,
        Command::Notify(args) => match load(cli.config) {
            Ok(config) => notify::run(config, args).await,
            Err(e) => Err(e),
        },
        Command::Cleanup => match load(cli.config) {
            Ok(config) => cleanup(config).await,
            Err(e) => Err(e),
        },
        Command::Subscriptions(command) => match load(cli.config) {
            Ok(config) => subscriptions::run(config, command).await,
            Err(e) => Err(e),
        },
        Command::Reminders(command) => match load(cli.config) {
            Ok(config) => reminders::run(config, command).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("herald: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> Result<Config, String> {
    Config::load(path.as_deref()).map_err(|e| e.to_string())
}

async fn serve(path: Option<PathBuf>) -> Result<(), String> {
    let config = load(path)?;
    let app = crate::startup::Application::build(config).await?;
    tracing::info!(address = %app.local_addr(), "herald is listening; admin console at /admin/, demo at /demo/");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and pushes");
        trigger.cancel();
    });
    app.run_until_stopped(shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

async fn cleanup(config: Config) -> Result<(), String> {
    let store = crate::storage::Store::connect(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().timestamp_millis();
    let removed = store.delete_expired_messages(now).await.map_err(|e| e.to_string())?;
    println!("removed {removed} expired message(s) and their delivery rows");
    Ok(())
}
