//! Address rules that both configuration and the HTTP layer need: which proxies are trusted.
//!
//! The CIDR arithmetic is the `ipnet` crate's (`IpNet::contains`), a well-tested crate that
//! `reqwest` already brings in. This module adds only Herald's input rules: a bare address is
//! a block of one, and an IPv4 client seen as `::ffff:a.b.c.d` is matched as IPv4.

use ipnet::IpNet;
use std::net::IpAddr;

/// An entry of `HERALD_TRUSTED_PROXIES` that is neither an address nor a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR block like 10.0.0.0/8")]
pub struct NotABlock(pub String);

/// The proxies listed in `HERALD_TRUSTED_PROXIES`, whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses or CIDR blocks (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, NotABlock> {
        entries
            .iter()
            .map(|e| parse_block(e.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|block| block.contains(&ip))
    }
}

fn parse_block(text: &str) -> Result<IpNet, NotABlock> {
    if let Ok(block) = text.parse::<IpNet>() {
        return Ok(block);
    }
    match text.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(ip)),
        Err(_) => Err(NotABlock(text.to_owned())),
    }
}

/// IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn one(text: &str) -> Result<TrustedProxies, NotABlock> {
        TrustedProxies::parse(&[text])
    }

    #[test]
    fn blocks_parse_and_match() {
        let block = one("10.1.0.0/16").unwrap();
        assert!(block.contains(ip("10.1.255.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(block.contains(ip("::ffff:10.1.0.9")));
        assert!(one("0.0.0.0/0").unwrap().contains(ip("203.0.113.5")));
        assert!(!one("0.0.0.0/0").unwrap().contains(ip("2001:db8::1")));
        assert!(one("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(one("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!one("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        assert!(!TrustedProxies::default().contains(ip("192.0.2.7")));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x", "10.0.0/8"] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }
}
