//! Chargeback reports and statements: exact to the pico against the raw events, CSV equal to JSON, roles,
//! tenant isolation, validation, closed months.

use crate::helpers::{Mode, TestApp, TestOptions, chat_body, spawn_app, spawn_app_with};
use crate::usage_fixtures::{Fixture, Measures, actual, expected, random_events, seeded};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use reqwest::Method;
use serde_json::Value;
use switchyard::store::entities::usage_event;

/// The 27th of last month, 00:00 UTC: five days from there cross into this month.
pub(crate) fn last_month_27th() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    let (year, month) = if today.month() == 1 {
        (today.year() - 1, 12)
    } else {
        (today.year(), today.month() - 1)
    };
    Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(year, month, 27)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    )
}

pub(crate) async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.admin(token, Method::GET, path, None).await
}

pub(crate) async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let response = get(app, token, &format!("/reports/chargeback?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

/// Inserts random events in random batch sizes through the writer's insert, and reads them back as stored.
pub(crate) async fn seed(
    app: &TestApp,
    fixture: &Fixture,
    n: usize,
) -> (Vec<usage_event::Model>, u64) {
    let (mut rng, seed) = seeded();
    let events = random_events(&mut rng, fixture, n, last_month_27th(), Duration::days(5));
    let mut rest = events.as_slice();
    while !rest.is_empty() {
        let take = rand::Rng::random_range(&mut rng, 1..=rest.len().min(700));
        let (batch, tail) = rest.split_at(take);
        app.services.repo.insert_usage_events(batch).await.unwrap();
        rest = tail;
    }
    (app.usage_rows().await, seed)
}

fn assert_groups(
    report: &Value,
    dimensions: &[&str],
    events: &[usage_event::Model],
    keep: impl Fn(&usage_event::Model) -> bool,
    context: &str,
) {
    let want = expected(events, dimensions, keep);
    let got = actual(report, dimensions);
    assert_eq!(got.len(), want.len(), "{context}: group count");
    for (key, measures) in &want {
        let (got_measures, got_cost) = got
            .get(key)
            .unwrap_or_else(|| panic!("{context}: no group {key:?}"));
        let mut without_cost = measures.clone();
        without_cost.cost_picos = 0;
        assert_eq!(got_measures, &without_cost, "{context}: {key:?}");
        assert_eq!(got_cost, &measures.cost(), "{context}: cost of {key:?}");
    }
    let mut total = Measures::default();
    for m in want.values() {
        total.requests += m.requests;
        total.cost_picos += m.cost_picos;
    }
    let (totals, cost) = Measures::of(&report["totals"]);
    assert_eq!(
        (totals.requests, cost),
        (total.requests, total.cost()),
        "{context}: totals"
    );
}

async fn reports_equal_the_raw_events(mode: Mode) {
    // Arrange: a few thousand random events.
    let app = spawn_app_with(TestOptions {
        mode,
        ..TestOptions::default()
    })
    .await;
    let fixture = Fixture::create(&app).await;
    let (events, seed) = seed(&app, &fixture, 3000).await;
    assert_eq!(events.len(), 3000);
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    let start = last_month_27th();
    let range = format!(
        "from={}&to={}",
        start.format("%Y-%m-%d"),
        (start + Duration::days(5)).format("%Y-%m-%d")
    );
    let model = "gpt-b";
    let groupings: [(&str, &[&str], &str); 9] = [
        ("", &[], ""),
        ("team", &["team"], ""),
        ("model,team", &["team", "model"], ""),
        ("key,user,application", &["application", "key", "user"], ""),
        ("day,provider,region", &["day", "provider", "region"], ""),
        ("month", &["month"], ""),
        ("tag:env", &["tag:env"], ""),
        ("team,tag:feature", &["team", "tag:feature"], "&model=gpt-b"),
        ("region", &["region"], "&tag=env%3Dprod"),
    ];
    for (group_by, dimensions, filter) in groupings {
        // Act
        let body = report(
            &app,
            &token,
            &format!("{range}&group_by={group_by}{filter}"),
        )
        .await;
        // Assert
        let context = format!("seed {seed}, {mode:?}, group_by={group_by}{filter}");
        assert_groups(
            &body,
            dimensions,
            &events,
            |e| match filter {
                "" => true,
                "&model=gpt-b" => e.public_model == model,
                _ => e.tags["env"] == "prod",
            },
            &context,
        );
    }
    // A range of whole hours inside: only the events of those hours.
    let (from, to) = (start + Duration::hours(30), start + Duration::hours(53));
    let body = report(
        &app,
        &token,
        &format!(
            "from={}&to={}&group_by=team",
            from.to_rfc3339(),
            to.to_rfc3339()
        )
        .replace('+', "%2B"),
    )
    .await;
    assert_groups(
        &body,
        &["team"],
        &events,
        |e| e.created_at >= from && e.created_at < to,
        &format!("seed {seed}, hours"),
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_every_group_and_total_equals_the_raw_events_to_the_pico() {
    reports_equal_the_raw_events(Mode::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_every_group_and_total_equals_the_raw_events_to_the_pico() {
    reports_equal_the_raw_events(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_parses_and_says_exactly_what_the_json_says() {
    // Arrange
    let app = spawn_app().await;
    let fixture = Fixture::create(&app).await;
    seed(&app, &fixture, 800).await;
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    let start = last_month_27th();
    let query = format!(
        "from={}&to={}&group_by=day,team,key,user,application,tag:feature",
        start.format("%Y-%m-%d"),
        (start + Duration::days(5)).format("%Y-%m-%d")
    );
    let json = report(&app, &token, &query).await;

    // Act: once with ?format=csv, once with Accept.
    let by_format = get(
        &app,
        &token,
        &format!("/reports/chargeback?{query}&format=csv"),
    )
    .await;
    let by_accept = app
        .client
        .get(format!("{}/api/v1/reports/chargeback?{query}", app.address))
        .bearer_auth(&token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(by_format.status(), 200);
    assert_eq!(
        by_format.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = by_format.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"chargeback_"),
        "{disposition}"
    );
    let text = by_format.text().await.unwrap();
    assert_eq!(text, by_accept.text().await.unwrap());
    // RFC 4180: records end with CRLF; a bare LF only inside a quoted value.
    let embedded = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tag_value"].as_str().is_some_and(|v| v.contains('\n')))
        .count();
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.replace("\r\n", "").matches('\n').count(), embedded);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let columns: Vec<String> = serde_json::from_value(json["columns"].clone()).unwrap();
    assert_eq!(header, columns);
    assert_eq!(header.last().map(String::as_str), Some("currency"));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(records.len(), rows.len());
    assert!(
        rows.iter()
            .any(|r| r["tag_value"] == "with, comma \"and quotes\"\nand a line")
    );
    assert!(rows.iter().any(|r| r["tag_value"] == "(untagged)"));
    for (record, row) in records.iter().zip(rows) {
        for (value, column) in record.iter().zip(&columns) {
            let expected = match &row[column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(value, expected, "{column} of {row}");
        }
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_served_for_closed_months_only_per_team_in_json_and_csv() {
    // Arrange
    let app = spawn_app().await;
    let fixture = Fixture::create(&app).await;
    let (events, seed) = seed(&app, &fixture, 600).await;
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    let last_month = last_month_27th().format("%Y-%m").to_string();
    let this_month = Utc::now().format("%Y-%m").to_string();
    let in_last_month =
        |e: &usage_event::Model| e.created_at.format("%Y-%m").to_string() == last_month;

    // Act
    let open = get(&app, &token, &format!("/statements/{this_month}")).await;
    let statement: Value = get(&app, &token, &format!("/statements/{last_month}"))
        .await
        .json()
        .await
        .unwrap();
    let team = fixture.teams[1];
    let one_team: Value = get(
        &app,
        &token,
        &format!("/statements/{last_month}?team_id={team}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let csv = get(
        &app,
        &token,
        &format!("/statements/{last_month}?format=csv"),
    )
    .await
    .text()
    .await
    .unwrap();

    // Assert
    assert_eq!(open.status(), 409);
    let body: Value = open.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not closed"),
        "{body}"
    );
    let want = expected(
        &events,
        &["team", "model", "provider", "region"],
        in_last_month,
    );
    let lines: usize = statement["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["lines"].as_array().unwrap().len())
        .sum();
    assert_eq!(lines, want.len(), "seed {seed}");
    for team in statement["teams"].as_array().unwrap() {
        for line in team["lines"].as_array().unwrap() {
            let key = vec![
                team["team_id"].as_str().map(Into::into),
                line["model"].as_str().map(Into::into),
                line["provider"].as_str().map(Into::into),
                line["region"].as_str().map(Into::into),
            ];
            let (measures, cost) = Measures::of(line);
            let reference = &want[&key];
            assert_eq!(
                (measures.requests, cost),
                (reference.requests, reference.cost()),
                "seed {seed}: {key:?}"
            );
        }
    }
    let total = expected(&events, &[], in_last_month)
        .into_values()
        .next()
        .unwrap_or_default();
    assert_eq!(statement["totals"]["cost"], total.cost(), "seed {seed}");
    assert_eq!(statement["currency"], "USD");
    let teams = one_team["teams"].as_array().unwrap();
    assert!(teams.len() <= 1 && teams.iter().all(|t| t["team_id"] == team.to_string()));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().take(6).collect::<Vec<_>>(),
        [
            "month",
            "team_id",
            "team_name",
            "model",
            "provider",
            "region"
        ]
    );
    assert_eq!(reader.records().count(), want.len());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_call_reaches_the_report_through_the_usage_writer() {
    // Arrange
    let app = spawn_app().await;
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    // Act
    let response = app.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.wait_for_usage(1, std::time::Duration::from_secs(5))
            .await,
        1
    );
    let body = report(&app, &token, "group_by=team,model").await;
    // Assert
    let row = app.usage_rows().await.remove(0);
    assert_eq!(body["rows"][0]["requests"], 1);
    assert_eq!(body["rows"][0]["team_name"], "Default");
    assert_eq!(body["rows"][0]["model"], row.public_model);
    assert_eq!(
        body["totals"]["cost"],
        switchyard::money::Picos(row.cost_picos).to_string()
    );
    app.shutdown().await;
}
