//! Herald: a self-hosted Web Push notification server.
//!
//! Host applications register their users' browsers and send titled messages to a client
//! (`uid`), an administrator (`aid`), a list or everyone; Herald encrypts, signs and delivers
//! them durably through the browsers' push services.
//!
//! # Layout, bottom to top
//! Each module uses only modules on lower lines; `tests/layering.rs` fails the build's tests
//! when one reaches up (the HTTP layer uses the engine and storage, never the other way round).
//!
//! 1. Leaves, with no Herald imports:
//!    [`clock`] (the server's time, and how instants are written),
//!    [`domain`] (owners, audiences, modes and states that validate on parse),
//!    [`redact`] (how endpoints appear in logs), [`logging`] (log format on stderr),
//!    [`metrics`] (the `/metrics` counters and gauges),
//!    [`endpoint_policy`] (which endpoints may be contacted: the SSRF defence),
//!    [`net`] (trusted proxy blocks, shared by configuration and the HTTP layer);
//! 2. [`secrets`] (ids, secrets, hashing, owner tokens) and [`config`] (`herald.toml` and
//!    `HERALD_*` variables, validated at start);
//! 3. [`access`]: API keys and their scopes;
//! 4. [`storage`]: SQLite, PostgreSQL or MySQL behind one set of queries; the outbox;
//! 5. [`compose`]: the rules a message must satisfy, shared by the API, the CLI and reminders;
//! 6. [`app`]: the state the API, the engine and the scheduler share;
//! 7. [`delivery`] (the engine that drains the outbox into push services) and [`reminders`]
//!    (messages on a schedule);
//! 8. [`scheduler`]: firing scheduled messages and reminders, and the cleanup job;
//! 9. [`api`]: the HTTP API, its connection handling and the embedded browser assets;
//! 10. [`startup`]: wiring it all into an [`startup::Application`];
//! 11. [`cli`]: the `herald` command.
//!
//! The Web Push protocol itself (VAPID, encryption, request and response rules) lives in
//! the `herald-push` crate, which has no I/O.

pub mod access;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod compose;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod endpoint_policy;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod redact;
pub mod reminders;
pub mod scheduler;
pub mod secrets;
pub mod startup;
pub mod storage;
