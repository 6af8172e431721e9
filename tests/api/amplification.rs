//! Amplification: a small document may not ask for a large answer. Every list that grows with
//! data is a bounded page, and a connection's cost is its page size times its selection, so
//! nesting and aliases are refused by `--graphql-max-complexity` before anything runs, while
//! the dashboard's own documents pass at the default limits.

use crate::helpers::{Creds, TestApp, assert_graphql_error, spawn_app};
use serde_json::{Value, json};

/// The issue's 126-byte document, in the connection form: two conversions, each contact's
/// conversions (default page), each of their contacts' conversions (default page).
const NESTED: &str = "{ conversions(first: 2) { nodes { contact { conversions { nodes { contact \
                      { conversions { nodes { id } } } } } } } } }";

const CONTACT_PAGE: &str = "query($id: ID!, $first: Int, $after: String) {
  contact(id: $id) {
    conversions(first: $first, after: $after) {
      totalCount nodes { id workspaceId } pageInfo { hasNextPage endCursor }
    }
  }
}";

/// lead_gen_team creates contact 1 and sends it to alpha and beta; alpha logs 3 conversions
/// on it, beta 2. Returns the app, alpha, beta and lead_gen_team.
async fn shared_contact() -> (TestApp, Creds, Creds, Creds) {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    let beta = app.workspace("beta").await;
    app.create_contact(&lead_gen, 1, "Shared").await;
    app.send_contact(&lead_gen, 1, "alpha").await;
    app.send_contact(&lead_gen, 1, "beta").await;
    for (creds, n) in [(&alpha, 3), (&beta, 2)] {
        for i in 0..n {
            let body = json!({ "contact_id": 1, "converted_by": "agent",
                               "conversion_type": "sale", "conversion_value": 10 + i });
            app.log_conversion(creds, body).await;
        }
    }
    (app, alpha, beta, lead_gen)
}

/// Every page of contact 1's conversions as `creds` sees them, `first` at a time:
/// (totalCount of each page, ids in order, page sizes).
async fn page_through(
    app: &TestApp,
    creds: &Creds,
    first: i64,
) -> (Vec<i64>, Vec<Value>, Vec<usize>) {
    let (mut totals, mut ids, mut sizes, mut after) = (vec![], vec![], vec![], Value::Null);
    loop {
        let data = app
            .graphql_data(
                creds,
                CONTACT_PAGE,
                json!({ "id": "1", "first": first, "after": after }),
            )
            .await;
        let page = &data["contact"]["conversions"];
        totals.push(page["totalCount"].as_i64().unwrap());
        let nodes = page["nodes"].as_array().unwrap();
        sizes.push(nodes.len());
        ids.extend(nodes.iter().map(|n| n["id"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            return (totals, ids, sizes);
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(sizes.len() < 10, "paging does not end: {data}");
    }
}

async fn the_nested_example_is_refused_by_cost_before_it_runs() {
    // Arrange
    let (app, ..) = shared_contact().await;
    let deeper = NESTED.replace(
        "{ nodes { id } }",
        "{ nodes { contact { conversions { nodes { id } } } } }",
    );

    // Act
    let answers = [
        app.graphql(&app.admin, NESTED, json!({})).await,
        app.graphql(&app.admin, &deeper, json!({})).await,
    ];

    // Assert
    for answer in answers {
        let error = assert_graphql_error(&answer, "BAD_USER_INPUT", None);
        assert!(
            error["message"].as_str().unwrap().contains("too complex"),
            "{answer}"
        );
        assert!(answer["data"].is_null(), "{answer}");
        assert!(answer.to_string().len() < 1024, "{answer}");
    }
}

async fn thirty_aliases_of_a_full_page_are_refused_by_cost() {
    // Arrange
    let (app, ..) = shared_contact().await;
    let aliased: Vec<String> = (0..30)
        .map(|i| format!("a{i}: conversions(first: 200) {{ nodes {{ id }} }}"))
        .collect();
    let aliased = format!("{{ {} }}", aliased.join(" "));

    // Act
    let one = app
        .graphql(
            &app.admin,
            "{ conversions(first: 200) { nodes { id } } }",
            json!({}),
        )
        .await;
    let thirty = app.graphql(&app.admin, &aliased, json!({})).await;

    // Assert
    assert!(one.get("errors").is_none(), "{one}");
    let error = assert_graphql_error(&thirty, "BAD_USER_INPUT", None);
    assert!(
        error["message"].as_str().unwrap().contains("too complex"),
        "{thirty}"
    );
    assert!(thirty["data"].is_null(), "{thirty}");
}

async fn a_contacts_conversions_page_exactly_and_newest_first() {
    // Arrange
    let (app, ..) = shared_contact().await;
    let newest_first = app
        .graphql_data(
            &app.admin,
            r#"{ conversions(filter: { contactId: "1" }) { nodes { id } } }"#,
            json!({}),
        )
        .await;
    let newest_first: Vec<Value> = newest_first["conversions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect();

    // Act
    let (totals, ids, sizes) = page_through(&app, &app.admin, 2).await;

    // Assert
    assert_eq!(totals, [5, 5, 5]);
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(ids, newest_first);
}

async fn a_workspace_pages_only_its_own_conversions_of_a_shared_contact() {
    // Arrange
    let (app, alpha, beta, _) = shared_contact().await;

    // Act
    let (alpha_totals, alpha_ids, _) = page_through(&app, &alpha, 2).await;
    let (beta_totals, beta_ids, _) = page_through(&app, &beta, 50).await;
    let seen_by_beta = app
        .graphql_data(&beta, CONTACT_PAGE, json!({ "id": "1" }))
        .await;

    // Assert
    assert_eq!(alpha_totals, [3, 3]);
    assert_eq!(alpha_ids.len(), 3);
    assert_eq!(beta_totals, [2]);
    assert_eq!(beta_ids.len(), 2);
    assert!(alpha_ids.iter().all(|id| !beta_ids.contains(id)));
    for node in seen_by_beta["contact"]["conversions"]["nodes"]
        .as_array()
        .unwrap()
    {
        assert_eq!(node["workspaceId"], "beta");
    }
}

async fn a_nested_page_outside_0_to_200_is_refused_like_the_root_connections() {
    // Arrange
    let (app, ..) = shared_contact().await;

    // Act
    let root = app
        .graphql(
            &app.admin,
            "{ conversions(first: 201) { totalCount } }",
            json!({}),
        )
        .await;
    let nested = app
        .graphql(&app.admin, CONTACT_PAGE, json!({ "id": "1", "first": 201 }))
        .await;
    let leads = app
        .graphql(
            &app.admin,
            r#"{ contact(id: "1") { leads(first: -1) { totalCount } } }"#,
            json!({}),
        )
        .await;

    // Assert
    let root = assert_graphql_error(&root, "BAD_USER_INPUT", Some("first"));
    for refused in [&nested, &leads] {
        let error = assert_graphql_error(refused, "BAD_USER_INPUT", Some("first"));
        assert_eq!(error["message"], root["message"], "{refused}");
    }
}

async fn a_contacts_leads_page_oldest_first() {
    // Arrange
    let (app, _, _, lead_gen) = shared_contact().await;
    for id in [501, 502, 503] {
        app.create_lead(&lead_gen, id, 1).await;
    }
    let query = r#"query($after: String) { contact(id: "1") {
        leads(first: 2, after: $after) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } } }"#;

    // Act
    let first = app.graphql_data(&app.admin, query, json!({})).await;
    let after = first["contact"]["leads"]["pageInfo"]["endCursor"].clone();
    let second = app
        .graphql_data(&app.admin, query, json!({ "after": after }))
        .await;

    // Assert
    let (first, second) = (&first["contact"]["leads"], &second["contact"]["leads"]);
    assert_eq!(first["totalCount"], 3);
    assert_eq!(first["nodes"], json!([{ "id": "501" }, { "id": "502" }]));
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(second["nodes"], json!([{ "id": "503" }]));
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
}

/// The dashboard's GraphQL documents, read from `dashboard/src/app/lib/queries.ts` itself (so
/// they cannot drift from what the page sends): every `const NAME = `…`` or `"…"`, with its
/// `${OTHER}` interpolations filled in from the same file.
fn dashboard_document(name: &str) -> String {
    const SOURCE: &str = include_str!("../../dashboard/src/app/lib/queries.ts");
    let constants: Vec<(&str, &str)> = SOURCE
        .split("const ")
        .skip(1)
        .filter_map(|rest| {
            let (name, value) = rest.split_once(" = ")?;
            let quote = value.chars().next().filter(|q| *q == '`' || *q == '"')?;
            let body = &value[1..];
            Some((name.trim(), &body[..body.find(quote)?]))
        })
        .collect();
    let mut document = constants
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| (*body).to_owned())
        .unwrap_or_else(|| panic!("queries.ts has no constant {name}"));
    for (other, body) in &constants {
        document = document.replace(&format!("${{{other}}}"), body);
    }
    assert!(
        !document.contains("${"),
        "{name}: an interpolation was left: {document}"
    );
    document
}

async fn the_dashboards_documents_pass_at_the_default_limits() {
    // Arrange
    let (app, alpha, ..) = shared_contact().await;
    let period = json!({ "fromDate": "2020-01-01" });
    let documents = [
        ("BOOT", json!({})),
        (
            "DASHBOARD",
            json!({ "f": period, "c": period, "compare": true, "recent": {},
                    "day": true, "week": true, "month": true }),
        ),
        (
            "MISSED",
            json!({ "filter": { "createdAfter": "2020-01-01T00:00:00Z" } }),
        ),
        ("BUCKET_CONVERSIONS", json!({ "filter": {} })),
        ("STAGE_CONTACTS", json!({ "filter": {} })),
        ("CONTACT", json!({ "id": "1" })),
    ];

    for (document, variables) in documents {
        for creds in [&app.admin, &alpha] {
            // Act
            let answer = app
                .graphql(creds, &dashboard_document(document), variables.clone())
                .await;

            // Assert
            assert!(
                answer.get("errors").is_none_or(Value::is_null),
                "{document}: {answer}"
            );
        }
    }
}

crate::backend::on_both_backends!(
    the_dashboards_documents_pass_at_the_default_limits,
    the_nested_example_is_refused_by_cost_before_it_runs,
    thirty_aliases_of_a_full_page_are_refused_by_cost,
    a_contacts_conversions_page_exactly_and_newest_first,
    a_workspace_pages_only_its_own_conversions_of_a_shared_contact,
    a_nested_page_outside_0_to_200_is_refused_like_the_root_connections,
    a_contacts_leads_page_oldest_first,
);
