//! The egress policy: where the gateway may send a request that a tenant can aim (provider base URLs, budget
//! webhooks). Every such client is built here, so the rules hold in one place:
//! - no redirects are followed (a redirect could send the request, and its credential header, elsewhere);
//! - private, loopback, link-local (cloud metadata), CGNAT, multicast and reserved addresses are refused, unless
//!   the operator allow-lists their network (`egress.allowed_networks`, e.g. a vLLM server on 10.0.0.0/8);
//! - the check runs on the addresses DNS returned, inside the connector, so a name that resolves to a public
//!   address when it is saved and to 127.0.0.1 when it is used (DNS rebinding) is still refused; IP literals,
//!   which never reach a resolver, are checked on the URL;
//! - in SaaS mode only `https` is accepted (`egress.require_https`).
//!
//! The operator's own outbound calls (the OTLP exporter) are not tenant-aimed and do not go through here.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// `[egress]` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSettings {
    /// Networks (CIDR, or a single address) that tenant-aimed requests may reach although they are private,
    /// loopback or otherwise refused by default. Empty by default.
    pub allowed_networks: Vec<String>,
    /// Refuse `http://` URLs. Unset: on in SaaS mode, off in self-hosted mode.
    pub require_https: Option<bool>,
}

/// Why a destination is refused. The message never names the resolved address.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    #[error("only https:// URLs are allowed on this gateway")]
    HttpsRequired,
    #[error("the URL must be http:// or https:// with a host")]
    Malformed,
    #[error(
        "the destination is a private, loopback, link-local or reserved address that the operator has not allowed"
    )]
    Forbidden,
}

/// The compiled policy; cheap to share.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allowed: Vec<IpNet>,
    require_https: bool,
}

impl EgressPolicy {
    /// Compiles the settings; `saas` decides the default of `require_https`. Fails on an entry that is not a
    /// network or an address, naming it.
    pub fn new(settings: &EgressSettings, saas: bool) -> Result<Self, String> {
        let allowed = settings
            .allowed_networks
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not a network (10.0.0.0/8) or an address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            allowed,
            require_https: settings.require_https.unwrap_or(saas),
        })
    }

    /// Whether a request may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks what can be checked before resolving: the scheme, the host's presence, and an IP-literal host.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), EgressError> {
        match url.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            "http" => return Err(EgressError::HttpsRequired),
            _ => return Err(EgressError::Malformed),
        }
        let host = url.host_str().ok_or(EgressError::Malformed)?;
        // An IPv6 literal comes bracketed; a name is checked when it is resolved.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(EgressError::Forbidden),
            _ => Ok(()),
        }
    }

    /// An HTTP client builder that follows no redirects, uses no proxy from the environment, and resolves names
    /// through this policy.
    pub fn client_builder(self: &Arc<Self>) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver(Arc::clone(self))))
    }
}

/// Resolves with the system resolver, then keeps only the addresses the policy permits; none left is an error.
struct PolicyResolver(Arc<EgressPolicy>);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            if resolved.is_empty() {
                tracing::warn!(host = %host, "egress refused: the name resolves only to addresses the policy forbids");
                return Err(
                    Box::new(EgressError::Forbidden) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(resolved.into_iter()) as Addrs)
        })
    }
}

/// Whether an error of a request sent through a policy client was the policy's refusal.
pub fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<EgressError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// An IPv4 address carried in IPv6 (mapped, or NAT64 / 6to4 embedded) is judged as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96 (NAT64): the last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
                return IpAddr::V4(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])));
            }
            // 2002::/16 (6to4): bits 16..48.
            if s[0] == 0x2002 {
                return IpAddr::V4(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

/// Globally routable unicast, excluding every special-purpose range a tenant could use to reach the gateway's
/// own network.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local() // 169.254/16: cloud metadata lives here
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // 100.64/10 CGNAT
                || (a == 192 && b == 0 && c == 0) // 192.0.0/24 IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // 198.18/15 benchmarking
                || a >= 240) // 240/4 reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local (AWS's fd00:ec2::254 metadata)
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4].iter().all(|x| *x == 0)) // 100::/64 discard
                || s[0] == 0) // ::/16: IPv4-compatible and other reserved forms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], https: bool) -> EgressPolicy {
        EgressPolicy::new(
            &EgressSettings {
                allowed_networks: allowed.iter().map(|s| (*s).to_owned()).collect(),
                require_https: Some(https),
            },
            false,
        )
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn private_loopback_metadata_and_cgnat_addresses_are_refused_and_public_ones_pass() {
        let p = policy(&[], false);
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = refused.parse().unwrap_or_else(|_| unreachable!());
            assert!(!p.permits(ip), "{refused} must be refused");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().unwrap_or_else(|_| unreachable!());
            assert!(p.permits(ip), "{public} must pass");
        }
    }

    #[test]
    fn an_allow_listed_network_is_reachable_and_nothing_beside_it() {
        let p = policy(&["10.0.0.0/8", "127.0.0.1"], false);
        assert!(p.permits("10.9.8.7".parse().unwrap_or_else(|_| unreachable!())));
        assert!(p.permits("127.0.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(!p.permits("127.0.0.2".parse().unwrap_or_else(|_| unreachable!())));
        assert!(!p.permits("192.168.0.1".parse().unwrap_or_else(|_| unreachable!())));
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_addresses() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap_or_else(|_| unreachable!());
        let strict = policy(&[], true);
        assert_eq!(
            strict.check_url(&url("http://api.example.com/v1")),
            Err(EgressError::HttpsRequired)
        );
        assert_eq!(strict.check_url(&url("https://api.example.com/v1")), Ok(()));
        assert_eq!(
            strict.check_url(&url("https://169.254.169.254/latest")),
            Err(EgressError::Forbidden)
        );
        assert_eq!(
            strict.check_url(&url("https://[::1]:8080/")),
            Err(EgressError::Forbidden)
        );
        assert_eq!(
            strict.check_url(&url("ftp://example.com/")),
            Err(EgressError::Malformed)
        );
        let open = policy(&[], false);
        assert_eq!(open.check_url(&url("http://api.example.com/v1")), Ok(()));
    }

    #[test]
    fn a_bad_allow_list_entry_is_named() {
        let err = EgressPolicy::new(
            &EgressSettings {
                allowed_networks: vec!["10.0.0.0/33".into()],
                require_https: None,
            },
            true,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }
}
