//! What a fetched file really is, from its first bytes — never from its name or the type the
//! collector or the CDN declared. An image is stored as an image only if its bytes are that
//! image; markup (HTML, SVG, XML) is never stored at all, whatever it is called.

/// The raster types we serve inline, by their magic numbers.
const IMAGES: &[(&str, &[u8])] = &[
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/gif", b"GIF87a"),
    ("image/gif", b"GIF89a"),
];

/// The image type `bytes` are, if any.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    IMAGES
        .iter()
        .find(|(_, magic)| bytes.starts_with(magic))
        .map(|(t, _)| *t)
}

/// Whether `bytes` look like markup a browser could run: HTML, SVG or XML (after a BOM and
/// whitespace, a `<` opening a tag, a doctype, a comment or a processing instruction).
pub fn is_markup(bytes: &[u8]) -> bool {
    let rest = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = rest.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(rest.len());
    let head: Vec<u8> = rest[start..].iter().take(16).map(u8::to_ascii_lowercase).collect();
    head.first() == Some(&b'<')
        && head
            .get(1)
            .is_some_and(|b| b.is_ascii_alphabetic() || b"!?/".contains(b))
}

/// How the stored copy will be served: the checked image type, or a plain download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Image(&'static str),
    Download,
}

impl Stored {
    pub fn content_type(self) -> &'static str {
        match self {
            Stored::Image(t) => t,
            Stored::Download => "application/octet-stream",
        }
    }
}

/// Checks fetched bytes against what was declared. `Err` is why they are refused.
pub fn check(declared: Option<&str>, bytes: &[u8]) -> Result<Stored, String> {
    if is_markup(bytes) {
        return Err("the file is markup (HTML, SVG or XML), which is never stored".into());
    }
    let actual = image_type(bytes);
    match (declared.filter(|d| d.starts_with("image/")), actual) {
        (Some(d), Some(a)) if d == a => Ok(Stored::Image(a)),
        (Some(d), _) => Err(format!(
            "declared {d} but the bytes are {}",
            actual.unwrap_or("not an image we show")
        )),
        // A file that says it is not an image is a download, whatever its bytes.
        (None, _) => Ok(Stored::Download),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn s7_images_are_what_their_bytes_say() {
        assert_eq!(check(Some("image/png"), PNG), Ok(Stored::Image("image/png")));
        assert_eq!(
            check(Some("image/webp"), b"RIFF\0\0\0\0WEBPVP8 "),
            Ok(Stored::Image("image/webp"))
        );
        assert!(
            check(Some("image/jpeg"), PNG)
                .unwrap_err()
                .contains("declared image/jpeg")
        );
        assert_eq!(check(Some("application/pdf"), b"%PDF-1.7"), Ok(Stored::Download));
        assert_eq!(check(None, PNG), Ok(Stored::Download));
    }

    #[test]
    fn s7_markup_is_never_stored_whatever_it_is_called() {
        for markup in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"\xef\xbb\xbf  <!DOCTYPE html><html>",
            b"\n<?xml version='1.0'?>",
            b"<html><body>not a png</body></html>",
        ] {
            assert!(check(Some("image/png"), markup).is_err());
            assert!(check(Some("application/pdf"), markup).is_err());
        }
        assert!(!is_markup(b"a < b"));
        assert!(!is_markup(PNG));
    }
}
