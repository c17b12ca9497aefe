//! A push service's answer, classified as a typed [`PushOutcome`] rather than a string.
//!
//! | status | outcome |
//! |---|---|
//! | 2xx (201, 202) | [`PushOutcome::Accepted`] |
//! | 404, 410, VAPID key mismatch | [`PushOutcome::Gone`]: delete the subscription |
//! | 408, 425, 429, 5xx | [`PushOutcome::RetryLater`], with `Retry-After` when given |
//! | 400, 401, 403, 413, other | [`PushOutcome::Failed`]: permanent for this message |

use http::header::{HeaderMap, LOCATION, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// Why a subscription is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    /// 404 or 410: the browser unsubscribed or the subscription expired.
    Expired,
    /// The subscription was created with another VAPID key; it can never work with this one.
    KeyMismatch,
}

/// Why a message failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// 400: the request was malformed (a bug or a bad header).
    BadRequest,
    /// 401 or 403: VAPID was refused; check the key and the subject.
    Unauthorized,
    /// 413: the body was too large.
    PayloadTooLarge,
    /// Any other status that retrying will not fix.
    Unexpected,
}

/// The classified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted { status: u16, location: Option<String> },
    Gone { status: u16, reason: GoneReason },
    RetryLater { status: u16, retry_after: Option<Duration> },
    Failed { status: u16, reason: FailureReason },
}

impl PushOutcome {
    /// A short stable label (`accepted`, `gone`, `retry`, `failed`), for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Gone { .. } => "gone",
            Self::RetryLater { .. } => "retry",
            Self::Failed { .. } => "failed",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Accepted { status, .. }
            | Self::Gone { status, .. }
            | Self::RetryLater { status, .. }
            | Self::Failed { status, .. } => *status,
        }
    }
}

/// Classifies a response. `body` is only read to recognise a VAPID key mismatch, which the
/// services report with 400/401/403 and a telling body.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> PushOutcome {
    match status {
        200..=299 => PushOutcome::Accepted {
            status,
            location: headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
        },
        404 | 410 => PushOutcome::Gone {
            status,
            reason: GoneReason::Expired,
        },
        400 | 401 | 403 if is_key_mismatch(body) => PushOutcome::Gone {
            status,
            reason: GoneReason::KeyMismatch,
        },
        408 | 425 | 429 | 500..=599 => PushOutcome::RetryLater {
            status,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now)),
        },
        400 => PushOutcome::Failed {
            status,
            reason: FailureReason::BadRequest,
        },
        401 | 403 => PushOutcome::Failed {
            status,
            reason: FailureReason::Unauthorized,
        },
        413 => PushOutcome::Failed {
            status,
            reason: FailureReason::PayloadTooLarge,
        },
        _ => PushOutcome::Failed {
            status,
            reason: FailureReason::Unexpected,
        },
    }
}

/// Apple says `VapidPkHashMismatch`; autopush "key mismatch"; FCM that the key "does not
/// correspond" to the one the subscription was made with.
fn is_key_mismatch(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    text.contains("vapidpkhashmismatch")
        || text.contains("key mismatch")
        || text.contains("does not correspond")
        || text.contains("do not correspond")
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past
/// means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn classify_plain(status: u16) -> PushOutcome {
        classify(status, &HeaderMap::new(), b"", SystemTime::now())
    }

    #[test]
    fn table() {
        assert!(matches!(classify_plain(201), PushOutcome::Accepted { .. }));
        assert!(matches!(classify_plain(202), PushOutcome::Accepted { .. }));
        assert_eq!(
            classify_plain(404),
            PushOutcome::Gone {
                status: 404,
                reason: GoneReason::Expired
            }
        );
        assert_eq!(
            classify_plain(410),
            PushOutcome::Gone {
                status: 410,
                reason: GoneReason::Expired
            }
        );
        assert_eq!(
            classify_plain(429),
            PushOutcome::RetryLater {
                status: 429,
                retry_after: None
            }
        );
        assert!(matches!(classify_plain(500), PushOutcome::RetryLater { .. }));
        assert!(matches!(classify_plain(503), PushOutcome::RetryLater { .. }));
        assert_eq!(
            classify_plain(400),
            PushOutcome::Failed {
                status: 400,
                reason: FailureReason::BadRequest
            }
        );
        assert_eq!(
            classify_plain(401),
            PushOutcome::Failed {
                status: 401,
                reason: FailureReason::Unauthorized
            }
        );
        assert_eq!(
            classify_plain(403),
            PushOutcome::Failed {
                status: 403,
                reason: FailureReason::Unauthorized
            }
        );
        assert_eq!(
            classify_plain(413),
            PushOutcome::Failed {
                status: 413,
                reason: FailureReason::PayloadTooLarge
            }
        );
    }

    #[test]
    fn key_mismatch_is_gone() {
        let now = SystemTime::now();
        let h = HeaderMap::new();
        for (status, body) in [
            (403, &br#"{"reason":"VapidPkHashMismatch"}"#[..]),
            (
                401,
                br#"{"code":401,"errno":109,"error":"Unauthorized","message":"Key mismatch"}"#,
            ),
            (
                403,
                b"the key in the authorization header does not correspond to the sender ID used to subscribe this user",
            ),
        ] {
            assert_eq!(
                classify(status, &h, body, now),
                PushOutcome::Gone {
                    status,
                    reason: GoneReason::KeyMismatch
                }
            );
        }
        assert!(matches!(
            classify(401, &h, br#"{"errno":109,"message":"bad signature"}"#, now),
            PushOutcome::Failed { .. }
        ));
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = httpdate::parse_http_date("Sun, 29 Nov 2026 12:00:00 GMT").unwrap();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(
            classify(503, &h, b"", now),
            PushOutcome::RetryLater {
                status: 503,
                retry_after: Some(Duration::from_secs(120))
            }
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 29 Nov 2026 12:01:30 GMT"));
        assert_eq!(
            classify(429, &h, b"", now),
            PushOutcome::RetryLater {
                status: 429,
                retry_after: Some(Duration::from_secs(90))
            }
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn location_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_static("https://push.example.net/m/1"));
        assert_eq!(
            classify(201, &h, b"", SystemTime::now()),
            PushOutcome::Accepted {
                status: 201,
                location: Some("https://push.example.net/m/1".into())
            }
        );
    }

    proptest! {
        #[test]
        fn every_status_classifies_consistently(status in 100u16..1000) {
            let outcome = classify_plain(status);
            prop_assert_eq!(outcome.status(), status);
            let expected = match status {
                200..=299 => "accepted",
                404 | 410 => "gone",
                408 | 425 | 429 | 500..=599 => "retry",
                _ => "failed",
            };
            prop_assert_eq!(outcome.label(), expected);
        }

        #[test]
        fn retry_after_never_panics(text in ".{0,60}") {
            let _ = parse_retry_after(&text, SystemTime::now());
        }

        #[test]
        fn retry_after_integers_are_seconds(n in 0u64..10_000_000) {
            prop_assert_eq!(parse_retry_after(&n.to_string(), SystemTime::now()), Some(Duration::from_secs(n)));
        }
    }
}
