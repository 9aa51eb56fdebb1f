//! Discord's CDN, as far as attachments go: `GET /attachments/{channel}/{attachment}/{filename}`
//! answers without a token, with bytes that are what the file's extension says (a real 1×1 PNG,
//! a PDF header, …), so the server's fetch, sniffing and serving run as they would against
//! cdn.discordapp.com. Tests point `ATTACHMENT_SOURCES` at the fake's origin.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A valid 1×1 PNG.
pub const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x04\x00\x00\x00\xb5\x1c\x0c\x02\x00\x00\x00\x0b\x49\x44\x41\x54\x78\xda\x63\x64\x60\x00\x00\x00\x06\x00\x02\x30\x81\xd0\x2f\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

pub(super) async fn file(Path((_channel, _attachment, name)): Path<(String, String, String)>) -> Response {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let (content_type, body): (&str, Vec<u8>) = match ext.as_str() {
        "png" => ("image/png", PNG.to_vec()),
        "pdf" => ("application/pdf", b"%PDF-1.4\n% fake\n".to_vec()),
        "svg" => ("image/svg+xml", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec()),
        _ => ("application/octet-stream", format!("contents of {name}").into_bytes()),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
