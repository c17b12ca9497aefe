//! The whole table: every endpoint's hostile cases in one run against one seeded server.

use super::harness::{assert_no_failures, run_cases, seed, snapshot};
use super::{devices, messages, owner_tokens, reminders, routes, subscriptions};
use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn every_endpoint_refuses_hostile_input_with_a_json_4xx_and_stores_nothing() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    assert_eq!(before["subscriptions"]["total"], 1);
    assert_eq!(before["messages"]["messages"].as_array().unwrap().len(), 0);
    assert_eq!(before["reminders"]["reminders"].as_array().unwrap().len(), 1);

    let mut cases = messages::cases();
    cases.extend(subscriptions::cases(&seed));
    cases.extend(devices::cases(&seed));
    cases.extend(owner_tokens::cases());
    cases.extend(reminders::cases(&seed));
    cases.extend(routes::cases(&seed));
    let total = cases.len();
    assert!(total > 500, "only {total} cases");
    let failures = run_cases(&app, &cases).await;
    assert_no_failures(failures, total);

    // Nothing was stored, changed, queued or deleted.
    let after = snapshot(&app).await;
    assert_eq!(after, before, "hostile requests changed the stored state");
    assert_eq!(
        app.admin_get(&format!("/api/v1/reminders/{}", seed.reminder_id))
            .await
            .json::<Value>()
            .await
            .unwrap(),
        seed.reminder
    );
    // The seed's secret still works (a refused replace must not rotate it).
    let inbox = app
        .http
        .get(app.url(&format!("/api/v1/subscriptions/{}/messages", seed.device.id)))
        .bearer_auth(&seed.device.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
    assert!(app.push.received().is_empty(), "a hostile request caused a push");
}
