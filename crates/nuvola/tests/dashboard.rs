//! The dashboard, driven like a browser without JavaScript would: local
//! accounts sign in (with login-CSRF protection), deploy a catalogue
//! service from its generated form (the account's mail address recorded
//! as the owner's; server-side validation beside the fields, placement
//! preview), watch it, delete it, sign out; forms without
//! the session's CSRF token are refused; other groups see nothing; admin
//! pages are for admins.
//!
//! The dashboard and the REST API run over one App here, so this test lives
//! in the crate above both and borrows the API tests' harness.

#[path = "../../api/tests/common/mod.rs"]
mod api_harness;

use api_harness::{BASE, Harness, Reply};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use nuvola_identity::users::hash_password;
use nuvola_identity::{Accounts, EmbeddedUser};
use tower::ServiceExt;

struct Web {
    router: Router,
}

/// A browser: its cookies, kept by name.
#[derive(Default, Clone)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, reply: &Reply) {
        for c in reply.headers.get_all(header::SET_COOKIE) {
            let text = c.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }
}

impl Web {
    async fn send(&self, browser: &mut Browser, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Reply {
        let mut request = Request::builder().method(method).uri(path).header(header::COOKIE, browser.header());
        let body = match form {
            Some(pairs) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(serde_urlencoded::to_string(pairs).unwrap())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let reply = Reply { status, headers, body };
        browser.keep(&reply);
        reply
    }

    async fn get(&self, b: &mut Browser, path: &str) -> Reply {
        self.send(b, Method::GET, path, None).await
    }

    async fn post(&self, b: &mut Browser, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(b, Method::POST, path, Some(form)).await
    }

    /// Signs `name` in with its password, as the login page's form does.
    async fn sign_in(&self, name: &str) -> Browser {
        let mut b = Browser::default();
        let page = self.get(&mut b, "/login").await.expect(200);
        let token = hidden(&page.text(), "login_token");
        let password = format!("{name}-password");
        let reply = self
            .post(&mut b, "/login/password", &[("login_token", &token), ("name", name), ("password", &password)])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        b
    }
}

fn location(reply: &Reply) -> String {
    reply.headers[header::LOCATION].to_str().unwrap().to_string()
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in:\n{html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn account(name: &str, groups: &[&str], admin: bool) -> EmbeddedUser {
    EmbeddedUser {
        name: name.into(),
        password_hash: hash_password(&format!("{name}-password")).unwrap(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        admin,
        email: None,
    }
}

fn web(h: &Harness) -> Web {
    let accounts = Accounts::new(vec![
        EmbeddedUser { email: Some("alice@example.org".into()), ..account("alice", &["physics"], false) },
        account("erin", &["bio"], false),
        account("root", &[], true),
    ])
    .unwrap();
    let mut config = nuvola_web::WebConfig::for_url(BASE);
    config.accounts = Some(nuvola_web::LocalAccounts { issuer: "nuvola".into(), accounts, demo_password_file: None });
    Web { router: nuvola_web::router(h.app.clone(), BASE, config) }
}

#[tokio::test]
async fn sign_in_is_protected_and_wrong_passwords_fail() {
    let h = Harness::start().await;
    let w = web(&h);
    let mut b = Browser::default();
    // Pages need a session.
    let reply = w.get(&mut b, "/deployments").await.expect(303);
    assert_eq!(location(&reply), "/login?next=%2Fdeployments");
    let page = w.get(&mut b, "/login?next=/deployments").await.expect(200);
    let token = hidden(&page.text(), "login_token");
    // A login form posted from elsewhere (no matching cookie) is refused.
    let mut stranger = Browser::default();
    let form = [("login_token", token.as_str()), ("name", "alice"), ("password", "alice-password")];
    w.post(&mut stranger, "/login/password", &form).await.expect(403);
    // A wrong password says so, on the same page.
    let bad = [("login_token", token.as_str()), ("name", "alice"), ("password", "guess"), ("next", "/deployments")];
    let reply = w.post(&mut b, "/login/password", &bad).await.expect(401);
    assert!(reply.text().contains("wrong user name or password"), "{}", reply.text());
    // The right one: a session cookie (HttpOnly, SameSite) and back where we were.
    let token = hidden(&reply.text(), "login_token");
    let good =
        [("login_token", token.as_str()), ("name", "alice"), ("password", "alice-password"), ("next", "/deployments")];
    let reply = w.post(&mut b, "/login/password", &good).await.expect(303);
    assert_eq!(location(&reply), "/deployments");
    let cookie = reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("nuvola_session="));
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    let page = w.get(&mut b, "/deployments").await.expect(200).text();
    assert!(page.contains("Sign out") && page.contains("physics"), "{page}");
    // The login is audited.
    let audit = h.get("/api/v1/admin/audit?action=login", &h.admin()).await.expect(200).json();
    assert!(audit.to_string().contains("alice"), "{audit}");

    // Signing out ends the session for good, even if the cookie is replayed.
    let replay = b.clone();
    let csrf = hidden(&page, "csrf");
    w.post(&mut b, "/logout", &[("csrf", &csrf)]).await.expect(303);
    w.get(&mut replay.clone(), "/deployments").await.expect(303);
    h.stop().await;
}

#[tokio::test]
async fn deploy_from_the_form_watch_and_delete() {
    let h = Harness::start().await;
    let w = web(&h);
    let mut alice = w.sign_in("alice").await;
    let catalogue = w.get(&mut alice, "/?q=jupyter").await.expect(200).text();
    assert!(
        catalogue.contains("Jupyter with persistent storage")
            && catalogue.contains("Spark cluster with Jupyter")
            && catalogue.contains("2 of 9 services"),
        "{catalogue}"
    );

    let form = w.get(&mut alice, "/deploy/jupyter-persistent").await.expect(200).text();
    for widget in
        [r#"id="in-num_cpus""#, r#"type="number""#, r#"min="1""#, r#"max="32""#, "<select id=\"in-volume_type\""]
    {
        assert!(form.contains(widget), "{widget} missing in:\n{form}");
    }
    let csrf = hidden(&form, "csrf");

    // Without the session's CSRF token: refused before anything happens.
    let reply = w.post(&mut alice, "/deploy/jupyter-persistent", &[("in.num_cpus", "2")]).await.expect(403);
    assert!(reply.text().contains("CSRF"), "{}", reply.text());
    assert_eq!(h.count().await, 0);

    // The engine's message lands beside the field it is about.
    let reply = w
        .post(&mut alice, "/deploy/jupyter-persistent", &[("csrf", &csrf), ("in.num_cpus", "64"), ("action", "deploy")])
        .await
        .expect(422)
        .text();
    assert!(reply.contains(r#"id="in-num_cpus-error""#) && reply.contains("aria-invalid=\"true\""), "{reply}");
    assert_eq!(h.count().await, 0);

    // Preview: the plan with every provider's verdict, nothing created.
    let reply = w
        .post(&mut alice, "/deploy/jupyter-persistent", &[("csrf", &csrf), ("in.num_cpus", "2"), ("action", "preview")])
        .await
        .expect(200)
        .text();
    assert!(reply.contains("Placement preview") && reply.contains("alpha") && reply.contains("fits"), "{reply}");
    assert_eq!(h.count().await, 0);

    // Deploy, then the details page shows it settle, with its outputs.
    let reply = w
        .post(
            &mut alice,
            "/deploy/jupyter-persistent",
            &[("csrf", &csrf), ("in.num_cpus", "2"), ("description", "my notebooks"), ("action", "deploy")],
        )
        .await
        .expect(303);
    let path = location(&reply);
    let id = path.trim_start_matches("/deployments/").to_string();
    // Her account's address is the owner's, for the mails about it.
    let record = h.store.deployment(&id).await.unwrap().expect("the deployment is stored");
    assert_eq!(record.owner_email.as_deref(), Some("alice@example.org"));
    h.settle(&id, "CREATE_COMPLETE").await;
    let details = w.get(&mut alice, &path).await.expect(200).text();
    assert!(
        details.contains("CREATE_COMPLETE")
            && details.contains("my notebooks")
            && details.contains("Attempt 1 on alpha"),
        "{details}"
    );
    let list = w.get(&mut alice, "/deployments").await.expect(200).text();
    assert!(list.contains("my notebooks"), "{list}");

    // Someone of another group sees nothing of it.
    let mut erin = w.sign_in("erin").await;
    w.get(&mut erin, &path).await.expect(404);
    assert!(!w.get(&mut erin, "/deployments?whose=all").await.expect(200).text().contains("my notebooks"));
    let erin_page = w.get(&mut erin, "/deployments").await.text();
    let erin_csrf = hidden(&erin_page, "csrf");
    w.post(&mut erin, &format!("{path}/delete"), &[("csrf", &erin_csrf)]).await.expect(404);
    // Nor may Alice's form token be used from Erin's session.
    w.post(&mut erin, &format!("{path}/delete"), &[("csrf", &csrf)]).await.expect(403);

    // Alice deletes it.
    w.post(&mut alice, &format!("{path}/delete"), &[("csrf", &csrf)]).await.expect(303);
    h.settle(&id, "DELETE_COMPLETE").await;
    h.stop().await;
}

/// The update form offers only what an update can change on the
/// deployment's provider; the rest is shown with why it is fixed, and a
/// forced change of it is refused with the message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_form_offers_what_an_update_can_change() {
    let h = Harness::start().await;
    let w = web(&h);
    let mut alice = w.sign_in("alice").await;
    let reply =
        h.post("/api/v1/deployments", &h.alice(), &serde_json::json!({"catalogueId": "jupyter-persistent"})).await;
    let id = reply.expect(201).json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;
    let path = format!("/deployments/{id}");
    let page = w.get(&mut alice, &path).await.expect(200).text();
    let form = &page[page.find("Update inputs").expect("an update form")..];
    for offered in ["in-num_cpus", "in-mem_size", "in-volume_size"] {
        assert!(form.contains(&format!("id=\"{offered}\"")), "{offered} not offered:\n{form}");
    }
    for fixed in ["in-volume_type", "in-notebooks_path", "in-jupyter_port"] {
        assert!(!form.contains(&format!("id=\"{fixed}\"")), "{fixed} offered:\n{form}");
    }
    assert!(form.contains("Fixed while it runs") && form.contains("<dt>jupyter_port</dt>"), "{form}");
    assert!(form.contains("the network and open ports of node jupyter_vm, which cannot change"), "{form}");

    let csrf = hidden(&page, "csrf");
    let update = format!("{path}/update");
    let forced = w.post(&mut alice, &update, &[("csrf", &csrf), ("in.volume_type", "ssd")]).await.expect(400).text();
    assert!(forced.contains("input volume_type changes the type of volume notebooks_volume"), "{forced}");
    w.post(&mut alice, &update, &[("csrf", &csrf), ("in.volume_size", "100 GB")]).await.expect(303);
    h.settle(&id, "UPDATE_COMPLETE").await;
    h.stop().await;
}

#[tokio::test]
async fn administration_is_for_admins() {
    let h = Harness::start().await;
    let w = web(&h);
    let mut alice = w.sign_in("alice").await;
    for page in ["/admin/providers", "/admin/deployments", "/admin/groups", "/admin/audit"] {
        w.get(&mut alice, page).await.expect(403);
    }
    let mut root = w.sign_in("root").await;
    let providers = w.get(&mut root, "/admin/providers").await.expect(200).text();
    assert!(providers.contains("alpha") && providers.contains("Schedule maintenance"), "{providers}");
    let csrf = hidden(&providers, "csrf");
    let window = [
        ("csrf", csrf.as_str()),
        ("start", "2030-01-01T08:00"),
        ("end", "2030-01-01T12:00"),
        ("reason", "kernel upgrade"),
    ];
    w.post(&mut root, "/admin/providers/alpha/maintenance", &window).await.expect(303);
    let spec = h.app.federation().provider("alpha").unwrap();
    assert_eq!(spec.maintenance.len(), 1);
    assert_eq!(spec.maintenance[0].reason, "kernel upgrade");
    // An end before the start is refused with the reason.
    let bad = [("csrf", csrf.as_str()), ("start", "2030-01-02T08:00"), ("end", "2030-01-01T12:00")];
    let reply = w.post(&mut root, "/admin/providers/alpha/maintenance", &bad).await.expect(400);
    assert!(reply.text().contains("must end after it starts"));
    // Removed by the page's own button, which names the window; once gone,
    // removing it again says so.
    let providers = w.get(&mut root, "/admin/providers").await.expect(200).text();
    assert!(providers.contains("2030-01-01 08:00 – 2030-01-01 12:00 UTC (outage): kernel upgrade"), "{providers}");
    let remove =
        [("csrf", csrf.as_str()), ("start", &hidden(&providers, "start")), ("end", &hidden(&providers, "end"))];
    w.post(&mut root, "/admin/providers/alpha/maintenance/remove", &remove).await.expect(303);
    assert!(h.app.federation().provider("alpha").unwrap().maintenance.is_empty());
    let reply = w.post(&mut root, "/admin/providers/alpha/maintenance/remove", &remove).await.expect(409);
    assert!(reply.text().contains("no maintenance window from 2030-01-01 08:00:00 UTC"), "{}", reply.text());
    // Alice cannot, even with a valid token of her own.
    let alice_csrf = hidden(&w.get(&mut alice, "/deployments").await.text(), "csrf");
    w.post(
        &mut alice,
        "/admin/providers/alpha/maintenance",
        &[("csrf", &alice_csrf), ("start", "2030-01-01T08:00"), ("end", "2030-01-01T09:00")],
    )
    .await
    .expect(403);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_shown_on_the_providers_page_and_deleted_from_it() {
    let h = Harness::start().await;
    let w = web(&h);
    let mut root = w.sign_in("root").await;
    h.create_behind_the_stores_back("beta", "lost", "lost-1").await;
    // The reconciler's scan (run here at once rather than waited for) is
    // what the page shows; it never asks the providers itself.
    let deadline = std::time::Instant::now() + api_harness::SETTLE;
    let page = loop {
        h.app.scan_orphans(None).await;
        let page = w.get(&mut root, "/admin/providers").await.expect(200).text();
        if page.contains("lost-1") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "the orphan is not on the page:\n{page}");
    };
    assert!(page.contains("attempt unknown to the store") && page.contains("Server vm-0"), "{page}");
    assert!(page.contains("Orphan resources on beta"), "{page}");

    // Only an admin may delete it.
    let mut alice = w.sign_in("alice").await;
    let alice_csrf = hidden(&w.get(&mut alice, "/deployments").await.text(), "csrf");
    let path = "/admin/providers/beta/orphans/clean";
    w.post(&mut alice, path, &[("csrf", &alice_csrf), ("attempt", "lost-1")]).await.expect(403);
    assert!(h.inventory().await["beta"].iter().any(|r| r["attempt_id"] == "lost-1"));

    let csrf = hidden(&page, "csrf");
    w.post(&mut root, path, &[("csrf", &csrf), ("attempt", "lost-1")]).await.expect(303);
    let page = w.get(&mut root, "/admin/providers").await.expect(200).text();
    assert!(!page.contains("lost-1"), "{page}");
    let audit = h.get("/api/v1/admin/audit?action=orphan.clean", &h.admin()).await.expect(200).json();
    assert_eq!(audit["content"][0]["target"], "lost-1", "{audit:#}");
    h.stop().await;
}
