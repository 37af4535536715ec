//! The outbound policy: which addresses dify-bench may call. Every outbound HTTP call (Dify today;
//! judges, embeddings and webhooks as they come) goes through one [`OutboundPolicy`], so that a
//! `base_url` typed by a user cannot aim the server at its own network (SSRF).
//!
//! - Link-local, cloud metadata, unspecified, multicast, broadcast and documentation/reserved
//!   addresses are **always** refused; no flag changes that.
//! - Loopback and private ranges are refused unless allowed: `--allow-private-targets` for all of
//!   them, or `--allow-host HOST[:PORT]` for one target.
//! - Everything else (public unicast) is allowed.
//!
//! The check happens where the address is known:
//! - at connect time, in [`PolicyResolver`]: reqwest asks it for every host *name*, it resolves
//!   and drops refused addresses, so a name that resolves somewhere harmless first and to
//!   `127.0.0.1` on the connect (DNS rebinding) gets nowhere;
//! - before sending, in [`OutboundPolicy::check_url`]: reqwest never calls a resolver for an
//!   IP-literal host, and the resolver does not know the port that an `--allow-host` entry names.
//!
//! So a caller builds its client with [`OutboundPolicy::client_builder`] (the resolver, and no
//! redirects: a redirect is an address the policy never saw) and calls
//! [`OutboundPolicy::check_url`] before each request; [`refusal_in`] finds a connect-time refusal
//! in a reqwest error. What a refusal means for the caller (a failure code, no retry) is the
//! caller's business. Address classification ([`classify`]) is a pure function.
//!
//! When `HTTP_PROXY`/`HTTPS_PROXY` is set, reqwest connects to the proxy and the proxy resolves the
//! target's name: then only IP-literal targets are checked here, and the proxy must do the rest.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// What an IP address is, as far as calling it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Global unicast: allowed.
    Public,
    /// 127.0.0.0/8, ::1: allowed only when allowed.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7: allowed only when allowed.
    Private,
    /// 169.254.0.0/16, fe80::/10: never.
    LinkLocal,
    /// The instance metadata services of the clouds: never.
    Metadata,
    /// 0.0.0.0, `::`: never (Linux routes a connect to it to the loopback interface).
    Unspecified,
    /// 224.0.0.0/4, ff00::/8: never.
    Multicast,
    /// 255.255.255.255: never.
    Broadcast,
    /// Documentation, benchmarking, "this network", future use and other special-purpose
    /// ranges: never.
    Reserved,
}

impl AddressClass {
    /// Refused whatever the flags say.
    pub fn always_refused(self) -> bool {
        !matches!(
            self,
            AddressClass::Public | AddressClass::Loopback | AddressClass::Private
        )
    }

    /// For messages: "127.0.0.1 is {this}".
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private-network address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Metadata => "a cloud metadata address",
            AddressClass::Unspecified => "the unspecified address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Reserved => "a documentation or reserved address",
        }
    }
}

/// Instance metadata services, checked before the ranges that contain them: AWS, GCP, Azure,
/// OpenStack, DigitalOcean and Oracle (169.254.169.254), AWS ECS task metadata (169.254.170.2),
/// Alibaba Cloud (100.100.100.200, inside 100.64/10).
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
];
/// AWS's IPv6 metadata endpoint (inside fc00::/7).
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// Classifies an address. IPv6 addresses that carry an IPv4 address (mapped, compatible, NAT64,
/// 6to4) are classified as that IPv4 address: `::ffff:169.254.169.254` is the metadata service.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    let bits = u32::from(ip);
    let within = |net: [u8; 4], prefix: u32| {
        let mask = u32::MAX << (32 - prefix);
        bits & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    if METADATA_V4.contains(&ip) {
        Metadata
    } else if ip.is_unspecified() {
        Unspecified
    } else if ip.is_broadcast() {
        Broadcast
    } else if within([127, 0, 0, 0], 8) {
        Loopback
    } else if within([169, 254, 0, 0], 16) {
        LinkLocal
    } else if within([10, 0, 0, 0], 8)
        || within([172, 16, 0, 0], 12)
        || within([192, 168, 0, 0], 16)
        || within([100, 64, 0, 0], 10)
    {
        Private
    } else if within([224, 0, 0, 0], 4) {
        Multicast
    } else if within([0, 0, 0, 0], 8)
        || within([192, 0, 0, 0], 24)
        || within([192, 0, 2, 0], 24)
        || within([192, 88, 99, 0], 24)
        || within([198, 18, 0, 0], 15)
        || within([198, 51, 100, 0], 24)
        || within([203, 0, 113, 0], 24)
        || within([240, 0, 0, 0], 4)
    {
        Reserved
    } else {
        Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    let seg = ip.segments();
    if METADATA_V6.contains(&ip) {
        Metadata
    } else if ip.is_unspecified() {
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if let Some(v4) = embedded_v4(ip) {
        classify_v4(v4)
    } else if seg[0] & 0xffc0 == 0xfe80 {
        LinkLocal
    } else if seg[0] & 0xfe00 == 0xfc00 || seg[0] & 0xffc0 == 0xfec0 {
        // Unique local, and the deprecated site-local that some networks still route.
        Private
    } else if seg[0] & 0xff00 == 0xff00 {
        Multicast
    } else if reserved_v6(seg) {
        Reserved
    } else {
        Public
    }
}

/// Special-purpose IPv6 ranges that no Dify app lives in.
fn reserved_v6(seg: [u16; 8]) -> bool {
    // Outside global unicast 2000::/3 (what is left there after the cases above is unassigned).
    seg[0] & 0xe000 != 0x2000
        // 2001::/23: IETF protocol assignments, Teredo (2001::/32) and benchmarking included.
        || (seg[0] == 0x2001 && seg[1] < 0x0200)
        // 2001:db8::/32 and 3fff::/20: documentation.
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)
        || seg[0] & 0xfff0 == 0x3ff0
}

/// The IPv4 address inside an IPv6 one that stands for it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match seg {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; `::` and `::1` are handled before).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        // NAT64's well-known prefix 64:ff9b::/96.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        // 6to4: 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// A host as a URL or an `--allow-host` entry names it: an address, or a lower-case name without
/// a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    /// From a URL's host (`[::1]` bracketed or not). Normalised as the URL parser does, so
    /// `2130706433`, `0x7f.1` and `127.0.0.1` are one host, `Dify.Internal.` and `dify.internal`
    /// another; an IPv4-mapped IPv6 address is its IPv4 address. `None` if it is not a host.
    pub fn parse(host: &str) -> Option<Host> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(Host::Ip(ip.to_canonical()));
        }
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || "/?#@\\:[]".contains(c))
        {
            return None;
        }
        let url = reqwest::Url::parse(&format!("http://{host}/")).ok()?;
        let normal = url.host_str()?;
        match normal.parse::<IpAddr>() {
            Ok(ip) => Some(Host::Ip(ip.to_canonical())),
            Err(_) => {
                let name = normal.trim_end_matches('.');
                (!name.is_empty()).then(|| Host::Name(name.to_ascii_lowercase()))
            }
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// One `--allow-host` entry: `HOST` (every port) or `HOST:PORT`; IPv6 as `[::1]:5001` or `::1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    pub host: Host,
    pub port: Option<u16>,
}

impl AllowedHost {
    /// Exactly this address and port (demo mode allows its own simulator so).
    pub fn socket(addr: SocketAddr) -> AllowedHost {
        AllowedHost {
            host: Host::Ip(addr.ip().to_canonical()),
            port: Some(addr.port()),
        }
    }

    fn matches(&self, host: &Host, port: Option<u16>) -> bool {
        self.host == *host
            && match (self.port, port) {
                (None, _) => true,
                (Some(mine), Some(theirs)) => mine == theirs,
                // Asked without a port (the resolver): a name allowed on some port may resolve
                // to a private address; `check_url` holds it to that port before the request.
                (Some(_), None) => matches!(host, Host::Name(_)),
            }
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(s: &str) -> Result<AllowedHost, String> {
        let s = s.trim();
        let bad = |why: &str| {
            format!(
                "--allow-host `{s}`: {why}; give HOST or HOST:PORT, e.g. 10.0.0.5:5001, \
                 dify.internal or [fd12::1]:80"
            )
        };
        if s.is_empty() {
            return Err(bad("the entry is empty"));
        }
        if s.contains("://") {
            return Err(bad("leave out the scheme"));
        }
        if s.chars().any(|c| c.is_whitespace() || "/?#@\\".contains(c)) {
            return Err(bad("only a host and a port are allowed, no path or user"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address in [ ] lacks its `]`"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(bad("expected `:PORT` after `]`")),
                },
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address: its last group is not a port.
            (s, None)
        } else {
            match s.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (s, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            ),
        };
        let host = Host::parse(host).ok_or_else(|| bad("not a host name or an IP address"))?;
        if let Host::Ip(ip) = host {
            let class = classify(ip);
            if class.always_refused() {
                return Err(format!(
                    "--allow-host `{s}`: {ip} is {}, which dify-bench never calls",
                    class.describe()
                ));
            }
        }
        Ok(AllowedHost { host, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// Which targets outbound calls may reach. The default refuses loopback and private targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Loopback and private targets allowed, whatever the host (`--allow-private-targets`).
    pub allow_private: bool,
    /// Loopback and private targets allowed one by one (`--allow-host`).
    pub allow_hosts: Vec<AllowedHost>,
}

/// A target the policy refuses; the message names the address class and, where a flag can help,
/// the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    /// The host as the URL names it.
    pub host: Host,
    /// The URL's port, when known (the resolver does not know it).
    pub port: Option<u16>,
    pub addr: IpAddr,
    pub class: AddressClass,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = self.class.describe();
        match &self.host {
            Host::Ip(_) => write!(f, "{} is {class}", self.addr)?,
            Host::Name(name) => write!(f, "{name} resolves to {}, {class}", self.addr)?,
        }
        if self.class.always_refused() {
            return f.write_str(
                "; dify-bench never calls link-local, cloud metadata, multicast, broadcast or \
                 reserved addresses, and no setting changes that",
            );
        }
        let entry = AllowedHost {
            host: self.host.clone(),
            port: self.port,
        };
        write!(
            f,
            "; dify-bench calls loopback and private addresses only when allowed: start the \
             server with --allow-private-targets, or with --allow-host {entry} for this target alone"
        )
    }
}

impl OutboundPolicy {
    /// Loopback and private targets allowed (link-local and metadata still refused): for the
    /// headless `run` mode, whose operator wrote the targets into the config file themselves.
    pub fn allowing_private() -> OutboundPolicy {
        OutboundPolicy {
            allow_private: true,
            allow_hosts: Vec::new(),
        }
    }

    /// Whether `host` may be called at `ip` (on `port`; `None` when the caller cannot know it,
    /// as the resolver cannot). Pure.
    pub fn check_addr(&self, host: &Host, port: Option<u16>, ip: IpAddr) -> Result<(), Refused> {
        let class = classify(ip);
        let allowed = match class {
            AddressClass::Public => true,
            AddressClass::Loopback | AddressClass::Private => {
                self.allow_private || self.allow_hosts.iter().any(|a| a.matches(host, port))
            }
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refused {
                host: host.clone(),
                port,
                addr: ip,
                class,
            })
        }
    }

    /// The check before a request: IP-literal hosts (which reqwest never resolves through
    /// [`PolicyResolver`]), and host names that an `--allow-host` entry allows on another port
    /// only (the resolver, which does not know the port, lets their private addresses through).
    /// Other names are left to the resolver, at connect time.
    pub async fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        let (Some(host), Some(port)) = (
            url.host_str().and_then(Host::parse),
            url.port_or_known_default(),
        ) else {
            // No host: the request cannot be sent, and reqwest says so.
            return Ok(());
        };
        match &host {
            Host::Ip(ip) => self.check_addr(&host, Some(port), *ip),
            Host::Name(name) => {
                let resolver_allows =
                    self.allow_private || self.allow_hosts.iter().any(|a| a.matches(&host, None));
                let port_allows = self.allow_private
                    || self
                        .allow_hosts
                        .iter()
                        .any(|a| a.matches(&host, Some(port)));
                if !resolver_allows || port_allows {
                    return Ok(());
                }
                // Unresolvable: the connect fails with its own DNS error.
                let Ok(addrs) = tokio::net::lookup_host((name.as_str(), port)).await else {
                    return Ok(());
                };
                for addr in addrs {
                    self.check_addr(&host, Some(port), addr.ip())?;
                }
                Ok(())
            }
        }
    }

    /// A reqwest client builder that resolves through this policy and never follows a redirect
    /// (a redirect's target is an address the policy never saw). Callers add timeouts and the like.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                policy: Arc::new(self.clone()),
            }))
    }
}

/// reqwest's resolver under the policy: resolves with the system resolver, keeps the allowed
/// addresses, and fails with the [`Refused`] of the first refused one when none is left.
#[derive(Debug)]
pub struct PolicyResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            type BoxError = Box<dyn std::error::Error + Send + Sync>;
            let host = Host::parse(&name).unwrap_or_else(|| Host::Name(name.clone()));
            // Port 0: reqwest puts the URL's port in.
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let mut kept = Vec::new();
            let mut refused = None;
            for addr in resolved {
                match policy.check_addr(&host, None, addr.ip()) {
                    Ok(()) => kept.push(addr),
                    Err(r) => {
                        tracing::debug!(host = %name, addr = %addr.ip(), "outbound address refused");
                        refused.get_or_insert(r);
                    }
                }
            }
            if kept.is_empty() {
                return Err(match refused {
                    Some(r) => Box::new(r) as BoxError,
                    None => format!("{name} resolves to no address").into(),
                });
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok::<_, BoxError>(addrs)
        })
    }
}

/// The connect-time refusal inside a reqwest error, if that is why it failed.
pub fn refusal_in(err: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err as _);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::AddressClass::*;
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    fn entry(s: &str) -> AllowedHost {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges_are_classified_per_their_rfcs() {
        let table = [
            // RFC 1122 §3.2.1.3: loopback 127/8, "this network" 0/8 (0.0.0.0 is unspecified).
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            // RFC 1918: private networks.
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.1.1", Private),
            // RFC 6598: shared address space (carrier-grade NAT).
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("100.128.0.1", Public),
            // RFC 3927: link-local, where the metadata services live.
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            // Alibaba Cloud's metadata service sits inside RFC 6598's range.
            ("100.100.100.200", Metadata),
            // RFC 5771: multicast; RFC 919: limited broadcast.
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            // RFC 5737: documentation; RFC 2544: benchmarking; RFC 6890: IETF protocol
            // assignments; RFC 7526: the retired 6to4 relay anycast; RFC 1112: class E.
            ("192.0.2.1", Reserved),
            ("198.51.100.1", Reserved),
            ("203.0.113.1", Reserved),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("192.0.0.8", Reserved),
            ("192.88.99.1", Reserved),
            ("240.0.0.1", Reserved),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("104.18.0.1", Public),
        ];
        for (ip, want) in table {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_classified_per_their_rfcs() {
        let table = [
            // RFC 4291 §2.5.2–2.5.3: unspecified and loopback.
            ("::", Unspecified),
            ("::1", Loopback),
            // RFC 4291 §2.5.6: link-local; RFC 4193: unique local; RFC 3879: old site-local.
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            // AWS's IPv6 metadata endpoint, inside RFC 4193's range.
            ("fd00:ec2::254", Metadata),
            // RFC 4291 §2.7: multicast.
            ("ff02::1", Multicast),
            // RFC 3849 and RFC 9637: documentation; RFC 2928: IETF protocol assignments
            // (Teredo, RFC 4380, included); RFC 6666: discard-only; outside 2000::/3: unassigned.
            ("2001:db8::1", Reserved),
            ("3fff::1", Reserved),
            ("2001::1", Reserved),
            ("2001:2::1", Reserved),
            ("100::1", Reserved),
            ("4000::1", Reserved),
            ("2606:4700::1111", Public),
            ("2a00:1450:4001::1", Public),
        ];
        for (ip, want) in table {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_classified_as_the_ipv4_address() {
        // RFC 4291 §2.5.5.2 (mapped), §2.5.5.1 (compatible), RFC 6052 (NAT64), RFC 3056 (6to4).
        let table = [
            ("::ffff:169.254.169.254", Metadata),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:8.8.8.8", Public),
            ("::169.254.169.254", Metadata),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("64:ff9b::808:808", Public),
            ("2002:a9fe:a9fe::1", Metadata),
            ("2002:7f00:1::1", Loopback),
            ("2002:808:808::1", Public),
        ];
        for (ip, want) in table {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn only_loopback_and_private_can_be_allowed() {
        for c in [Loopback, Private, Public] {
            assert!(!c.always_refused(), "{c:?}");
        }
        for c in [
            LinkLocal,
            Metadata,
            Unspecified,
            Multicast,
            Broadcast,
            Reserved,
        ] {
            assert!(c.always_refused(), "{c:?}");
        }
    }

    #[test]
    fn hosts_are_normalised_as_urls_normalise_them() {
        let ip = |s: &str| Host::Ip(s.parse().unwrap());
        assert_eq!(Host::parse("127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(Host::parse("2130706433"), Some(ip("127.0.0.1")));
        assert_eq!(Host::parse("0x7f.1"), Some(ip("127.0.0.1")));
        assert_eq!(Host::parse("[::1]"), Some(ip("::1")));
        assert_eq!(Host::parse("::ffff:127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(
            Host::parse("Dify.Internal."),
            Some(Host::Name("dify.internal".into()))
        );
        assert_eq!(Host::parse(""), None);
        assert_eq!(Host::parse("a b"), None);
        assert_eq!(Host::parse("user@host"), None);
    }

    #[test]
    fn allow_host_entries_parse_or_name_the_problem() {
        let ip = |s: &str| Host::Ip(s.parse().unwrap());
        assert_eq!(
            entry("127.0.0.1:5001"),
            AllowedHost {
                host: ip("127.0.0.1"),
                port: Some(5001)
            }
        );
        assert_eq!(entry("10.0.0.5").port, None);
        assert_eq!(entry("[::1]:80").host, ip("::1"));
        assert_eq!(entry("[::1]:80").port, Some(80));
        assert_eq!(entry("fd12::1").host, ip("fd12::1"));
        assert_eq!(entry("fd12::1").port, None);
        assert_eq!(
            entry(" Dify.Internal:8080 ").to_string(),
            "dify.internal:8080"
        );
        assert_eq!(entry("[::1]:80").to_string(), "[::1]:80");
        for (bad, why) in [
            ("", "empty"),
            ("http://10.0.0.5", "scheme"),
            ("10.0.0.5/v1", "no path"),
            ("user@10.0.0.5", "no path or user"),
            ("10.0.0.5:0", "port"),
            ("10.0.0.5:99999", "port"),
            ("10.0.0.5:http", "port"),
            ("[::1", "`]`"),
            ("[::1]x", ":PORT"),
            (
                "169.254.169.254",
                "cloud metadata address, which dify-bench never calls",
            ),
            ("[fe80::1]:80", "link-local"),
            ("0.0.0.0:80", "unspecified"),
        ] {
            let err = bad.parse::<AllowedHost>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.starts_with("--allow-host"), "{bad}: {err}");
        }
    }

    #[test]
    fn private_targets_need_the_flag_or_an_entry_and_metadata_never_passes() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let meta: IpAddr = "169.254.169.254".parse().unwrap();
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        let lit = Host::Ip(lo);
        let localhost = Host::Name("localhost".into());

        let strict = OutboundPolicy::default();
        assert!(strict.check_addr(&lit, Some(80), public).is_ok());
        let r = strict.check_addr(&lit, Some(5001), lo).unwrap_err();
        assert_eq!(r.class, Loopback);
        assert_eq!(
            r.to_string(),
            "127.0.0.1 is a loopback address; dify-bench calls loopback and private addresses \
             only when allowed: start the server with --allow-private-targets, or with \
             --allow-host 127.0.0.1:5001 for this target alone"
        );
        let r = strict.check_addr(&localhost, None, lo).unwrap_err();
        assert!(
            r.to_string().starts_with(
                "localhost resolves to 127.0.0.1, a loopback address; dify-bench calls"
            ),
            "{r}"
        );
        assert!(r.to_string().contains("--allow-host localhost for"), "{r}");

        let open = OutboundPolicy::allowing_private();
        assert!(open.check_addr(&localhost, None, lo).is_ok());
        for policy in [&strict, &open] {
            let r = policy
                .check_addr(&Host::Ip(meta), Some(80), meta)
                .unwrap_err();
            assert_eq!(r.class, Metadata);
            assert!(r.to_string().contains("no setting changes that"), "{r}");
        }

        let listed = OutboundPolicy {
            allow_private: false,
            allow_hosts: vec![entry("127.0.0.1:5001"), entry("dify.internal:8080")],
        };
        assert!(listed.check_addr(&lit, Some(5001), lo).is_ok());
        assert!(listed.check_addr(&lit, Some(5002), lo).is_err());
        // An address entry does not let names resolving to it through.
        assert!(listed.check_addr(&localhost, None, lo).is_err());
        assert!(listed.check_addr(&localhost, Some(5001), lo).is_err());
        // A name entry: the resolver (no port) lets it through, `check_url` holds the port.
        let internal = Host::Name("dify.internal".into());
        let ten: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(listed.check_addr(&internal, None, ten).is_ok());
        assert!(listed.check_addr(&internal, Some(8080), ten).is_ok());
        assert!(listed.check_addr(&internal, Some(22), ten).is_err());
        // An allowed name still never reaches metadata.
        assert!(listed.check_addr(&internal, Some(8080), meta).is_err());
        // The demo's own simulator.
        let demo = OutboundPolicy {
            allow_private: false,
            allow_hosts: vec![AllowedHost::socket("127.0.0.1:3000".parse().unwrap())],
        };
        assert!(demo.check_addr(&lit, Some(3000), lo).is_ok());
        assert!(demo.check_addr(&lit, Some(3001), lo).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        use reqwest::dns::Resolve;
        let resolve = |policy: OutboundPolicy, name: &str| {
            let resolver = PolicyResolver {
                policy: Arc::new(policy),
            };
            resolver.resolve(name.parse().unwrap())
        };
        // `localhost` comes from the hosts file: no DNS traffic.
        let err = match resolve(OutboundPolicy::default(), "localhost").await {
            Ok(addrs) => panic!("refused addresses kept: {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let refused = err.downcast_ref::<Refused>().expect("a Refused");
        assert_eq!(refused.class, Loopback);
        assert_eq!(refused.host, Host::Name("localhost".into()));
        let addrs: Vec<_> = resolve(OutboundPolicy::allowing_private(), "localhost")
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        // A literal handed to the resolver (reqwest never does) is judged as the address it is.
        let err = match resolve(OutboundPolicy::allowing_private(), "169.254.169.254").await {
            Ok(_) => panic!("metadata kept"),
            Err(e) => e,
        };
        assert_eq!(
            err.downcast_ref::<Refused>().map(|r| r.class),
            Some(Metadata)
        );
    }

    #[tokio::test]
    async fn check_url_refuses_literals_before_anything_is_sent() {
        let strict = OutboundPolicy::default();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let r = strict
            .check_url(&url("http://169.254.169.254/latest/meta-data/"))
            .await
            .unwrap_err();
        assert_eq!(r.class, Metadata);
        let r = strict
            .check_url(&url("http://[::ffff:a9fe:a9fe]/v1"))
            .await
            .unwrap_err();
        assert_eq!(r.class, Metadata);
        let r = strict
            .check_url(&url("http://2130706433:5001/v1"))
            .await
            .unwrap_err();
        assert_eq!((r.class, r.port), (Loopback, Some(5001)));
        assert!(strict
            .check_url(&url("https://api.dify.ai/v1"))
            .await
            .is_ok());
        // A name allowed on one port only is resolved and held to that port.
        let listed = OutboundPolicy {
            allow_private: false,
            allow_hosts: vec![entry("localhost:5001")],
        };
        assert!(listed
            .check_url(&url("http://localhost:5001/v1"))
            .await
            .is_ok());
        let r = listed
            .check_url(&url("http://localhost:6379/"))
            .await
            .unwrap_err();
        assert_eq!(r.class, Loopback);
    }
}
