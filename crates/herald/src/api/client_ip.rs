//! Who the client is, for the per-address rate limit.
//!
//! Behind a load balancer every request comes from the balancer's address, so one busy
//! client would exhaust everybody's budget. `X-Forwarded-For` names the real client, but any
//! client can send that header, so it is believed only from proxies the operator lists in
//! `HERALD_TRUSTED_PROXIES`, and only as far as the chain of trusted proxies reaches: the
//! client is the rightmost address that is not itself a trusted proxy.

use crate::net::{canonical, TrustedProxies};
use axum::http::HeaderMap;
use std::net::IpAddr;

/// The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
/// `X-Forwarded-For` entry that is not a trusted proxy. An entry that does not parse ends the
/// walk (the hop that wrote it is the client as far as Herald can tell).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.contains(ip);
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`), as some load balancers write it.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    // IPv4 with a port; a bare IPv6 address has more than one colon and parsed above.
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let forwarded = headers(&["198.51.100.1, 203.0.113.9"]);
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(client_ip(ip("203.0.113.50"), &forwarded, &trusted), ip("203.0.113.50"));
        // From the proxy: the rightmost untrusted entry, not the leftmost (which the client
        // wrote itself).
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded, &trusted), ip("203.0.113.9"));
        // A chain of trusted proxies is walked through.
        let chain = headers(&["198.51.100.1", "203.0.113.9, 10.0.0.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &chain, &trusted), ip("203.0.113.9"));
        // No header, or garbage where the proxy's entry should be: the proxy itself.
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["nonsense"]), &trusted),
            ip("10.0.0.2")
        );
        // Entries with ports, as some balancers write them.
        let ported = headers(&["198.51.100.1:1234, [2001:db8::7]:443"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &ported, &trusted), ip("2001:db8::7"));
        let ported = headers(&["203.0.113.9:5678"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &ported, &trusted), ip("203.0.113.9"));
        // Nothing trusted: the header never counts.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded, &TrustedProxies::default()),
            ip("10.0.0.2")
        );
    }
}
