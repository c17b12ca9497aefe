//! Sending messages and reading their delivery state (admin).

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Reader, Sender};
use super::AppState;
use crate::clock::rfc3339;
use crate::compose::MessageRequest;
use crate::domain::language::LanguageTag;
use crate::storage::messages::MessageStatus;
use crate::storage::messages::{Cancelled, MessageFilter, MessageView, StatusFilter};
use crate::storage::outbox::TargetState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long `?wait=true` waits for first attempts before answering with what it has.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How often `?wait=true` checks without being woken: this instance's recorder wakes it, but
/// another instance may be the one that sends and records.
const WAIT_RECHECK: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    wait: Option<bool>,
}

pub async fn create(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<CreateQuery>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> ApiResult<impl IntoResponse> {
    let now = state.clock.now_ms();
    let message = req.validate(now, state.config.quiet_hours)?;
    let targets = state.store.create_message(&message, now).await?;
    state.metrics.message_created();
    let Some(targets) = targets else {
        state.scheduler_wake.notify_one();
        return Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({ "id": message.id, "targets": 0, "status": "scheduled", "sendAt": rfc3339(message.send_at_ms) }),
            ),
        ));
    };
    state.delivery_wake.notify_one();
    if !query.wait.unwrap_or(false) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "id": message.id, "targets": targets })),
        ));
    }
    // The original's "request sent": wait until every target's first attempt has settled.
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        // Taken before the check, so results recorded between the check and the wait wake it.
        let recorded = state.delivery_recorded.notified();
        if state.store.unattempted_targets(&message.id).await? == 0 {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        tokio::select! {
            _ = recorded => {}
            _ = tokio::time::sleep_until((now + WAIT_RECHECK).min(deadline)) => {}
        }
    }
    let view = state
        .store
        .message(&message.id)
        .await?
        .ok_or_else(|| ApiError::not_found("the message was removed"))?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "id": view.id, "targets": view.targets, "accepted": view.accepted, "failed": view.failed,
            "gone": view.gone, "pending": view.pending(),
        })),
    ))
}

/// A message as the API shows it: what was sent, in the shapes a request uses (a title with
/// translations as a map by language; rich fields only when set), and its counters.
pub fn message_json(m: &MessageView) -> serde_json::Value {
    let c = &m.content;
    let mut answer = json!({
        "id": m.id,
        "to": m.audience,
        "title": c.title(&m.title),
        "body": match (&m.body, c.bodies.is_empty()) {
            (None, true) => serde_json::Value::Null,
            // Translations beside an empty default body were accepted; show them as sent.
            (body, _) => json!(c.body(Some(body.as_deref().unwrap_or_default()))),
        },
        "url": m.url,
        "icon": m.icon,
        "tag": m.tag,
        "mode": m.mode.as_str(),
        "urgency": m.urgency,
        "topic": m.topic,
        "ttl": m.ttl_secs,
        "status": m.status_label(),
        "createdAt": rfc3339(m.created_at),
        "sendAt": rfc3339(m.send_at),
        "expiresAt": rfc3339(m.expires_at),
        "reminderId": m.reminder_id,
        "targets": m.targets,
        "pending": if m.status == MessageStatus::Scheduled { 0 } else { m.pending() },
        "accepted": m.accepted,
        "failed": m.failed,
        "gone": m.gone,
        "displayed": m.displayed,
        "clicked": m.clicked,
    });
    if let Some(quiet) = m.quiet_hours {
        answer["quietHours"] = json!({
            "from": quiet.from().format("%H:%M").to_string(),
            "to": quiet.to().format("%H:%M").to_string(),
        });
    }
    if m.ignore_quiet_hours {
        answer["ignoreQuietHours"] = json!(true);
    }
    c.write_fields(&mut answer, c.lang.as_ref().map(LanguageTag::as_str));
    if m.spread_over_ms > 0 {
        answer["spreadOver"] = json!(m.spread_over_ms / 1000);
        // Pacing starts when the message fans out: at `sendAt`.
        answer["spread"] = json!({
            "overSeconds": m.spread_over_ms / 1000,
            "endsAt": rfc3339(m.send_at + m.spread_over_ms),
        });
    }
    answer
}

pub async fn get(_: Reader, State(state): State<Arc<AppState>>, ApiPath(id): ApiPath) -> ApiResult<impl IntoResponse> {
    // The counters and the clicks by action come from one statement, so they agree.
    let (message, clicks) = state
        .store
        .message_with_clicks(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    let mut answer = message_json(&message);
    if message.spread_over_ms > 0 {
        answer["spread"]["released"] = json!(state.store.released_targets(&message.id, state.clock.now_ms()).await?);
    }
    // Clicks by action (`default`: the notification itself); `clicked` counts devices.
    let clicks: serde_json::Map<String, serde_json::Value> = clicks
        .into_iter()
        .map(|(action, count)| (action, json!(count)))
        .collect();
    answer["clicks"] = serde_json::Value::Object(clicks);
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    before: Option<String>,
    #[serde(rename = "beforeId")]
    before_id: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    title: Option<String>,
}

fn parse_time(name: &str, value: &str) -> ApiResult<i64> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("`{name}` must be an RFC 3339 time")))
}

pub async fn list(
    _: Reader,
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be 1 to 500"));
    }
    let before = match &q.before {
        Some(b) => Some(
            chrono::DateTime::parse_from_rfc3339(b)
                .map_err(|_| ApiError::bad_request("`before` must be an RFC 3339 time"))?
                .timestamp_millis(),
        ),
        None => None,
    };
    let before_id = match (&q.before_id, before) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "`beforeId` needs `before` (the same message's `createdAt`)",
            ))
        }
        (Some(id), Some(_)) if crate::secrets::is_valid_id(id) => Some(id.as_str()),
        (Some(_), Some(_)) => return Err(ApiError::bad_request("`beforeId` is not a message id")),
    };
    let filter = MessageFilter {
        status: match q.status.as_deref() {
            None => None,
            Some(text) => Some(
                StatusFilter::parse(text)
                    .ok_or_else(|| ApiError::bad_request("`status` must be scheduled, sending, done or cancelled"))?,
            ),
        },
        since: q.since.as_deref().map(|t| parse_time("since", t)).transpose()?,
        until: q.until.as_deref().map(|t| parse_time("until", t)).transpose()?,
        title: match q.title.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) if text.chars().count() > 200 => {
                return Err(ApiError::bad_request("`title` must be at most 200 characters"))
            }
            Some(text) => Some(text.to_owned()),
        },
    };
    let messages = state
        .store
        .list_messages(limit, before.map(|created_at| (created_at, before_id)), &filter)
        .await?;
    Ok(Json(
        json!({ "messages": messages.iter().map(message_json).collect::<Vec<_>>() }),
    ))
}

/// Cancels a scheduled message that has not started sending.
pub async fn cancel(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    match state.store.cancel_message(&id).await? {
        Cancelled::Yes => Ok(StatusCode::NO_CONTENT),
        Cancelled::NotFound => Err(ApiError::not_found("no such message")),
        Cancelled::AlreadySent => Err(ApiError::conflict(
            "the message is already being sent; it can no longer be cancelled",
        )),
    }
}

/// A message's settled targets by push service, and its failures by last HTTP status.
pub async fn delivery(
    _: Reader,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    let message = state
        .store
        .message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    let rows = state.store.message_outcomes(&id).await?;
    let mut services: Vec<serde_json::Value> = Vec::new();
    for service in crate::storage::rollups::PushService::ALL {
        let of = |wanted: TargetState| -> i64 {
            rows.iter()
                .filter(|r| r.service == service && r.state == wanted)
                .map(|r| r.targets)
                .sum()
        };
        let (accepted, failed, gone) = (
            of(TargetState::Accepted),
            of(TargetState::Failed),
            of(TargetState::Gone),
        );
        if accepted + failed + gone > 0 {
            services.push(json!({
                "service": service.label(), "accepted": accepted, "failed": failed, "gone": gone,
            }));
        }
    }
    let failures: Vec<_> = rows
        .iter()
        .filter(|r| r.state != TargetState::Accepted)
        .map(|r| {
            json!({
                "service": r.service.label(),
                "outcome": if r.state == TargetState::Gone { "gone" } else { "failed" },
                "lastStatus": r.last_status,
                "targets": r.targets,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": message.id,
        "targets": message.targets,
        "pending": if message.status == MessageStatus::Scheduled { 0 } else { message.pending() },
        "services": services,
        "failures": failures,
    })))
}
