//! Where a webhook may go: an endpoint's host is resolved and every address it resolves to
//! must be public, at registration and again at every attempt; the attempt then connects to
//! one of exactly the addresses checked, so a DNS answer that changes in between (DNS
//! rebinding) cannot steer it into the server's own network. Loopback, private, link-local
//! (cloud metadata at 169.254.169.254 among them), CGNAT, unique-local, multicast,
//! documentation and reserved ranges are refused unless the operator allows private targets.

use crate::domain::EndpointUrl;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why an endpoint may not be called; safe to show its owner (it names no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("cannot be resolved")]
    Unresolved,
    #[error("resolves to {0}, a loopback, private, link-local or otherwise non-public address")]
    NotPublic(IpAddr),
}

/// The addresses to connect to for `url`, every one of them allowed, or why not.
pub async fn resolve(
    url: &EndpointUrl,
    allow_private: bool,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Refused> {
    let url = url.url();
    let port = url.port_or_known_default().ok_or(Refused::Unresolved)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(name)) => {
            let lookup = tokio::net::lookup_host((name.to_owned(), port));
            match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(found)) => found.collect(),
                _ => return Err(Refused::Unresolved),
            }
        }
        None => return Err(Refused::Unresolved),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved);
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(Refused::NotPublic(bad.ip()));
    }
    Ok(addrs)
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))  // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b))  // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0]       // IPv4-compatible (deprecated)
        || s[0..6] == [0, 0, 0, 0, 0xffff, 0]  // IPv4-translated (::ffff:0:0/96, SIIT)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 (RFC 8215)
        || (s[0] & 0xfe00) == 0xfc00           // unique local, fd00:ec2::254 among them
        || (s[0] & 0xffc0) == 0xfe80           // link-local
        || (s[0] & 0xffc0) == 0xfec0           // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00           // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)  // documentation
        || (s[0] == 0x2001 && s[1] == 0)       // Teredo
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().unwrap())
    }

    #[test]
    fn translated_and_local_nat64_addresses_are_not_public() {
        assert!(!public("::ffff:0:7f00:1"));
        assert!(!public("64:ff9b:1::7f00:1"));
        assert!(!public("64:ff9b:1::808:808"));
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
        ] {
            assert!(public(ip), "{ip} must be allowed");
        }
    }

    #[tokio::test]
    async fn literals_and_names_are_checked_before_any_connection() {
        let url = |u: &str| EndpointUrl::parse("url", u).unwrap();
        let t = Duration::from_secs(2);
        assert_eq!(
            resolve(&url("http://169.254.169.254/latest"), false, t).await,
            Err(Refused::NotPublic("169.254.169.254".parse().unwrap()))
        );
        assert!(matches!(
            resolve(&url("http://localhost:9/"), false, t).await,
            Err(Refused::NotPublic(_))
        ));
        assert_eq!(
            resolve(&url("http://127.0.0.1:9/"), true, t).await,
            Ok(vec!["127.0.0.1:9".parse().unwrap()])
        );
    }
}
