//! `GET /attachments/{signal}/{attachment}`: a stored attachment, from our own origin, only to a
//! signed-in customer who may read that signal right now — with access, in a Source channel
//! their tier opens, not deleted at source. Served so that nothing in it can run: the content
//! type is the one its bytes were checked to be (an image) or a plain download, with `nosniff`,
//! a CSP that allows nothing and sandboxes the document, and `Content-Disposition`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::attachment_store::Refusal;

use super::ApiError;
use super::session::MaybeSignedIn;

/// The browser may keep a copy for a day (the bytes never change), but only for this person.
const CACHE: &str = "private, max-age=86400";

fn refuse(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    ApiError::new(status, code, message).into_response()
}

pub async fn get(
    State(state): State<super::AppState>,
    MaybeSignedIn(signed_in): MaybeSignedIn,
    Path((signal_id, attachment_id)): Path<(String, String)>,
) -> Response {
    let ctx = &state.ctx;
    let not_found = || refuse(StatusCode::NOT_FOUND, "not_found", "no such attachment");
    let (Ok(signal_id), Ok(attachment_id)) = (signal_id.parse::<i64>(), attachment_id.parse::<i64>()) else {
        return not_found();
    };
    let Some(signed_in) = signed_in else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in to see attachments",
        );
    };
    let file = match domain::attachment_store::servable(&ctx.db, signed_in.account.id, signal_id, attachment_id).await {
        Ok(Ok(file)) => file,
        Ok(Err(Refusal::NoAccess)) => return refuse(StatusCode::FORBIDDEN, "no_access", "your access has ended"),
        Ok(Err(Refusal::ChannelClosed)) => {
            tracing::info!(
                user = signed_in.account.id,
                signal_id,
                "attachment refused: the tier does not open its channel"
            );
            return refuse(
                StatusCode::FORBIDDEN,
                "channel_closed",
                "your tier does not open this signal's channel",
            );
        }
        Ok(Err(Refusal::NotFound)) => return not_found(),
        Err(e) => return super::connector_auth::db_unavailable(e).into_response(),
    };
    let bytes = match state.blobs.get(&file.sha256).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            tracing::error!(
                signal_id,
                attachment_id,
                "a stored attachment is missing from the blob store"
            );
            return not_found();
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the blob store");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "blob_store_unavailable",
                "attachments cannot be read right now; retry shortly",
            );
        }
    };
    let content_type = file.content_type.as_str();
    let image = content_type.starts_with("image/");
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if image { "inline" } else { "attachment" },
        utf8_percent_encode(&file.filename)
    );
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, header::CONTENT_TYPE, content_type);
    set(h, header::CONTENT_DISPOSITION, &disposition);
    set(h, header::CACHE_CONTROL, CACHE);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox");
    set(
        h,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    res
}

/// RFC 5987 encoding for `filename*`: everything but unreserved characters percent-encoded.
fn utf8_percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
