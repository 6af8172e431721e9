//! `GET /conversions/export`: CSV and .xlsx hold exactly the rows `GET /conversions` lists,
//! with the same filters, errors, permissions and tenancy; CSV is safe to open in a
//! spreadsheet, times carry their zone's offset, and a workbook never exceeds Excel's rows.

use crate::helpers::{Creds, TestApp, assert_problem, exact, spawn_app, spawn_app_with};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, FixedOffset};
use reqwest::Response;
use serde_json::{Value, json};
use std::io::Read;

/// Small internal pages, so every export below crosses several of them.
const SMALL_PAGES: &[&str] = &["--export-page-size", "2"];

/// `GET /conversions/export?<query>`.
async fn export(app: &TestApp, creds: &Creds, query: &str) -> Response {
    app.get(&format!("/conversions/export?{query}"), creds)
        .await
}

/// The body of a successful export, after checking its status and headers.
async fn download(app: &TestApp, creds: &Creds, query: &str, content_type: &str) -> Vec<u8> {
    let response = export(app, creds, query).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("an export body").to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got = headers["content-type"].to_str().unwrap();
    assert!(got.starts_with(content_type), "content type {got}");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"convio-conversions_")
    );
    body
}

/// The CSV's records (header first), as text.
async fn csv_records(app: &TestApp, creds: &Creds, query: &str) -> Vec<Vec<String>> {
    let body = download(app, creds, &format!("format=csv&{query}"), "text/csv").await;
    parse_csv(&body)
}

fn parse_csv(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

/// Every conversion `GET /conversions?<query>` lists, paging through all of them, each twice:
/// as plain JSON and with numbers as their exact text.
async fn listed(app: &TestApp, creds: &Creds, query: &str) -> Vec<(Value, Value)> {
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        let response = app
            .get(&format!("/conversions?limit=3&{query}{after}"), creds)
            .await;
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.unwrap();
        let plain: Value = serde_json::from_str(&text).unwrap();
        let exact = exact(&text);
        for (p, e) in plain["conversions"]
            .as_array()
            .unwrap()
            .iter()
            .zip(exact["conversions"].as_array().unwrap())
        {
            rows.push((p.clone(), e.clone()));
        }
        if plain["page_info"]["has_next_page"] != true {
            return rows;
        }
        after = format!(
            "&after={}",
            plain["page_info"]["end_cursor"].as_str().unwrap()
        );
    }
}

/// Asserts that the CSV records are exactly the listed conversions, column by column.
fn assert_same_rows(records: &[Vec<String>], listed: &[(Value, Value)]) {
    assert_eq!(
        records[0],
        [
            "id",
            "converted_at",
            "workspace_id",
            "contact_id",
            "lead_id",
            "conversion_type",
            "conversion_value",
            "currency",
            "converted_by",
            "custom_data",
            "status"
        ]
    );
    assert_eq!(records.len() - 1, listed.len(), "one record per conversion");
    for (record, (plain, exact)) in records[1..].iter().zip(listed) {
        let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_default();
        assert_eq!(record[0], text(&plain["id"]));
        assert_eq!(
            instant(&record[1]),
            instant(plain["converted_at"].as_str().unwrap())
        );
        assert_eq!(record[2], text(&plain["workspace_id"]));
        assert_eq!(record[3], text(&exact["contact_id"]));
        assert_eq!(record[4], text(&exact["lead_id"]));
        assert_eq!(record[5], text(&plain["conversion_type"]));
        assert_eq!(record[6], text(&exact["conversion_value"]), "exact value");
        assert_eq!(record[7], text(&plain["currency"]));
        assert_eq!(record[8], text(&plain["converted_by"]));
        let custom: Value = if record[9].is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&record[9]).expect("custom_data is JSON")
        };
        assert_eq!(custom, plain["custom_data"]);
    }
}

fn instant(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Workspaces `sales` and `other`, each with a contact, and conversions of every shape:
/// with and without lead, value and custom data, two at the very same instant.
async fn varied_fixture(flags: &[&str]) -> (TestApp, Creds, Creds) {
    let app = spawn_app_with(flags).await;
    let sales = app.workspace("sales").await;
    let other = app.workspace("other").await;
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    app.create_lead(&lead_gen, 5001, 1001).await;
    app.contact_received_by(&lead_gen, 2002, "Bob Doe", "other")
        .await;
    let bodies = [
        json!({"contact_id": 1001, "lead_id": 5001, "converted_by": "agent, \"quoted\"; semi",
               "conversion_type": "sale", "conversion_value": "18500.50",
               "converted_at": "2026-05-01T10:00:00.123456Z",
               "custom_data": {"product": "solar", "term_months": 240, "rate": 0.05,
                               "nested": {"list": [1, "two", null]}, "note": "ünïcødé ✓"}}),
        json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "qualified",
               "converted_at": "2026-05-02T00:00:00Z"}),
        json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "appointment",
               "conversion_value": 0, "converted_at": "2026-05-02T00:00:00Z"}),
        json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
               "conversion_value": "0.10", "converted_at": "2026-04-30T23:59:59.999999Z"}),
        json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
               "conversion_value": 1000000, "converted_at": "2025-12-31T23:00:00Z"}),
    ];
    for body in bodies {
        app.log_conversion(&sales, body).await;
    }
    app.log_conversion(
        &other,
        json!({"contact_id": 2002, "converted_by": "other_agent", "conversion_type": "sale",
               "conversion_value": 7, "converted_at": "2026-05-01T12:00:00Z"}),
    )
    .await;
    (app, sales, other)
}

async fn csv_rows_equal_the_listed_rows_for_every_caller_and_filter() {
    // Arrange
    let (app, sales, _) = varied_fixture(SMALL_PAGES).await;
    let admin = app.admin.clone();

    for (creds, query) in [
        (&admin, ""),
        (&sales, ""),
        (
            &admin,
            "workspace_id=sales&from_date=2026-05-01&to_date=2026-05-31",
        ),
        (
            &admin,
            "conversion_type=sale&min_value=0.10&max_value=18500.50",
        ),
        (
            &sales,
            "contact_id=1001&time_zone=Asia/Kolkata&from_date=2026-05-02",
        ),
    ] {
        // Act
        let records = csv_records(&app, creds, query).await;

        // Assert
        let listed = listed(&app, creds, query).await;
        assert!(!listed.is_empty(), "{query}");
        assert_same_rows(&records, &listed);
    }
}

async fn an_export_larger_than_many_pages_holds_every_row_once() {
    // Arrange: 11 conversions, read two per query.
    let app = spawn_app_with(SMALL_PAGES).await;
    let sales = app.workspace("sales").await;
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    let items: Vec<Value> = (0..11)
        .map(|i| {
            json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
                   "conversion_value": i, "converted_at": format!("2026-06-{:02}T12:00:00Z", 1 + i % 3)})
        })
        .collect();
    let response = app
        .post_json(
            "/conversions/batch",
            &sales,
            &json!({ "conversions": items }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);

    // Act
    let records = csv_records(&app, &sales, "").await;

    // Assert
    let listed = listed(&app, &sales, "").await;
    assert_eq!(listed.len(), 11);
    assert_same_rows(&records, &listed);
    let mut ids: Vec<&String> = records[1..].iter().map(|r| &r[0]).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 11, "no row twice");
}

async fn text_cells_that_could_run_as_formulas_are_quoted_and_numbers_are_not() {
    // Arrange
    let app = spawn_app().await;
    let sales = app.workspace("sales").await;
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    app.create_lead(&lead_gen, 5001, 1001).await;
    // (Tab and CR cannot start a stored text: the API trims text and refuses control
    // characters. The guard covers them too; a unit test in src/ shows it.)
    let dangerous = [
        "=1+2",
        "+SUM(A1)",
        "-2+3",
        "@cmd",
        "=HYPERLINK(\"http://x\")",
    ];
    for (i, by) in dangerous.iter().enumerate() {
        app.log_conversion(
            &sales,
            json!({"contact_id": 1001, "lead_id": if i == 0 { json!(5001) } else { json!(null) },
                   "converted_by": by, "conversion_type": "sale", "conversion_value": "1234.50",
                   "converted_at": format!("2026-01-0{}T00:00:00Z", 9 - i)}),
        )
        .await;
    }
    app.log_conversion(
        &sales,
        json!({"contact_id": 1001, "converted_by": "safe=text", "conversion_type": "sale",
               "converted_at": "2026-01-01T00:00:00Z"}),
    )
    .await;

    // Act
    let records = csv_records(&app, &sales, "").await;

    // Assert: newest first, so in the order logged.
    for (record, by) in records[1..].iter().zip(dangerous) {
        assert_eq!(record[8], format!("'{by}"), "converted_by escaped");
        assert_eq!(record[6], "1234.50", "value untouched");
        assert_eq!(record[3], "1001", "contact id untouched");
    }
    assert_eq!(records[1][4], "5001", "lead id untouched");
    assert_eq!(records[6][8], "safe=text", "only leading characters count");
}

async fn times_carry_the_zones_offset_across_daylight_saving_changes() {
    // Arrange: either side of New York's 2026 spring-forward (Mar 8) and fall-back (Nov 1).
    let app = spawn_app().await;
    let sales = app.workspace("sales").await;
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    for at in [
        "2026-03-08T06:30:00Z",
        "2026-03-08T07:30:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-01T06:30:00.5Z",
    ] {
        app.log_conversion(
            &sales,
            json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
                   "converted_at": at}),
        )
        .await;
    }

    // Act
    let new_york = csv_records(&app, &sales, "time_zone=America/New_York").await;
    let utc = csv_records(&app, &sales, "").await;

    // Assert
    let times = |records: &[Vec<String>]| -> Vec<String> {
        records[1..].iter().map(|r| r[1].clone()).collect()
    };
    assert_eq!(
        times(&new_york),
        [
            "2026-11-01T01:30:00.500-05:00",
            "2026-11-01T01:30:00-04:00",
            "2026-03-08T03:30:00-04:00",
            "2026-03-08T01:30:00-05:00",
        ]
    );
    assert_eq!(
        times(&utc),
        [
            "2026-11-01T06:30:00.500+00:00",
            "2026-11-01T05:30:00+00:00",
            "2026-03-08T07:30:00+00:00",
            "2026-03-08T06:30:00+00:00",
        ]
    );
    let response = export(
        &app,
        &sales,
        "time_zone=America/New_York&from_date=2026-03-01&to_date=2026-11-29",
    )
    .await;
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"convio-conversions_2026-03-01_2026-11-29_America-New_York.csv\""
    );
}

async fn csv_for_excel_has_a_byte_order_mark_and_crlf() {
    // Arrange
    let (app, sales, _) = varied_fixture(&[]).await;

    // Act
    let excel = download(&app, &sales, "format=csv&excel=true", "text/csv").await;
    let plain = download(&app, &sales, "format=csv", "text/csv").await;

    // Assert
    assert!(excel.starts_with(b"\xEF\xBB\xBFid,converted_at,"));
    assert!(!plain.starts_with(b"\xEF\xBB\xBF"));
    let excel_text = String::from_utf8(excel[3..].to_vec()).unwrap();
    let plain_text = String::from_utf8(plain).unwrap();
    assert!(excel_text.ends_with("\r\n") && plain_text.ends_with('\n'));
    assert!(!plain_text.contains("\r\n"), "plain CSV ends lines with LF");
    // Every record ends in CRLF.
    assert_eq!(
        excel_text.matches("\r\n").count(),
        parse_csv(excel_text.as_bytes()).len()
    );
    assert_eq!(
        parse_csv(excel_text.as_bytes()),
        parse_csv(plain_text.as_bytes())
    );
}

/// `kid=base64key` for a 32-byte key.
fn encryption_key() -> String {
    format!("k1={}", BASE64.encode([7u8; 32]))
}

async fn secret_values_are_masked_exactly_as_the_list_shows_them() {
    // Arrange: a read-only workspace's conversion, logged for it by the admin.
    let app = spawn_app_with(&[
        "--encryption-keys",
        &encryption_key(),
        "--export-page-size",
        "2",
    ])
    .await;
    let key = app.register_workspace("viewer", &["read"]).await;
    let viewer = Creds::headers("viewer", &key);
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "viewer")
        .await;
    app.log_conversion(
        &app.admin,
        json!({"contact_id": 1001, "workspace_id": "viewer", "converted_by": "agent",
               "conversion_type": "sale", "custom_data": {"secret_ssn": "078-05-1120", "plan": "gold"}}),
    )
    .await;

    for (creds, shown) in [(&viewer, "***"), (&app.admin, "078-05-1120")] {
        // Act
        let records = csv_records(&app, creds, "").await;

        // Assert
        let custom: Value = serde_json::from_str(&records[1][9]).unwrap();
        assert_eq!(custom["secret_ssn"], shown);
        assert_eq!(custom["plan"], "gold");
        assert_same_rows(&records, &listed(&app, creds, "").await);
    }
}

async fn a_failure_after_the_download_started_aborts_it_instead_of_ending_cleanly() {
    // Arrange: the oldest conversion holds a sealed value; the newer ones fill a first page.
    let app = spawn_app_with(&["--encryption-keys", &encryption_key()]).await;
    let sales = app.workspace("sales").await;
    let lead_gen = app.workspace("lead_gen").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    for (day, custom) in [
        (3, json!({"plan": "gold"})),
        (2, json!({"plan": "silver"})),
        (1, json!({"secret_ssn": "x"})),
    ] {
        app.log_conversion(
            &sales,
            json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
                   "converted_at": format!("2026-02-0{day}T00:00:00Z"), "custom_data": custom}),
        )
        .await;
    }
    // The same database served by a node without that key: the third row cannot be opened.
    let keyless = crate::helpers::spawn_app_on(
        &app.database_url,
        &[
            "--encryption-keys",
            &format!("k9={}", BASE64.encode([9u8; 32])),
            "--export-page-size",
            "2",
        ],
    )
    .await;

    // Act
    let csv = keyless
        .rest(
            reqwest::Method::GET,
            "/conversions/export?format=csv",
            &sales,
        )
        .send()
        .await;
    let xlsx = export(&keyless, &sales, "format=xlsx").await;
    let listed = keyless.get("/conversions", &sales).await;

    // Assert: the list fails as a whole; the CSV had started, so its transfer is cut short
    // (no error text appended to look like data, no clean end); the workbook is not sent.
    assert_problem(listed, 500, "UNDECRYPTABLE", None).await;
    // (Whether the status line left before the abort is a race; either way the client knows.)
    if let Ok(csv) = csv {
        assert_eq!(csv.status().as_u16(), 200, "the first page went out");
        assert!(
            csv.bytes().await.is_err(),
            "the body must end in a transfer error"
        );
    }
    assert_problem(xlsx, 500, "UNDECRYPTABLE", None).await;
}

/// The entries of an .xlsx (a zip): its sheet's XML and its styles.
fn unzip(body: &[u8]) -> (String, String) {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("the workbook is a zip");
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("no {name} in the workbook"))
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    (read("xl/worksheets/sheet1.xml"), read("xl/styles.xml"))
}

/// The cells of each `<row>` of a sheet: (reference, type attribute, text inside).
fn sheet_rows(sheet: &str) -> Vec<Vec<(String, String, String)>> {
    sheet
        .split("<row ")
        .skip(1)
        .map(|row| {
            row.split("<c ")
                .skip(1)
                .map(|cell| {
                    let attr = |name: &str| {
                        cell.split_once(&format!("{name}=\""))
                            .and_then(|(_, rest)| rest.split_once('"'))
                            .map(|(v, _)| v.to_owned())
                            .unwrap_or_default()
                    };
                    let inner = cell
                        .split_once("<t>")
                        .or_else(|| cell.split_once("<t xml:space=\"preserve\">"))
                        .or_else(|| cell.split_once("<v>"))
                        .and_then(|(_, rest)| rest.split_once('<'))
                        .map(|(v, _)| v.to_owned())
                        .unwrap_or_default();
                    (attr("r"), attr("t"), inner)
                })
                .collect()
        })
        .collect()
}

async fn xlsx_is_a_workbook_whose_sheet_holds_the_rows_typed() {
    // Arrange
    let (app, sales, _) = varied_fixture(SMALL_PAGES).await;

    // Act
    let body = download(
        &app,
        &sales,
        "format=xlsx&time_zone=America/New_York",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    .await;

    // Assert
    let (sheet, styles) = unzip(&body);
    let rows = sheet_rows(&sheet);
    let listed = listed(&app, &sales, "").await;
    assert_eq!(
        rows.len(),
        1 + listed.len(),
        "header and one row per conversion"
    );
    let header: Vec<&str> = rows[0].iter().map(|c| c.2.as_str()).collect();
    assert_eq!(header[1], "converted_at (America/New_York)");
    assert_eq!(header[9], "custom_data");
    assert_eq!(header[10], "status");
    assert_eq!(header[11], "utc_offset");
    for (row, (plain, exact)) in rows[1..].iter().zip(&listed) {
        // Text cells are inline strings; numbers and date-times are numeric cells.
        assert_eq!(
            (row[0].1.as_str(), row[0].2.as_str()),
            ("inlineStr", plain["id"].as_str().unwrap())
        );
        assert_eq!(row[1].1, "", "converted_at is a number (a date-time)");
        assert!(
            row[1].2.parse::<f64>().unwrap() > 46_000.0,
            "an Excel serial date in 2025–26"
        );
        assert_eq!(row[3].2, exact["contact_id"].as_str().unwrap());
        let value = row.iter().find(|c| c.0.starts_with('G'));
        match exact["conversion_value"].as_str() {
            Some(v) => {
                let cell = value.expect("a value cell");
                assert_eq!(cell.1, "", "the value is a number");
                assert_eq!(cell.2.parse::<f64>().unwrap(), v.parse::<f64>().unwrap());
            }
            None => assert!(value.is_none(), "no value, no cell"),
        }
        let offset = &row.last().unwrap().2;
        assert!(offset == "-04:00" || offset == "-05:00", "{offset}");
    }
    assert!(
        sheet.contains("<pane ySplit=\"1\""),
        "the header row is frozen"
    );
    assert!(sheet.contains(&format!("<autoFilter ref=\"A1:L{}\"", 1 + listed.len())));
    assert!(styles.contains("formatCode=\"yyyy-mm-dd hh:mm:ss\""));
}

async fn xlsx_with_more_rows_than_allowed_is_refused_suggesting_csv() {
    // Arrange: a server whose workbooks may hold 5 rows; 6 conversions match.
    let (app, _, _) = varied_fixture(&["--export-xlsx-max-rows", "5"]).await;

    // Act
    let refused = export(&app, &app.admin, "format=xlsx").await;
    let fits = export(&app, &app.admin, "format=xlsx&workspace_id=sales").await;
    let csv = export(&app, &app.admin, "format=csv").await;

    // Assert
    let problem = assert_problem(refused, 422, "BAD_USER_INPUT", Some("format")).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("format=csv"),
        "{problem}"
    );
    assert_eq!(fits.status().as_u16(), 200);
    assert_eq!(
        parse_csv(&csv.bytes().await.unwrap()).len(),
        7,
        "CSV has no limit"
    );
}

async fn a_workspace_exports_only_its_own_conversions() {
    // Arrange
    let (app, _sales, other) = varied_fixture(SMALL_PAGES).await;

    // Act
    let own = csv_records(&app, &other, "").await;
    let xlsx = download(&app, &other, "format=xlsx", "application/vnd").await;
    let elsewhere = export(&app, &other, "workspace_id=sales").await;
    let listed_elsewhere = app.get("/conversions?workspace_id=sales", &other).await;

    // Assert
    assert_eq!(own.len(), 2, "header and other's one conversion");
    assert_eq!(own[1][2], "other");
    assert_same_rows(&own, &listed(&app, &other, "").await);
    assert_eq!(sheet_rows(&unzip(&xlsx).0).len(), 2);
    assert_eq!(elsewhere.status(), listed_elsewhere.status());
    let expected = assert_problem(listed_elsewhere, 403, "FORBIDDEN", None).await;
    let got = assert_problem(elsewhere, 403, "FORBIDDEN", None).await;
    assert_eq!(got["detail"], expected["detail"]);
    // And nothing of sales' leaks through a filter on its contact.
    let by_contact = csv_records(&app, &other, "contact_id=1001").await;
    assert_eq!(by_contact.len(), 1, "only the header");
}

async fn export_needs_the_read_permission_like_the_list() {
    // Arrange
    let app = spawn_app().await;
    let key = app.register_workspace("writer", &["convert"]).await;
    let writer = Creds::headers("writer", &key);

    // Act + Assert
    for query in ["format=csv", "format=xlsx"] {
        let listed = app.get("/conversions", &writer).await;
        let exported = export(&app, &writer, query).await;
        let expected = assert_problem(listed, 403, "FORBIDDEN", None).await;
        let got = assert_problem(exported, 403, "FORBIDDEN", None).await;
        assert_eq!(got["detail"], expected["detail"]);
    }
    let anonymous = export(&app, &Creds::Anonymous, "format=csv").await;
    assert_problem(anonymous, 401, "UNAUTHENTICATED", None).await;
}

async fn bad_filters_get_the_same_errors_as_the_list() {
    // Arrange
    let app = spawn_app().await;
    let sales = app.workspace("sales").await;

    for query in [
        "from_date=yesterday",
        "to_date=2026-13-01",
        "from_date=2026-05-02&to_date=2026-05-01",
        "time_zone=Mars/Olympus_Mons",
        "min_value=abc",
        "max_value=1.234",
        "min_value=10&max_value=5",
        "contact_id=x",
        "conversion_type=Not%20A%20Type",
        "workspace_id=bad%20id",
        "created_after=soon",
        "colour=blue",
        "time_zone=UTC&time_zone=UTC",
    ] {
        // Act
        let listed = app.get(&format!("/conversions?{query}"), &sales).await;
        let exported = export(&app, &sales, &format!("format=csv&{query}")).await;

        // Assert
        let status = listed.status().as_u16();
        assert_eq!(exported.status().as_u16(), status, "{query}");
        let expected: Value = listed.json().await.unwrap();
        let code = expected["code"]
            .as_str()
            .unwrap_or_else(|| panic!("a problem code for {query}: {expected}"))
            .to_owned();
        let field = expected["field"].as_str().map(str::to_owned);
        let got = assert_problem(exported, status, &code, field.as_deref()).await;
        if query != "colour=blue" {
            // (The unknown-parameter message lists each endpoint's own parameters.)
            assert_eq!(got["detail"], expected["detail"], "{query}");
        }
    }
}

async fn bad_format_or_excel_flag_names_the_field() {
    // Arrange
    let app = spawn_app().await;

    for (query, field) in [
        ("format=pdf", "format"),
        ("format=XLSX", "format"),
        ("format=csv&excel=yes", "excel"),
        ("format=xlsx&excel=true", "excel"),
    ] {
        // Act
        let response = export(&app, &app.admin, query).await;

        // Assert
        assert_problem(response, 422, "BAD_USER_INPUT", Some(field)).await;
    }
}

crate::backend::on_both_backends!(
    csv_rows_equal_the_listed_rows_for_every_caller_and_filter,
    an_export_larger_than_many_pages_holds_every_row_once,
    text_cells_that_could_run_as_formulas_are_quoted_and_numbers_are_not,
    times_carry_the_zones_offset_across_daylight_saving_changes,
    csv_for_excel_has_a_byte_order_mark_and_crlf,
    secret_values_are_masked_exactly_as_the_list_shows_them,
    a_failure_after_the_download_started_aborts_it_instead_of_ending_cleanly,
    xlsx_is_a_workbook_whose_sheet_holds_the_rows_typed,
    xlsx_with_more_rows_than_allowed_is_refused_suggesting_csv,
    a_workspace_exports_only_its_own_conversions,
    export_needs_the_read_permission_like_the_list,
    bad_filters_get_the_same_errors_as_the_list,
    bad_format_or_excel_flag_names_the_field,
);
