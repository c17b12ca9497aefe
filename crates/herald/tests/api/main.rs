//! Integration tests: the real server, a fresh database per test, a mock push service.

mod cli;
mod delivery;
mod faults;
mod helpers;
mod hostile;
mod messages;
mod push_service_behaviour;
mod reminders;
mod subscriptions;
mod tickle;
