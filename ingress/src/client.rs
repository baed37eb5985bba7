//! Who is asking: the client's address, as the per-IP limits and the guest-issuance and demand
//! guards key on it.
//!
//! The socket peer is the client unless it is one of the deployment's trusted proxies
//! (`BOXOFFICE_TRUSTED_PROXIES`). Behind trusted proxies the client is the right-most hop of
//! `Forwarded` (RFC 7239, its `for=` parameters) or, without it, `X-Forwarded-For` that is not
//! itself a trusted proxy: every hop to its right was appended by a proxy we trust, while
//! anything to its left was written by the client and proves nothing. A peer that is not trusted
//! cannot move its requests to another bucket by sending these headers.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use ipnet::IpNet;

/// The client address of a request, after the trusted-proxy rule (in the request extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Header of the de-facto standard chain, used when `Forwarded` is absent.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Why a trusted-proxy entry was refused at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{entry:?} is neither an address nor a CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)")]
pub struct CidrError {
    /// The entry as given.
    pub entry: String,
}

/// One entry of `BOXOFFICE_TRUSTED_PROXIES`: a CIDR block, or one address (a block of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let text = text.trim();
        let refused = || CidrError {
            entry: text.to_owned(),
        };
        if text.contains('/') {
            return IpNet::from_str(text)
                .map(|net| Cidr(net.trunc()))
                .map_err(|_| refused());
        }
        IpAddr::from_str(text)
            .map(|ip| Cidr(IpNet::from(ip.to_canonical())))
            .map_err(|_| refused())
    }
}

/// The deployment's trusted proxies.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust the peers within `blocks` (none: every peer is a client).
    pub fn new(blocks: &[Cidr]) -> TrustedProxies {
        TrustedProxies(blocks.iter().map(|c| c.0).collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from socket `peer` carrying `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let Some(hops) = forwarded_hops(headers) else {
            return peer;
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // A hop we cannot read ("unknown", an obfuscated name, junk) ends the chain: the
                // proxy that wrote it is the last address we can vouch for.
                None => return client,
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        return client;
                    }
                }
            }
        }
        client
    }
}

/// The forwarding chain, left (first hop) to right (nearest proxy), from `Forwarded` when sent,
/// else `X-Forwarded-For`; `None` when neither is. Unreadable hops are `None`.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}"))
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if let Some(forwarded) = joined(FORWARDED.as_str()) {
        return Some(forwarded.split(',').map(forwarded_for).collect());
    }
    let chain = joined(X_FORWARDED_FOR)?;
    Some(
        chain
            .split(',')
            .map(|hop| hop_address(hop.trim()))
            .collect(),
    )
}

/// The address of one `Forwarded` element's `for=` parameter.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| hop_address(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare `2001:db8::1`.
fn hop_address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(text) {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return IpAddr::from_str(rest.split(']').next()?).ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    IpAddr::from_str(host).ok().filter(IpAddr::is_ipv4)
}

/// The network a client address belongs to for the per-prefix guards: its /24 (IPv4) or /56
/// (IPv6, the smallest block a provider commonly delegates to one customer), so one customer
/// cannot multiply its allowance by rotating through addresses it owns.
pub fn prefix_of(ip: IpAddr) -> IpNet {
    let ip = ip.to_canonical();
    let len = if ip.is_ipv4() { 24 } else { 56 };
    IpNet::new(ip, len)
        .expect("24 and 56 are valid prefix lengths")
        .trunc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        let blocks: Vec<Cidr> = list.iter().map(|c| c.parse().unwrap()).collect();
        TrustedProxies::new(&blocks)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_str(name).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=198.51.100.7"),
        ]);
        assert_eq!(
            trusted.client_ip(ip("192.0.2.1"), &spoofed),
            ip("192.0.2.1")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1"),
            "nothing is trusted by default"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        // The client wrote a fake first hop; the edge proxy appended the real peer.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), &chain),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db9::17]:4711\";proto=https, for=10.9.9.9:80",
        )]);
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), &forwarded),
            ip("2001:db9::17")
        );
        // Forwarded wins over X-Forwarded-For; several header lines make one chain.
        let both = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("forwarded", "for=198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        assert_eq!(
            trusted.client_ip(ip("2001:db8::1"), &both),
            ip("198.51.100.2")
        );
    }

    #[test]
    fn a_trusted_peer_without_a_readable_chain_is_taken_as_it_is() {
        let trusted = proxies(&["10.0.0.1"]);
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let hidden = headers(&[("forwarded", "for=_hidden, for=10.0.0.1")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &hidden), ip("10.0.0.1"));
        let junk = headers(&[("x-forwarded-for", "203.0.113.5, not-an-address")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &junk), ip("10.0.0.1"));
        // Every hop trusted: the left-most is as far as we can see.
        let internal = headers(&[("x-forwarded-for", "10.0.0.1")]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &internal), ip("10.0.0.1"));
    }

    #[test]
    fn trusted_entries_parse_as_blocks_or_addresses() {
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().0.to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().0.to_string(), "::1/128");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let err = "proxy.local".parse::<Cidr>().unwrap_err();
        assert!(err.to_string().contains("proxy.local"), "{err}");
    }

    #[test]
    fn prefixes_are_slash_24_and_slash_56() {
        assert_eq!(prefix_of(ip("127.2.0.1")).to_string(), "127.2.0.0/24");
        assert_eq!(
            prefix_of(ip("::ffff:192.0.2.77")).to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            prefix_of(ip("2001:db8:1:2ff::9")).to_string(),
            "2001:db8:1:200::/56"
        );
        assert_ne!(prefix_of(ip("127.1.0.1")), prefix_of(ip("127.2.0.1")));
    }
}
