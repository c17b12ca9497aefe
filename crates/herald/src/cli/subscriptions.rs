//! `herald subscriptions export|import`: JSON lines, for backups and for migrating from another
//! system.
//!
//! A subscription's line is `{"id", "uid"|"aid", "subscription": {"endpoint", "keys":
//! {"p256dh", "auth"}}, "secretHash", "createdAt", "tags", "languages", "timeZone"}` (the last
//! three only when it has them). After the subscriptions come the people's own tags, one line
//! per person: `{"uid"|"aid", "ownerTags": […]}` (their subscriptions registered later inherit
//! them). On import only the owner and the subscription are required, so older exports and
//! other systems' lines are taken; `endpoint`/`keys` may also stand at the top level. Invalid
//! lines are reported by number; every valid line is imported.

use super::CliError;
use crate::config::Config;
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind};
use crate::endpoint_policy::EndpointPolicy;
use crate::storage::export::OwnerTag;
use crate::storage::subscription_locale::Locale;
use crate::storage::subscriptions::ExportedSubscription;
use crate::storage::Store;
use clap::Subcommand;
use herald_push::subscription::Subscription;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Write every subscription, and every person's own tags, as JSON lines (to FILE or
    /// standard output).
    Export { file: Option<PathBuf> },
    /// Read JSON lines (from FILE or standard input) and store them.
    Import { file: Option<PathBuf> },
}

/// Rows read from the database per query.
const PAGE: i64 = 1000;

pub async fn run(config: Config, command: SubscriptionsCommand) -> Result<(), CliError> {
    let store = super::open_store(&config).await?;
    match command {
        SubscriptionsCommand::Export { file } => {
            let mut out: Box<dyn Write> = match &file {
                Some(path) => {
                    Box::new(create_private(path).map_err(|e| CliError::Refused(format!("{}: {e}", path.display())))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            let subscriptions = export_subscriptions(&store, &mut out).await?;
            let people = export_owner_tags(&store, &mut out).await?;
            out.flush().map_err(super::output_failed)?;
            eprintln!("exported {subscriptions} subscription(s) and the tags of {people} person(s)");
            Ok(())
        }
        SubscriptionsCommand::Import { file } => {
            let input: Box<dyn BufRead> = match &file {
                Some(path) => Box::new(std::io::BufReader::new(
                    std::fs::File::open(path).map_err(|e| CliError::Refused(format!("{}: {e}", path.display())))?,
                )),
                None => Box::new(std::io::stdin().lock()),
            };
            let policy = EndpointPolicy {
                allow_private: config.allow_private_endpoints,
                allow_http: config.allow_http_endpoints,
                host_allowlist: config.push_host_allowlist.clone(),
            };
            import(&store, input, &policy).await
        }
    }
}

async fn export_subscriptions(store: &Store, out: &mut dyn Write) -> Result<u64, CliError> {
    let mut after = String::new();
    let mut count = 0u64;
    loop {
        let page = store.export_subscriptions(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let ids: Vec<&str> = page.iter().map(|s| s.id.as_str()).collect();
        let mut tags = store.tags_of(&ids).await?;
        let mut locales = store.locales_of(&ids).await?;
        for s in &page {
            let mut line = json!({
                "id": s.id,
                "subscription": { "endpoint": s.endpoint, "keys": { "p256dh": s.p256dh, "auth": s.auth } },
                "secretHash": s.secret_hash,
                "createdAt": crate::clock::rfc3339(s.created_at),
            });
            line[s.owner.kind.field()] = json!(s.owner.id.as_str());
            if let Some(tags) = tags.remove(&s.id).filter(|t| !t.is_empty()) {
                line["tags"] = json!(tags);
            }
            let locale = locales.remove(&s.id).unwrap_or_default();
            if let Some(languages) = locale.languages {
                line["languages"] = json!(languages.split(',').collect::<Vec<_>>());
            }
            if let Some(zone) = locale.time_zone {
                line["timeZone"] = json!(zone);
            }
            writeln!(out, "{line}").map_err(super::output_failed)?;
            count += 1;
        }
    }
    Ok(count)
}

/// One line per person with tags of their own; their rows come sorted, possibly split
/// across pages.
async fn export_owner_tags(store: &Store, out: &mut dyn Write) -> Result<u64, CliError> {
    let mut people = 0u64;
    let mut current: Option<(Owner, Vec<String>)> = None;
    let mut write = |person: (Owner, Vec<String>), out: &mut dyn Write| -> Result<(), CliError> {
        let (owner, tags) = person;
        let mut line = json!({ "ownerTags": tags });
        line[owner.kind.field()] = json!(owner.id.as_str());
        writeln!(out, "{line}").map_err(super::output_failed)?;
        people += 1;
        Ok(())
    };
    let mut after: Option<OwnerTag> = None;
    loop {
        let page = store.owner_tags_page(after.as_ref(), PAGE).await?;
        let full = page.len() as i64 == PAGE;
        for row in &page {
            match &mut current {
                Some((owner, tags)) if *owner == row.owner => tags.push(row.tag.clone()),
                _ => {
                    if let Some(done) = current.take() {
                        write(done, out)?;
                    }
                    current = Some((row.owner.clone(), vec![row.tag.clone()]));
                }
            }
        }
        after = page.into_iter().last();
        if !full {
            break;
        }
    }
    if let Some(done) = current {
        write(done, out)?;
    }
    Ok(people)
}

/// What one import line holds: a subscription (with its locale), a person's own tags, or both.
struct Line {
    subscription: Option<(ExportedSubscription, Locale)>,
    owner_tags: Option<(Owner, Vec<Tag>)>,
}

async fn import(store: &Store, input: Box<dyn BufRead>, policy: &EndpointPolicy) -> Result<(), CliError> {
    let now = chrono::Utc::now().timestamp_millis();
    let (mut created, mut updated, mut people, mut invalid) = (0u64, 0u64, 0u64, 0u64);
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("line {number}: not readable text: {e}");
                invalid += 1;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match parse_line(&line, policy, now) {
            Ok(parsed) => parsed,
            Err(why) => {
                eprintln!("line {number}: {why}");
                invalid += 1;
                continue;
            }
        };
        let database = |e: crate::storage::StoreError| CliError::Refused(format!("line {number}: database: {e}"));
        if let Some((record, locale)) = &parsed.subscription {
            match store.import_subscription(record, locale, now).await {
                Ok(true) => created += 1,
                Ok(false) => updated += 1,
                // Too many tags with the owner's: this line is refused, nothing of it stored.
                Err(e @ crate::storage::StoreError::Invalid(_)) => {
                    eprintln!("line {number}: {e}");
                    invalid += 1;
                    continue;
                }
                Err(e) => return Err(database(e)),
            }
        }
        if let Some((owner, tags)) = &parsed.owner_tags {
            match store.restore_owner_tags(owner, tags).await {
                Ok(()) => people += 1,
                // More than the limit with the person's tags here: refused, nothing stored.
                Err(e @ crate::storage::StoreError::Invalid(_)) => {
                    eprintln!("line {number}: {e}");
                    invalid += 1;
                }
                Err(e) => return Err(database(e)),
            }
        }
    }
    out!(
        "imported {created} new and {updated} existing subscription(s), the tags of {people} person(s); \
         {invalid} invalid line(s)"
    );
    if invalid > 0 {
        return Err(CliError::Refused(format!(
            "{invalid} line(s) were invalid and skipped (see above); the others were imported"
        )));
    }
    Ok(())
}

/// The members a line may have: the export's, and `endpoint`/`keys` at the top level.
const KNOWN_FIELDS: [&str; 12] = [
    "id",
    "uid",
    "aid",
    "subscription",
    "endpoint",
    "keys",
    "secretHash",
    "createdAt",
    "tags",
    "languages",
    "timeZone",
    "ownerTags",
];

/// Members of a line that import does not read (a misspelt `timezone`, say).
fn unknown_fields(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|members| {
            members
                .keys()
                .map(String::as_str)
                .filter(|k| !KNOWN_FIELDS.contains(k))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates one line. A line without `subscription` or `endpoint` must carry `ownerTags`.
fn parse_line(line: &str, policy: &EndpointPolicy, now_ms: i64) -> Result<Line, CliError> {
    let value: Value = serde_json::from_str(line).map_err(|e| CliError::Refused(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(CliError::Refused("not a JSON object".into()));
    }
    let unknown = unknown_fields(&value);
    if !unknown.is_empty() {
        // Refused like the API refuses unknown members: a misspelt field would be lost.
        return Err(CliError::Refused(format!(
            "unknown field(s) {}; a line holds only {}",
            unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
            KNOWN_FIELDS.map(|k| format!("`{k}`")).join(", ")
        )));
    }
    let owner = match (value.get("uid"), value.get("aid")) {
        (Some(uid), None) => Owner {
            kind: OwnerKind::Client,
            id: OwnerId::from_json(uid)?,
        },
        (None, Some(aid)) => Owner {
            kind: OwnerKind::Admin,
            id: OwnerId::from_json(aid)?,
        },
        _ => return Err(CliError::Refused("needs exactly one of uid and aid".into())),
    };
    let owner_tags = match value.get("ownerTags") {
        None | Some(Value::Null) => None,
        Some(list) => Some((owner.clone(), tag_list("ownerTags", list)?)),
    };
    let has_subscription = value.get("subscription").is_some() || value.get("endpoint").is_some();
    if !has_subscription && owner_tags.is_some() {
        return Ok(Line {
            subscription: None,
            owner_tags,
        });
    }
    let record = parse_subscription(&value, owner, policy, now_ms)?;
    Ok(Line {
        subscription: Some((record, parse_locale(&value)?)),
        owner_tags,
    })
}

fn parse_subscription(
    value: &Value,
    owner: Owner,
    policy: &EndpointPolicy,
    now_ms: i64,
) -> Result<ExportedSubscription, CliError> {
    let sub = value.get("subscription").unwrap_or(value);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let endpoint = text(&sub["endpoint"]).ok_or(CliError::Refused("no endpoint".into()))?;
    let p256dh = text(&sub["keys"]["p256dh"]).ok_or(CliError::Refused("no keys.p256dh".into()))?;
    let auth = text(&sub["keys"]["auth"]).ok_or(CliError::Refused("no keys.auth".into()))?;
    let parsed = Subscription::parse(&endpoint, &p256dh, &auth).map_err(CliError::other)?;
    policy
        .check(&parsed.endpoint)
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let id = match value.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 32 && herald_push::base64url::is_url_safe_alphabet(id) => {
            id.to_owned()
        }
        Some(_) => return Err(CliError::Refused("id must be up to 32 URL-safe characters".into())),
        None => crate::secrets::ordered_id(),
    };
    let secret_hash = match value.get("secretHash").and_then(Value::as_str) {
        Some(h) if h.len() == 43 && herald_push::base64url::is_url_safe_alphabet(h) => h.to_owned(),
        Some(_) => return Err(CliError::Refused("secretHash is not a SHA-256 in base64url".into())),
        // No secret is known: the browser gets one when it next registers.
        None => crate::secrets::new_secret().1,
    };
    let created_at = match value.get("createdAt").and_then(Value::as_str) {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| CliError::Refused("createdAt is not an RFC 3339 time".into()))?
            .timestamp_millis(),
        None => now_ms,
    };
    let tags = match value.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => tag_list("tags", list)?,
    };
    Ok(ExportedSubscription {
        tags,
        id,
        owner,
        endpoint: parsed.endpoint.as_str().to_owned(),
        p256dh: parsed.p256dh.to_base64url(),
        auth: parsed.auth.to_base64url(),
        secret_hash,
        created_at,
    })
}

/// `tags` or `ownerTags`: an array of segment tags.
fn tag_list(field: &str, list: &Value) -> Result<Vec<Tag>, CliError> {
    let refuse = || CliError::Refused(format!("{field} must be an array of strings"));
    let items = list.as_array().ok_or_else(refuse)?;
    let texts = items
        .iter()
        .map(|item| item.as_str().ok_or_else(refuse))
        .collect::<Result<Vec<_>, _>>()?;
    Tag::parse_list(&texts).map_err(|e| CliError::Refused(format!("{field}: {e}")))
}

/// A line's `languages` (array of tags) and `timeZone` (IANA name), as registration takes them.
fn parse_locale(value: &Value) -> Result<Locale, CliError> {
    let languages: Option<Vec<String>> = match value.get("languages") {
        None | Some(Value::Null) => None,
        Some(list) => Some(
            serde_json::from_value(list.clone())
                .map_err(|_| CliError::Refused("languages must be an array of language tags".into()))?,
        ),
    };
    let time_zone = match value.get("timeZone") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => {
            return Err(CliError::Refused(
                "timeZone must be a string such as Europe/Kyiv".into(),
            ))
        }
    };
    Locale::parse(languages.as_deref(), time_zone).map_err(|e| CliError::Refused(format!("{}: {e}", e.field)))
}

/// Creates (or truncates) an export file readable by its owner only: it holds every endpoint,
/// which is a capability, and the secrets' hashes. An existing file (say, last month's export,
/// or one an editor created 0644) is narrowed to 0600 before anything is written to it, and a
/// symbolic link in its place is refused.
fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A symlink planted where the export goes (say, in /tmp) would send every endpoint
        // to the file it points at: refuse to follow one.
        options
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let file = options.open(path).map_err(|e| {
        if path.is_symlink() {
            std::io::Error::other("is a symbolic link; export to a regular file")
        } else {
            e
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}
