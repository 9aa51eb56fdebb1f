//! Headers every response carries (CSP with a per-response nonce, nosniff, referrer policy,
//! framing denied, HSTS on https) and the CSRF rule for state-changing browser requests.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use domain::AppContext;
use rand::RngCore;

use super::ApiError;

pub async fn headers(State(ctx): State<AppContext>, mut req: Request, next: Next) -> Response {
    let nonce = new_nonce();
    req.extensions_mut().insert(app::CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // same-origin: our no-JS form fallback needs the Referer on our own site, nobody else gets it.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if ctx.config.is_https() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn content_security_policy(nonce: &str) -> String {
    // 'wasm-unsafe-eval' lets the page compile our wasm; it does not allow JS eval.
    let mut connect = String::from("'self'");
    // `cargo leptos watch` reloads the page over its own websocket port.
    if let Ok(port) = std::env::var("LEPTOS_RELOAD_PORT")
        && std::env::var_os("LEPTOS_WATCH").is_some()
    {
        connect.push_str(&format!(" ws://127.0.0.1:{port} ws://localhost:{port}"));
    }
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: https://cdn.discordapp.com https://media.discordapp.net; connect-src {connect}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// A state-changing request from a browser must come from our own pages: `Sec-Fetch-Site` says
/// same-origin (or that the person typed it), or `Origin` is our origin. Requests that carry
/// neither header are refused too, except the machine API under `/api/v1` (token-authenticated,
/// no cookies, so nothing to forge).
pub async fn csrf(State(ctx): State<AppContext>, req: Request<Body>, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || req.uri().path().starts_with("/api/v1/")
    {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let allowed = match (fetch_site, origin) {
        (Some("same-origin" | "none"), _) => true,
        (Some(_), _) => false,
        (None, Some(origin)) => origin_is_ours(origin, &ctx.config.public_url, host),
        (None, None) => false,
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), origin = origin.unwrap_or("-"), fetch_site = fetch_site.unwrap_or("-"), "cross-site request refused");
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "cross-site request refused: send it from this site's own pages",
        )
        .into_response()
    }
}

pub(crate) fn origin_is_ours(origin: &str, public_url: &url::Url, host: Option<&str>) -> bool {
    let public = public_url.origin().ascii_serialization();
    if origin == public {
        return true;
    }
    // The address the browser used (PUBLIC_URL may be unset in local development).
    host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_matching_is_exact() {
        let public = url::Url::parse("https://signals.example.com").unwrap();
        assert!(origin_is_ours("https://signals.example.com", &public, None));
        assert!(!origin_is_ours("https://signals.example.com.evil.io", &public, None));
        assert!(!origin_is_ours("http://signals.example.com", &public, None));
        assert!(origin_is_ours("http://127.0.0.1:3000", &public, Some("127.0.0.1:3000")));
        assert!(!origin_is_ours("http://evil.example", &public, Some("127.0.0.1:3000")));
    }

    #[test]
    fn csp_carries_the_nonce_and_denies_framing() {
        let csp = content_security_policy("abc123");
        assert!(csp.contains("'nonce-abc123'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
