//! The `herald` command line. `serve` runs the server; the other commands are for scripts,
//! cron and operators. `keys` and `send-notification` mirror web-push for Node's CLI so its
//! users can switch without relearning flags.
//!
//! Only `serve` and `init` create a database; every other command opens the one the
//! configuration names and refuses to run when it is missing ([`open_store`]), so a command
//! run from the wrong directory fails loudly instead of queuing into a new, empty file.

/// `println!` for a command's output, without its panic when stdout is closed early
/// (`herald doctor | head -1`): the command stops there, as a Unix tool does on SIGPIPE.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print_line(format_args!($($arg)*))
    };
}

mod api_keys;
mod doctor;
mod keys;
mod message;
mod notify;
mod reminders;
mod send_notification;
mod subscriptions;
mod tags;

use crate::config::Config;
use crate::storage::{Store, StoreError};
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
    /// Run the server (API, delivery engine, scheduler). Creates the database on first start.
    Serve,
    /// Create the database (tables, VAPID key pair, admin token) without serving.
    Init,
    /// Check what this installation lacks: VAPID subject, database permissions, push
    /// services reachable from here, clock skew, TLS in front. Exits 1 on a critical problem.
    Doctor(doctor::DoctorArgs),
    /// VAPID keys (`generate`) and scoped API keys (`create`, `list`, `revoke`).
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
    /// Segment tags on a person (their devices now and later) or on one subscription.
    #[command(subcommand)]
    Tags(tags::TagsCommand),
    /// Reminders: messages on a schedule.
    #[command(subcommand)]
    Reminders(reminders::RemindersCommand),
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => serve(cli.config).await,
        Command::Init => match load(cli.config) {
            Ok(config) => init(config).await,
            Err(e) => Err(e),
        },
        Command::Doctor(args) => match load(cli.config) {
            Ok(config) => doctor::run(config, args).await,
            Err(e) => Err(e),
        },
        Command::Keys(keys::KeysCommand::Generate(args)) | Command::GenerateVapidKeys(args) => keys::generate(&args),
        Command::Keys(keys::KeysCommand::Create(args)) => match load(cli.config) {
            Ok(config) => api_keys::create(config, args).await,
            Err(e) => Err(e),
        },
        Command::Keys(keys::KeysCommand::List(args)) => match load(cli.config) {
            Ok(config) => api_keys::list(config, args).await,
            Err(e) => Err(e),
        },
        Command::Keys(keys::KeysCommand::Revoke(args)) => match load(cli.config) {
            Ok(config) => api_keys::revoke(config, args).await,
            Err(e) => Err(e),
        },
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
        Command::Tags(command) => match load(cli.config) {
            Ok(config) => tags::run(config, command).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Not `eprintln!`: it panics when stderr is closed.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "herald: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed; [`run`] prints it after `herald: `. Messages name the flag or
/// setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error(transparent)]
    Invalid(#[from] crate::domain::ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A flag's value was refused: `--scope: unknown scope "root"…`.
    #[error("{flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
    /// Any other refusal, worded where it happens.
    #[error("{0}")]
    Refused(String),
}

impl CliError {
    /// An error from a lower layer whose own text says enough.
    pub fn other(error: impl std::fmt::Display) -> Self {
        Self::Refused(error.to_string())
    }

    /// `--flag: reason`.
    pub fn flag(flag: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Flag {
            flag,
            reason: reason.to_string(),
        }
    }
}

/// Writes one line of output (see `out!`); a write error ends the command ([`output_failed`]).
pub(crate) fn print_line(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(line).and_then(|()| stdout.write_all(b"\n")) {
        eprintln!("herald: {}", output_failed(e));
        std::process::exit(1);
    }
}

/// A failed write of a command's output. A closed stdout (`| head`) ends the process at once
/// with 141, the status a shell reports for SIGPIPE; any other failure is an error to report.
pub(crate) fn output_failed(error: std::io::Error) -> CliError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    CliError::Refused(format!("writing the output: {error}"))
}

fn load(path: Option<PathBuf>) -> Result<Config, CliError> {
    Ok(Config::load(path.as_deref())?)
}

/// Opens the configured database for a command other than `serve`/`init`: it must exist.
pub(crate) async fn open_store(config: &Config) -> Result<Store, CliError> {
    Store::open_existing(&config.database_url).await.map_err(|e| match e {
        StoreError::Missing(what) => CliError::Refused(format!(
            "{what}.\nPoint this command at the server's database: --config FILE (its database_url) or \
             HERALD_DATABASE_URL=… (e.g. sqlite:///var/lib/herald/herald.db). `herald serve` or \
             `herald init` create a new database."
        )),
        other => CliError::Refused(format!("HERALD_DATABASE_URL: {other}")),
    })
}

/// `herald init`: sets up the database as the first `serve` would, then exits.
async fn init(config: Config) -> Result<(), CliError> {
    let shown = crate::storage::redacted(&config.database_url);
    let where_ = crate::storage::sqlite_file::database_path(&config.database_url)
        .map(|p| p.display().to_string())
        .unwrap_or(shown);
    match Store::open_existing(&config.database_url).await {
        Ok(store) => {
            store.close().await;
            out!("{where_} is already a Herald database (pending migrations, if any, applied)");
            return Ok(());
        }
        Err(StoreError::Missing(_)) => {}
        Err(other) => return Err(CliError::Refused(format!("HERALD_DATABASE_URL: {other}"))),
    }
    let store = Store::connect(&config.database_url)
        .await
        .map_err(|e| CliError::Refused(format!("HERALD_DATABASE_URL: cannot create the database: {e}")))?;
    let state = crate::startup::assemble_state(store, config, std::sync::Arc::new(crate::clock::SystemClock)).await?;
    state.store.close().await;
    out!("created the Herald database at {where_}");
    Ok(())
}

async fn serve(path: Option<PathBuf>) -> Result<(), CliError> {
    let config = load(path)?;
    let app = crate::startup::Application::build(config).await?;
    // Handlers first: a SIGTERM right after the "listening" line must stop the server, not
    // meet the default action.
    let stop = shutdown_signal()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        stop.await;
        // Cancel first: nothing the log line meets (a closed stderr) may delay the stop.
        trigger.cancel();
        tracing::info!("shutting down: finishing in-flight requests and pushes");
    });
    tracing::info!(address = %app.local_addr(), "herald is listening; admin console at /admin/, demo at /demo/");
    Ok(app.run_until_stopped(shutdown).await?)
}

/// Registers the SIGTERM and SIGINT (Ctrl-C) handlers now; the future ends at the first one.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handler =
            |kind: SignalKind| signal(kind).map_err(|e| CliError::Refused(format!("cannot handle signals: {e}")));
        let mut terminate = handler(SignalKind::terminate())?;
        let mut interrupt = handler(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

async fn cleanup(config: Config) -> Result<(), CliError> {
    let store = open_store(&config).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let removed = store.delete_expired_messages(now).await?;
    out!("removed {removed} expired message(s) and their delivery rows");
    Ok(())
}
