//! `GET /api/v1/accounting/usage` and `/daily` over a month of a
//! federation's accounting loaded into the store: an administrator sees
//! every provider's figures, GPU hours by model included; a member only
//! hers, and is refused another user's; a manager their group's; the
//! daily view places a GPU VM's hours on its days; several groups, users
//! or providers are asked for repeated or separated by commas; bad input
//! is a 400 naming the parameter; no token is a 401.

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

    // Several groups, users or providers: repeated, or separated by
    // commas, alike.
    for groups in ["group=physics&group=chemistry", "group=physics,chemistry", "group=physics%2C%20chemistry"] {
        let both =
            h.get(&format!("/api/v1/accounting/usage?{range}&by=group&{groups}"), &h.admin()).await.expect(200).json();
        assert_eq!(cpu_by_key(&both), [(json!("chemistry"), 96), (json!("physics"), 864)], "{groups}");
    }
    let two = "user=alice@nuvola&user=carol@nuvola&provider=recas-bari,cloudveneto";
    let users = h.get(&format!("/api/v1/accounting/usage?{range}&by=user&{two}"), &h.admin()).await.expect(200).json();
    assert_eq!(cpu_by_key(&users), [(json!("alice@nuvola"), 768), (json!("carol@nuvola"), 24)]);
    let one = h.get(&format!("/api/v1/accounting/usage?{range}&by=user&{two}&provider=x"), &h.admin()).await;
    assert_eq!(cpu_by_key(&one.expect(200).json()), [(json!("alice@nuvola"), 768), (json!("carol@nuvola"), 24)]);
    let only_x = h.get(&format!("/api/v1/accounting/usage?{range}&by=user&provider=x"), &h.admin()).await;
    assert!(cpu_by_key(&only_x.expect(200).json()).is_empty());
    // A manager asking for his group and another is refused, naming it.
    let more = h.get(&format!("/api/v1/accounting/usage?{range}&group=physics,bio"), &h.manager()).await.expect(403);
    assert!(more.error_message().contains("group bio"), "{}", more.error_message());
    let days = "/api/v1/accounting/daily?month=2025-03&by=group&group=physics&group=chemistry";
    let days = h.get(days, &h.admin()).await.expect(200).json();
    let keys: std::collections::BTreeSet<String> =
        days["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_owned()).collect();
    assert_eq!(keys, ["chemistry".to_owned(), "physics".to_owned()].into());

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
