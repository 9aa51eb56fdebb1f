//! How an attachment may be shown to a customer (S7): inline only for raster images whose
//! extension and declared type agree and that are small enough; never for executables, scripts,
//! HTML or SVG (those are marked blocked and get no link at all); everything else is a download
//! link.

use serde::Serialize;

use crate::ingest::attachment::Attachment;

/// Images larger than this are offered as links, not previews.
pub const INLINE_MAX_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Display {
    Inline,
    Link,
    Blocked,
}

const RASTER: &[(&str, &[&str])] = &[
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
];

const DANGEROUS_EXTENSIONS: &[&str] = &[
    "exe", "msi", "bat", "cmd", "com", "scr", "ps1", "vbs", "js", "mjs", "jar", "sh", "app", "dmg", "apk", "html",
    "htm", "xhtml", "svg", "svgz", "hta", "lnk", "reg", "dll", "php", "py", "pl",
];

const DANGEROUS_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/javascript",
    "text/javascript",
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-sh",
    "application/java-archive",
    "application/vnd.microsoft.portable-executable",
];

fn extension(filename: &str) -> String {
    filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

pub fn display(a: &Attachment) -> Display {
    let ext = extension(&a.filename);
    let ct = a.content_type.as_deref().unwrap_or("");
    if DANGEROUS_EXTENSIONS.contains(&ext.as_str()) || DANGEROUS_TYPES.contains(&ct) {
        return Display::Blocked;
    }
    let raster = RASTER.iter().any(|(t, exts)| *t == ct && exts.contains(&ext.as_str()));
    if raster && a.size <= INLINE_MAX_BYTES {
        Display::Inline
    } else {
        Display::Link
    }
}

/// The author's picture, under the same rules as an attachment shown inline: a small raster image
/// (PNG, 64 px) from Discord's CDN only, its address built from the author's id and a checked hash,
/// never taken from a payload. Authors without a picture get Discord's default one for their id;
/// a signal without an author id gets none (the card shows the name alone).
pub fn avatar(author_id: Option<i64>, hash: Option<&str>) -> Option<String> {
    let id = author_id.filter(|id| *id > 0)?;
    let hash = hash.filter(|h| {
        let hex = h.strip_prefix("a_").unwrap_or(h);
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    Some(match hash {
        // The `a_` (animated) hash as PNG is its first frame: nothing moves on a trading desk.
        Some(hash) => format!("https://cdn.discordapp.com/avatars/{id}/{hash}.png?size=64"),
        // Discord's rule for accounts on unique usernames: (id >> 22) % 6.
        None => format!("https://cdn.discordapp.com/embed/avatars/{}.png", (id >> 22) % 6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatars_come_from_discords_cdn_built_from_a_checked_hash() {
        let hash = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            avatar(Some(400), Some(hash)).as_deref(),
            Some("https://cdn.discordapp.com/avatars/400/0123456789abcdef0123456789abcdef.png?size=64")
        );
        assert_eq!(
            avatar(Some(400), Some(&format!("a_{hash}"))).as_deref(),
            Some("https://cdn.discordapp.com/avatars/400/a_0123456789abcdef0123456789abcdef.png?size=64")
        );
        // Anything that is not a hash (a stored row from before the check, a URL, markup) gets the default picture.
        let id = 1_180_000_000_000_000_003_i64;
        let default = format!("https://cdn.discordapp.com/embed/avatars/{}.png", (id >> 22) % 6);
        for bad in [
            "https://evil.example/a.png",
            "\"><script>",
            "ABCDEF0123456789ABCDEF0123456789",
            "a_",
            "",
        ] {
            assert_eq!(avatar(Some(id), Some(bad)), Some(default.clone()), "{bad}");
        }
        assert_eq!(avatar(Some(id), None), Some(default));
        assert_eq!(avatar(None, Some(hash)), None);
        assert_eq!(avatar(Some(-5), Some(hash)), None);
    }

    fn a(filename: &str, ct: Option<&str>, size: u64) -> Attachment {
        Attachment {
            id: "1".into(),
            filename: filename.into(),
            url: "https://cdn.discordapp.com/attachments/1/2/x".into(),
            content_type: ct.map(str::to_owned),
            size,
            width: None,
            height: None,
        }
    }

    #[test]
    fn s7_only_small_raster_images_with_matching_type_are_inline() {
        assert_eq!(display(&a("chart.PNG", Some("image/png"), 1000)), Display::Inline);
        assert_eq!(display(&a("chart.jpg", Some("image/jpeg"), 1000)), Display::Inline);
        assert_eq!(
            display(&a("chart.png", Some("image/jpeg"), 1000)),
            Display::Link,
            "type and extension disagree"
        );
        assert_eq!(display(&a("chart.png", None, 1000)), Display::Link, "no declared type");
        assert_eq!(
            display(&a("huge.png", Some("image/png"), INLINE_MAX_BYTES + 1)),
            Display::Link
        );
        assert_eq!(display(&a("report.pdf", Some("application/pdf"), 1000)), Display::Link);
    }

    #[test]
    fn s7_executables_scripts_html_and_svg_are_blocked() {
        for (name, ct) in [
            ("setup.exe", Some("application/octet-stream")),
            ("logo.svg", Some("image/svg+xml")),
            ("logo.png", Some("image/svg+xml")),
            ("page.html", Some("text/html")),
            ("run.sh", None),
            ("x.js", Some("text/plain")),
        ] {
            assert_eq!(display(&a(name, ct, 10)), Display::Blocked, "{name}");
        }
    }
}
