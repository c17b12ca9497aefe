//! A per-client-IP limit on the public endpoints: a budget of requests per minute per
//! address, kept in memory. Behind trusted proxies the address comes from `X-Forwarded-For`
//! (see `client_ip`). It blunts floods of registrations or secret guesses from one address;
//! it is not a substitute for a rate limit at the load balancer. Requests that carry the admin
//! token or a live API key are exempt.
//!
//! The `governor` crate keeps the budgets (GCRA: the whole budget at once, refilled evenly over
//! the minute), a well-kept keyed limiter in place of hand-written windows.

use super::client_ip::client_ip;
use super::error::ApiError;
use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Addresses remembered before the idle ones (their budget full again) are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

pub struct RateLimiter {
    /// `None`: no limit.
    budgets: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RateLimiter {
    /// `per_minute` requests per address per minute; 0 disables the limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            budgets: NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// True when `ip` may make another request now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let Some(budgets) = &self.budgets else {
            return true;
        };
        if budgets.len() > MAX_TRACKED_ADDRESSES {
            budgets.retain_recent();
        }
        budgets.check_key(&bucket(ip)).is_ok()
    }
}

/// The address a request is counted under: an IPv6 client is counted by its /64, since one
/// subscriber line is given a whole /64 (often more) and picks any address in it at will, so
/// counting single addresses would give one attacker 2^64 budgets.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

pub async fn limit(
    State((state, limiter)): State<(Arc<AppState>, Arc<RateLimiter>)>,
    request: Request,
    next: Next,
) -> Response {
    // The host application's back end registers its users' devices with the admin token or
    // an API key, often from one address: those calls are not the anonymous public and do not
    // spend its budget. A token that does not authenticate is counted like no token.
    if let Some(token) = super::extract::bearer_header(request.headers()) {
        if matches!(state.authenticate(token).await, Ok(Some(_))) {
            return next.run(request).await;
        }
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0.ip(), request.headers(), &state.config.trusted_proxies));
    if let Some(ip) = ip {
        if !limiter.allow(ip) {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; slow down",
            )
            .into_response();
            // When the whole budget is back, whatever the client spent.
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("60"));
            return response;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let limiter = RateLimiter::new(3);
        let in_one_64 = [
            "2001:4860:1:2::1",
            "2001:4860:1:2::2",
            "2001:4860:1:2:ffff:ffff:ffff:ffff",
        ];
        for ip in in_one_64 {
            assert!(limiter.allow(ip.parse().unwrap()), "{ip}");
        }
        assert!(!limiter.allow("2001:4860:1:2:abcd::9".parse().unwrap()));
        // The next /64 and IPv4 clients have their own budgets.
        assert!(limiter.allow("2001:4860:1:3::1".parse().unwrap()));
        for _ in 0..3 {
            assert!(limiter.allow("203.0.113.7".parse().unwrap()));
        }
        assert!(!limiter.allow("203.0.113.7".parse().unwrap()));
        assert!(!limiter.allow("::ffff:203.0.113.7".parse().unwrap()));
        assert!(limiter.allow("203.0.113.8".parse().unwrap()));
    }
}
