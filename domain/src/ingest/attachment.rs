//! Attachments as reported by a collector, made safe to store and show: links on the allowed
//! attachment origins only (Discord's CDN over https unless `ATTACHMENT_SOURCES` says otherwise;
//! the server fetches each once from there, see `crate::attachment_store`), a filename that
//! cannot carry a path, control characters or bidi overrides, and bounded fields.

use std::sync::LazyLock;

use url::{Origin, Url};

/// Discord's CDN: where attachments come from unless `ATTACHMENT_SOURCES` says otherwise.
pub const DISCORD_CDN: &str = "https://cdn.discordapp.com,https://media.discordapp.net";

static DISCORD_CDN_ORIGINS: LazyLock<Vec<Origin>> = LazyLock::new(|| {
    DISCORD_CDN
        .split(',')
        .map(|o| Url::parse(o).expect("a valid origin").origin())
        .collect()
});

pub fn discord_cdn() -> &'static [Origin] {
    &DISCORD_CDN_ORIGINS
}

/// Whether `url` is on one of `sources` (scheme, host and port) and carries no credentials.
pub fn is_allowed(url: &Url, sources: &[Origin]) -> bool {
    sources.contains(&url.origin()) && url.username().is_empty() && url.password().is_none()
}
pub const FILENAME_MAX_CHARS: usize = 255;
pub const URL_MAX_LEN: usize = 2048;
pub const CONTENT_TYPE_MAX_LEN: usize = 127;
/// Discord's own upload ceiling (500 MiB); anything larger is not a real attachment.
pub const SIZE_MAX: u64 = 500 * 1024 * 1024;
const DIMENSION_MAX: u32 = 65_535;

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub struct RawAttachment {
    pub id: String,
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub content_type: Option<String>,
    pub size: u64,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// Snowflake, kept as a string in JSON (never a float).
    pub id: String,
    pub filename: String,
    pub url: String,
    pub content_type: Option<String>,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("attachment id must be a Discord snowflake (digits only)")]
    BadId,
    #[error("attachment url is not a valid URL")]
    BadUrl,
    #[error("attachment url must use https")]
    NotHttps,
    #[error("attachment url host {0:?} is not a Discord CDN host")]
    HostNotAllowed(String),
    #[error("attachment url is longer than {URL_MAX_LEN} bytes")]
    UrlTooLong,
    #[error("attachment filename is longer than {FILENAME_MAX_CHARS} characters")]
    FilenameTooLong,
    #[error("attachment content type is not a valid media type")]
    BadContentType,
    #[error("attachment size is over {SIZE_MAX} bytes")]
    TooLarge,
    #[error("attachment width or height is out of range")]
    BadDimensions,
}

pub fn normalise(raw: &RawAttachment) -> Result<Attachment, AttachmentError> {
    normalise_from(raw, discord_cdn())
}

pub fn normalise_from(raw: &RawAttachment, sources: &[Origin]) -> Result<Attachment, AttachmentError> {
    if raw.id.is_empty()
        || raw.id.len() > 20
        || !raw.id.bytes().all(|b| b.is_ascii_digit())
        || raw.id.parse::<u64>().is_err()
    {
        return Err(AttachmentError::BadId);
    }
    let url = check_url(&raw.url, sources)?;
    let filename = sanitise_filename(&raw.filename)?;
    let content_type = raw.content_type.as_deref().map(check_content_type).transpose()?;
    if raw.size > SIZE_MAX {
        return Err(AttachmentError::TooLarge);
    }
    if [raw.width, raw.height]
        .iter()
        .flatten()
        .any(|d| *d == 0 || *d > DIMENSION_MAX)
    {
        return Err(AttachmentError::BadDimensions);
    }
    Ok(Attachment {
        id: raw.id.clone(),
        filename,
        url,
        content_type,
        size: raw.size,
        width: raw.width,
        height: raw.height,
    })
}

fn check_url(raw: &str, sources: &[Origin]) -> Result<String, AttachmentError> {
    if raw.len() > URL_MAX_LEN {
        return Err(AttachmentError::UrlTooLong);
    }
    let url = Url::parse(raw.trim()).map_err(|_| AttachmentError::BadUrl)?;
    if is_allowed(&url, sources) {
        return Ok(url.to_string());
    }
    if url.scheme() != "https"
        && !sources
            .iter()
            .any(|o| matches!(o, Origin::Tuple(s, ..) if s == url.scheme()))
    {
        return Err(AttachmentError::NotHttps);
    }
    Err(AttachmentError::HostNotAllowed(
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
    ))
}

/// Bidi controls, e.g. U+202E, which makes `evil<U+202E>gpj.exe` display as `evilexe.jpg`.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn sanitise_filename(raw: &str) -> Result<String, AttachmentError> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.chars().count() > FILENAME_MAX_CHARS {
        return Err(AttachmentError::FilenameTooLong);
    }
    Ok(if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    })
}

fn check_content_type(raw: &str) -> Result<String, AttachmentError> {
    let ct = raw.trim().to_ascii_lowercase();
    // Parameters (`; charset=…`) are dropped: only the media type decides how we show a file.
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((kind, sub)) if essence.len() <= CONTENT_TYPE_MAX_LEN && token_ok(kind) && token_ok(sub) => {
            Ok(essence.to_owned())
        }
        _ => Err(AttachmentError::BadContentType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str, filename: &str) -> RawAttachment {
        RawAttachment {
            id: "1180000000000000001".into(),
            filename: filename.into(),
            url: url.into(),
            content_type: Some("image/PNG".into()),
            size: 1234,
            width: Some(800),
            height: Some(600),
        }
    }

    const CDN: &str = "https://cdn.discordapp.com/attachments/1/2/chart.png";

    #[test]
    fn s7_only_https_discord_cdn_urls_are_kept() {
        assert_eq!(normalise(&raw(CDN, "chart.png")).unwrap().url, CDN);
        assert!(
            normalise(&raw(
                "https://media.discordapp.net/attachments/1/2/a.png?width=10",
                "a.png"
            ))
            .is_ok()
        );
        for (bad, err) in [
            ("http://cdn.discordapp.com/a.png", AttachmentError::NotHttps),
            (
                "https://evil.example/a.png",
                AttachmentError::HostNotAllowed("evil.example".into()),
            ),
            (
                "https://cdn.discordapp.com.evil.example/a.png",
                AttachmentError::HostNotAllowed("cdn.discordapp.com.evil.example".into()),
            ),
            (
                "https://user:pw@cdn.discordapp.com/a.png",
                AttachmentError::HostNotAllowed("cdn.discordapp.com".into()),
            ),
            (
                "https://cdn.discordapp.com:8443/a.png",
                AttachmentError::HostNotAllowed("cdn.discordapp.com".into()),
            ),
            (
                "https://127.0.0.1/a.png",
                AttachmentError::HostNotAllowed("127.0.0.1".into()),
            ),
            ("javascript:alert(1)", AttachmentError::NotHttps),
            ("not a url", AttachmentError::BadUrl),
        ] {
            assert_eq!(normalise(&raw(bad, "a.png")), Err(err), "{bad}");
        }
        let long = format!("{CDN}?{}", "x".repeat(URL_MAX_LEN));
        assert_eq!(normalise(&raw(&long, "a.png")), Err(AttachmentError::UrlTooLong));
    }

    #[test]
    fn filenames_lose_paths_controls_and_bidi_overrides() {
        assert_eq!(sanitise_filename("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitise_filename("C:\\Users\\x\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(sanitise_filename("evil\u{202E}gpj.exe").unwrap(), "evilgpj.exe");
        assert_eq!(sanitise_filename("line\nbreak\t.png").unwrap(), "linebreak.png");
        assert_eq!(sanitise_filename("..").unwrap(), "attachment");
        assert_eq!(sanitise_filename(".hidden").unwrap(), "hidden");
        assert_eq!(sanitise_filename("résumé 2026.pdf").unwrap(), "résumé 2026.pdf");
        assert_eq!(
            sanitise_filename(&"a".repeat(256)),
            Err(AttachmentError::FilenameTooLong)
        );
    }

    #[test]
    fn fields_are_checked_and_kept() {
        let a = normalise(&raw(CDN, "chart.png")).unwrap();
        assert_eq!(a.content_type.as_deref(), Some("image/png"));
        assert_eq!((a.size, a.width, a.height), (1234, Some(800), Some(600)));
        let mut r = raw(CDN, "a.png");
        r.content_type = Some("text/html; charset=utf-8".into());
        assert_eq!(normalise(&r).unwrap().content_type.as_deref(), Some("text/html"));
        r.content_type = Some("<script>".into());
        assert_eq!(normalise(&r), Err(AttachmentError::BadContentType));
        let mut r = raw(CDN, "a.png");
        r.id = "12.5".into();
        assert_eq!(normalise(&r), Err(AttachmentError::BadId));
        let mut r = raw(CDN, "a.png");
        r.size = SIZE_MAX + 1;
        assert_eq!(normalise(&r), Err(AttachmentError::TooLarge));
        let mut r = raw(CDN, "a.png");
        r.width = Some(0);
        assert_eq!(normalise(&r), Err(AttachmentError::BadDimensions));
    }
}
