//! The admin console's overview: subscriptions by push service and kind, created and pruned
//! per day, push requests per minute and per hour by outcome and push service, and the queue
//! depth now. Read from the rollups in `storage::rollups`, never from the outbox.

use super::error::ApiResult;
use super::extract::Reader;
use super::AppState;
use crate::clock::rfc3339;
use crate::storage::rollups::{PushOutcome, PushSeries, PushService};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub async fn overview(_: Reader, State(state): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    let now = state.clock.now_ms();
    let o = state.store.overview(now).await?;
    let count = |service: PushService, admins: bool| o.subscriptions.get(&(service, admins)).copied().unwrap_or(0);
    let by_service: Vec<Value> = PushService::ALL
        .iter()
        .map(|&s| {
            json!({
                "service": s.label(), "clients": count(s, false), "admins": count(s, true),
                "total": count(s, false) + count(s, true),
            })
        })
        .collect();
    let clients: i64 = PushService::ALL.iter().map(|&s| count(s, false)).sum();
    let admins: i64 = PushService::ALL.iter().map(|&s| count(s, true)).sum();
    let days: Vec<Value> = o
        .days
        .iter()
        .enumerate()
        .map(|(i, (created, pruned))| {
            let day = chrono::DateTime::from_timestamp((o.first_day + i as i64) * 86_400, 0).unwrap_or_default();
            json!({ "day": day.format("%Y-%m-%d").to_string(), "created": created, "pruned": pruned })
        })
        .collect();
    let minutes = series(&o.minutes, 60_000);
    let hours = series(&o.hours, 3_600_000);
    Ok(Json(json!({
        "now": rfc3339(now),
        "queueDepth": o.queue_depth,
        "subscriptions": { "total": clients + admins, "clients": clients, "admins": admins, "byService": by_service },
        "days": days,
        "lastHour": totals(&o.minutes, 60),
        "lastDay": totals(&o.hours, 24),
        "minutes": minutes,
        "hours": hours,
    })))
}

/// Each bucket: its start, the requests by outcome, and by push service.
fn series(s: &PushSeries, step_ms: i64) -> Value {
    let buckets: Vec<Value> = s
        .buckets
        .iter()
        .enumerate()
        .map(|(i, counts)| {
            let mut bucket = Map::new();
            bucket.insert("at".into(), json!(rfc3339((s.first + i as i64) * step_ms)));
            for outcome in PushOutcome::ALL {
                let n: i64 = counts.iter().filter(|((_, o), _)| *o == outcome).map(|(_, n)| n).sum();
                bucket.insert(outcome.label().into(), json!(n));
            }
            let services: Map<String, Value> = PushService::ALL
                .iter()
                .map(|&service| {
                    let n: i64 = counts.iter().filter(|((s, _), _)| *s == service).map(|(_, n)| n).sum();
                    (service.label().to_owned(), json!(n))
                })
                .collect();
            bucket.insert("services".into(), Value::Object(services));
            Value::Object(bucket)
        })
        .collect();
    json!({ "stepSeconds": step_ms / 1000, "buckets": buckets })
}

/// Requests by outcome over the last `last` buckets.
fn totals(s: &PushSeries, last: usize) -> Value {
    let from = s.buckets.len().saturating_sub(last);
    let mut out = Map::new();
    for outcome in PushOutcome::ALL {
        let n: i64 = s.buckets[from..]
            .iter()
            .flat_map(|b| b.iter())
            .filter(|((_, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum();
        out.insert(outcome.label().into(), json!(n));
    }
    Value::Object(out)
}
