//! Who is asking: the session cookie, resolved on the server for every page render and server
//! function that needs it. `require_user` / `require_admin` are the one place roles are checked.

use serde::{Deserialize, Serialize};

/// What the browser may know about the signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub email: String,
    pub is_admin: bool,
    /// False until the verification link was used: paid time does not arrive before.
    pub email_verified: bool,
}

/// Cookie name: `__Host-` on https pins it to this host, path `/`, and `Secure`.
#[cfg(feature = "ssr")]
pub fn cookie_name(config: &domain::Config) -> &'static str {
    if config.is_https() {
        "__Host-sd_session"
    } else {
        "sd_session"
    }
}

#[cfg(feature = "ssr")]
pub use server_side::*;

#[cfg(feature = "ssr")]
mod server_side {
    use axum::http::{HeaderValue, header};
    use domain::accounts::Role;
    use domain::sessions::{self, SignedIn};
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    use super::*;
    use crate::error::{AppError, app_context, fail, unavailable};

    fn request_parts() -> Option<axum::http::request::Parts> {
        use_context::<axum::http::request::Parts>()
    }

    pub fn session_token() -> Option<String> {
        let ctx = app_context().ok()?;
        token_from_headers(&request_parts()?.headers, cookie_name(&ctx.config))
    }

    /// The session cookie's value among the request's `Cookie` headers.
    pub fn token_from_headers(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub async fn signed_in() -> Result<Option<SignedIn>, AppError> {
        let ctx = app_context()?;
        let Some(token) = session_token() else { return Ok(None) };
        sessions::resolve(&ctx.db, &token)
            .await
            .map_err(|e| unavailable("resolving session", e))
    }

    pub async fn require_user() -> Result<SignedIn, AppError> {
        match signed_in().await? {
            Some(s) => Ok(s),
            None => fail(AppError::Unauthenticated),
        }
    }

    pub async fn require_admin() -> Result<SignedIn, AppError> {
        let s = require_user().await?;
        if s.account.role != Role::Admin {
            return fail(AppError::Forbidden);
        }
        Ok(s)
    }

    /// The app's context, for an admin only.
    pub async fn admin_context() -> Result<domain::AppContext, AppError> {
        let ctx = app_context()?;
        require_admin().await?;
        Ok(ctx)
    }

    pub fn user_agent() -> String {
        request_parts()
            .and_then(|p| {
                p.headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    /// The client's address: the connection's peer, or, when that peer is one of
    /// `TRUSTED_PROXIES`, the client its `X-Forwarded-For` names.
    fn client_addr() -> Option<std::net::IpAddr> {
        let (parts, ctx) = (request_parts()?, app_context().ok()?);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Some(domain::client_address::client_ip(
            peer,
            forwarded,
            &ctx.config.trusted_proxies,
        ))
    }

    /// The client's address, for logs.
    pub fn client_ip() -> String {
        client_addr().map_or_else(|| "unknown".into(), |ip| ip.to_string())
    }

    /// The client's network (an IPv4 address, an IPv6 /64): who per-client limits count.
    pub fn client_network() -> String {
        client_addr().map_or_else(|| "unknown".into(), domain::client_address::network)
    }

    fn cookie_attributes(config: &domain::Config) -> &'static str {
        if config.is_https() {
            "; Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    pub fn set_session_cookie(token: &str) {
        let Ok(ctx) = app_context() else { return };
        let max_age = sessions::ABSOLUTE_LIFETIME.num_seconds();
        let cookie = format!(
            "{}={token}{}; Max-Age={max_age}",
            cookie_name(&ctx.config),
            cookie_attributes(&ctx.config)
        );
        append_set_cookie(cookie);
    }

    pub fn clear_session_cookie() {
        let Ok(ctx) = app_context() else { return };
        let cookie = format!(
            "{}={}; Max-Age=0",
            cookie_name(&ctx.config),
            cookie_attributes(&ctx.config)
        );
        append_set_cookie(cookie);
    }

    fn append_set_cookie(cookie: String) {
        if let (Some(resp), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(&cookie)) {
            resp.append_header(header::SET_COOKIE, value);
        }
    }
}

/// `/login?next=<path>`, with the path percent-encoded beyond the safe characters.
pub fn login_url(next: &str) -> String {
    let encoded: String = next
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/login?next={encoded}")
}

/// Where to go after signing in: only local paths, never another site (`//evil`, `/\evil`, `https://…`).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok { next.to_owned() } else { "/account".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn open_redirects_are_rejected() {
        assert_eq!(safe_next("/admin/users?q=a"), "/admin/users?q=a");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
            "/x\\y",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), "/account", "{bad:?}");
        }
    }
}
