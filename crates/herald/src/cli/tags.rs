//! `herald tags add|remove`: segment tags from the command line, on the configured database,
//! as `POST /api/v1/owners/tags` (a person) and `PUT`/`DELETE
//! /api/v1/subscriptions/{id}/tags/{tag}` (one subscription) set them.

use super::CliError;
use crate::config::Config;
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind};
use clap::{ArgGroup, Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// Add tags to a person (their subscriptions now and the ones they register later) or to
    /// one subscription.
    Add(TagsArgs),
    /// Remove tags from a person (and all their subscriptions) or from one subscription.
    Remove(TagsArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("whose").required(true).args(["uid", "aid", "subscription"])))]
pub struct TagsArgs {
    /// A client's id.
    #[arg(long)]
    pub uid: Option<String>,
    /// An administrator's id.
    #[arg(long)]
    pub aid: Option<String>,
    /// One subscription's id (as `herald subscriptions export` or the API lists it).
    // Ids are base64url and may start with `-`.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub subscription: Option<String>,
    /// The tags, e.g. district:12 tariff:home-100 (case does not matter).
    #[arg(required = true, value_name = "TAG")]
    pub tags: Vec<String>,
}

pub async fn run(config: Config, command: TagsCommand) -> Result<(), CliError> {
    let (adding, args) = match command {
        TagsCommand::Add(args) => (true, args),
        TagsCommand::Remove(args) => (false, args),
    };
    let tags = Tag::parse_list(&args.tags).map_err(|e| CliError::Refused(format!("TAG: {e}")))?;
    let owner = match (&args.uid, &args.aid) {
        (Some(id), _) => Some(owner(OwnerKind::Client, "--uid", id)?),
        (_, Some(id)) => Some(owner(OwnerKind::Admin, "--aid", id)?),
        _ => None,
    };
    let store = super::open_store(&config).await?;
    if let Some(owner) = owner {
        let (add, remove): (&[Tag], &[Tag]) = if adding { (&tags, &[]) } else { (&[], &tags) };
        let (now, subscriptions) = store.change_owner_tags(&owner, add, remove).await?;
        out!(
            "{} {}: tags {} (on {subscriptions} subscription(s))",
            owner.kind.field(),
            owner.id.as_str(),
            if now.is_empty() {
                "none".to_owned()
            } else {
                now.join(", ")
            }
        );
        return Ok(());
    }
    let id = args.subscription.as_deref().unwrap_or_default();
    if !crate::secrets::is_valid_id(id) {
        return Err(CliError::flag(
            "--subscription",
            format!("{id:?} is not a subscription id"),
        ));
    }
    for tag in &tags {
        let found = if adding {
            store.add_subscription_tag(id, tag).await?
        } else {
            store.remove_subscription_tag(id, tag).await?
        };
        if !found {
            return Err(CliError::flag(
                "--subscription",
                format!("no subscription with id {id}"),
            ));
        }
    }
    let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
    out!(
        "subscription {id}: {} {}",
        if adding { "added" } else { "removed" },
        names.join(", ")
    );
    Ok(())
}

fn owner(kind: OwnerKind, flag: &'static str, id: &str) -> Result<Owner, CliError> {
    Ok(Owner {
        kind,
        id: OwnerId::parse(id).map_err(|e| CliError::flag(flag, e))?,
    })
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// One id in 64 starts with `-`: it is still an id, not a flag.
    #[test]
    fn ids_may_start_with_a_hyphen() {
        let cli = Cli::try_parse_from(["herald", "tags", "add", "--subscription", "-Dk3", "vip"]).unwrap();
        let Command::Tags(super::TagsCommand::Add(args)) = cli.command else {
            panic!("not tags add")
        };
        assert_eq!(args.subscription.as_deref(), Some("-Dk3"));
        assert_eq!(args.tags, ["vip"]);
        let cli = Cli::try_parse_from(["herald", "reminders", "rm", "-Kx"]).unwrap();
        let Command::Reminders(crate::cli::reminders::RemindersCommand::Rm { id }) = cli.command else {
            panic!("not reminders rm")
        };
        assert_eq!(id, "-Kx");
    }
}
