//! Reminders: messages that fire on a schedule (`send` scope to change, `read` to look).

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Reader, Sender};
use super::AppState;
use crate::clock::rfc3339;
use crate::domain::ValidationError;
use crate::reminders::{apply_update, new_record, ReminderInput, Schedule, ScheduleSpec};
use crate::storage::reminders::ReminderRecord;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn reminder_json(r: &ReminderRecord) -> Value {
    let mut body = Value::Object(r.template.as_object().cloned().unwrap_or_default());
    body["id"] = json!(r.id);
    body["schedule"] = r.schedule.clone();
    body["timezone"] = json!(r.timezone);
    body["paused"] = json!(r.paused);
    body["nextFireAt"] = json!(r.next_fire_at.map(rfc3339));
    body["nextFireAtLocal"] = json!(r.next_fire_at.and_then(|at| local_time(at, &r.timezone)));
    body["lastFiredAt"] = json!(r.last_fired_at.map(rfc3339));
    body["lastMessageId"] = json!(r.last_message_id);
    body["fired"] = json!(r.fired);
    body["createdAt"] = json!(rfc3339(r.created_at));
    body
}

pub async fn create(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiJson(input): ApiJson<ReminderInput>,
) -> ApiResult<impl IntoResponse> {
    let record = new_record(input, state.clock.now_ms())?;
    state.store.insert_reminder(&record).await?;
    state.scheduler_wake.notify_one();
    Ok((StatusCode::CREATED, Json(reminder_json(&record))))
}

pub async fn update(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
    ApiJson(input): ApiJson<ReminderInput>,
) -> ApiResult<impl IntoResponse> {
    let mut record = state
        .store
        .reminder(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such reminder"))?;
    apply_update(&mut record, input, state.clock.now_ms())?;
    state.store.update_reminder(&record).await?;
    state.scheduler_wake.notify_one();
    Ok(Json(reminder_json(&record)))
}

pub async fn get(_: Reader, State(state): State<Arc<AppState>>, ApiPath(id): ApiPath) -> ApiResult<impl IntoResponse> {
    let record = state
        .store
        .reminder(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such reminder"))?;
    Ok(Json(reminder_json(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    after: Option<String>,
}

pub async fn list(
    _: Reader,
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be 1 to 1000"));
    }
    if q.after.as_ref().is_some_and(|a| !crate::secrets::is_valid_id(a)) {
        return Err(ApiError::bad_request("`after` is not a reminder id"));
    }
    let records = state.store.list_reminders(limit, q.after.as_deref()).await?;
    Ok(Json(
        json!({ "reminders": records.iter().map(reminder_json).collect::<Vec<_>>() }),
    ))
}

pub async fn delete(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    if !state.store.delete_reminder(&id).await? {
        return Err(ApiError::not_found("no such reminder"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A time as RFC 3339 in a time zone's local offset (`2026-12-01T09:00:00+02:00`).
fn local_time(at_ms: i64, zone: &str) -> Option<String> {
    use chrono::TimeZone;
    let zone: chrono_tz::Tz = zone.parse().ok()?;
    let local = zone.timestamp_millis_opt(at_ms).single()?;
    Some(local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    schedule: ScheduleSpec,
    timezone: Option<String>,
    count: Option<i64>,
}

/// The next firings of a schedule, computed by the code the scheduler fires with, so a form
/// can show them before the reminder is saved.
pub async fn preview(
    _: Reader,
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> ApiResult<impl IntoResponse> {
    let count = req.count.unwrap_or(5);
    if !(1..=50).contains(&count) {
        return Err(ValidationError::new("count", "`count` must be 1 to 50").into());
    }
    let zone = req.timezone.unwrap_or_else(|| "UTC".into());
    let schedule = Schedule::new(&req.schedule, Some(&zone))?;
    let mut firings = Vec::new();
    let mut after = state.clock.now_ms();
    while (firings.len() as i64) < count {
        let Some(at) = schedule.next_after(after) else {
            break;
        };
        firings.push(json!({ "at": rfc3339(at), "local": local_time(at, &zone) }));
        after = at;
    }
    Ok(Json(json!({ "timezone": zone, "firings": firings })))
}
