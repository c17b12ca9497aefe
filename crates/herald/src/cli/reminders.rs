//! `herald reminders add|list|rm`: reminders from the command line, on the configured database.
//! `add` takes every message flag `herald notify` takes ([`super::message::MessageArgs`]).

use super::CliError;
use crate::config::Config;
use crate::reminders::{new_record, ReminderInput};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum RemindersCommand {
    /// Add a reminder.
    Add(Box<AddArgs>),
    /// List reminders.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a reminder.
    Rm {
        // Ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["at", "daily", "weekly", "cron"])))]
pub struct AddArgs {
    #[command(flatten)]
    pub message: super::message::MessageArgs,
    /// Once, at a local time (2026-12-01T09:00) or an RFC 3339 time.
    #[arg(long)]
    pub at: Option<String>,
    /// Every day at HH:MM.
    #[arg(long, value_name = "HH:MM")]
    pub daily: Option<String>,
    /// Weekly: days and time, e.g. mon,fri@09:00.
    #[arg(long, value_name = "DAYS@HH:MM")]
    pub weekly: Option<String>,
    /// A cron pattern in --timezone: five fields `min hour day-of-month month day-of-week`
    /// ("0 9 * * mon-fri"), six with seconds first, seven with a year last, or @hourly,
    /// @daily, @weekly, @monthly, @yearly.
    #[arg(long, value_name = "PATTERN")]
    pub cron: Option<String>,
    /// IANA time zone of the schedule (default UTC); stored as the reminder's `timezone`.
    /// Quiet hours use each device's own time zone instead.
    #[arg(long)]
    pub timezone: Option<String>,
}

pub async fn run(config: Config, command: RemindersCommand) -> Result<(), CliError> {
    let store = super::open_store(&config).await?;
    let now = chrono::Utc::now().timestamp_millis();
    match command {
        RemindersCommand::Add(args) => {
            let schedule = match (&args.at, &args.daily, &args.weekly, &args.cron) {
                (Some(at), ..) => json!({ "at": at }),
                (_, Some(daily), ..) => json!({ "daily": daily }),
                (_, _, Some(weekly), _) => {
                    let (days, time) = weekly.split_once('@').ok_or(CliError::Refused(
                        "--weekly takes DAYS@HH:MM, e.g. mon,fri@09:00".into(),
                    ))?;
                    json!({ "weekly": { "days": days.split(',').collect::<Vec<_>>(), "time": time } })
                }
                (_, _, _, Some(cron)) => json!({ "cron": cron }),
                _ => return Err(CliError::Refused("give --at, --daily, --weekly or --cron".into())),
            };
            let mut body = args.message.to_json()?;
            body["schedule"] = schedule;
            if let Some(zone) = &args.timezone {
                body["timezone"] = json!(zone);
            }
            let record = crate::domain::validation::from_json_value::<ReminderInput>(body)
                .and_then(|input| new_record(input, now))?;
            store.insert_reminder(&record).await?;
            out!(
                "reminder {} added; next firing {}",
                record.id,
                record
                    .next_fire_at
                    .map(crate::clock::rfc3339)
                    .unwrap_or_else(|| "never".into())
            );
        }
        RemindersCommand::List { json } => {
            for r in store.list_reminders(1000, None).await? {
                if json {
                    out!("{}", crate::api::reminder_json(&r));
                } else {
                    out!(
                        "{}  {:<28}  {:<40}  next {}{}",
                        r.id,
                        r.template.get("title").and_then(Value::as_str).unwrap_or(""),
                        format!("{} {}", r.schedule, r.timezone),
                        r.next_fire_at
                            .map(crate::clock::rfc3339)
                            .unwrap_or_else(|| "never".into()),
                        if r.paused { "  (paused)" } else { "" }
                    );
                }
            }
        }
        RemindersCommand::Rm { id } => {
            if !store.delete_reminder(&id).await? {
                return Err(CliError::Refused(format!("no reminder with id {id}")));
            }
            out!("reminder {id} deleted");
        }
    }
    Ok(())
}
