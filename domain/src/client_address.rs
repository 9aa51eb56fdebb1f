//! Who is on the other end of a request. Behind a reverse proxy every connection comes from the
//! proxy, so per-address limits would lump all customers together; `X-Forwarded-For` names the
//! real client, but anyone can send that header. It is read only through hops listed in
//! `TRUSTED_PROXIES`: walking the chain from the nearest hop back, the first address that is not
//! a trusted proxy is the client.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address given the connection's peer and the `X-Forwarded-For` values (every
/// header occurrence, in order).
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A hop we cannot read: stop at the last one we could (never trust what precedes it).
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    canonical(client)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80` or `::1`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The network a client counts as for per-client limits: an IPv4 address itself (/32), and for
/// IPv6 its /64 — a host picks a new address from its /64 for every connection it likes
/// (privacy extensions), so a limit per IPv6 address would be no limit at all.
pub fn network(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// IPv4 clients on a dual-stack socket arrive as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses `TRUSTED_PROXIES`: addresses or CIDR ranges, comma-separated.
pub fn parse_trusted(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| s.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let trusted = parse_trusted("10.0.0.0/8, 127.0.0.1").unwrap();
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["1.1.1.1"], &trusted),
            ip("203.0.113.9"),
            "spoofed header from a client"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), [], &trusted),
            ip("127.0.0.1"),
            "no header: the proxy itself"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["198.51.100.7"], &[]),
            ip("127.0.0.1"),
            "nothing trusted by default"
        );
    }

    #[test]
    fn the_chain_is_walked_back_through_trusted_hops_only() {
        let trusted = parse_trusted("10.0.0.0/8,127.0.0.1").unwrap();
        // The client forged a first entry; the proxies appended the real hops after it.
        let chain = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(client_ip(ip("127.0.0.1"), chain, &trusted), ip("198.51.100.7"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["garbage, 10.0.0.5"], &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_an_ipv4_client_its_address() {
        assert_eq!(network(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(network(ip("2001:db8:1:2:ffff:1:2:3")), network(ip("2001:db8:1:2::9")));
        assert_ne!(network(ip("2001:db8:1:3::1")), network(ip("2001:db8:1:2::1")));
        assert_eq!(network(ip("198.51.100.7")), "198.51.100.7");
        assert_ne!(network(ip("198.51.100.7")), network(ip("198.51.100.8")));
        assert_eq!(network(ip("::ffff:198.51.100.7")), "198.51.100.7");
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_ranges() {
        assert_eq!(parse_trusted("").unwrap(), vec![]);
        assert_eq!(parse_trusted("10.0.0.1, fd00::/8").unwrap().len(), 2);
        assert_eq!(parse_trusted("10.0.0.1, proxy.local").unwrap_err(), "proxy.local");
    }
}
