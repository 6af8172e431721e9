//! Retract and restate (issue #14): `POST /conversions/{id}/adjustments` and
//! `adjustConversion`. What an adjustment moves (figures, history, audit, feed), who may make
//! one, idempotency, and that a refused one writes nothing. The figures against a direct
//! computation on random data, in several zones, are in `rollups.rs`.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, exact, expect_json, spawn_app,
};
use serde_json::{Value, json};

/// A sales team that received contact 1 from lead gen, and logged a qualification and a sale.
struct Fixture {
    app: TestApp,
    sales: Creds,
    qualified: String,
    sale: String,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("sales_team").await;
    app.contact_received_by(&lead_gen, 1, "Jane", "sales_team")
        .await;
    let log = |kind: &str, value: Option<&str>| {
        let mut body = json!({"contact_id": 1, "converted_by": "rep", "conversion_type": kind});
        if let Some(v) = value {
            body["conversion_value"] = json!(v);
        }
        body
    };
    let qualified = app.log_conversion(&sales, log("qualified", None)).await;
    let sale = app.log_conversion(&sales, log("sale", Some("25000"))).await;
    Fixture {
        qualified: qualified["id"].as_str().unwrap().to_owned(),
        sale: sale["id"].as_str().unwrap().to_owned(),
        app,
        sales,
    }
}

async fn adjust(app: &TestApp, creds: &Creds, id: &str, body: &Value) -> reqwest::Response {
    app.post_json(&format!("/conversions/{id}/adjustments"), creds, body)
        .await
}

async fn summary(app: &TestApp, creds: &Creds) -> Value {
    let data = app
        .graphql_data(
            creds,
            "{ conversionAnalytics { summary { totalConversions totalValue } } }",
            json!({}),
        )
        .await;
    data["conversionAnalytics"]["summary"].clone()
}

async fn conversion(app: &TestApp, creds: &Creds, id: &str) -> Value {
    let response = app.get(&format!("/conversions/{id}"), creds).await;
    assert_eq!(response.status(), 200);
    exact(&response.text().await.unwrap())
}

async fn a_retraction_takes_the_sale_out_of_every_figure() {
    // Arrange
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    assert_eq!(app.contact_exact(1).await["conversion_status"], "converted");

    // Act
    let response = adjust(
        &app,
        &sales,
        &sale,
        &json!({"action": "retract", "reason": "Customer cancelled within 14 days"}),
    )
    .await;

    // Assert
    let body = expect_json(response, 201).await;
    assert_eq!(body["adjustment"]["action"], "retract");
    assert_eq!(body["adjustment"]["sequence"], 1);
    assert_eq!(body["adjustment"]["adjusted_by"], "workspace:sales_team");
    assert_eq!(body["conversion"]["status"], "retracted");
    let shown = conversion(&app, &sales, &sale).await;
    assert_eq!(shown["status"], "retracted");
    assert_eq!(
        shown["conversion_value"], "25000.00",
        "the record keeps its value"
    );
    assert_eq!(
        shown["adjustments"][0]["reason"],
        "Customer cancelled within 14 days"
    );
    // The contact falls back to what its other conversion proves.
    let contact = app.contact_exact(1).await;
    assert_eq!(contact["conversion_status"], "qualified");
    assert_eq!(contact["lifetime_value"], "0.00");
    assert_eq!(contact["conversion_count"], "1");
    // The workspace's own view and its analytics agree.
    let own = expect_json(app.get("/contacts/1", &sales).await, 200).await;
    assert_eq!(own["conversion_status"], "qualified");
    assert_eq!(own["conversion_count"], 1);
    let figures = summary(&app, &sales).await;
    assert_eq!(figures["totalConversions"], 1);
    assert_eq!(figures["totalValue"], "0.00");
    let activity = expect_json(
        app.get("/workspaces/sales_team/activity", &sales).await,
        200,
    )
    .await;
    assert_eq!(activity["total_conversions"], 1);
    assert_eq!(activity["recent_activity"][0]["action"], "adjusted");
    // Audited.
    let audit = expect_json(
        app.get(&format!("/audit?object_id={sale}"), &app.admin)
            .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"conversion.retracted"), "{audit}");
    // A retraction is final.
    for body in [
        json!({"action": "retract", "reason": "again"}),
        json!({"action": "restate", "reason": "again", "conversion_value": 1}),
    ] {
        assert_problem(
            adjust(&app, &sales, &sale, &body).await,
            409,
            "CONFLICT",
            None,
        )
        .await;
    }
}

async fn a_restatement_keeps_the_original_and_moves_the_figures() {
    // Arrange
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;

    // Act: the amount changes, then the type.
    let first = adjust(
        &app,
        &sales,
        &sale,
        &json!({"action": "restate", "reason": "Renegotiated", "conversion_value": "21000.50"}),
    )
    .await;
    let second = adjust(
        &app,
        &sales,
        &sale,
        &json!({"action": "restate", "reason": "It was a deposit", "conversion_type": "deposit"}),
    )
    .await;

    // Assert
    expect_json(first, 201).await;
    let second = exact(&second.text().await.unwrap());
    assert_eq!(second["adjustment"]["sequence"], "2");
    let shown = conversion(&app, &sales, &sale).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["conversion_type"], "deposit");
    assert_eq!(shown["conversion_value"], "21000.50");
    let history = shown["adjustments"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["conversion_value_before"], "25000.00");
    assert_eq!(history[0]["conversion_value_after"], "21000.50");
    assert_eq!(history[1]["conversion_type_before"], "sale");
    assert_eq!(history[1]["conversion_type_after"], "deposit");
    let contact = app.contact_exact(1).await;
    assert_eq!(contact["lifetime_value"], "21000.50");
    assert_eq!(contact["conversion_count"], "2");
    assert_eq!(
        contact["conversion_status"], "qualified",
        "no sale proves `converted` any more"
    );
    let by_type = app
        .graphql_data(
            &sales,
            "{ conversionStats(groupBy: [CONVERSION_TYPE]) { groups { conversionType conversions totalValue } } }",
            json!({}),
        )
        .await;
    let groups = &by_type["conversionStats"]["groups"];
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["conversionType"] != "sale"),
        "{groups}"
    );
    assert!(
        groups.as_array().unwrap().contains(
            &json!({"conversionType": "deposit", "conversions": 1, "totalValue": "21000.50"})
        ),
        "{groups}"
    );
}

async fn a_new_amount_moves_no_status_even_one_set_by_hand() {
    // Arrange: the sale's contact marked lost by hand.
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    let lost = json!({"conversion_status": "lost"});
    let response = app
        .patch_json("/contacts/1/conversion", &sales, &lost)
        .await;
    assert_eq!(response.status(), 200);

    // Act
    let response = adjust(
        &app,
        &sales,
        &sale,
        &json!({"action": "restate", "reason": "typo in the amount", "conversion_value": 90}),
    )
    .await;

    // Assert
    expect_json(response, 201).await;
    let contact = app.contact_exact(1).await;
    assert_eq!(contact["conversion_status"], "lost");
    assert_eq!(contact["lifetime_value"], "90.00");
    let own = expect_json(app.get("/contacts/1", &sales).await, 200).await;
    assert_eq!(own["conversion_status"], "lost");
}

async fn erasing_the_contact_erases_the_reasons() {
    // Arrange: a reason that quotes the customer.
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    let body = json!({"action": "retract", "reason": "Jane Roe called: jane@example.com"});
    expect_json(adjust(&app, &sales, &sale, &body).await, 201).await;

    // Act
    let response = app
        .post_json("/contacts/1/erase", &app.admin, &json!({}))
        .await;

    // Assert
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let shown = conversion(&app, &sales, &sale).await;
    assert_eq!(shown["adjustments"][0]["reason"], "(erased)");
    let audit = app
        .get(&format!("/audit?object_id={sale}"), &app.admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!audit.contains("jane@example.com"), "{audit}");
}

async fn only_the_logging_workspace_or_the_admin_may_adjust() {
    // Arrange
    let Fixture {
        app,
        sales,
        qualified,
        ..
    } = fixture().await;
    let other = app.workspace("other_team").await;
    let key = app.register_workspace("reader", &["read"]).await;
    let reader = Creds::headers("reader", &key);
    let body = json!({"action": "retract", "reason": "not mine"});

    // Act / Assert: another workspace cannot tell the conversion exists.
    assert_problem(
        adjust(&app, &other, &qualified, &body).await,
        404,
        "NOT_FOUND",
        None,
    )
    .await;
    let forbidden = adjust(&app, &reader, &qualified, &body).await;
    assert!(
        [403, 404].contains(&forbidden.status().as_u16()),
        "a read-only key may not adjust"
    );
    assert!(
        conversion(&app, &sales, &qualified).await["adjustments"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The admin may.
    let done = adjust(&app, &app.admin, &qualified, &body).await;
    let done = expect_json(done, 201).await;
    assert_eq!(done["adjustment"]["adjusted_by"], "admin");
}

async fn bad_adjustments_are_refused_by_field_and_write_nothing() {
    // Arrange
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    let before = app.contact_exact(1).await;
    let cases = [
        (json!({"action": "cancel", "reason": "x"}), "action"),
        (json!({"action": "retract", "reason": "  "}), "reason"),
        (json!({"action": "retract"}), "reason"),
        (
            json!({"action": "restate", "reason": "x"}),
            "conversion_value",
        ),
        (
            json!({"action": "retract", "reason": "x", "conversion_value": 5}),
            "conversion_value",
        ),
        (
            json!({"action": "restate", "reason": "x", "conversion_value": "1.234"}),
            "conversion_value",
        ),
        (
            json!({"action": "restate", "reason": "x", "conversion_value": -5}),
            "conversion_value",
        ),
        (
            json!({"action": "restate", "reason": "x", "conversion_type": "Not A Type"}),
            "conversion_type",
        ),
        (
            json!({"action": "restate", "reason": "x", "conversion_value": 1, "extra": 1}),
            "extra",
        ),
        (
            json!({"action": "retract", "reason": "x".repeat(1001)}),
            "reason",
        ),
    ];

    // Act / Assert
    for (body, field) in cases {
        let response = adjust(&app, &sales, &sale, &body).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some(field)).await;
    }
    // A restatement to what it already is changes nothing, and says so.
    let same = adjust(
        &app,
        &sales,
        &sale,
        &json!({"action": "restate", "reason": "x", "conversion_value": "25000.00", "conversion_type": "sale"}),
    )
    .await;
    let problem = assert_problem(same, 422, "BAD_USER_INPUT", None).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("changes nothing")
    );
    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let response = adjust(
            &app,
            &sales,
            missing,
            &json!({"action": "retract", "reason": "x"}),
        )
        .await;
        assert_problem(response, 404, "NOT_FOUND", None).await;
    }
    assert_eq!(app.contact_exact(1).await, before);
    assert!(
        conversion(&app, &sales, &sale).await["adjustments"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn a_retried_adjustment_is_answered_once() {
    // Arrange
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    let body = json!({"action": "restate", "reason": "typo", "conversion_value": 24000});
    let send = |body: Value, key: &'static str| {
        let request = app
            .rest(
                reqwest::Method::POST,
                &format!("/conversions/{sale}/adjustments"),
                &sales,
            )
            .header("Idempotency-Key", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };

    // Act: twenty at once with one key.
    let responses =
        futures_util::future::join_all((0..20).map(|_| send(body.clone(), "adj-1"))).await;

    // Assert
    let mut ids = Vec::new();
    let mut replayed = 0;
    for response in responses {
        replayed += usize::from(response.headers().contains_key("idempotency-replayed"));
        let body = expect_json(response, 201).await;
        ids.push(body["adjustment"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one adjustment for every retry");
    assert_eq!(replayed, 19);
    let shown = conversion(&app, &sales, &sale).await;
    assert_eq!(shown["adjustments"].as_array().unwrap().len(), 1);
    assert_eq!(app.contact_exact(1).await["lifetime_value"], "24000.00");
    // The same key for another request is refused.
    let other = send(json!({"action": "retract", "reason": "typo"}), "adj-1").await;
    assert_problem(other, 422, "IDEMPOTENCY_CONFLICT", None).await;
}

const ADJUST: &str = r#"mutation($input: AdjustConversionInput!, $key: String) {
  adjustConversion(input: $input, idempotencyKey: $key) {
    replayed
    adjustment { action sequence reason conversionValueBefore conversionValueAfter adjustedBy }
    conversion { status conversionType conversionValue adjustments { sequence action } }
  }
}"#;

async fn graphql_adjusts_and_the_feed_tells() {
    // Arrange
    let Fixture {
        app, sales, sale, ..
    } = fixture().await;
    let mut feed = app
        .subscribe_feed_with(
            &sales,
            "subscription { conversionFeed { kind conversion { id status conversionValue } adjustment { action reason } contact { lifetimeValue conversionStatus } } }",
            json!({}),
        )
        .await;
    app.wait_for_subscribers(1).await;

    // Act
    let restated = app
        .graphql_data(
            &sales,
            ADJUST,
            json!({"input": {"conversionId": sale, "action": "RESTATE", "reason": "discount",
                             "conversionValue": "20000"}}),
        )
        .await;
    let retracted = app
        .graphql_data(
            &sales,
            ADJUST,
            json!({"input": {"conversionId": sale, "action": "RETRACT", "reason": "cancelled"}}),
        )
        .await;
    let refused = app
        .graphql(
            &sales,
            ADJUST,
            json!({"input": {"conversionId": sale, "action": "RESTATE", "reason": "x", "conversionValue": "1"}}),
        )
        .await;
    let bad = app
        .graphql(
            &sales,
            ADJUST,
            json!({"input": {"conversionId": sale, "action": "RESTATE", "reason": "x"}}),
        )
        .await;

    // Assert
    let restated = &restated["adjustConversion"];
    assert_eq!(restated["replayed"], false);
    assert_eq!(restated["adjustment"]["conversionValueBefore"], "25000.00");
    assert_eq!(restated["adjustment"]["conversionValueAfter"], "20000.00");
    assert_eq!(restated["adjustment"]["adjustedBy"], "workspace:sales_team");
    assert_eq!(restated["conversion"]["conversionValue"], "20000.00");
    let retracted = &retracted["adjustConversion"];
    assert_eq!(retracted["conversion"]["status"], "RETRACTED");
    assert_eq!(
        retracted["conversion"]["adjustments"],
        json!([{"sequence": 1, "action": "RESTATE"}, {"sequence": 2, "action": "RETRACT"}])
    );
    assert_graphql_error(&refused, "CONFLICT", None);
    assert_graphql_error(&bad, "BAD_USER_INPUT", Some("conversionValue"));
    // The fixture's own conversions may still be on their way to the feed: skip them.
    let mut adjusted = Vec::new();
    while adjusted.len() < 2 {
        let message = feed
            .next_event()
            .await
            .expect("both adjustments on the feed");
        let event = message["data"]["conversionFeed"].clone();
        if event["kind"] != "LOGGED" {
            adjusted.push(event);
        }
    }
    let event = &adjusted[0];
    assert_eq!(event["kind"], "ADJUSTED");
    assert_eq!(event["conversion"]["id"], sale.as_str());
    assert_eq!(event["conversion"]["conversionValue"], "20000.00");
    assert_eq!(event["adjustment"]["reason"], "discount");
    assert_eq!(event["contact"]["lifetimeValue"], "20000.00");
    let event = &adjusted[1];
    assert_eq!(event["kind"], "RETRACTED");
    assert_eq!(event["conversion"]["status"], "RETRACTED");
    assert_eq!(event["contact"]["lifetimeValue"], "0.00");
    assert_eq!(event["contact"]["conversionStatus"], "QUALIFIED");
}

crate::backend::on_both_backends!(
    a_retraction_takes_the_sale_out_of_every_figure,
    a_restatement_keeps_the_original_and_moves_the_figures,
    a_new_amount_moves_no_status_even_one_set_by_hand,
    erasing_the_contact_erases_the_reasons,
    only_the_logging_workspace_or_the_admin_may_adjust,
    bad_adjustments_are_refused_by_field_and_write_nothing,
    a_retried_adjustment_is_answered_once,
    graphql_adjusts_and_the_feed_tells,
);
