//! What the dashboard's router tests share: an app on a temporary SQLite
//! store, a signed-in session written straight into the store (as a login
//! would leave it), and requests sent through the router without a socket.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use nuvola_app::{App, Catalogue, EmbeddedIssuer, Federation, Settings};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::Principal;
use nuvola_web::{WebConfig, session};
use tower::ServiceExt;

/// An app and its router; the temporary directory lives as long as it.
pub struct Dashboard {
    pub app: App,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
}

/// A response, read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Dashboard {
    /// A dashboard with no providers and `settings`.
    pub async fn new(settings: Settings) -> Dashboard {
        Dashboard::with_web(settings, |_| {}).await
    }

    /// A dashboard with no providers, `settings`, and its sign-in
    /// configuration changed by `web`.
    pub async fn with_web(settings: Settings, web: impl FnOnce(&mut WebConfig)) -> Dashboard {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
        let store = Store::open(StoreOptions::new(url)).await.unwrap();
        let resolver = Arc::new(nuvola_tosca::builtin_resolver());
        let catalogue = Catalogue::builtin(&*resolver).unwrap();
        let federation = Federation::open(Vec::new(), None).unwrap();
        let issuer = Arc::new(EmbeddedIssuer::from_seed([7; 32], "nuvola"));
        let app = App::new(store, catalogue, federation, issuer, resolver, settings);
        let public_url = "http://127.0.0.1:8080";
        let mut config = WebConfig::for_url(public_url);
        web(&mut config);
        let router = nuvola_web::router(app.clone(), public_url, config);
        Dashboard { app, router, _dir: dir }
    }

    /// Signs `principal` in: stores a session and returns the `Cookie`
    /// header value that carries it.
    pub async fn sign_in(&self, principal: &Principal) -> String {
        let id =
            session::create(self.app.store(), principal, std::time::Duration::from_secs(3600), None).await.unwrap();
        format!("{}={id}", session::COOKIE)
    }

    /// `GET path` with the session cookie, if any.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::get(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `POST path` of a URL-encoded form, with the cookies, if any.
    pub async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// Sends a request through the router and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }
}

impl Page {
    /// The `Location` header of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap())
            .unwrap_or_else(|| panic!("no Location in a {} answer: {}", self.status, self.body))
    }

    /// The `Set-Cookie` value for cookie `name`, as `name=value`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or(c).to_string())
    }
}

/// The embedded issuer's accounts `names` (each in group physics), whose
/// passwords are `NAME-password`.
pub fn local_accounts(names: &[&str]) -> nuvola_web::LocalAccounts {
    let users = names
        .iter()
        .map(|name| nuvola_app::EmbeddedUser {
            name: name.to_string(),
            password_hash: nuvola_app::identity::users::hash_password(&format!("{name}-password")).unwrap(),
            groups: vec!["physics".into()],
            admin: false,
        })
        .collect();
    nuvola_web::LocalAccounts {
        issuer: "nuvola".into(),
        accounts: nuvola_app::Accounts::new(users).unwrap(),
        demo_password_file: None,
    }
}

/// A caller with these roles.
pub fn principal(subject: &str, groups: &[&str], manages: &[&str], admin: bool) -> Principal {
    Principal {
        subject: subject.into(),
        issuer: "nuvola".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        admin,
        manages: manages.iter().map(|g| g.to_string()).collect(),
        client_ip: None,
    }
}
