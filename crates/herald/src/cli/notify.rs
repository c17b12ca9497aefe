//! `herald notify`: the original's `send_message` for scripts and cron. The message goes into
//! the server's queue in the shared database; the running server delivers it. Its message
//! flags are the ones `reminders add` takes too ([`super::message::MessageArgs`]).

use super::CliError;
use crate::compose::MessageRequest;
use crate::config::Config;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub message: super::message::MessageArgs,
    /// Wait until every device's first attempt has settled, with a progress bar.
    #[arg(long)]
    pub wait: bool,
}

pub async fn run(config: Config, args: NotifyArgs) -> Result<(), CliError> {
    let request: MessageRequest = crate::domain::validation::from_json_value(args.message.to_json()?)?;
    let now = chrono::Utc::now().timestamp_millis();
    let message = request.validate(now, config.quiet_hours)?;
    let store = super::open_store(&config).await?;
    let targets = store.create_message(&message, now).await?.unwrap_or(0);
    out!("message {} queued for {targets} device(s)", message.id);
    if targets == 0 {
        // Not an error (a script may notify people who have no device yet), but a new
        // operator's first test message otherwise disappears without a word.
        eprintln!(
            "herald: no subscribed device matches, so nothing will be delivered; a browser subscribes \
             through the server's /demo/ page or your application (herald subscriptions export lists them)"
        );
    }
    if !args.wait || targets == 0 {
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(targets as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} settled {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let unattempted = store.unattempted_targets(&message.id).await?;
        let view = store.message(&message.id).await?;
        if let Some(v) = &view {
            bar.set_position((v.targets - unattempted).max(0) as u64);
            bar.set_message(format!("accepted {} failed {} gone {}", v.accepted, v.failed, v.gone));
        }
        if unattempted == 0 {
            bar.finish();
            if let Some(v) = view {
                out!(
                    "accepted {}, failed {}, gone {}, retrying {}",
                    v.accepted,
                    v.failed,
                    v.gone,
                    v.pending()
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
