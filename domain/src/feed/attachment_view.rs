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

#[cfg(test)]
mod tests {
    use super::*;

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
