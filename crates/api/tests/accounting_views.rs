//! `GET /api/v1/accounting/usage` and `/daily` over a month of a
//! federation's accounting loaded into the store: an administrator sees
//! every provider's figures, GPU hours by model included; a member only
//! hers, and is refused another user's; a manager their group's; the
//! daily view places a GPU VM's hours on its days; bad input is a 400
//! naming the parameter; no token is a 401.

mod common;

#[path = "../../usage/tests/common/accounting.rs"]
mod accounting;

use common::Harness;
use serde_json::{Value, json};

fn cpu_by_key(reply: &Value) -> Vec<(Value, i64)> {
    reply["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].clone(), r["cpuHours"].as_f64().unwrap() as i64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_daily_views_answer_what_the_caller_may_see() {
    let h = Harness::start().await;
    accounting::load_march(&h.store).await;
    let range = "from=2025-03&to=2025-03";

    let all = h.get(&format!("/api/v1/accounting/usage?{range}&by=provider"), &h.admin()).await.expect(200).json();
    assert_eq!(cpu_by_key(&all), [(json!("cloudveneto"), 168), (json!("recas-bari"), 792)]);
    assert_eq!(all["periods"], json!(["2025-03"]));
    assert_eq!(all["by"], "provider");
    assert_eq!(all["gpuModels"], json!(["A100"]));
    let bari = &all["rows"][1];
    assert_eq!((bari["period"].clone(), bari["gpuHours"]["A100"].clone()), (json!("2025-03"), json!(48.0)));
    assert_eq!((all["rows"][0]["publicIps"].clone(), all["rows"][0]["volumes"].clone()), (json!(1), json!(1)));

    // Alice sees hers (under both of her names), and not Bob's.
    let hers = h.get(&format!("/api/v1/accounting/usage?{range}&by=user"), &h.alice()).await.expect(200).json();
    assert_eq!(cpu_by_key(&hers), [(json!("alice"), 48), (json!("alice@nuvola"), 768)]);
    let refused = h.get(&format!("/api/v1/accounting/usage?{range}&user=bob@nuvola"), &h.alice()).await.expect(403);
    assert!(refused.error_message().contains("bob@nuvola"), "{}", refused.error_message());

    // Dave manages physics: its members' usage, Bob's with his public IP.
    let physics = h.get(&format!("/api/v1/accounting/usage?{range}&by=user"), &h.manager()).await.expect(200).json();
    assert_eq!(cpu_by_key(&physics), [(json!("alice@nuvola"), 768), (json!("bob@nuvola"), 96)]);
    assert_eq!(physics["rows"][1]["publicIps"], json!(1));

    // Per day of March, by provider: the A100 VM's hours on its two days.
    let days = h.get("/api/v1/accounting/daily?month=2025-03&by=provider", &h.admin()).await.expect(200).json();
    assert_eq!(days["periods"].as_array().unwrap().len(), 31);
    let gpu: Vec<(Value, Value, Value)> = days["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["gpuHours"].get("A100").is_some())
        .map(|r| (r["period"].clone(), r["key"].clone(), r["gpuHours"]["A100"].clone()))
        .collect();
    assert_eq!(
        gpu,
        [
            (json!("2025-03-10"), json!("recas-bari"), json!(24.0)),
            (json!("2025-03-11"), json!("recas-bari"), json!(24.0))
        ]
    );

    let bad = h.get("/api/v1/accounting/daily?month=March", &h.admin()).await.expect(400);
    assert!(bad.error_message().contains("month=\"March\""), "{}", bad.error_message());
    h.call(axum::http::Method::GET, "/api/v1/accounting/usage", None, None).await.expect(401);
    h.stop().await;
}
