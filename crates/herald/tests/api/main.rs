//! Integration tests: the real server, a fresh database per test, a mock push service.

mod api_keys;
mod cli;
mod delivery;
mod faults;
mod field_errors;
mod hardening;
mod helpers;
mod hostile;
mod languages;
mod messages;
mod openapi_conformance;
mod overview;
mod push_service_behaviour;
mod realistic_push_service;
mod reminders;
mod rich_messages;
mod subscriptions;
mod test_database;
mod tickle;
