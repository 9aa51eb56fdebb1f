//! Fetching an attachment once from its source: only from the allowed origins, following a
//! redirect only onto another allowed origin, within a size cap (checked on the declared length
//! and again on every chunk, so a server that lies about it is cut off), and within timeouts.
//!
//! Only to public addresses: every host name is resolved once, by our own resolver, which drops
//! loopback, private, link-local and other non-public answers (unless `ATTACHMENT_ALLOW_PRIVATE`)
//! and hands the client exactly the addresses it checked — so a name in the allowlist that
//! resolves inside our network is refused, and DNS rebinding between check and connect cannot
//! swap the address. A URL naming an address literally is checked the same way.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use url::{Origin, Url};

use super::sniff;
use crate::ingest::attachment::{Attachment, is_allowed};

/// Redirects followed at most (each onto an allowed origin).
const REDIRECTS_MAX: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No retry can change it: the file is refused (its reason is shown to the operator).
    #[error("refused: {0}")]
    Refused(String),
    /// May work later (a timeout, a 5xx, a reset connection).
    #[error("failed: {0}")]
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Bytes,
    pub stored: sniff::Stored,
}

#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    sources: Vec<Origin>,
    max_bytes: u64,
    allow_private: bool,
}

/// A host that resolved (or was given) only to addresses we never connect to.
#[derive(Debug)]
struct NotPublic(String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is a loopback, private or link-local address, which attachments are never fetched from",
            self.0
        )
    }
}

impl std::error::Error for NotPublic {}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, carrier-grade NAT, unspecified, broadcast, multicast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// Resolves a host for the client, keeping only the addresses it may connect to.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(Box::new(NotPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A URL whose host is an address literal the fetcher may not connect to (names are checked
/// by the resolver when they are looked up).
fn literal_not_public(url: &Url, allow_private: bool) -> Option<NotPublic> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    (!allow_private && !is_public(ip)).then(|| NotPublic(ip.to_string()))
}

#[derive(Debug)]
struct OffList(String);

impl std::fmt::Display for OffList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirected to {}, which is not an allowed attachment source", self.0)
    }
}

impl std::error::Error for OffList {}

impl Fetcher {
    pub fn new(sources: Vec<Origin>, max_bytes: u64, timeout: Duration, allow_private: bool) -> Self {
        let allowed = sources.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= REDIRECTS_MAX {
                attempt.error(OffList("a chain of too many redirects".into()))
            } else if let Some(refused) = literal_not_public(attempt.url(), allow_private) {
                attempt.error(refused)
            } else if is_allowed(attempt.url(), &allowed) {
                attempt.follow()
            } else {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(OffList(to))
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            // A proxy would resolve and connect on our behalf, past the checks above.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("signaldesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            client,
            sources,
            max_bytes,
            allow_private,
        }
    }

    pub fn from_config(config: &crate::Config) -> Self {
        Self::new(
            config.attachment_sources.clone(),
            config.attachment_max_bytes,
            config.attachment_fetch_timeout,
            config.attachment_allow_private,
        )
    }

    pub async fn fetch(&self, a: &Attachment) -> Result<Fetched, FetchError> {
        let url = Url::parse(&a.url).map_err(|_| FetchError::Refused("not a valid URL".into()))?;
        if !is_allowed(&url, &self.sources) {
            return Err(FetchError::Refused(format!(
                "{} is not an allowed attachment source",
                url.origin().ascii_serialization()
            )));
        }
        if let Some(refused) = literal_not_public(&url, self.allow_private) {
            return Err(FetchError::Refused(refused.to_string()));
        }
        let too_large = || FetchError::Refused(format!("larger than the {} byte limit", self.max_bytes));
        let mut res = self.client.get(url).send().await.map_err(|e| classify(&e))?;
        let status = res.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(FetchError::Failed(format!("the source answered {status}")));
        }
        if !status.is_success() {
            return Err(FetchError::Refused(format!("the source answered {status}")));
        }
        if res.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| classify(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let stored = sniff::check(a.content_type.as_deref(), &body).map_err(FetchError::Refused)?;
        Ok(Fetched {
            bytes: body.freeze(),
            stored,
        })
    }
}

fn classify(e: &reqwest::Error) -> FetchError {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(off) = s.downcast_ref::<OffList>() {
            return FetchError::Refused(off.to_string());
        }
        if let Some(refused) = s.downcast_ref::<NotPublic>() {
            return FetchError::Refused(refused.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Failed("timed out".into())
    } else {
        FetchError::Failed(format!("cannot fetch: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn s7_only_public_addresses_are_ever_connected_to() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip(inside)), "{inside}");
        }
        for outside in ["162.159.128.233", "1.1.1.1", "2606:4700::6810:84e5"] {
            assert!(is_public(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn an_address_literal_in_a_url_is_checked_like_a_resolved_name() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(literal_not_public(&url("http://127.0.0.1:8080/a.png"), false).is_some());
        assert!(literal_not_public(&url("http://[::1]/a.png"), false).is_some());
        assert!(literal_not_public(&url("http://127.0.0.1/a.png"), true).is_none());
        assert!(literal_not_public(&url("https://cdn.discordapp.com/a.png"), false).is_none());
    }
}
