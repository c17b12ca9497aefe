//! `herald keys create|list|revoke`: scoped API keys, on the configured database (beside a
//! running server, which sees a new or revoked key on its next request).

use super::CliError;
use crate::access::{self, Scopes};
use crate::config::Config;
use clap::Args;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the key is for, e.g. "billing sender".
    #[arg(long)]
    pub name: String,
    /// Comma-separated scopes: send, read, admin.
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', required = true)]
    pub scope: Vec<String>,
    /// Print {"id", "name", "scopes", "key"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key's id (as `keys list` shows it).
    pub id: String,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn create(config: Config, args: CreateArgs) -> Result<(), CliError> {
    let name = access::validate_name(&args.name)?;
    let scopes = Scopes::parse_list(args.scope.iter().map(|s| s.trim())).map_err(|e| CliError::flag("--scope", e))?;
    let store = super::open_store(&config).await?;
    let (id, token, hash) = access::new_key();
    store.insert_api_key(&id, &name, scopes, &hash, now_ms()).await?;
    if args.json {
        out!(
            "{}",
            serde_json::json!({ "id": id, "name": name, "scopes": scopes.names(), "key": token })
        );
    } else {
        out!("API key {id} ({name}; scopes: {})", scopes.to_text());
        out!("{token}");
        eprintln!("Shown once: only its hash is kept. Send it as Authorization: Bearer <key>.");
    }
    Ok(())
}

pub async fn list(config: Config, args: ListArgs) -> Result<(), CliError> {
    let store = super::open_store(&config).await?;
    let keys = store.list_api_keys().await?;
    for key in &keys {
        if args.json {
            out!("{}", crate::api::key_json(key));
        } else {
            let when = |ms: Option<i64>| ms.map(crate::clock::rfc3339).unwrap_or_else(|| "-".into());
            out!(
                "{}  {:<20}  {:<16}  created {}  last used {}{}",
                key.id,
                key.name,
                key.scopes.to_text(),
                crate::clock::rfc3339(key.created_at),
                when(key.last_used_at),
                key.revoked_at
                    .map(|at| format!("  REVOKED {}", crate::clock::rfc3339(at)))
                    .unwrap_or_default()
            );
        }
    }
    if !args.json && keys.is_empty() {
        eprintln!("no API keys");
    }
    Ok(())
}

pub async fn revoke(config: Config, args: RevokeArgs) -> Result<(), CliError> {
    if !crate::secrets::is_valid_id(&args.id) {
        return Err(CliError::Refused(format!("{:?} is not a key id", args.id)));
    }
    let store = super::open_store(&config).await?;
    if store.revoke_api_key(&args.id, now_ms()).await? {
        out!("revoked {}", args.id);
        Ok(())
    } else {
        Err(CliError::Refused(format!("no live API key {}", args.id)))
    }
}
