//! Requests to addresses of the merchant's choosing (outbound webhooks):
//! only to the public internet, unless the operator allows private
//! addresses (tests, self-hosting behind a firewall).
//!
//! A URL is checked when it is registered (it must be `https://`, and its
//! host must resolve to public addresses only), and again on every request:
//! the HTTP client resolves names through [`PublicResolver`], which refuses
//! a name with any address that is not public, so a name that later points
//! inside (DNS rebinding) is refused too, and it follows no redirect. An
//! address literal in a URL is checked by [`check_url`] before the request.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::Url;

/// Why a URL cannot be sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("the URL is not a valid absolute URL")]
    Malformed,
    #[error("the URL must use https://")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL must be at most 2000 characters")]
    TooLong,
    #[error("the host could not be resolved")]
    Unresolved,
    #[error(
        "the host resolves to a loopback, private, link-local or otherwise non-public address"
    )]
    NotPublic,
}

/// Whether requests may go to private addresses and plain `http://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub allow_private: bool,
}

/// Checks the URL's form and, when its host is an address, the address;
/// a name is checked when it is resolved ([`resolve_checked`]).
pub fn check_url(raw: &str, policy: Policy) -> Result<Url, EgressError> {
    if raw.len() > 2000 {
        return Err(EgressError::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| EgressError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err(EgressError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::Credentials);
    }
    let literal = match url.host() {
        None => return Err(EgressError::Malformed),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = literal {
        if !policy.allow_private && !is_public(ip) {
            return Err(EgressError::NotPublic);
        }
    }
    Ok(url)
}

/// [`check_url`], then resolves its host and refuses it unless every
/// address is public (or the policy allows private ones).
pub async fn check_url_resolved(raw: &str, policy: Policy) -> Result<Url, EgressError> {
    let url = check_url(raw, policy)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        resolve_checked(name, port, policy).await?;
    }
    Ok(url)
}

/// The addresses of `name`, if every one is allowed.
async fn resolve_checked(
    name: &str,
    port: u16,
    policy: Policy,
) -> Result<Vec<SocketAddr>, EgressError> {
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((name, port)),
    )
    .await
    .map_err(|_| EgressError::Unresolved)?
    .map_err(|_| EgressError::Unresolved)?
    .collect();
    if addrs.is_empty() {
        return Err(EgressError::Unresolved);
    }
    if !policy.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(EgressError::NotPublic);
    }
    Ok(addrs)
}

/// Whether `ip` is an address of the public internet: not loopback,
/// private, link-local (where cloud metadata services live), shared
/// (carrier-grade NAT), unspecified, broadcast, multicast, documentation
/// or reserved; an IPv6 address that maps or embeds an IPv4 one is judged
/// by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (RFC 6598).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (RFC 6890), benchmarking (RFC 2544).
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        // Reserved (240/4).
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), site-local
        // (fec0::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // IPv4-compatible (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16)
        // and Teredo (2001::/32) embed IPv4 addresses: refused rather than
        // decoded.
        || (s[0..6] == [0, 0, 0, 0, 0, 0])
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0)
        // Documentation (2001:db8::/32).
        || (s[0] == 0x2001 && s[1] == 0xdb8))
}

/// The HTTP client's resolver: the system's, refusing names with any
/// address that is not public (unless the policy allows them).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver(pub Policy);

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = resolve_checked(name.as_str(), 0, policy)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for requests of the merchant's choosing: resolves
/// through [`PublicResolver`], follows no redirect, times out.
pub fn client(policy: Policy, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicResolver(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("Advocate-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("building the outbound webhook client")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_private: false,
    };
    const OPEN: Policy = Policy {
        allow_private: true,
    };

    #[test]
    fn inside_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as inside");
        }
    }

    #[test]
    fn urls_must_be_https_to_public_literals_without_credentials() {
        assert!(check_url("https://hooks.example.com/a", STRICT).is_ok());
        assert_eq!(
            check_url("http://hooks.example.com/a", STRICT),
            Err(EgressError::NotHttps)
        );
        assert_eq!(
            check_url("ftp://x.example", OPEN),
            Err(EgressError::NotHttps)
        );
        assert_eq!(
            check_url("https://127.0.0.1/a", STRICT),
            Err(EgressError::NotPublic)
        );
        assert_eq!(
            check_url("https://[::1]/a", STRICT),
            Err(EgressError::NotPublic)
        );
        assert_eq!(
            check_url("https://169.254.169.254/latest/meta-data", STRICT),
            Err(EgressError::NotPublic)
        );
        assert_eq!(
            check_url("https://user:pw@hooks.example.com/", STRICT),
            Err(EgressError::Credentials)
        );
        assert_eq!(check_url("not a url", STRICT), Err(EgressError::Malformed));
        assert!(check_url("http://127.0.0.1:9/a", OPEN).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_unless_allowed() {
        assert_eq!(
            check_url_resolved("https://localhost/hook", STRICT).await,
            Err(EgressError::NotPublic)
        );
        assert!(check_url_resolved("https://localhost/hook", OPEN)
            .await
            .is_ok());
    }
}
