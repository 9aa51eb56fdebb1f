//! Fetching an attachment once from its source: only from the allowed origins, following a
//! redirect only onto another allowed origin, within a size cap (checked on the declared length
//! and again on every chunk, so a server that lies about it is cut off), and within timeouts.

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
    pub fn new(sources: Vec<Origin>, max_bytes: u64, timeout: Duration) -> Self {
        let allowed = sources.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= REDIRECTS_MAX {
                attempt.error(OffList("a chain of too many redirects".into()))
            } else if is_allowed(attempt.url(), &allowed) {
                attempt.follow()
            } else {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(OffList(to))
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("signaldesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            client,
            sources,
            max_bytes,
        }
    }

    pub fn from_config(config: &crate::Config) -> Self {
        Self::new(
            config.attachment_sources.clone(),
            config.attachment_max_bytes,
            config.attachment_fetch_timeout,
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
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Failed("timed out".into())
    } else {
        FetchError::Failed(format!("cannot fetch: {e}"))
    }
}
