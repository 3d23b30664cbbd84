//! Dashboard sessions: a random id in an HttpOnly cookie, the session (the
//! authenticated caller, active group, CSRF token) in the store under the
//! id's SHA-256.
//!
//! [`Viewer`] extracts the signed-in user (or sends the browser to the
//! login page); [`Post`] is every state-changing form: it checks the
//! session's CSRF token before the handler runs.

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use maud::{Markup, html};
use nuvola_app::{App, WebSession, now_ms};
use nuvola_types::Principal;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::WebState;

/// The session cookie's name.
pub const COOKIE: &str = "nuvola_session";

/// The signed-in user a page is rendered for.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who they are, as authenticated at login.
    pub principal: Principal,
    /// The group they act for (sent as `userGroup`).
    pub group: Option<String>,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// The store key of the session.
    pub session_hash: String,
}

impl Viewer {
    /// The hidden input that carries the CSRF token in a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// The groups one can act for: the principal's groups, without the
    /// role markers (`G/managers`) of the groups they manage.
    pub fn groups(&self) -> Vec<&str> {
        actable_groups(&self.principal)
    }

    /// The name shown in the header.
    pub fn display_name(&self) -> &str {
        &self.principal.subject
    }

    /// The caller for app-layer calls, with the request's address.
    pub fn caller(&self) -> Principal {
        self.principal.clone()
    }
}

/// A principal's groups without the role markers of managed groups.
pub fn actable_groups(p: &Principal) -> Vec<&str> {
    p.groups
        .iter()
        .map(String::as_str)
        .filter(|g| {
            !p.manages
                .iter()
                .any(|m| g.len() > m.len() + 1 && g.starts_with(m.as_str()) && g.as_bytes()[m.len()] == b'/')
        })
        .collect()
}

/// A fresh random secret, URL-safe.
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source failed");
    B64.encode(bytes)
}

/// SHA-256 of a secret, hex: what the store keeps.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A cookie value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the issuer's redirect back
/// is a top-level navigation), Secure over TLS; `max_age` 0 deletes it.
pub fn set_cookie(state: &WebState, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
        .expect("cookie values are URL-safe")
}

/// Stores a new session for `principal`, acting for its first group;
/// returns the session id (the cookie's value). Sessions and logins that
/// ran out are forgotten on the way.
pub async fn create(
    app: &App,
    principal: &Principal,
    ttl: std::time::Duration,
    refresh_token: Option<String>,
) -> Result<String, nuvola_types::Error> {
    let (id, session) = new_session(principal, ttl, refresh_token)?;
    app.open_session(&session, session.created_at - crate::login::LOGIN_MAX_AGE_MS).await?;
    Ok(id)
}

/// A new session for `principal` starting now, acting for its first group:
/// its id (the cookie's value) and the record to store, which holds only
/// the id's hash.
pub fn new_session(
    principal: &Principal,
    ttl: std::time::Duration,
    refresh_token: Option<String>,
) -> Result<(String, WebSession), nuvola_types::Error> {
    let id = secret();
    let now = now_ms();
    let session = WebSession {
        id_hash: digest(&id),
        principal: serde_json::to_string(principal).map_err(|e| nuvola_types::Error::internal(e.to_string()))?,
        active_group: actable_groups(principal).first().map(|g| g.to_string()),
        csrf: secret(),
        refresh_token,
        created_at: now,
        expires_at: now + ttl.as_millis() as i64,
    };
    Ok((id, session))
}

/// Starts a session for `principal`; returns the `Set-Cookie` header value.
pub async fn start(
    state: &WebState,
    principal: &Principal,
    refresh_token: Option<String>,
) -> Result<HeaderValue, nuvola_types::Error> {
    let id = create(&state.app, principal, state.config.session_ttl, refresh_token).await?;
    Ok(set_cookie(state, COOKIE, &id, state.config.session_ttl.as_secs()))
}

/// Reads the session of a request, if it has a live one.
async fn lookup(parts: &Parts, state: &WebState) -> Result<Option<Viewer>, Response> {
    let Some(id) = cookie(&parts.headers, COOKIE) else { return Ok(None) };
    let hash = digest(id);
    let session = state.app.session(&hash).await.map_err(|e| crate::error_page(&e))?;
    let Some(session) = session else { return Ok(None) };
    let Ok(mut principal) = serde_json::from_str::<Principal>(&session.principal) else {
        // A session written by an incompatible version: sign in again.
        return Ok(None);
    };
    principal.client_ip =
        parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip().to_string());
    let group = session.active_group.filter(|g| principal.in_group(g));
    Ok(Some(Viewer { principal, group, csrf: session.csrf, session_hash: hash }))
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        match lookup(parts, state).await? {
            Some(viewer) => Ok(viewer),
            None => {
                let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                Err(Redirect::to(&format!("/login?next={}", encode(here))).into_response())
            }
        }
    }
}

impl OptionalFromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Option<Self>, Self::Rejection> {
        lookup(parts, state).await
    }
}

/// The address a request came from, when the server knows it.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

fn client_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip().to_string())
}

/// Longest path kept to go on to after sign-in (it is stored with each
/// login in flight).
const MAX_NEXT: usize = 2048;

/// A path of this site to go on to (after sign-in, after switching group),
/// or `/` when `next` is anything else.
///
/// Only a path a browser cannot resolve off-site is kept: one leading `/`
/// not followed by another `/` or a `\\` (plain or percent-encoded), and
/// nothing but visible ASCII — browsers drop tabs and line breaks from
/// URLs (`/\t/evil` is `//evil`) and read `\\` as `/`, and a line break
/// cannot go in a `Location` header at all. Never back to the sign-in
/// pages, and no longer than [`MAX_NEXT`].
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if is_local_path(p) => p.to_string(),
        _ => "/".to_string(),
    }
}

fn is_local_path(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else { return false };
    let lower = rest.to_ascii_lowercase();
    let escapes_the_site = rest.starts_with('/') || lower.starts_with("%2f") || lower.starts_with("%5c");
    p.len() <= MAX_NEXT
        && p.bytes().all(|b| b.is_ascii_graphic())
        && !p.contains('\\')
        && !escapes_the_site
        && !p.starts_with("/login")
}

/// A form whose only field is the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A state-changing form post: the viewer, the form decoded as `T`, and the
/// raw pairs (for forms whose fields are generated, like deploy forms). The
/// session's CSRF token must be in the `csrf` field, or the post is refused
/// with 403 before the handler runs.
pub struct Post<T> {
    pub viewer: Viewer,
    pub form: T,
    pub pairs: Vec<(String, String)>,
}

impl<T: DeserializeOwned> FromRequest<WebState> for Post<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = <Viewer as FromRequestParts<WebState>>::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed form: {e}")).into_response())?;
        let sent = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
        if !nuvola_types::secret::same(sent.as_bytes(), viewer.csrf.as_bytes()) {
            return Err(crate::error_page(&nuvola_types::Error::Forbidden(
                "this form is stale or was not sent from a nuvola page (CSRF token mismatch): reload the page and try again"
                    .into(),
            )));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed form: {e}")).into_response())?;
        Ok(Post { viewer, form, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; nuvola_session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "nuvola"), None);
    }

    #[test]
    fn secrets_are_distinct_and_digests_stable() {
        let (a, b) = (secret(), secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest("x"), digest("x"));
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn role_markers_are_not_groups_to_act_for() {
        let p = Principal {
            groups: vec!["physics".into(), "physics/managers".into(), "bio".into(), "bio/x".into()],
            manages: vec!["physics".into()],
            ..Default::default()
        };
        assert_eq!(actable_groups(&p), vec!["physics", "bio", "bio/x"]);
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("/deployments?status=x y&z"), "%2Fdeployments%3Fstatus%3Dx%20y%26z");
    }
}
