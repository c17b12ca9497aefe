//! The small integers the database stores for kinds, states and events, in one place.
//!
//! Each enum maps to its code with `as_db` and back with `from_db`, which refuses a code it
//! does not know instead of guessing. The codes are the migrations' (see
//! `migrations/*/…_initial.sql`): changing one here would misread every stored row.

use super::{MessageMode, OwnerKind};
use std::fmt;

/// A stored code that no variant has: the row was written by something else, or damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCode {
    /// What the code was meant to be, e.g. "outbox state".
    pub what: &'static str,
    pub code: i64,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} code {}", self.what, self.code)
    }
}

impl std::error::Error for UnknownCode {}

/// Defines `as_db` and `from_db` from one table, so the two directions cannot disagree.
macro_rules! db_codes {
    ($type:ty, $what:literal, { $($variant:ident = $code:literal),+ $(,)? }) => {
        impl $type {
            pub const fn as_db(self) -> i64 {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            pub fn from_db(code: i64) -> Result<Self, UnknownCode> {
                match code {
                    $($code => Ok(Self::$variant),)+
                    _ => Err(UnknownCode { what: $what, code }),
                }
            }
        }
    };
}

/// Where one outbox row (one message to one subscription) stands: `outbox.state`, and the
/// final state in `message_outcomes.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetState {
    /// Still to send (also while leased to a sender).
    Pending,
    Accepted,
    Failed,
    /// The subscription is dead (404/410).
    Gone,
}

db_codes!(TargetState, "outbox state", { Pending = 0, Accepted = 1, Failed = 2, Gone = 3 });

/// `messages.status`. "sending" and "done" are both `Sending`: they differ by how many
/// targets are left to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Scheduled,
    Sending,
    Cancelled,
}

db_codes!(MessageStatus, "message status", { Scheduled = 0, Sending = 1, Cancelled = 2 });

/// Receipt events a service worker reports (`receipts.event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptEvent {
    Displayed,
    Clicked,
}

db_codes!(ReceiptEvent, "receipt event", { Displayed = 0, Clicked = 1 });

impl ReceiptEvent {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "displayed" => Some(Self::Displayed),
            "clicked" => Some(Self::Clicked),
            _ => None,
        }
    }
}

// `subscriptions.owner_kind`.
db_codes!(OwnerKind, "owner kind", { Client = 0, Admin = 1 });

// `messages.mode`.
db_codes!(MessageMode, "message mode", { Payload = 0, Tickle = 1 });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for state in [
            TargetState::Pending,
            TargetState::Accepted,
            TargetState::Failed,
            TargetState::Gone,
        ] {
            assert_eq!(TargetState::from_db(state.as_db()), Ok(state));
        }
        for status in [
            MessageStatus::Scheduled,
            MessageStatus::Sending,
            MessageStatus::Cancelled,
        ] {
            assert_eq!(MessageStatus::from_db(status.as_db()), Ok(status));
        }
        for kind in [OwnerKind::Client, OwnerKind::Admin] {
            assert_eq!(OwnerKind::from_db(kind.as_db()), Ok(kind));
        }
        // The codes the migrations' partial indexes and views name.
        assert_eq!(TargetState::Pending.as_db(), 0);
        assert_eq!(MessageMode::Tickle.as_db(), 1);
        let unknown = OwnerKind::from_db(2).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown owner kind code 2");
        assert!(TargetState::from_db(-1).is_err());
        assert!(MessageMode::from_db(7).is_err());
        assert!(ReceiptEvent::from_db(2).is_err());
    }
}
