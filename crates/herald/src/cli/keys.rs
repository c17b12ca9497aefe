//! `herald keys generate`: a new VAPID key pair. Its siblings `keys create|list|revoke`
//! manage scoped API keys (see `api_keys`).

use super::CliError;
use clap::{Args, Subcommand};
use herald_push::keys::VapidKeyPair;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a VAPID key pair.
    Generate(GenerateArgs),
    /// Create a scoped API key (shown once).
    Create(super::api_keys::CreateArgs),
    /// List API keys: name, scopes, created, last used, revoked.
    List(super::api_keys::ListArgs),
    /// Revoke an API key at once.
    Revoke(super::api_keys::RevokeArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Print {"publicKey": "…", "privateKey": "…"} (base64url raw).
    #[arg(long)]
    pub json: bool,
    /// Also write the private key as PKCS#8 PEM to this file (created with mode 0600).
    #[arg(long, value_name = "FILE")]
    pub pem_out: Option<PathBuf>,
}

pub fn generate(args: &GenerateArgs) -> Result<(), CliError> {
    let pair = VapidKeyPair::generate().map_err(CliError::other)?;
    let public = pair.public_key_base64url();
    let private = pair.private_key_base64url().map_err(CliError::other)?;
    if let Some(path) = &args.pem_out {
        write_private(path, &pair.to_pem().map_err(CliError::other)?)?;
    }
    if args.json {
        out!("{}", serde_json::json!({ "publicKey": public, "privateKey": private }));
    } else {
        out!("=======================================\n\nPublic Key:\n{public}\n\nPrivate Key:\n{private}\n\n=======================================");
    }
    Ok(())
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::Refused(format!("{}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| CliError::Refused(format!("{}: {e}", path.display())))
}
