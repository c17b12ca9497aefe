//! Segments: tags on subscriptions and people, and audiences that select by them.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Sends to `to`, waits until it settles, and returns the mock devices that got a push from it.
async fn reached(app: &TestApp, to: Value) -> BTreeSet<String> {
    let before = app.push.received().len();
    let id = app.send(json!({"to": to, "title": "segment"})).await;
    let settled = app.wait_settled(&id).await;
    // Each message settles before the next is sent: the new pushes are the last ones.
    let pushes = app.push.received().split_off(before);
    let endpoints: BTreeSet<String> = pushes.iter().map(|p| p.device.clone()).collect();
    assert_eq!(endpoints.len(), pushes.len(), "a device got the message twice");
    assert_eq!(settled["targets"].as_u64().unwrap() as usize, pushes.len(), "{settled}");
    endpoints
}

/// The mock's device names of these devices (the last segment of their endpoints).
fn set(devices: &[&Device]) -> BTreeSet<String> {
    devices
        .iter()
        .map(|d| d.endpoint.rsplit('/').next().unwrap().to_owned())
        .collect()
}

async fn tags_of(app: &TestApp, device: &Device) -> Value {
    let list: Value = app
        .admin_get("/api/v1/subscriptions?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == device.id.as_str())
        .map(|s| s["tags"].clone())
        .expect("the subscription is listed")
}

async fn admin_request(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tag_audiences_reach_exactly_the_tagged_devices_once() {
    let app = spawn_app().await;
    let c1 = app.register_device(json!({"uid": 1, "tags": ["district:12"]})).await;
    let c2 = app
        .register_device(json!({"uid": 2, "tags": ["District:14", "tariff:home-100"]}))
        .await;
    let c3 = app
        .register_device(json!({"uid": 3, "tags": ["district:12", "tariff:home-100", "district:12"]}))
        .await;
    let a1 = app.register_device(json!({"aid": 1, "tags": ["district:12"]})).await;
    let c4 = app.register_device(json!({"uid": 4})).await;
    assert_eq!(tags_of(&app, &c2).await, json!(["district:14", "tariff:home-100"]));
    assert_eq!(tags_of(&app, &c4).await, json!([]));

    let any = json!({"tags": {"any": ["district:12", "district:14"]}, "kind": "clients"});
    assert_eq!(reached(&app, any).await, set(&[&c1, &c2, &c3]));
    let all = json!({"tags": {"all": ["DISTRICT:12", "tariff:home-100"]}});
    assert_eq!(reached(&app, all).await, set(&[&c3]));
    let none = json!({"tags": {"none": ["district:12"]}});
    assert_eq!(reached(&app, none).await, set(&[&c2, &c4]));
    let admins = json!({"tags": {"any": ["district:12"], "none": ["tariff:home-100"]}, "kind": "admins"});
    assert_eq!(reached(&app, admins).await, set(&[&a1]));
    let mixed = json!({"kind": "everyone", "tags": {"all": ["district:12"], "none": ["tariff:home-100"]}});
    assert_eq!(reached(&app, mixed).await, set(&[&c1, &a1]));

    // The stored audience reads back as sent (sorted, lowercase; `kind` when not everyone).
    let id = app
        .send(json!({"to": {"tags": {"any": ["B", "a"]}, "kind": "clients"}, "title": "nobody"}))
        .await;
    assert_eq!(
        app.message(&id).await["to"],
        json!({"tags": {"any": ["a", "b"]}, "kind": "clients"})
    );
}

#[tokio::test]
async fn a_scheduled_tag_message_expands_when_it_fires() {
    let app = spawn_app().await;
    let tagged = app.register_device(json!({"uid": 1, "tags": ["vip"]})).await;
    app.register_device(json!({"uid": 2})).await;
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let id = app
        .send(json!({"to": {"tags": {"any": ["vip"]}}, "title": "later", "sendAt": due.to_rfc3339()}))
        .await;
    let settled = app.wait_settled(&id).await;
    assert_eq!(settled["targets"], 1, "{settled}");
    assert_eq!(app.push.received_by(&tagged.endpoint).len(), 1);
}

#[tokio::test]
async fn tags_on_one_subscription_and_on_a_person() {
    let app = spawn_app().await;
    let c1 = app.register_device(json!({"uid": 1})).await;
    let c2 = app.register_device(json!({"uid": 2})).await;

    // One subscription.
    let path = format!("/api/v1/subscriptions/{}/tags/VIP", c1.id);
    for _ in 0..2 {
        assert_eq!(admin_request(&app, reqwest::Method::PUT, &path).await.status(), 204);
    }
    assert_eq!(tags_of(&app, &c1).await, json!(["vip"]));
    assert_eq!(reached(&app, json!({"tags": {"any": ["vip"]}})).await, set(&[&c1]));
    assert_eq!(admin_request(&app, reqwest::Method::DELETE, &path).await.status(), 204);
    assert_eq!(tags_of(&app, &c1).await, json!([]));
    let unknown = "/api/v1/subscriptions/AAAAAAAAAAAAAAAAAAAAAA/tags/vip";
    assert_error(admin_request(&app, reqwest::Method::PUT, unknown).await, 404).await;
    let bad = format!("/api/v1/subscriptions/{}/tags/not%20a%20tag", c1.id);
    let body = assert_error(admin_request(&app, reqwest::Method::PUT, &bad).await, 422).await;
    assert_eq!(body["error"]["field"], "tag", "{body}");
    let anonymous = app.http.put(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A person: their subscriptions now, and the ones they register later.
    let answer = app
        .admin_post(
            "/api/v1/owners/tags",
            json!({"uid": 2, "add": ["street:7", "Street:7"]}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer, json!({"uid": "2", "tags": ["street:7"], "subscriptions": 1}));
    let later = app.register_device(json!({"uid": 2, "tags": ["phone"]})).await;
    assert_eq!(tags_of(&app, &later).await, json!(["phone", "street:7"]));
    assert_eq!(tags_of(&app, &c2).await, json!(["street:7"]));
    assert_eq!(
        reached(&app, json!({"tags": {"any": ["street:7"]}})).await,
        set(&[&c2, &later])
    );
    let answer: Value = app
        .admin_post("/api/v1/owners/tags", json!({"uid": 2, "remove": ["street:7"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["tags"], json!([]));
    assert_eq!(tags_of(&app, &later).await, json!(["phone"]));
    // A person with no subscription yet.
    let answer: Value = app
        .admin_post("/api/v1/owners/tags", json!({"aid": "9", "add": ["ops"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["subscriptions"], 0);
    let admin = app.register_device(json!({"aid": "9"})).await;
    assert_eq!(tags_of(&app, &admin).await, json!(["ops"]));

    // A deleted subscription's tags go with it.
    assert_eq!(
        admin_request(
            &app,
            reqwest::Method::DELETE,
            &format!("/api/v1/subscriptions/{}", admin.id)
        )
        .await
        .status(),
        204
    );
    let count: i64 = app
        .app_state
        .store
        .read("SELECT COUNT(*) FROM subscription_tags WHERE subscription_id = $1")
        .bind(admin.id.as_str())
        .fetch_scalar()
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn bad_tags_are_refused_with_their_field() {
    let app = spawn_app().await;
    let (endpoint, browser) = app.push.add_device();
    let subscription = browser.subscription_json(&endpoint);
    let cases = [
        (
            "/api/v1/subscriptions",
            json!({"subscription": subscription, "uid": 1, "tags": ["ok", "not ok"]}),
            "tags[1]",
        ),
        (
            "/api/v1/subscriptions",
            json!({"subscription": subscription, "uid": 1, "tags": "district:12"}),
            "tags",
        ),
        (
            "/api/v1/subscriptions",
            json!({"subscription": subscription, "uid": 1, "tags": (0..65).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
        (
            "/api/v1/messages",
            json!({"to": {"tags": {"any": ["a b"]}}, "title": "t"}),
            "to.tags",
        ),
        ("/api/v1/messages", json!({"to": {"tags": {}}, "title": "t"}), "to.tags"),
        (
            "/api/v1/messages",
            json!({"to": {"tags": {"some": ["a"]}}, "title": "t"}),
            "to.tags",
        ),
        (
            "/api/v1/messages",
            json!({"to": {"tags": {"any": ["a"]}, "kind": "robots"}, "title": "t"}),
            "to.kind",
        ),
        (
            "/api/v1/messages",
            json!({"to": {"kind": "clients"}, "title": "t"}),
            "to",
        ),
        (
            "/api/v1/messages",
            json!({"to": {"tags": {"any": ["a"]}, "uid": 1}, "title": "t"}),
            "to",
        ),
        ("/api/v1/owners/tags", json!({"uid": 1, "aid": 2, "add": ["a"]}), "aid"),
        ("/api/v1/owners/tags", json!({"add": ["a"]}), "uid"),
        ("/api/v1/owners/tags", json!({"uid": 1}), "add"),
        ("/api/v1/owners/tags", json!({"uid": 1, "add": ["x y"]}), "add[0]"),
        (
            "/api/v1/owners/tags",
            json!({"uid": 1, "add": ["a"], "remove": ["A"]}),
            "remove",
        ),
    ];
    for (path, body, field) in cases {
        let answer = assert_error(app.admin_post(path, body.clone()).await, 422).await;
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let list: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 0, "nothing was registered");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_accepts_tags() {
    let app = spawn_app().await;
    app.admin_post("/api/v1/owners/tags", json!({"uid": 8, "add": ["street:7"]}))
        .await;
    let browser = herald_testkit::Browser::generate();
    let endpoint = format!("{}/push/imported", app.push.base_url());
    let lines = format!(
        "{}\n{}\n",
        json!({"uid": 8, "endpoint": endpoint, "keys": {"p256dh": browser.p256dh_b64(), "auth": browser.auth_b64()}, "tags": ["District:12"]}),
        json!({"uid": 9, "endpoint": format!("{endpoint}2"), "keys": {"p256dh": browser.p256dh_b64(), "auth": browser.auth_b64()}, "tags": ["not ok"]}),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subs.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .env("HERALD_DATABASE_URL", &app.database_url)
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
        .args(["subscriptions", "import"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2:") && stderr.contains("tags"), "{stderr}");
    let list: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["subscriptions"][0]["tags"], json!(["district:12", "street:7"]));
}

/// Registers a new mock device as a browser does: with an owner token and no bearer.
async fn register_with_token(app: &TestApp, token: &Value, tags: Option<Value>) -> reqwest::Response {
    let (endpoint, browser) = app.push.add_device();
    let mut body = json!({"subscription": browser.subscription_json(&endpoint), "ownerToken": token});
    if let Some(tags) = tags {
        body["tags"] = tags;
    }
    app.http
        .post(app.url("/api/v1/subscriptions"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn owner_token(app: &TestApp, body: Value) -> Value {
    let answer = app.admin_post("/api/v1/owner-tokens", body).await;
    assert_eq!(answer.status(), 201);
    answer.json::<Value>().await.unwrap()["ownerToken"].clone()
}

#[tokio::test]
async fn a_browser_with_an_owner_token_sets_only_the_tags_the_token_carries() {
    let app = spawn_app().await;
    let vip = app.register_device(json!({"uid": 1, "tags": ["vip"]})).await;

    // A token without tags: the browser cannot put itself into a segment.
    let plain = owner_token(&app, json!({"uid": 7})).await;
    let refused = assert_error(register_with_token(&app, &plain, Some(json!(["vip"]))).await, 403).await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"vip\"") && message.contains("owner token"),
        "{message}"
    );
    assert!(
        app.owner_subscription_tags("uid=7").await.is_empty(),
        "nothing was registered"
    );
    assert_eq!(reached(&app, json!({"tags": {"any": ["vip"]}})).await, set(&[&vip]));

    // A token that carries tags: a subset of them is allowed, anything else is not.
    let signed = owner_token(&app, json!({"uid": 7, "tags": ["VIP", "district:12"]})).await;
    assert_error(
        register_with_token(&app, &signed, Some(json!(["vip", "district:14"]))).await,
        403,
    )
    .await;
    assert_eq!(
        register_with_token(&app, &signed, Some(json!(["Vip"]))).await.status(),
        201
    );
    assert_eq!(app.owner_subscription_tags("uid=7").await, [json!(["vip"])]);

    // The owner's tags, set by an administrator, still apply to a browser's registration.
    app.admin_post("/api/v1/owners/tags", json!({"uid": 8, "add": ["street:7"]}))
        .await;
    let token = owner_token(&app, json!({"uid": 8})).await;
    assert_eq!(register_with_token(&app, &token, None).await.status(), 201);
    assert_eq!(register_with_token(&app, &token, Some(json!([]))).await.status(), 201);
    assert_eq!(
        app.owner_subscription_tags("uid=8").await,
        [json!(["street:7"]), json!(["street:7"])]
    );

    // The tags of a token request are checked like a registration's.
    for (tags, field) in [(json!(["ok", "not ok"]), "tags[1]"), (json!("vip"), "tags")] {
        let answer = app
            .admin_post("/api/v1/owner-tokens", json!({"uid": 7, "tags": tags}))
            .await;
        assert_eq!(assert_error(answer, 422).await["error"]["field"], field);
    }
    let too_many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    let answer = app
        .admin_post("/api/v1/owner-tokens", json!({"uid": 7, "tags": too_many}))
        .await;
    assert_eq!(assert_error(answer, 422).await["error"]["field"], "tags");
}

#[tokio::test]
async fn a_send_key_registers_with_any_tags() {
    let app = spawn_app().await;
    let key: Value = app
        .admin_post("/api/v1/keys", json!({"name": "back end", "scopes": ["send"]}))
        .await
        .json()
        .await
        .unwrap();
    let (endpoint, browser) = app.push.add_device();
    let answer = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .bearer_auth(key["key"].as_str().unwrap())
        .json(&json!({"subscription": browser.subscription_json(&endpoint), "uid": 3, "tags": ["district:12"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(app.owner_subscription_tags("uid=3").await, [json!(["district:12"])]);
}

fn numbered_tags(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// How many tags each subscription and each person has, straight from the tables.
async fn tag_rows(app: &TestApp) -> (i64, i64) {
    let store = &app.app_state.store;
    let on_subscriptions = store
        .read("SELECT COUNT(*) FROM subscription_tags")
        .fetch_scalar()
        .await
        .unwrap();
    let on_people = store
        .read("SELECT COUNT(*) FROM owner_tags")
        .fetch_scalar()
        .await
        .unwrap();
    (on_subscriptions, on_people)
}

#[tokio::test]
async fn no_subscription_carries_more_than_64_tags_whichever_way_they_come() {
    let app = spawn_app().await;
    let (endpoint, browser) = app.push.add_device();
    let full = app
        .register_existing(
            json!({"uid": 1, "tags": numbered_tags("t", 64)}),
            endpoint.clone(),
            browser.clone(),
        )
        .await;

    // One more on the subscription itself; a tag it has already still answers 204.
    let more = format!("/api/v1/subscriptions/{}/tags/one-more", full.id);
    let answer = assert_error(admin_request(&app, reqwest::Method::PUT, &more).await, 422).await;
    assert_eq!(answer["error"]["field"], "tag");
    assert!(answer["error"]["message"].as_str().unwrap().contains("64"), "{answer}");
    let again = format!("/api/v1/subscriptions/{}/tags/t0", full.id);
    assert_eq!(admin_request(&app, reqwest::Method::PUT, &again).await.status(), 204);
    assert_eq!(tags_of(&app, &full).await.as_array().unwrap().len(), 64);

    // Through the person: refused whole, on the person and on every subscription.
    let other = app.register_device(json!({"uid": 1})).await;
    let answer = app
        .admin_post("/api/v1/owners/tags", json!({"uid": 1, "add": ["street:7"]}))
        .await;
    let answer = assert_error(answer, 422).await;
    assert_eq!(answer["error"]["field"], "add");
    assert!(answer["error"]["message"].as_str().unwrap().contains("64"), "{answer}");
    assert_eq!(tags_of(&app, &other).await, json!([]));
    assert_eq!(tag_rows(&app).await, (64, 0));

    // A person's own tags are bounded too, across requests.
    let first = app
        .admin_post("/api/v1/owners/tags", json!({"uid": 2, "add": numbered_tags("a", 40)}))
        .await;
    assert_eq!(first.status(), 200);
    let second = app
        .admin_post("/api/v1/owners/tags", json!({"uid": 2, "add": numbered_tags("b", 30)}))
        .await;
    assert_eq!(assert_error(second, 422).await["error"]["field"], "add");
    assert_eq!(tag_rows(&app).await, (64, 40));

    // Inherited at registration: the person's 40 and the browser's 30 are too many, and
    // nothing of the registration stays.
    let (new_endpoint, new_browser) = app.push.add_device();
    let body = json!({"subscription": new_browser.subscription_json(&new_endpoint), "uid": 2,
                      "tags": numbered_tags("c", 30), "languages": ["uk"]});
    let answer = assert_error(app.admin_post("/api/v1/subscriptions", body).await, 422).await;
    assert_eq!(answer["error"]["field"], "tags");
    assert!(app.owner_subscription_tags("uid=2").await.is_empty());
    assert_eq!(tag_rows(&app).await, (64, 40));

    // Registering a known endpoint again adds to the tags it has.
    let body = json!({"subscription": browser.subscription_json(&endpoint), "uid": 1, "tags": ["fresh"]});
    let answer = assert_error(app.admin_post("/api/v1/subscriptions", body).await, 422).await;
    assert_eq!(answer["error"]["field"], "tags");
    assert_eq!(tags_of(&app, &full).await.as_array().unwrap().len(), 64);
}

#[tokio::test]
async fn tag_paths_answer_422_for_bad_text_and_404_for_a_bad_id() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 1})).await;
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let bad_tag = format!("/api/v1/subscriptions/{}/tags/%FF", device.id);
        let answer = assert_error(admin_request(&app, method.clone(), &bad_tag).await, 422).await;
        assert_eq!(answer["error"]["field"], "tag", "{method}: {answer}");
        for bad_id in [
            "/api/v1/subscriptions/%FF/tags/vip",
            "/api/v1/subscriptions/no!/tags/%FF",
        ] {
            assert_error(admin_request(&app, method.clone(), bad_id).await, 404).await;
        }
    }
    // A tag both added and removed is named plainly.
    let answer = app
        .admin_post(
            "/api/v1/owners/tags",
            json!({"uid": 1, "add": ["vip"], "remove": ["VIP"]}),
        )
        .await;
    let message = assert_error(answer, 422).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(message, "the tag \"vip\" is both added and removed");
    // A tag wanted and excluded at once is a mistake.
    for to in [
        json!({"tags": {"all": ["a", "b"], "none": ["B"]}}),
        json!({"tags": {"any": ["a"], "none": ["a", "c"]}}),
    ] {
        let answer = app
            .admin_post("/api/v1/messages", json!({"to": to, "title": "t"}))
            .await;
        let answer = assert_error(answer, 422).await;
        assert_eq!(answer["error"]["field"], "to.tags", "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("tags.none"),
            "{answer}"
        );
    }
}
