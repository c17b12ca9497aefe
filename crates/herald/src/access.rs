//! Who may do what: API keys and their scopes.
//!
//! A host application's parts need different powers: the billing system's sender only sends,
//! a dashboard only reads. An API key carries a set of [`Scope`]s; `HERALD_ADMIN_TOKEN` is a
//! key with every scope. A key is shown once as `hk_<id>.<secret>`: the id finds its row,
//! and the 256-bit secret is checked against its stored SHA-256 in constant time, like every
//! other secret (see [`crate::secrets`]).

use crate::domain::ValidationError;
use crate::secrets;

/// One power an API key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send and cancel messages, manage reminders, mint owner tokens, register subscriptions.
    Send,
    /// Read message status, lists of messages and reminders, and metrics.
    Read,
    /// Everything, including API keys and listing or deleting subscriptions.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Send, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            ValidationError::new(
                "scopes",
                format!("`scopes`: unknown scope {text:?}; scopes are send, read and admin"),
            )
        })
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Send => 1,
            Scope::Read => 2,
            Scope::Admin => 4,
        }
    }
}

/// A set of scopes. `admin` implies the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What the admin token holds.
    pub fn full() -> Self {
        Self(7)
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// A list such as `send,read` (also the stored form); duplicates are folded, an empty
    /// list is refused. The error names the item: `scopes[1]`.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationError> {
        let mut scopes = Self::default();
        for (index, item) in items.into_iter().enumerate() {
            scopes.0 |= Scope::parse(item)
                .map_err(|e| ValidationError::new(format!("scopes[{index}]"), e.message))?
                .bit();
        }
        if scopes.is_empty() {
            return Err(ValidationError::new(
                "scopes",
                "`scopes`: give at least one scope: send, read or admin",
            ));
        }
        Ok(scopes)
    }

    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(Scope::as_str)
            .collect()
    }

    /// The stored form: `send,read`.
    pub fn to_text(self) -> String {
        self.names().join(",")
    }
}

/// Prefix that marks an API key, so it is never mistaken for another kind of secret.
const KEY_PREFIX: &str = "hk_";

/// A new key: its id, the full token (shown once) and the hash to store.
pub fn new_key() -> (String, String, String) {
    let id = secrets::random_id();
    let (secret, hash) = secrets::new_secret();
    (id.clone(), format!("{KEY_PREFIX}{id}.{secret}"), hash)
}

/// Splits a presented token into key id and secret; `None` when it is not an API key.
pub fn parse_key(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(KEY_PREFIX)?.split_once('.')?;
    (secrets::is_valid_id(id) && !secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

/// A key's name: what it is for, one line of 1 to 100 characters.
pub fn validate_name(name: &str) -> Result<String, ValidationError> {
    if name.chars().any(crate::domain::disguises_a_name) {
        return Err(ValidationError::new(
            "name",
            "`name` must not contain control characters, line separators or invisible formatting characters",
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ValidationError::new("name", "`name` must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let send = Scopes::parse_list(["send"]).unwrap();
        assert!(send.allows(Scope::Send) && !send.allows(Scope::Read) && !send.allows(Scope::Admin));
        let admin = Scopes::parse_list(["admin"]).unwrap();
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        assert_eq!(
            Scopes::parse_list("read,send,read".split(',')).unwrap().to_text(),
            "send,read"
        );
        let error = Scopes::parse_list(["send", "root"]).unwrap_err();
        assert!(
            error.message.contains("root") && error.field == "scopes[1]",
            "{error:?}"
        );
        assert!(Scopes::parse_list([]).is_err());
    }

    #[test]
    fn key_tokens() {
        let (id, token, hash) = new_key();
        let (parsed_id, secret) = parse_key(&token).unwrap();
        assert_eq!(parsed_id, id);
        assert!(secrets::verify_secret(secret, &hash));
        assert_eq!(parse_key("test-admin-token-0123456789"), None);
        assert_eq!(parse_key("hk_bad id.x"), None);
        assert_eq!(parse_key("hk_abc."), None);
        assert!(validate_name("billing\u{0}").is_err());
    }
}
