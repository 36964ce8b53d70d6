//! Who the client is, by address, when the gateway may sit behind reverse proxies. Only a peer the operator
//! lists in `admin.trusted_proxies` may name the client with `X-Forwarded-For`; anyone else's header is ignored,
//! so a client cannot pick its own address to escape sign-in throttling.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

/// The operator's reverse proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses networks (`10.0.0.0/8`) or single addresses; the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not a network (10.0.0.0/8) or an address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (the left-most entries are the client's to invent).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }

    /// Whether the request comes from this host itself: a loopback client, not relayed by a proxy on this host
    /// on someone else's behalf (a loopback peer that sends forwarding headers without being a trusted proxy is
    /// a local reverse proxy, and the real client is unknown).
    pub fn is_local(&self, req: &HttpRequest) -> bool {
        let relayed = req.headers().contains_key("x-forwarded-for")
            || req.headers().contains_key("forwarded")
            || req.headers().contains_key("x-real-ip");
        let peer_loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
        if !peer_loopback {
            return false;
        }
        if relayed {
            // Believed only from a trusted proxy, and then the named client must itself be loopback.
            return self.trusts(
                req.peer_addr()
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
            ) && self.client_ip(req).is_loopback();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, xff: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(
            format!("{peer}:5000")
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        if let Some(xff) = xff {
            req = req.insert_header(("x-forwarded-for", xff));
        }
        req.to_http_request()
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let none = TrustedProxies::default();
        let req = request("203.0.113.9", Some("1.2.3.4"));
        assert_eq!(none.client_ip(&req).to_string(), "203.0.113.9");
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap_or_default();
        let req = request("10.0.0.5", Some("6.6.6.6, 198.51.100.7, 10.0.0.9"));
        assert_eq!(proxies.client_ip(&req).to_string(), "198.51.100.7");
    }

    #[test]
    fn a_local_reverse_proxy_is_not_a_local_client() {
        let none = TrustedProxies::default();
        assert!(none.is_local(&request("127.0.0.1", None)));
        assert!(!none.is_local(&request("127.0.0.1", Some("198.51.100.7"))));
        assert!(!none.is_local(&request("198.51.100.7", None)));
        let local = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap_or_default();
        assert!(!local.is_local(&request("127.0.0.1", Some("198.51.100.7"))));
        assert!(local.is_local(&request("127.0.0.1", Some("127.0.0.1"))));
    }
}
