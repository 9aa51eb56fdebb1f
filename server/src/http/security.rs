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
    let personal = reads_a_session(&req, app::auth::cookie_name(&ctx.config));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if personal {
        // A page or answer made for one signed-in person: no shared cache may keep it or serve
        // it to someone else. A handler that says `private` itself (a stored attachment the
        // browser may keep) is left its own policy.
        let private = h
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("private"));
        if !private {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        h.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    // "Link Discord" posts a form whose answer redirects to Discord's authorize page: form-action
    // must allow that origin (Chrome applies it to the redirect), and only when linking is on.
    let oauth_origin = ctx
        .config
        .discord_oauth
        .as_ref()
        .map(|_| ctx.config.discord_api_url.origin().ascii_serialization());
    // A handler with a stricter policy of its own (stored attachments: nothing runs) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(csp) = HeaderValue::from_str(&content_security_policy(&nonce, oauth_origin.as_deref()))
    {
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

/// Whether the answer may depend on who is signed in: the request carries our session cookie
/// and is not for a static file (the wasm bundle, CSS, images are the same for everyone).
fn reads_a_session(req: &Request, cookie: &str) -> bool {
    let path = req.uri().path();
    let static_file = path.starts_with("/pkg/") || matches!(path, "/favicon.svg" | "/robots.txt");
    !static_file && app::auth::token_from_headers(req.headers(), cookie).is_some()
}

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn content_security_policy(nonce: &str, oauth_origin: Option<&str>) -> String {
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
         object-src 'none'; base-uri 'self'; form-action 'self'{oauth}; frame-ancestors 'none'",
        oauth = oauth_origin.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

/// A state-changing request from a browser must come from our own pages: `Sec-Fetch-Site` says
/// same-origin (or that the person typed it), or `Origin` is our origin. Requests that carry
/// neither header are refused too, except the machine API under `/api/v1` and the one-click
/// unsubscribe a mail provider posts (both authorised by a token alone, no cookies, so nothing
/// to forge).
pub async fn csrf(State(ctx): State<AppContext>, req: Request<Body>, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path().starts_with("/api/v1/")
        || req.uri().path() == super::unsubscribe::PATH
    {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = match (fetch_site, origin) {
        (Some("same-origin" | "none"), _) => true,
        (Some(_), _) => false,
        (None, Some(origin)) => origin_is_ours(origin, &ctx.config.public_url),
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

/// The `Origin` must be `PUBLIC_URL`'s, exactly: never the request's own `Host` header, which
/// the client chooses (and a DNS-rebinding page controls).
pub(crate) fn origin_is_ours(origin: &str, public_url: &url::Url) -> bool {
    origin == public_url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_matching_is_exact() {
        let public = url::Url::parse("https://signals.example.com").unwrap();
        assert!(origin_is_ours("https://signals.example.com", &public));
        assert!(!origin_is_ours("https://signals.example.com.evil.io", &public));
        assert!(!origin_is_ours("http://signals.example.com", &public));
        assert!(
            !origin_is_ours("http://127.0.0.1:3000", &public),
            "the Host header never vouches"
        );
    }

    #[test]
    fn csp_carries_the_nonce_and_denies_framing() {
        let csp = content_security_policy("abc123", None);
        assert!(csp.contains("'nonce-abc123'"));
        assert!(csp.contains("form-action 'self';"));
        let linking = content_security_policy("abc123", Some("https://discord.com"));
        assert!(linking.contains("form-action 'self' https://discord.com;"), "{linking}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
