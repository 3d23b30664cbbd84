//! What the dashboard's router tests share: an app on a temporary SQLite
//! store, a signed-in session written straight into the store (as a login
//! would leave it), and requests sent through the router without a socket.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use nuvola_app::{App, Catalogue, Federation, Settings};
use nuvola_identity::EmbeddedIssuer;
use nuvola_store::{Store, StoreOptions};
use nuvola_types::Principal;
use nuvola_web::{WebConfig, session};
use tower::ServiceExt;

/// An app and its router; the temporary directory lives as long as it.
pub struct Dashboard {
    pub app: App,
    /// The app's store, to set scenes up and look at what pages left.
    pub store: Store,
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
        Dashboard::with_providers(Vec::new(), settings, web).await
    }

    /// A dashboard over a federation of `providers` (simulated sites).
    pub async fn with_providers(
        providers: Vec<nuvola_types::ProviderSpec>,
        settings: Settings,
        web: impl FnOnce(&mut WebConfig),
    ) -> Dashboard {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
        let store = Store::open(StoreOptions { secrets_key: Some([7; 32]), ..StoreOptions::new(url) }).await.unwrap();
        let resolver = Arc::new(nuvola_tosca::builtin_resolver());
        let catalogue = Catalogue::builtin(&*resolver).unwrap();
        store.sync_config_providers(&providers).await.unwrap();
        let federation = Federation::open(providers, Some(dir.path())).unwrap();
        let issuer = Arc::new(EmbeddedIssuer::from_seed([7; 32], "nuvola"));
        let app = App::new(store.clone(), catalogue, federation, issuer, resolver, settings);
        let public_url = "http://127.0.0.1:8080";
        let mut config = WebConfig::for_url(public_url);
        web(&mut config);
        let router = nuvola_web::router(app.clone(), public_url, config);
        Dashboard { app, store, router, _dir: dir }
    }

    /// Signs `principal` in: stores a session and returns the `Cookie`
    /// header value that carries it.
    pub async fn sign_in(&self, principal: &Principal) -> String {
        let id = session::create(&self.app, principal, std::time::Duration::from_secs(3600), None).await.unwrap();
        format!("{}={id}", session::COOKIE)
    }

    /// `GET path` from the client at `address`, with the cookies, if any.
    pub async fn get_from(&self, address: &str, path: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::get(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send_from(address, request.body(Body::empty()).unwrap()).await
    }

    /// Sends a request as if from the client at `address` (`ip:port`).
    pub async fn send_from(&self, address: &str, mut request: Request<Body>) -> Page {
        let peer: std::net::SocketAddr = address.parse().unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        self.send(request).await
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
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let field = "name=\"csrf\" value=\"";
        let at = self.body.find(field).unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + field.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

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
        .map(|name| nuvola_identity::EmbeddedUser {
            name: name.to_string(),
            password_hash: nuvola_identity::users::hash_password(&format!("{name}-password")).unwrap(),
            groups: vec!["physics".into()],
            admin: false,
            email: None,
        })
        .collect();
    nuvola_web::LocalAccounts {
        issuer: "nuvola".into(),
        accounts: nuvola_identity::Accounts::new(users).unwrap(),
        demo_password_file: None,
    }
}

/// An OIDC issuer standing in for IAM or Keycloak, on a port of its own:
/// a discovery document (counted), and a token endpoint that trades the
/// codes the test approved for an access token of the dashboard's own
/// verifier (the embedded issuer, seed 7) and an ID token with the nonce.
pub struct FakeIssuer {
    pub url: String,
    /// Who each approved code signs in, and with which nonce.
    codes: Arc<std::sync::Mutex<std::collections::HashMap<String, (String, String)>>>,
    /// How many times the discovery document was fetched.
    pub discoveries: Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeIssuer {
    pub async fn start() -> FakeIssuer {
        use axum::routing::{get, post};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let codes: Arc<std::sync::Mutex<std::collections::HashMap<String, (String, String)>>> = Default::default();
        let discoveries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let discovery = serde_json::json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
        });
        let counter = discoveries.clone();
        let approved = codes.clone();
        let iss = url.clone();
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = discovery.clone();
                    async move { axum::Json(body) }
                }),
            )
            .route(
                "/token",
                post(move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                    let grant = approved.lock().unwrap().remove(form.get("code").map(String::as_str).unwrap_or(""));
                    let iss = iss.clone();
                    async move {
                        use axum::response::IntoResponse;
                        let Some((subject, nonce)) = grant else {
                            return (
                                StatusCode::BAD_REQUEST,
                                axum::Json(serde_json::json!({"error": "invalid_grant"})),
                            )
                                .into_response();
                        };
                        let verifier = EmbeddedIssuer::from_seed([7; 32], "nuvola");
                        let access = verifier.issue(&subject, &["physics".into()], false, 600).unwrap();
                        let b64 = |v: serde_json::Value| {
                            use base64::Engine;
                            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
                        };
                        let id_token = format!(
                            "{}.{}.c2ln",
                            b64(serde_json::json!({"alg": "RS256"})),
                            b64(serde_json::json!({"iss": iss, "sub": subject, "aud": "nuvola-web", "nonce": nonce}))
                        );
                        axum::Json(serde_json::json!({
                            "access_token": access, "token_type": "Bearer", "expires_in": 600, "id_token": id_token,
                        }))
                        .into_response()
                    }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        FakeIssuer { url, codes, discoveries, server }
    }

    /// The dashboard's view of this issuer: a web client, sign-in button 0.
    pub fn config(&self) -> nuvola_identity::IssuerConfig {
        let mut c = nuvola_identity::IssuerConfig::new(&self.url, "nuvola");
        c.web_client_id = Some("nuvola-web".into());
        c.web_scope = "openid".into();
        c.name = Some("Fake IAM".into());
        c
    }

    /// The person signs in at the issuer: the authorization request at
    /// `location` (where nuvola sent the browser) is approved for `subject`;
    /// returns the callback URL (path and query) the issuer sends them back to.
    pub fn approve(&self, location: &str, subject: &str) -> String {
        let url = reqwest::Url::parse(location).unwrap();
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string()).unwrap();
        let code = session::secret();
        self.codes.lock().unwrap().insert(code.clone(), (subject.to_string(), param("nonce")));
        format!("/login/callback?code={code}&state={}", session::encode(&param("state")))
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
        email: None,
        client_ip: None,
    }
}
