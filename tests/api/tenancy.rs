//! Tenancy: a workspace sees and changes only its own data; another's reads as missing.

use crate::helpers::{Creds, TestApp, assert_problem, expect_exact, expect_json, spawn_app};
use serde_json::{Value, json};

/// Workspace A has received contact 1001 (lead 5001) and logged a 25000 sale on it;
/// workspace B has received contact 2001.
struct Fixture {
    app: TestApp,
    a: Creds,
    b: Creds,
    a_conversion: Value,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let a = app.workspace("workspace_a").await;
    let b = app.workspace("workspace_b").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.create_contact(&lead_gen, 1001, "Alice of A").await;
    app.create_lead(&lead_gen, 5001, 1001).await;
    app.send_contact(&lead_gen, 1001, "workspace_a").await;
    app.contact_received_by(&lead_gen, 2001, "Bob of B", "workspace_b")
        .await;
    let a_conversion = app
        .log_conversion(
            &a,
            json!({ "contact_id": 1001, "lead_id": 5001, "converted_by": "agent_a",
                    "conversion_type": "sale", "conversion_value": 25000 }),
        )
        .await;
    Fixture {
        app,
        a,
        b,
        a_conversion,
    }
}

impl Fixture {
    fn a_conversion_id(&self) -> &str {
        self.a_conversion["id"].as_str().unwrap()
    }

    /// What A's contact looks like to the admin, money exact.
    async fn a_contact(&self) -> Value {
        self.app.contact_exact(1001).await
    }
}

async fn b_cannot_read_as_conversion() {
    // Arrange
    let f = fixture().await;

    // Act
    let rest = f
        .app
        .get(&format!("/conversions/{}", f.a_conversion_id()), &f.b)
        .await;
    let graphql = f
        .app
        .graphql_data(
            &f.b,
            "query($id: ID!) { conversion(id: $id) { id } }",
            json!({ "id": f.a_conversion_id() }),
        )
        .await;

    // Assert: exactly like a conversion that does not exist.
    let problem = assert_problem(rest, 404, "NOT_FOUND", None).await;
    let missing = f
        .app
        .get(&format!("/conversions/{}", uuid::Uuid::new_v4()), &f.b)
        .await;
    let missing = assert_problem(missing, 404, "NOT_FOUND", None).await;
    assert_eq!(problem["title"], missing["title"]);
    assert_eq!(graphql["conversion"], Value::Null);
}

async fn b_cannot_list_as_conversions() {
    // Arrange
    let f = fixture().await;

    // Act
    let own = expect_json(f.app.get("/conversions", &f.b).await, 200).await;
    let named = f
        .app
        .get("/conversions?workspace_id=workspace_a", &f.b)
        .await;
    let by_contact = expect_json(f.app.get("/conversions?contact_id=1001", &f.b).await, 200).await;
    let graphql = f
        .app
        .graphql(
            &f.b,
            r#"{ conversions(filter: { workspaceId: "workspace_a" }) { nodes { id workspaceId } } }"#,
            json!({}),
        )
        .await;
    let graphql_all = f
        .app
        .graphql_data(&f.b, "{ conversions { nodes { id } } }", json!({}))
        .await;

    // Assert
    assert_eq!(own["conversions"], json!([]));
    assert_eq!(by_contact["conversions"], json!([]));
    let status = named.status().as_u16();
    let text = named.text().await.unwrap();
    assert!(
        status == 403 || status == 404 || (status == 200 && !text.contains(f.a_conversion_id())),
        "B asked for A's conversions and got {status}: {text}"
    );
    assert!(
        !graphql.to_string().contains(f.a_conversion_id()),
        "{graphql}"
    );
    assert!(
        graphql["errors"].is_array() || graphql["data"]["conversions"]["nodes"] == json!([]),
        "{graphql}"
    );
    assert_eq!(graphql_all["conversions"]["nodes"], json!([]));
}

async fn b_cannot_read_as_contact_or_lead() {
    // Arrange
    let f = fixture().await;

    // Act
    let rest = f.app.get("/contacts/1001", &f.b).await;
    let graphql = f
        .app
        .graphql_data(
            &f.b,
            r#"{ contact(id: "1001") { id } lead(id: "5001") { id } contacts { nodes { id } } }"#,
            json!({}),
        )
        .await;

    // Assert
    assert_problem(rest, 404, "NOT_FOUND", None).await;
    assert_eq!(graphql["contact"], Value::Null);
    assert_eq!(graphql["lead"], Value::Null);
    assert_eq!(graphql["contacts"]["nodes"], json!([{ "id": "2001" }]));
}

async fn b_cannot_patch_or_send_as_contact() {
    // Arrange
    let f = fixture().await;
    let before = f.a_contact().await;

    // Act
    let patch = f
        .app
        .patch_json(
            "/contacts/1001/conversion",
            &f.b,
            &json!({ "conversion_status": "lost", "custom_metadata": { "hijacked": true } }),
        )
        .await;
    let send = f
        .app
        .post_json(
            "/contacts/1001/send",
            &f.b,
            &json!({ "to_workspace_id": "lead_gen_team" }),
        )
        .await;
    let graphql = f
        .app
        .graphql(
            &f.b,
            r#"mutation { updateContactConversion(contactId: "1001", input: { conversionStatus: LOST }) { id } }"#,
            json!({}),
        )
        .await;

    // Assert
    assert_problem(patch, 404, "NOT_FOUND", None).await;
    assert_problem(send, 404, "NOT_FOUND", None).await;
    assert_eq!(graphql["data"], Value::Null, "{graphql}");
    crate::helpers::assert_graphql_error(&graphql, "NOT_FOUND", None);
    assert_eq!(f.a_contact().await, before, "A's contact is untouched");
}

async fn b_cannot_log_a_conversion_for_a() {
    // Arrange
    let f = fixture().await;
    let before = f.a_contact().await;

    // Act: in A's name…
    let as_a = f
        .app
        .post_json(
            "/conversions/log",
            &f.b,
            &json!({ "contact_id": 2001, "workspace_id": "workspace_a", "converted_by": "x",
                    "conversion_type": "sale", "conversion_value": 1 }),
        )
        .await;
    // …and on A's contact in its own name.
    let on_as_contact = f
        .app
        .post_json(
            "/conversions/log",
            &f.b,
            &json!({ "contact_id": 1001, "converted_by": "x", "conversion_type": "sale",
                    "conversion_value": 1 }),
        )
        .await;

    // Assert
    assert_problem(as_a, 403, "FORBIDDEN", None).await;
    let status = on_as_contact.status().as_u16();
    assert!(
        (400..500).contains(&status),
        "logging on A's contact answered {status}"
    );
    assert_eq!(f.app.all_conversions().await.len(), 1, "nothing written");
    assert_eq!(f.a_contact().await, before, "A's contact is untouched");
    assert_eq!(f.app.contact_exact(2001).await["conversion_count"], "0");
}

async fn b_cannot_see_as_activity() {
    // Arrange
    let f = fixture().await;

    // Act
    let rest = f.app.get("/workspaces/workspace_a/activity", &f.b).await;
    let graphql = f
        .app
        .graphql(
            &f.b,
            r#"{ workspaceActivity(workspaceId: "workspace_a") { totalConversions } }"#,
            json!({}),
        )
        .await;

    // Assert
    let status = rest.status().as_u16();
    assert!(
        status == 403 || status == 404,
        "B read A's activity: {status}"
    );
    let code = graphql["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(code == "FORBIDDEN" || code == "NOT_FOUND", "{graphql}");
}

async fn b_sees_only_its_own_analytics() {
    // Arrange
    let f = fixture().await;

    // Act
    let own = expect_exact(f.app.get("/conversions/analytics", &f.b).await, 200).await;
    let named = f
        .app
        .get("/conversions/analytics?workspace_id=workspace_a", &f.b)
        .await;
    let graphql = f
        .app
        .graphql(
            &f.b,
            r#"{ conversionAnalytics(filter: { workspaceId: "workspace_a" }) { summary { totalConversions totalValue } } }"#,
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(own["summary"]["total_conversions"], "0");
    assert_eq!(own["summary"]["total_value"], "0.00");
    assert_eq!(own["summary"]["contacts_received"], "1");
    assert!(
        own["by_workspace"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["workspace_id"] == "workspace_b"),
        "{own}"
    );
    let status = named.status().as_u16();
    let text = named.text().await.unwrap();
    assert!(
        status == 403 || status == 404 || (status == 200 && !text.contains("25000")),
        "B read A's analytics: {status} {text}"
    );
    assert!(!graphql.to_string().contains("25000"), "{graphql}");
}

async fn b_cannot_reach_as_data_through_relations() {
    // Arrange: A's conversion is known to B only by id; B has its own conversion.
    let f = fixture().await;
    f.app
        .log_conversion(
            &f.b,
            json!({ "contact_id": 2001, "converted_by": "agent_b", "conversion_type": "sale", "conversion_value": 5 }),
        )
        .await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.b,
            r#"{ conversions(first: 10) { nodes { id contact { id conversions(first: 10) { nodes { id } }
                leads(first: 10) { nodes { id } } } lead { id } } } }"#,
            json!({}),
        )
        .await;

    // Assert
    assert!(!data.to_string().contains(f.a_conversion_id()), "{data}");
    let nodes = data["conversions"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{data}");
    assert_eq!(nodes[0]["contact"]["id"], "2001");
    assert_eq!(
        nodes[0]["contact"]["conversions"]["nodes"],
        json!([{ "id": nodes[0]["id"] }])
    );
    assert_eq!(nodes[0]["contact"]["leads"]["nodes"], json!([]));
    assert_eq!(nodes[0]["lead"], Value::Null);
}

async fn bs_feed_carries_its_own_conversions_but_not_as() {
    // Arrange
    let f = fixture().await;
    let mut b_feed = f.app.subscribe_feed(&f.b, json!({})).await;

    // Act: A logs first, then B.
    f.app
        .log_conversion(
            &f.a,
            json!({ "contact_id": 1001, "converted_by": "agent_a", "conversion_type": "sale", "conversion_value": 7 }),
        )
        .await;
    let own = f
        .app
        .log_conversion(
            &f.b,
            json!({ "contact_id": 2001, "converted_by": "agent_b", "conversion_type": "sale", "conversion_value": 9 }),
        )
        .await;

    // Assert: the first event B receives is its own.
    let event = b_feed.next_event().await.expect("B's own conversion");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        own["id"]
    );
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["workspaceId"],
        "workspace_b"
    );
}

async fn b_cannot_subscribe_to_as_feed() {
    // Arrange
    let f = fixture().await;
    let mut socket = f.app.feed_socket().await;
    socket
        .init(f.b.connection_init_payload())
        .await
        .expect("B's credentials are acknowledged");

    // Act
    socket
        .subscribe(
            "1",
            crate::helpers::FEED_SUBSCRIPTION,
            json!({ "workspaceId": "workspace_a" }),
        )
        .await;
    f.app
        .log_conversion(
            &f.a,
            json!({ "contact_id": 1001, "converted_by": "agent_a", "conversion_type": "sale" }),
        )
        .await;

    // Assert: refused with an error, never A's event.
    let message = socket
        .next_message()
        .await
        .expect("an answer to the subscription");
    let code = crate::helpers::refused_subscription_code(&message);
    assert!(code == "FORBIDDEN" || code == "NOT_FOUND", "{message}");
    assert!(
        !message.to_string().contains("1001"),
        "B got A's event: {message}"
    );
}

async fn b_cannot_send_in_as_name() {
    // Arrange
    let f = fixture().await;

    // Act
    let response = f
        .app
        .post_json(
            "/contacts/2001/send",
            &f.b,
            &json!({ "to_workspace_id": "lead_gen_team", "from_workspace_id": "workspace_a" }),
        )
        .await;

    // Assert
    assert_problem(response, 403, "FORBIDDEN", None).await;
    let activity = expect_json(
        f.app.get("/workspaces/workspace_a/activity", &f.a).await,
        200,
    )
    .await;
    assert_eq!(activity["total_contacts_sent"], 0);
}

async fn b_cannot_add_a_lead_to_as_contact() {
    // Arrange
    let f = fixture().await;

    // Act
    let response = f
        .app
        .post_json("/leads", &f.b, &json!({ "id": 6001, "contact_id": 1001 }))
        .await;

    // Assert
    let status = response.status().as_u16();
    assert!(
        status == 404 || status == 422,
        "B added a lead to A's contact: {status}"
    );
    let lead = f
        .app
        .graphql_data(&f.app.admin, r#"{ lead(id: "6001") { id } }"#, json!({}))
        .await;
    assert_eq!(lead["lead"], Value::Null, "no lead was created");
}

async fn contacts_are_owned_by_the_caller_unless_the_admin_says_otherwise() {
    // Arrange
    let f = fixture().await;

    // Act
    let by_b_for_a = f
        .app
        .post_json(
            "/contacts",
            &f.b,
            &json!({ "id": 3001, "name": "X", "workspace_id": "workspace_a" }),
        )
        .await;
    let by_admin_for_a = f
        .app
        .post_json(
            "/contacts",
            &f.app.admin,
            &json!({ "id": 3002, "name": "Y", "workspace_id": "workspace_a" }),
        )
        .await;

    // Assert
    assert_problem(by_b_for_a, 403, "FORBIDDEN", None).await;
    assert_eq!(by_admin_for_a.status().as_u16(), 201);
    let seen_by_a = f.app.get("/contacts/3002", &f.a).await;
    assert_eq!(expect_json(seen_by_a, 200).await["name"], "Y");
    let seen_by_b = f.app.get("/contacts/3002", &f.b).await;
    assert_problem(seen_by_b, 404, "NOT_FOUND", None).await;
    let missing = f.app.get("/contacts/3001", &f.app.admin).await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;
}

async fn a_shared_contacts_lead_hides_another_workspaces_conversion() {
    let f = fixture().await;
    f.app.workspace("lead_gen_two").await;
    // B gets the same contact through another sender.
    f.app
        .rest(reqwest::Method::POST, "/contacts/1001/send", &f.app.admin)
        .json(&json!({"to_workspace_id": "workspace_b", "from_workspace_id": "lead_gen_two"}))
        .send()
        .await
        .expect("sent");
    let data = f
        .app
        .graphql_data(
            &f.b,
            r#"{ contact(id: "1001") { leads { nodes { id workspaceId conversionId conversionMetadata } } }
                 lead(id: "5001") { workspaceId conversionId conversionMetadata } }"#,
            json!({}),
        )
        .await;
    let lead = &data["contact"]["leads"]["nodes"][0];
    assert_eq!(
        lead["id"], "5001",
        "B sees the lead of a contact it received"
    );
    for view in [lead, &data["lead"]] {
        assert_eq!(view["workspaceId"], Value::Null, "{data}");
        assert_eq!(view["conversionId"], Value::Null, "{data}");
        assert_eq!(view["conversionMetadata"], Value::Null, "{data}");
    }
    // A still sees its own link.
    let own = f
        .app
        .graphql_data(&f.a, r#"{ lead(id: "5001") { conversionId } }"#, json!({}))
        .await;
    assert_eq!(own["lead"]["conversionId"], f.a_conversion_id());
}

async fn b_cannot_take_over_a_lead_a_converted() {
    let f = fixture().await;
    f.app
        .rest(reqwest::Method::POST, "/contacts/1001/send", &f.app.admin)
        .json(&json!({"to_workspace_id": "workspace_b", "from_workspace_id": "lead_gen_team"}))
        .send()
        .await
        .expect("sent");
    let response = f
        .app
        .post_json(
            "/conversions/log",
            &f.b,
            &json!({"contact_id": 1001, "lead_id": 5001, "converted_by": "b", "conversion_type": "sale"}),
        )
        .await;
    assert_problem(response, 409, "CONFLICT", None).await;
    let own = f
        .app
        .graphql_data(
            &f.a,
            r#"{ lead(id: "5001") { conversionId workspaceId } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        own["lead"]["conversionId"],
        f.a_conversion_id(),
        "the link is A's still"
    );
    assert_eq!(own["lead"]["workspaceId"], "workspace_a");
}

async fn a_workspace_cannot_name_a_sender_that_never_sent_the_contact() {
    let f = fixture().await;
    let response = f
        .app
        .patch_json(
            "/contacts/1001/conversion",
            &f.a,
            &json!({"sent_from_workspace": "workspace_b"}),
        )
        .await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("sent_from_workspace")).await;
    let real = f
        .app
        .patch_json(
            "/contacts/1001/conversion",
            &f.a,
            &json!({"sent_from_workspace": "lead_gen_team"}),
        )
        .await;
    assert_eq!(real.status().as_u16(), 200, "the real sender may be named");
}

crate::backend::on_both_backends!(
    a_shared_contacts_lead_hides_another_workspaces_conversion,
    b_cannot_take_over_a_lead_a_converted,
    a_workspace_cannot_name_a_sender_that_never_sent_the_contact,
    b_cannot_read_as_conversion,
    b_cannot_list_as_conversions,
    b_cannot_read_as_contact_or_lead,
    b_cannot_patch_or_send_as_contact,
    b_cannot_log_a_conversion_for_a,
    b_cannot_see_as_activity,
    b_sees_only_its_own_analytics,
    b_cannot_reach_as_data_through_relations,
    bs_feed_carries_its_own_conversions_but_not_as,
    b_cannot_subscribe_to_as_feed,
    b_cannot_send_in_as_name,
    b_cannot_add_a_lead_to_as_contact,
    contacts_are_owned_by_the_caller_unless_the_admin_says_otherwise,
);
