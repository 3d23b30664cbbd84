//! The "Endpoints" section of a deployment's page: what was last checked,
//! the certificate expiring soon flagged, the history, and the owner's
//! switch for the mails behind the session's CSRF token; nothing for those
//! who may not see the deployment, and no switch when nuvola has no
//! address for the owner.

mod common;

use common::{Dashboard, principal};
use nuvola_app::Settings;
use nuvola_store::{DeploymentRecord, EndpointCheck, Progress};
use nuvola_types::now_ms;

const DAY: i64 = 86_400_000;

fn deployment(id: &str, owner_email: Option<&str>) -> DeploymentRecord {
    DeploymentRecord {
        owner_email: owner_email.map(String::from),
        description: Some("my notebook".into()),
        outputs: serde_json::json!({"jupyter_endpoint": "https://90.147.75.12:8888"}).as_object().unwrap().clone(),
        max_providers_retry: 3,
        provider: Some("site-a".into()),
        ..DeploymentRecord::ready(id, "erin", "nuvola", "physics")
    }
}

/// The value of the page's CSRF field.
fn csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    body[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_owner_sees_their_endpoints_and_turns_the_mails_off() {
    let d = Dashboard::new(Settings::default()).await;
    d.store.insert_deployment(&deployment("nb-1", Some("erin@example.org")), &Progress::default()).await.unwrap();
    let now = now_ms();
    let check = EndpointCheck {
        deployment_id: "nb-1".into(),
        output: "jupyter_endpoint".into(),
        url: "https://90.147.75.12:8888".into(),
        up: true,
        since: 0,
        last_at: now - 60_000,
        latency_ms: 42,
        detail: "HTTP 200".into(),
        cert_expires_at: Some(now + 5 * DAY + 3_600_000),
    };
    d.store.record_endpoint_check(&check).await.unwrap();
    let erin = d.sign_in(&principal("erin", &["physics"], &[], false)).await;

    let page = d.get("/deployments/nb-1", Some(&erin)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let section = &page.body[page.body.find("id=\"endpoints\"").expect("the section")..];
    assert!(section.contains("<code>https://90.147.75.12:8888</code>"), "{section}");
    assert!(section.contains("<span class=\"badge ok\">up</span>"), "{section}");
    assert!(section.contains("42 ms") && section.contains("HTTP 200"), "{section}");
    assert!(section.contains("<span class=\"badge busy\">expires soon</span>"), "{section}");
    assert!(section.contains("(5 days left)"), "{section}");
    assert!(section.contains("jupyter_endpoint</strong> up: HTTP 200"), "the history: {section}");
    assert!(section.contains("Stop these mails"), "{section}");

    // Without the session's CSRF token nothing changes.
    let forged = d.post("/deployments/nb-1/endpoints/notify", Some(&erin), &[("notify", "false")]).await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    assert!(d.store.endpoint_notify("nb-1").await.unwrap());
    let token = csrf(&page.body);
    let off = d.post("/deployments/nb-1/endpoints/notify", Some(&erin), &[("csrf", &token), ("notify", "false")]).await;
    assert_eq!(off.location(), "/deployments/nb-1#endpoints");
    assert!(!d.store.endpoint_notify("nb-1").await.unwrap());
    let page = d.get("/deployments/nb-1", Some(&erin)).await;
    assert!(page.body.contains("The owner is not mailed") && page.body.contains("Mail the owner again"));

    // Another member of the group neither sees it nor changes it.
    let bob = d.sign_in(&principal("bob", &["physics"], &[], false)).await;
    assert_eq!(d.get("/deployments/nb-1", Some(&bob)).await.status, 404);
    let bob_page = d.get("/deployments", Some(&bob)).await;
    let refused = d
        .post("/deployments/nb-1/endpoints/notify", Some(&bob), &[("csrf", &csrf(&bob_page.body)), ("notify", "true")])
        .await;
    assert_eq!(refused.status, 404);
    assert!(!d.store.endpoint_notify("nb-1").await.unwrap());
}

#[tokio::test]
async fn without_the_owners_address_the_page_says_nobody_is_mailed() {
    let d = Dashboard::new(Settings::default()).await;
    d.store.insert_deployment(&deployment("nb-2", None), &Progress::default()).await.unwrap();
    let erin = d.sign_in(&principal("erin", &["physics"], &[], false)).await;
    let page = d.get("/deployments/nb-2", Some(&erin)).await;
    let section = &page.body[page.body.find("id=\"endpoints\"").expect("the section")..];
    assert!(section.contains("None checked"), "{section}");
    assert!(section.contains("nuvola has no e-mail address for the owner"), "{section}");
    assert!(!section.contains("/endpoints/notify"), "no switch: {section}");
}
