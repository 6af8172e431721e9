//! The docs' examples, run as written against a real server, so that they cannot rot.
//!
//! Every ```sh block of the README, docs/api.md and the guides in docs/guides/ runs, in
//! document order (files in `DOCS` order), in one bash session (state carries over, like a
//! reader following along), with `curl` failing on any 4xx or 5xx. Each guide registers its
//! own workspaces and contacts, with ids no other file uses, so it runs beside the others.
//! The examples' two placeholders are the only lines replaced: `ADMIN=…` (the key printed
//! at first start) and `URL=…` become the test server's. Then every ```graphql block
//! runs with the admin key: a query or mutation over HTTP must answer without errors, a
//! subscription must deliver a conversion logged after it starts. A block preceded by
//! `<!-- example: not run (why) -->` is skipped; one preceded by `<!-- example: refused … -->`
//! must be refused. docs/deployment.md and docs/performance.md are operators' commands
//! (systemd, benchmarks), not API examples, and are not run.

use crate::helpers::{Creds, TestApp, spawn_app};
use serde_json::{Value, json};
use std::process::Stdio;

const DOCS: &[(&str, &str)] = &[
    ("README.md", include_str!("../../README.md")),
    ("docs/api.md", include_str!("../../docs/api.md")),
    (
        "docs/guides/README.md",
        include_str!("../../docs/guides/README.md"),
    ),
    (
        "docs/guides/authentication.md",
        include_str!("../../docs/guides/authentication.md"),
    ),
    (
        "docs/guides/webhooks.md",
        include_str!("../../docs/guides/webhooks.md"),
    ),
    (
        "docs/guides/salesforce.md",
        include_str!("../../docs/guides/salesforce.md"),
    ),
    (
        "docs/guides/hubspot.md",
        include_str!("../../docs/guides/hubspot.md"),
    ),
    (
        "docs/guides/best-practices.md",
        include_str!("../../docs/guides/best-practices.md"),
    ),
    (
        "docs/guides/custom-metadata.md",
        include_str!("../../docs/guides/custom-metadata.md"),
    ),
    (
        "docs/guides/troubleshooting.md",
        include_str!("../../docs/guides/troubleshooting.md"),
    ),
];

#[derive(Debug, PartialEq)]
enum Expect {
    Runs,
    NotRun,
    Refused,
}

struct Block {
    origin: String,
    language: String,
    code: String,
    expect: Expect,
}

/// The fenced blocks of a Markdown file, with what the comment before each expects.
fn blocks(file: &str, text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        if let Some(language) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let mut code = String::new();
            for (_, line) in lines.by_ref() {
                if line.starts_with("```") {
                    break;
                }
                code.push_str(line);
                code.push('\n');
            }
            let expect = match previous.trim() {
                p if p.starts_with("<!-- example: not run") => Expect::NotRun,
                p if p.starts_with("<!-- example: refused") => Expect::Refused,
                _ => Expect::Runs,
            };
            found.push(Block {
                origin: format!("{file}:{}", number + 1),
                language: language.split_whitespace().next().unwrap_or("").to_owned(),
                code,
                expect,
            });
        }
        previous = line;
    }
    found
}

fn admin_key(app: &TestApp) -> String {
    match &app.admin {
        Creds::Bearer(key) => key.clone(),
        other => panic!("the test admin uses a bearer key, not {other:?}"),
    }
}

/// Runs every sh block in one bash session; panics with the output if any command fails.
async fn run_shell(app: &TestApp, blocks: &[&Block]) {
    let mut script = format!(
        "set -euo pipefail\nURL={}\nADMIN={}\n\
         curl() {{ command curl --fail-with-body -sS \"$@\"; }}\n",
        app.address,
        admin_key(app)
    );
    for block in blocks {
        script.push_str(&format!("echo '>>> {}'\n", block.origin));
        for line in block.code.lines() {
            let placeholder = ["ADMIN=", "URL="].iter().any(|p| line.starts_with(p));
            if !placeholder {
                script.push_str(line);
                script.push('\n');
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("bash runs");
    assert!(
        output.status.success(),
        "a documented shell example failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn run_graphql(app: &TestApp, block: &Block) {
    let document = block.code.trim();
    if document.starts_with("subscription") {
        let mut socket = app.feed_socket().await;
        socket
            .init(app.admin.connection_init_payload())
            .await
            .expect("connection acknowledged");
        let before = app.metric("convio_feed_subscribers").await;
        socket.subscribe("docs", document, json!({})).await;
        app.wait_for_subscribers(before + 1).await;
        let sale = json!({ "contact_id": 123456, "workspace_id": "salesforce_prod",
                           "converted_by": "docs", "conversion_type": "sale",
                           "conversion_value": "10" });
        let logged = app.log_conversion(&app.admin, sale).await;
        let event = socket
            .next_event()
            .await
            .expect("the documented feed delivers");
        assert!(event.get("errors").is_none(), "{}: {event}", block.origin);
        assert_eq!(
            event["data"]["conversionFeed"]["conversion"]["id"], logged["id"],
            "{}",
            block.origin
        );
        return;
    }
    let body: Value = app.graphql(&app.admin, document, json!({})).await;
    let refused = body.get("errors").is_some_and(|e| !e.is_null());
    match block.expect {
        Expect::Refused => assert!(refused, "{}: expected a refusal, got {body}", block.origin),
        _ => assert!(!refused, "{}: {body}", block.origin),
    }
}

async fn every_documented_example_runs_as_written() {
    let app = spawn_app().await;
    let all: Vec<Block> = DOCS
        .iter()
        .flat_map(|(file, text)| blocks(file, text))
        .collect();
    let shell: Vec<&Block> = all
        .iter()
        .filter(|b| b.language == "sh" && b.expect != Expect::NotRun)
        .collect();
    assert!(shell.len() >= 3, "the README's walkthrough is found");
    run_shell(&app, &shell).await;
    let graphql: Vec<&Block> = all
        .iter()
        .filter(|b| b.language == "graphql" && b.expect != Expect::NotRun)
        .collect();
    assert!(
        graphql.len() >= 4,
        "the README's GraphQL examples are found"
    );
    for block in graphql {
        run_graphql(&app, block).await;
    }
}

crate::backend::on_both_backends!(every_documented_example_runs_as_written,);
