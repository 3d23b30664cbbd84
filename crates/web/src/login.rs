//! Signing in and out of the dashboard.
//!
//! - External issuers (INDIGO IAM, Keycloak...): the authorization code
//!   flow with PKCE (S256), `state` and `nonce`. The login in flight is kept
//!   in the store under the state's hash, bound to the browser that started
//!   it (a cookie whose hash is stored with it), and taken once on the way
//!   back by that browser only. The access token the issuer returns is
//!   verified exactly as an API bearer token is, so a dashboard user is who
//!   the API would say they are. Anyone may start a sign-in: the logins in
//!   flight are bounded and the issuers' discovery documents cached.
//! - The embedded issuer: its accounts sign in with a password form,
//!   protected against login CSRF by a double-submit cookie; attempts are
//!   limited per account and per client address (429 past the limit) and
//!   the password hashes bounded, by the app layer.
//!
//! Either way the result is a server-side session ([`crate::session`]);
//! logins are audited.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use maud::{Markup, html};
use nuvola_app::{WebLogin, now_ms};
use nuvola_identity::IssuerConfig;
use nuvola_limits::client_key;
use nuvola_types::oauth::{Discovery, Grant, TokenRequest, Tokens, token_answer};
use nuvola_types::{Error, Principal};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::layout::{Section, notice, page};
use crate::session::{self, ClientIp, NoFields, Post, Viewer, cookie, digest, local_path, secret, set_cookie};
use crate::{PageError, WebState};

/// The cookie carrying the password form's anti-CSRF token.
const LOGIN_COOKIE: &str = "nuvola_login";

/// The cookie binding a sign-in at an external issuer to the browser that
/// started it: a random value whose hash is stored with the login's state.
/// Without it, a callback link (someone's code and state) opened in
/// another browser would sign that browser in as them (login CSRF).
const BROWSER_COOKIE: &str = "nuvola_oidc";

/// How long a login may stay at the issuer.
pub(crate) const LOGIN_MAX_AGE_MS: i64 = 15 * 60_000;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/login", get(login_page))
        .route("/login/password", post(password_login))
        .route("/login/oidc/{index}", get(start_oidc))
        .route("/login/callback", get(callback))
        .route("/logout", post(logout))
        .route("/session/group", post(switch_group))
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

/// The issuers offering a dashboard sign-in, with their index.
fn web_issuers(state: &WebState) -> impl Iterator<Item = (usize, &IssuerConfig)> {
    state.config.issuers.iter().enumerate().filter(|(_, c)| c.web_client_id.is_some())
}

/// `GET /login`: the sign-in choices.
async fn login_page(State(state): State<WebState>, viewer: Option<Viewer>, Query(q): Query<LoginQuery>) -> Response {
    if viewer.is_some() {
        return Redirect::to(&local_path(q.next.as_deref())).into_response();
    }
    let next = local_path(q.next.as_deref());
    let token = secret();
    let body = login_body(&state, &next, &token, q.error.as_deref(), None);
    let cookie = set_cookie(&state, LOGIN_COOKIE, &token, 3600);
    ([(header::SET_COOKIE, cookie)], page("Sign in", None, Section::Other, body)).into_response()
}

fn login_body(state: &WebState, next: &str, token: &str, error: Option<&str>, name: Option<&str>) -> Markup {
    let external: Vec<_> = web_issuers(state).collect();
    html! {
        @if let Some(e) = error { (notice("error", e)) }
        @if external.is_empty() && state.config.accounts.is_none() {
            (notice("error", "No way to sign in is configured: add `web_client_id` to an [[identity.issuers]] entry, or enable the embedded issuer."))
        }
        @for (i, issuer) in &external {
            p {
                a class="button" href={"/login/oidc/" (i) "?next=" (session::encode(next))} {
                    "Sign in with " (issuer.display_name())
                }
            }
        }
        @if let Some(accounts) = &state.config.accounts {
            @if !external.is_empty() { h2 { "Or with a local account" } }
            form method="post" action="/login/password" {
                input type="hidden" name="login_token" value=(token);
                input type="hidden" name="next" value=(next);
                div class="field" {
                    label for="name" { "User name" }
                    input id="name" name="name" type="text" autocomplete="username" required value=[name] autofocus;
                }
                div class="field" {
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                }
                button type="submit" { "Sign in" }
            }
            @if accounts.demo_password_file.is_some() {
                p class="help" {
                    "First start: sign in as " strong { "demo" } ". Its password was printed where "
                    code { "nuvola serve" } " runs, and is kept in "
                    code { (accounts.demo_password_file.as_deref().unwrap_or_default()) } "."
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    login_token: String,
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login/password`: a local account signs in.
async fn password_login(
    State(state): State<WebState>,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<PasswordForm>,
) -> Result<Response, PageError> {
    let next = local_path(form.next.as_deref());
    let Some(accounts) = &state.config.accounts else {
        return Err(Error::not_found("local accounts are not enabled on this platform").into());
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !nuvola_types::secret::same(expected.as_bytes(), form.login_token.as_bytes()) {
        return Err(Error::Forbidden(
            "this sign-in form is stale or was not sent from nuvola's sign-in page: reload it and try again".into(),
        )
        .into());
    }
    // Limited per account and client; the hash runs off the async workers.
    let outcome = state
        .app
        .password_checks()
        .sign_in(&accounts.accounts, &accounts.issuer, &form.name, &form.password, ip.as_deref())
        .await;
    match outcome {
        Ok(principal) => signed_in(&state, principal, "password", &next).await,
        Err(e @ (Error::Unauthenticated(_) | Error::TooManyRequests { .. })) => {
            tracing::info!(user = %form.name, "dashboard sign-in refused");
            let token = secret();
            let body = login_body(&state, &next, &token, Some(&e.to_string()), Some(&form.name));
            let cookie = set_cookie(&state, LOGIN_COOKIE, &token, 3600);
            let page = page("Sign in", None, Section::Other, body);
            Ok(crate::with_retry_after(
                (crate::status_of(&e), [(header::SET_COOKIE, cookie)], page).into_response(),
                &e,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the session, audits the login, and sends the browser on.
async fn signed_in(state: &WebState, principal: Principal, method: &str, next: &str) -> Result<Response, PageError> {
    let cookie = session::start(state, &principal, None).await?;
    state.app.audit(&principal, "login", "dashboard", json!({"method": method, "issuer": principal.issuer})).await;
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    for done in [LOGIN_COOKIE, BROWSER_COOKIE] {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, done, "", 0));
    }
    Ok(response)
}

fn redirect_uri(state: &WebState) -> String {
    format!("{}/login/callback", state.public_url)
}

/// `GET /login/oidc/{index}`: off to the issuer's authorization endpoint,
/// with the browser bound to this login by a cookie.
async fn start_oidc(
    State(state): State<WebState>,
    Path(index): Path<usize>,
    ClientIp(ip): ClientIp,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let issuer = web_issuers(&state)
        .find(|(i, _)| *i == index)
        .map(|(_, c)| c.clone())
        .ok_or_else(|| Error::not_found(format!("no sign-in issuer number {index}")))?;
    // Anyone may start a sign-in, and each is a stored row: their number
    // is bounded, per client and overall.
    let client = client_key(ip.as_deref());
    check_logins_in_flight(&state, &client).await?;
    let discovery = discovery(&state, &issuer).await?;
    let endpoint = discovery.authorization_endpoint.ok_or_else(|| {
        Error::internal(format!("{} publishes no authorization_endpoint in its discovery document", issuer.issuer))
    })?;
    let (state_value, browser, verifier, nonce) = (secret(), secret(), secret(), secret());
    state
        .app
        .start_login(&WebLogin {
            state_hash: digest(&state_value),
            browser_hash: digest(&browser),
            issuer: issuer.issuer.clone(),
            verifier: verifier.clone(),
            nonce: nonce.clone(),
            return_to: local_path(q.next.as_deref()),
            client_ip: Some(client),
            created_at: now_ms(),
        })
        .await?;
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = reqwest::Url::parse(&endpoint)
        .map_err(|e| Error::internal_because(format!("{} names a bad authorization_endpoint", issuer.issuer), e))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", issuer.web_client_id.as_deref().unwrap_or_default())
            .append_pair("redirect_uri", &redirect_uri(&state))
            .append_pair("scope", &issuer.web_scope)
            .append_pair("state", &state_value)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(resource) = &issuer.resource {
            query.append_pair("resource", resource);
        }
    }
    let bind = set_cookie(&state, BROWSER_COOKIE, &browser, (LOGIN_MAX_AGE_MS / 1000) as u64);
    Ok(([(header::SET_COOKIE, bind)], Redirect::to(url.as_str())).into_response())
}

/// Purges the logins that expired and refuses to start one more when the
/// client, or everyone, has too many in flight. Concurrent starts may pass
/// the count together: the bound is exceeded by at most their number.
async fn check_logins_in_flight(state: &WebState, client: &str) -> Result<(), Error> {
    let limits = &state.app.settings().sign_in;
    let now = now_ms();
    let since = now - LOGIN_MAX_AGE_MS;
    let in_flight = state.app.logins_in_flight(client, since).await?;
    let wait = |oldest: Option<i64>| (oldest.unwrap_or(now) + LOGIN_MAX_AGE_MS - now).max(1000) as u64 / 1000;
    if in_flight.from_client >= limits.pending_logins_per_client as i64 {
        let retry_after_secs = wait(in_flight.client_oldest);
        tracing::warn!(client, in_flight = in_flight.from_client, "sign-in start refused: too many from this client");
        return Err(Error::TooManyRequests {
            message: format!(
                "too many sign-ins started from your address are still waiting for the identity provider: \
                 finish one, or try again in {retry_after_secs} s"
            ),
            retry_after_secs,
        });
    }
    if in_flight.total >= limits.pending_logins as i64 {
        let retry_after_secs = wait(in_flight.oldest);
        tracing::warn!(in_flight = in_flight.total, "sign-in start refused: too many in flight");
        return Err(Error::TooManyRequests {
            message: format!("too many sign-ins are in progress right now: try again in {retry_after_secs} s"),
            retry_after_secs,
        });
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/callback`: the issuer sends the browser back with a code.
async fn callback(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let again = "sign in again";
    let Some(state_value) = q.state.as_deref() else {
        return Err(Error::invalid(format!("the identity provider sent no `state`: {again}")).into());
    };
    let Some(browser) = cookie(&headers, BROWSER_COOKIE).filter(|b| !b.is_empty()) else {
        return Err(Error::invalid(format!(
            "this sign-in was not started in this browser (or its cookie expired): {again}"
        ))
        .into());
    };
    // Only the browser that started the login can take it.
    let login = state.app.take_login(&digest(state_value), &digest(browser)).await?;
    let Some(login) = login.filter(|l| now_ms() - l.created_at < LOGIN_MAX_AGE_MS) else {
        return Err(Error::invalid(format!(
            "this sign-in expired or was already used, or was started in another browser: {again}"
        ))
        .into());
    };
    if let Some(error) = q.error {
        let detail = q.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(
            Error::Unauthenticated(format!("the identity provider refused the sign-in ({error}{detail})")).into()
        );
    }
    let Some(code) = q.code else {
        return Err(Error::invalid(format!("the identity provider sent no `code`: {again}")).into());
    };
    let issuer = state
        .config
        .issuers
        .iter()
        .find(|c| c.issuer == login.issuer)
        .cloned()
        .ok_or_else(|| Error::invalid(format!("issuer {} is no longer trusted: {again}", login.issuer)))?;
    let tokens = exchange(&state, &issuer, &code, &login.verifier).await?;
    check_nonce(tokens.id_token.as_deref(), &login.nonce, &issuer)?;
    let mut principal = state.app.authenticate(Some(&tokens.access_token)).await.map_err(|e| {
        Error::Unauthenticated(format!(
            "{} signed you in, but its access token is not accepted: {e}",
            issuer.display_name()
        ))
    })?;
    principal.client_ip = ip;
    signed_in(&state, principal, "oidc", &login.return_to).await
}

/// The issuer's discovery document, from the cache.
async fn discovery(state: &WebState, issuer: &IssuerConfig) -> Result<Discovery, Error> {
    state.discovery.get(&issuer.issuer).await.map_err(|e| {
        Error::internal_because(format!("cannot reach the identity provider {}", issuer.display_name()), e.logged())
    })
}

/// Trades the code (and the PKCE verifier) for tokens.
async fn exchange(state: &WebState, issuer: &IssuerConfig, code: &str, verifier: &str) -> Result<Tokens, Error> {
    let discovery = discovery(state, issuer).await?;
    let endpoint = discovery.token_endpoint().map_err(Error::internal)?;
    let redirect = redirect_uri(state);
    let grant = Grant::AuthorizationCode { code, redirect_uri: &redirect, verifier };
    let client_id = issuer.web_client_id.as_deref().unwrap_or_default();
    let request = TokenRequest::new(client_id, issuer.web_client_secret.as_deref(), grant);
    let mut post = state.http.post(endpoint).form(&request.form());
    if let Some((id, secret)) = request.basic_auth() {
        post = post.basic_auth(id, Some(secret));
    }
    let reply = post
        .send()
        .await
        .map_err(|e| Error::internal_because(format!("the token endpoint of {} failed", issuer.display_name()), e))?;
    let status = reply.status().as_u16();
    let body = reply.text().await.unwrap_or_default();
    token_answer(status, &body).map_err(|e| {
        Error::Unauthenticated(format!("{} refused the sign-in code ({e}): sign in again", issuer.display_name()))
    })
}

/// The ID token (received straight from the token endpoint over the
/// issuer's TLS) must carry the nonce this login sent.
fn check_nonce(id_token: Option<&str>, nonce: &str, issuer: &IssuerConfig) -> Result<(), Error> {
    let asked_openid = issuer.web_scope.split_whitespace().any(|s| s == "openid");
    let Some(id_token) = id_token else {
        return if asked_openid {
            Err(Error::Unauthenticated(format!("{} returned no id_token", issuer.display_name())))
        } else {
            Ok(())
        };
    };
    let claims: Value = id_token
        .split('.')
        .nth(1)
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::Unauthenticated("the id_token does not decode".into()))?;
    if claims["nonce"].as_str() != Some(nonce) {
        return Err(Error::Unauthenticated("the id_token does not carry this sign-in's nonce: sign in again".into()));
    }
    if !nuvola_types::oauth::same_issuer(claims["iss"].as_str().unwrap_or(""), &issuer.issuer) {
        return Err(Error::Unauthenticated(format!("the id_token was not issued by {}", issuer.issuer)));
    }
    Ok(())
}

/// `POST /logout`.
async fn logout(State(state): State<WebState>, post: Post<NoFields>) -> Result<Response, PageError> {
    state.app.close_session(&post.viewer.session_hash).await?;
    state.app.audit(&post.viewer.principal, "logout", "dashboard", json!({})).await;
    let clear = set_cookie(&state, session::COOKIE, "", 0);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

#[derive(Debug, Deserialize)]
struct GroupForm {
    group: String,
}

/// `POST /session/group`: act for another of one's groups.
async fn switch_group(
    State(state): State<WebState>,
    headers: axum::http::HeaderMap,
    post: Post<GroupForm>,
) -> Result<Response, PageError> {
    let group = post.form.group.trim();
    if !post.viewer.groups().contains(&group) {
        return Err(Error::Forbidden(format!("you are not a member of group {group}")).into());
    }
    state.app.set_session_group(&post.viewer.session_hash, group).await?;
    // Back where the switch was made, when that was one of our pages.
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix(state.public_url.as_str()))
        .map(|p| local_path(Some(p)))
        .unwrap_or_else(|| "/".into());
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use crate::session::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        for good in ["/deployments?x=1", "/deployments/ab%2Fcd", "/stats/active?from=2025-01-01&to=2025-02-01"] {
            assert_eq!(local_path(Some(good)), good);
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\r\n/evil.example",
            "/x\nSet-Cookie: a=b",
            "/%2F/evil.example",
            "/%5c/evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/ /evil.example",
            " /evil.example",
            "deployments",
            "",
            "/login?next=/x",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        // Kept with each login in flight: not of any length.
        let long = format!("/deployments?q={}", "x".repeat(4096));
        assert_eq!(local_path(Some(&long)), "/");
        assert_eq!(local_path(None), "/");
    }
}
