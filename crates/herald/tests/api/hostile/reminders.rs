//! Creating, updating, reading and listing reminders: schedules, zones and templates.

use super::harness::{short, Auth, Case, Seed};
use super::inputs::{body_cases, long_id, urlencode, with, SQL};
use reqwest::Method;
use serde_json::{json, Value};

/// Reminders, created and updated (the seed reminder must stay as it was).
pub(super) fn cases(seed: &Seed) -> Vec<Case> {
    let base = json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}});
    let mut cases = body_cases(Method::POST, "/api/v1/reminders", &Auth::Admin, &base);
    // Reminders take any object; an unknown field is refused by the template's validation,
    // which body_cases covers. Schedules, zones and templates:
    let schedules = vec![
        json!(null),
        json!("daily"),
        json!({}),
        json!([]),
        json!({"daily": "25:00"}),
        json!({"daily": "09:60"}),
        json!({"daily": "9"}),
        json!({"daily": 900}),
        json!({"daily": ""}),
        json!({"weekly": {"days": [], "time": "09:00"}}),
        json!({"weekly": {"days": "mon", "time": "09:00"}}),
        json!({"weekly": {"days": ["someday"], "time": "09:00"}}),
        json!({"weekly": {"days": [1], "time": "09:00"}}),
        json!({"weekly": {"days": ["mon"]}}),
        json!({"weekly": "mon"}),
        json!({"cron": "not a cron"}),
        json!({"cron": ""}),
        json!({"cron": "* * * * * * * *"}),
        json!({"cron": "61 25 32 13 8"}),
        json!({"cron": "x".repeat(201)}),
        json!({"cron": 5}),
        json!({"cron": SQL[1]}),
        json!({"at": "soon"}),
        json!({"at": "2000-01-01T00:00:00Z"}),
        json!({"at": 5}),
        json!({"at": "x".repeat(10 * 1024)}),
        json!({"daily": "09:00", "cron": "* * * * *"}),
        json!({"hourly": 1}),
    ];
    for schedule in schedules {
        let body = with(&base, "schedule", (!schedule.is_null()).then_some(schedule.clone()));
        cases.push(Case::json(
            format!("schedule {}", short(&schedule.to_string())),
            Method::POST,
            "/api/v1/reminders",
            Auth::Admin,
            &body,
        ));
    }
    let fields: Vec<(&str, Option<Value>)> = vec![
        ("timezone", Some(json!("Mars/Olympus"))),
        ("timezone", Some(json!(""))),
        ("timezone", Some(json!(5))),
        ("timezone", Some(json!(SQL[0]))),
        ("timezone", Some(json!("x".repeat(10 * 1024)))),
        ("paused", Some(json!("yes"))),
        ("paused", Some(json!(1))),
        ("sendAt", Some(json!("2026-12-01T09:00:00Z"))),
        ("title", None),
        ("title", Some(json!("x".repeat(257)))),
        ("to", None),
        ("to", Some(json!({"uid": "x".repeat(129)}))),
        ("ttl", Some(json!(-1))),
        ("ttl", Some(json!("60"))),
        ("url", Some(json!("javascript:alert(1)"))),
        ("colour", Some(json!("red"))),
    ];
    for (key, value) in fields {
        let label = match &value {
            Some(v) => format!("{key} = {}", short(&v.to_string())),
            None => format!("{key} missing"),
        };
        cases.push(Case::json(
            format!("reminder {label}"),
            Method::POST,
            "/api/v1/reminders",
            Auth::Admin,
            &with(&base, key, value),
        ));
    }
    // Updating the seed reminder: the same rules, and the seed must stay as it was.
    let path = format!("/api/v1/reminders/{}", seed.reminder_id);
    cases.extend(body_cases(Method::PATCH, &path, &Auth::Admin, &json!({"title": "new"})));
    for body in [
        json!({"schedule": {"daily": "25:00"}}),
        json!({"schedule": null}),
        json!({"timezone": "Mars/Olympus"}),
        json!({"paused": "no"}),
        json!({"title": null}),
        json!({"title": ""}),
        json!({"to": null}),
        json!({"to": {"uid": "x".repeat(129)}}),
        json!({"ttl": -5}),
        json!({"sendAt": "2026-12-01T09:00:00Z"}),
        json!({"colour": "red"}),
        json!({"schedule": {"at": "2000-01-01T00:00:00Z"}, "paused": false}),
    ] {
        cases.push(Case::json(
            format!("patch {}", short(&body.to_string())),
            Method::PATCH,
            &path,
            Auth::Admin,
            &body,
        ));
    }
    for id in [long_id(), urlencode(SQL[0]), urlencode("%")] {
        for method in [Method::GET, Method::DELETE] {
            cases.push(Case::new(
                format!("reminder id {}", short(&id)),
                method,
                format!("/api/v1/reminders/{id}"),
                Auth::Admin,
            ));
        }
        cases.push(Case::json(
            format!("patch reminder id {}", short(&id)),
            Method::PATCH,
            format!("/api/v1/reminders/{id}"),
            Auth::Admin,
            &json!({"title": "x"}),
        ));
    }
    for query in [
        "limit=-1",
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=99999999999999999999",
        "foo=1",
    ] {
        cases.push(Case::new(
            format!("list {query}"),
            Method::GET,
            format!("/api/v1/reminders?{query}"),
            Auth::Admin,
        ));
    }
    cases.push(Case::new(
        "list without auth",
        Method::GET,
        "/api/v1/reminders",
        Auth::None,
    ));
    cases.push(Case::json(
        "create without auth",
        Method::POST,
        "/api/v1/reminders",
        Auth::None,
        &base,
    ));
    cases
}
