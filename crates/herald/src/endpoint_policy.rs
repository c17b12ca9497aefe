//! Which push endpoints Herald will talk to: the server-side request forgery defence.
//!
//! A subscription's endpoint is a URL a client chose. It is checked when registered (scheme,
//! host allow-list, and every address its host resolves to), and again at every connection:
//! the HTTP client resolves names through [`GuardedResolver`], which drops private addresses,
//! so a name that later re-resolves to `127.0.0.1` (DNS rebinding) still cannot be reached.
//!
//! Which addresses are public is decided by std's `Ipv4Addr` methods where they are stable,
//! and by tables of `ipnet` blocks for the rest, so every range is named once.

use herald_push::subscription::Endpoint;
use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an endpoint may not be contacted. The text is shown to whoever registered it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefused {
    #[error("the endpoint must be an https URL")]
    NotHttps,
    #[error("the push service host {0} is not in the allow-list")]
    HostNotAllowed(String),
    #[error("the endpoint points at a private, loopback or link-local address")]
    PrivateAddress,
    #[error("the endpoint host {0} does not resolve")]
    Unresolvable(String),
    #[error("the endpoint host {0} resolves to a private, loopback or link-local address")]
    ResolvesPrivate(String),
    #[error("{0} has no public address")]
    NoPublicAddress(String),
}

/// The rules, from configuration.
#[derive(Debug, Clone, Default)]
pub struct EndpointPolicy {
    pub allow_private: bool,
    pub allow_http: bool,
    /// `host` or `*.domain` patterns; empty allows any host.
    pub host_allowlist: Vec<String>,
}

impl EndpointPolicy {
    /// Checks what can be checked without the network.
    pub fn check(&self, endpoint: &Endpoint) -> Result<(), EndpointRefused> {
        if !endpoint.is_https() && !self.allow_http {
            return Err(EndpointRefused::NotHttps);
        }
        let host = endpoint.url().host_str().unwrap_or_default().to_ascii_lowercase();
        if !self.host_allowlist.is_empty() && !self.host_allowlist.iter().any(|p| host_matches(p, &host)) {
            return Err(EndpointRefused::HostNotAllowed(host));
        }
        if let Some(ip) = literal_ip(endpoint) {
            if !self.allow_private && !is_public(ip) {
                return Err(EndpointRefused::PrivateAddress);
            }
        }
        Ok(())
    }

    /// [`Self::check`], then resolves the host and refuses it if any address is not public.
    pub async fn check_resolving(&self, endpoint: &Endpoint) -> Result<(), EndpointRefused> {
        self.check(endpoint)?;
        if self.allow_private || literal_ip(endpoint).is_some() {
            return Ok(());
        }
        let host = endpoint.url().host_str().unwrap_or_default();
        let port = endpoint.url().port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| EndpointRefused::Unresolvable(host.to_owned()))?
            .collect();
        if addrs.is_empty() {
            return Err(EndpointRefused::Unresolvable(host.to_owned()));
        }
        if addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(EndpointRefused::ResolvesPrivate(host.to_owned()));
        }
        Ok(())
    }

    /// The addresses a push connection to `host` may use: a literal address if the policy
    /// allows it, or the names' addresses that are public (all of them when private ones are
    /// allowed), the same rule as [`GuardedResolver`]. The HTTP/2 pool connects only here.
    pub async fn connectable(&self, host: &url::Host<&str>, port: u16) -> Result<Vec<SocketAddr>, EndpointRefused> {
        let allowed = |ip: IpAddr| self.allow_private || is_public(ip);
        let addrs: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
            url::Host::Domain(name) => tokio::net::lookup_host((*name, port))
                .await
                .map_err(|_| EndpointRefused::Unresolvable((*name).to_owned()))?
                .collect(),
        };
        let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| allowed(a.ip())).collect();
        if addrs.is_empty() {
            return Err(EndpointRefused::NoPublicAddress(host.to_string()));
        }
        Ok(addrs)
    }

    /// The resolver the push client must use.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            allow_private: self.allow_private,
        }
    }
}

fn literal_ip(endpoint: &Endpoint) -> Option<IpAddr> {
    match endpoint.url().host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() && host.ends_with(domain) && host[..host.len() - domain.len()].ends_with('.')
        }
        None => pattern == host,
    }
}

/// True for addresses on the public internet; false for loopback, private, link-local (which
/// includes the 169.254.169.254 metadata service), shared, multicast, reserved and the like.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// NAT64's well-known prefix: the gateway connects to the IPv4 address in the low 32 bits.
const NAT64: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
/// Global unicast, the only IPv6 space that can be public.
const GLOBAL_UNICAST: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);
/// 6to4: the relay delivers to the IPv4 address in bits 16..48.
const SIX_TO_FOUR: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
/// Inside global unicast, blocks where no push service lives.
const NON_PUBLIC_GLOBAL_V6: [Ipv6Net; 3] = [
    // IETF protocol assignments: Teredo (2001::/32, whose client address is obscured),
    // benchmarking, ORCHID, AMT and the like.
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    // Documentation.
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    Ipv6Net::new_assert(Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
];
/// IPv4 blocks that are not public beyond those `Ipv4Addr`'s stable methods name (its
/// `is_shared`, `is_benchmarking` and `is_reserved` are not stable yet).
const NON_PUBLIC_V4: [Ipv4Net; 5] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8),     // "this network"
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10), // shared address space (CGNAT)
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24),  // IETF protocol assignments
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4),   // reserved, and broadcast
];

/// IPv6 is judged by an allow-list: only global unicast (2000::/3) can be public, which
/// leaves out IPv4-compatible `::a.b.c.d`, site-local `fec0::/10`, unique-local, link-local,
/// multicast and every reserved block at once. Inside 2000::/3, the blocks that are not
/// global, or that carry an IPv4 address a relay would reach, are judged by that address.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let bits = v6.to_bits();
    if NAT64.contains(&v6) {
        return is_public_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if SIX_TO_FOUR.contains(&v6) {
        return is_public_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    GLOBAL_UNICAST.contains(&v6) && !NON_PUBLIC_GLOBAL_V6.iter().any(|block| block.contains(&v6))
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || NON_PUBLIC_V4.iter().any(|block| block.contains(&ip)))
}

/// A DNS resolver that never hands the HTTP client a non-public address (unless allowed).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "224.0.0.1",
            "255.255.255.255",
            // IPv4-compatible, 6to4 of private v4, site-local, Teredo, NAT64 of private v4,
            // local-use NAT64, documentation, discard-only, ORCHID, multicast.
            "::127.0.0.1",
            "::a00:1",
            "::8.8.8.8",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::",
            "2002:a9fe:a9fe::",
            "fec0::1",
            "feff::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "64:ff9b::7f00:1",
            "64:ff9b::c0a8:1",
            "64:ff9b:1::a00:1",
            "100::1",
            "ff02::1",
            "4000::1",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "142.250.74.10",
            "2a00:1450:4001:80b::200a",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::808:808",
            "2606:4700::1111",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn policy_checks() {
        let strict = EndpointPolicy::default();
        let e = |u: &str| Endpoint::parse(u).unwrap();
        assert!(strict.check(&e("https://fcm.googleapis.com/fcm/send/x")).is_ok());
        assert_eq!(
            strict.check(&e("http://fcm.googleapis.com/x")),
            Err(EndpointRefused::NotHttps)
        );
        for private in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest",
        ] {
            assert_eq!(
                strict.check(&e(private)),
                Err(EndpointRefused::PrivateAddress),
                "{private}"
            );
        }
        let open = EndpointPolicy {
            allow_private: true,
            allow_http: true,
            host_allowlist: vec![],
        };
        assert!(open.check(&e("http://127.0.0.1:9/x")).is_ok());
        let listed = EndpointPolicy {
            host_allowlist: vec!["*.push.apple.com".into(), "fcm.googleapis.com".into()],
            ..Default::default()
        };
        assert!(listed.check(&e("https://web.push.apple.com/x")).is_ok());
        assert!(listed.check(&e("https://fcm.googleapis.com/x")).is_ok());
        assert_eq!(
            listed.check(&e("https://push.apple.com.evil.net/x")),
            Err(EndpointRefused::HostNotAllowed("push.apple.com.evil.net".into()))
        );
        assert!(listed.check(&e("https://evilpush.apple.com/x")).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let strict = EndpointPolicy {
            allow_http: true,
            ..Default::default()
        };
        let err = strict
            .check_resolving(&Endpoint::parse("http://localhost:9/x").unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                EndpointRefused::ResolvesPrivate(_) | EndpointRefused::Unresolvable(_)
            ),
            "{err}"
        );
        let resolved = strict.resolver().resolve("localhost".parse().unwrap()).await;
        assert!(resolved.is_err());
        let host = url::Host::Domain("localhost");
        assert!(strict.connectable(&host, 443).await.is_err());
        assert!(strict
            .connectable(&url::Host::Ipv4(Ipv4Addr::LOCALHOST), 443)
            .await
            .is_err());
        assert!(strict
            .connectable(&url::Host::Ipv6(Ipv6Addr::LOCALHOST), 443)
            .await
            .is_err());
        let open = EndpointPolicy {
            allow_private: true,
            ..Default::default()
        };
        assert!(!open.connectable(&host, 443).await.unwrap().is_empty());
    }
}
