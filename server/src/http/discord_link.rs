//! "Link Discord" on `/account`: OAuth2 authorisation code with PKCE (S256) and a `state` that is
//! single-use, bound to the session and valid for ten minutes, with the exact redirect URI (S6).
//! The callback exchanges the code (the `oauth2` crate), reads `/users/@me`, adds the member to
//! the customers' server when it can (`guilds.join`), and stores the link — which queues role
//! sync in the same transaction. Every outcome returns to `/account` with a readable message.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::AppContext;
use domain::discord_link::{self, LinkError, StateError, TakeError};
use domain::role_sync::RoleGuild;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::session::MaybeSignedIn;

pub const CALLBACK_PATH: &str = "/account/discord/callback";

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn back(outcome: &str) -> Response {
    Redirect::to(&format!("/account?{outcome}#discord")).into_response()
}

fn failed(code: &str) -> Response {
    back(&format!("discord_error={code}"))
}

fn oauth_client(ctx: &AppContext) -> Option<Client> {
    let oauth = ctx.config.discord_oauth.as_ref()?;
    let base = ctx.config.discord_api_url.as_str().trim_end_matches('/');
    let redirect = ctx.config.public_url.join(CALLBACK_PATH).ok()?;
    Some(
        BasicClient::new(ClientId::new(oauth.client_id.clone()))
            .set_client_secret(ClientSecret::new(oauth.client_secret.expose().clone()))
            .set_auth_uri(AuthUrl::new(format!("{base}/oauth2/authorize")).ok()?)
            .set_token_uri(TokenUrl::new(format!("{base}/api/oauth2/token")).ok()?)
            .set_redirect_uri(RedirectUrl::from_url(redirect)),
    )
}

/// `POST /account/discord/link`: start an authorisation.
pub async fn start(State(ctx): State<AppContext>, MaybeSignedIn(who): MaybeSignedIn) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let Some(client) = oauth_client(&ctx) else {
        return failed("not_configured");
    };
    if !who.account.email_verified {
        return failed("unverified");
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("identify".into()))
        .set_pkce_challenge(challenge);
    if ctx.config.customer_guild_id.is_some() {
        request = request.add_scope(Scope::new("guilds.join".into()));
    }
    let (url, state) = request.url();
    if let Err(e) = discord_link::remember_state(&ctx.db, state.secret(), who.session.id, verifier.secret()).await {
        tracing::error!(error = %e, "cannot store an OAuth state");
        return failed("unavailable");
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct DiscordUser {
    id: String,
    username: String,
}

/// `GET /account/discord/callback`: Discord sends the customer back here.
pub async fn callback(
    State(ctx): State<AppContext>,
    MaybeSignedIn(who): MaybeSignedIn,
    Query(q): Query<Callback>,
) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let Some(client) = oauth_client(&ctx) else {
        return failed("not_configured");
    };
    // Checked again here: only a proven owner's Discord account may receive what they buy.
    if !who.account.email_verified {
        return failed("unverified");
    }
    let Some(state) = q.state.as_deref() else {
        return failed("state_unknown");
    };
    let verifier = match discord_link::take_state(&ctx.db, state, who.session.id).await {
        Ok(v) => v,
        Err(TakeError::State(e)) => {
            tracing::warn!(user = who.account.id, reason = %e, "Discord callback with a refused state");
            return failed(match e {
                StateError::Unknown => "state_unknown",
                StateError::Used => "state_used",
                StateError::Expired => "state_expired",
                StateError::OtherSession => "state_other_session",
            });
        }
        Err(TakeError::Db(e)) => {
            tracing::error!(error = %e, "cannot read an OAuth state");
            return failed("unavailable");
        }
    };
    if q.error.is_some() {
        return failed("cancelled");
    }
    let Some(code) = q.code else {
        return failed("cancelled");
    };
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(h) => h,
        Err(_) => return failed("unavailable"),
    };
    let token = match client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(user = who.account.id, error = %e, "Discord refused the code exchange");
            return failed("exchange_failed");
        }
    };
    let access = token.access_token().secret();
    let base = ctx.config.discord_api_url.as_str().trim_end_matches('/');
    let me = match http
        .get(format!("{base}/api/v10/users/@me"))
        .bearer_auth(access)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
    {
        Ok(r) => r.json::<DiscordUser>().await,
        Err(e) => Err(e),
    };
    let Some((discord_id, username)) = me.ok().and_then(|u| Some((u.id.parse::<i64>().ok()?, u.username))) else {
        return failed("discord_unreachable");
    };
    let guild = RoleGuild::from_config(&ctx.config);
    if let Some(g) = guild {
        join_guild(&ctx, &http, g.guild_id, discord_id, access).await;
    }
    match discord_link::link(&ctx.db, guild.as_ref(), who.account.id, discord_id, &username).await {
        Ok(_) => {
            tracing::info!(
                user = who.account.id,
                discord_user = discord_id,
                "Discord account linked"
            );
            back("discord=linked")
        }
        Err(LinkError::TakenByAnother) => {
            tracing::warn!(
                user = who.account.id,
                discord_user = discord_id,
                "Discord account already linked to another customer"
            );
            failed("taken")
        }
        Err(LinkError::Db(e)) => {
            tracing::error!(error = %e, "cannot store a Discord link");
            failed("unavailable")
        }
    }
}

/// Adds the customer to the customers' server (`guilds.join`). 201: added; 204: already a
/// member — roles are then set by role sync's explicit role calls, never by this body.
/// A failure is logged, not fatal: the link stands and role sync waits for them to join.
async fn join_guild(ctx: &AppContext, http: &reqwest::Client, guild: i64, user: i64, access: &str) {
    let Some(bot) = ctx.config.discord_bot_token.as_ref() else {
        return;
    };
    let base = ctx.config.discord_api_url.as_str().trim_end_matches('/');
    let answer = http
        .put(format!("{base}/api/v10/guilds/{guild}/members/{user}"))
        .header(reqwest::header::AUTHORIZATION, format!("Bot {}", bot.expose()))
        .json(&serde_json::json!({ "access_token": access }))
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            tracing::info!(
                discord_user = user,
                status = r.status().as_u16(),
                "customer joined the server"
            );
        }
        Ok(r) => tracing::warn!(
            discord_user = user,
            status = r.status().as_u16(),
            "could not add the customer to the server"
        ),
        Err(e) => tracing::warn!(discord_user = user, error = %e, "could not add the customer to the server"),
    }
}

/// `POST /account/discord/unlink`.
pub async fn unlink(State(ctx): State<AppContext>, MaybeSignedIn(who): MaybeSignedIn) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let guild = RoleGuild::from_config(&ctx.config);
    match discord_link::unlink(&ctx.db, guild.as_ref(), who.account.id).await {
        Ok(_) => back("discord=unlinked"),
        Err(e) => {
            tracing::error!(error = %e, "cannot remove a Discord link");
            failed("unavailable")
        }
    }
}
