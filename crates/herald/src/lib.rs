//! Herald: a self-hosted Web Push notification server.
//!
//! Host applications register their users' browsers and send titled messages to a client
//! (`uid`), an administrator (`aid`), a list or everyone; Herald encrypts, signs and delivers
//! them durably through the browsers' push services.
//!
//! # Layout
//! - [`config`]: `herald.toml` and `HERALD_*` variables, validated at start;
//! - [`domain`]: owners, audiences and modes that validate on parse;
//! - [`compose`]: the rules a message must satisfy, shared by the API, the CLI and reminders;
//! - [`storage`]: SQLite, PostgreSQL or MySQL behind one set of queries; the outbox;
//! - [`api`]: the HTTP API and the embedded browser assets;
//! - [`delivery`]: the engine that drains the outbox into push services;
//! - [`scheduler`]: scheduled messages and the cleanup job;
//! - [`endpoint_policy`]: which endpoints may be contacted (SSRF defence);
//! - [`net`]: trusted proxy blocks, shared by configuration and the HTTP layer;
//! - [`secrets`]: ids, secrets, hashing and owner tokens;
//! - [`access`]: API keys and their scopes;
//! - [`redact`]: how endpoints appear in logs;
//! - [`http_server`]: connections: header and idle timeouts, the connection cap;
//! - [`startup`]: wiring it all into an [`startup::Application`];
//! - [`logging`]: log format and colours on stderr;
//! - [`cli`]: the `herald` command.
//!
//! The Web Push protocol itself (VAPID, encryption, request and response rules) lives in
//! the `herald-push` crate, which has no I/O.

pub mod access;
pub mod api;
pub mod cli;
pub mod clock;
pub mod compose;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod endpoint_policy;
pub mod http_server;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod redact;
pub mod reminders;
pub mod scheduler;
pub mod secrets;
pub mod startup;
pub mod storage;
