//! Hostile input over every endpoint: malformed, mistyped, oversize, overlong, off-curve,
//! SQL-laden, not UTF-8, with control characters, sent with the wrong method or the wrong
//! content type, forged tokens. Every case must be answered with a 4xx and the JSON error
//! object, never a 5xx, and must store nothing. Admin endpoints are called with the admin
//! token, and device endpoints with the device's own secret, so that the body validation is
//! what is reached.
//!
//! ## Layout
//! - `harness.rs`: sending a case and judging the answer; what the API stores, before and after.
//! - `inputs.rs`: hostile values and the body cases every JSON endpoint shares.
//! - One file per endpoint with its cases (`messages`, `subscriptions`, `devices`,
//!   `owner_tokens`, `reminders`, `keys`, `routes`); `every_endpoint.rs` runs the whole table
//!   against one seeded server.
//! - One file per concern that crosses endpoints: `control_characters`, `nul_and_non_utf8`,
//!   `request_framing`, `sql`, `random_bodies`, `rate_limit`.

mod control_characters;
mod devices;
mod every_endpoint;
mod harness;
mod inputs;
mod keys;
mod messages;
mod nul_and_non_utf8;
mod owner_tokens;
mod random_bodies;
mod rate_limit;
mod reminders;
mod request_framing;
mod routes;
mod sql;
mod subscriptions;
