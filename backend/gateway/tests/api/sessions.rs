//! Agent sessions and the request log: a multi-step agent run (the model asks for a tool, the tool result is sent
//! back, a final answer; a second agent streams a tool call of its own) becomes the expected call graph, sessions
//! list and filter, and another tenant sees none of it.

use crate::helpers::{MODEL, TEST_PASSWORD, TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "search_flights",
            "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}])
}

/// One call in a session; returns (status, x-request-id, body).
async fn step(app: &TestApp, headers: &[(&str, &str)], body: &Value) -> (u16, String, String) {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, id, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_step_agent_run_becomes_a_call_graph_with_tool_links_and_totals() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let session = [
        ("x-switchyard-session-id", "trip-42"),
        ("x-switchyard-agent-id", "planner"),
    ];

    // 1. The planner asks; the model calls a tool.
    let ask = json!({"model": MODEL, "tools": tools(),
                     "messages": [{"role": "user", "content": "Find a flight to Lisbon"}]});
    let (status, first, body) = step(&app, &session, &ask).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    let tool_call = answer["choices"][0]["message"]["tool_calls"][0].clone();
    let tool_id = tool_call["id"].as_str().unwrap().to_owned();

    // 2. The tool result goes back, as a child of the first call; a final answer.
    let followup = json!({"model": MODEL, "tools": tools(), "messages": [
        {"role": "user", "content": "Find a flight to Lisbon"},
        {"role": "assistant", "content": null, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": tool_id, "content": "TP1234 at 09:10"},
    ]});
    let child = [
        session[0],
        session[1],
        ("x-switchyard-parent-id", first.as_str()),
    ];
    let (status, second, _) = step(&app, &child, &followup).await;
    assert_eq!(status, 200);

    // 3. A second agent, under a step of the caller's own naming, streams a tool call; its ids come from the
    //    OpenAI `metadata` this time instead of headers.
    let streamed = json!({"model": MODEL, "stream": true, "tools": tools(),
        "metadata": {"session_id": "trip-42", "agent_id": "booker", "parent_id": "plan-step-1", "team": "travel"},
        "messages": [{"role": "user", "content": "Book it"}]});
    let (status, third, body) = step(&app, &[], &streamed).await;
    assert_eq!(status, 200);
    let streamed_tool_id = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["id"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("a streamed tool call");

    // Another session, and a call in none.
    step(
        &app,
        &[
            ("x-switchyard-session-id", "other-trip"),
            ("x-switchyard-agent-id", "planner"),
        ],
        &ask,
    )
    .await;
    step(&app, &[], &ask).await;
    assert_eq!(app.wait_for_usage(5, Duration::from_secs(5)).await, 5);

    let graph = app
        .admin_json(&token, Method::GET, "/sessions/trip-42", None, 200)
        .await;
    let kinds = |kind: &str| -> BTreeSet<String> {
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == kind)
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds("call"),
        BTreeSet::from([first.clone(), second.clone(), third.clone()])
    );
    assert_eq!(
        kinds("tool"),
        BTreeSet::from([
            format!("tool:{tool_id}"),
            format!("tool:{streamed_tool_id}")
        ])
    );
    assert_eq!(
        kinds("step"),
        BTreeSet::from(["step:plan-step-1".to_owned()])
    );
    let edges: BTreeSet<(String, String, String)> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let edge = |from: &str, to: &str, kind: &str| (from.to_owned(), to.to_owned(), kind.to_owned());
    assert_eq!(
        edges,
        BTreeSet::from([
            edge(&first, &format!("tool:{tool_id}"), "tool_call"),
            edge(&format!("tool:{tool_id}"), &second, "tool_result"),
            edge(&first, &second, "parent"),
            edge("step:plan-step-1", &third, "parent"),
            edge(&third, &format!("tool:{streamed_tool_id}"), "tool_call"),
        ])
    );
    let tool_node = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == format!("tool:{tool_id}"))
        .unwrap();
    assert_eq!(tool_node["name"], "search_flights");

    // Per node and in total, the numbers are the usage events'.
    let rows: Vec<_> = app
        .usage_rows()
        .await
        .into_iter()
        .filter(|r| r.session_id.as_deref() == Some("trip-42"))
        .collect();
    assert_eq!(rows.len(), 3);
    let cost: i64 = rows.iter().map(|r| r.cost_picos).sum();
    let input: i64 = rows.iter().map(|r| r.input_tokens).sum();
    assert_eq!(graph["totals"]["calls"], 3);
    assert_eq!(graph["totals"]["tool_invocations"], 2);
    assert_eq!(graph["totals"]["input_tokens"], input);
    assert_eq!(
        graph["totals"]["cost"],
        switchyard::money::picos_sum_to_string(i128::from(cost))
    );
    assert_eq!(graph["totals"]["agents"], json!(["planner", "booker"]));
    let third_row = rows.iter().find(|r| r.id.to_string() == third).unwrap();
    assert_eq!(third_row.agent_id.as_deref(), Some("booker"));
    assert_eq!(third_row.parent_id.as_deref(), Some("plan-step-1"));
    assert_eq!(
        third_row.tags,
        json!({"team": "travel"}),
        "workflow ids are not tags"
    );
    let call_node = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == third)
        .unwrap();
    assert_eq!(call_node["name"], "booker");
    assert_eq!(call_node["input_tokens"], third_row.input_tokens);
    assert!(call_node["ttft_ms"].as_f64().is_some());

    // Sessions list, newest activity first, with filters.
    let list = app
        .admin_json(&token, Method::GET, "/sessions", None, 200)
        .await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other-trip", "trip-42"]);
    let trip = &list["data"][1];
    assert_eq!(trip["calls"], 3);
    assert_eq!(trip["input_tokens"], input);
    assert_eq!(
        trip["cost"],
        switchyard::money::picos_sum_to_string(i128::from(cost))
    );
    let by_agent = app
        .admin_json(&token, Method::GET, "/sessions?agent_id=booker", None, 200)
        .await;
    assert_eq!(by_agent["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        by_agent["data"][0]["calls"], 3,
        "totals count every call of the session"
    );
    let paged = app
        .admin_json(&token, Method::GET, "/sessions?limit=1", None, 200)
        .await;
    assert_eq!(paged["data"][0]["session_id"], "other-trip");
    let cursor = paged["next_cursor"].as_str().unwrap();
    let next = app
        .admin_json(
            &token,
            Method::GET,
            &format!("/sessions?limit=1&cursor={}", urlencode(cursor)),
            None,
            200,
        )
        .await;
    assert_eq!(next["data"][0]["session_id"], "trip-42");
    let expensive = app
        .admin_json(&token, Method::GET, "/sessions?min_cost=1000000", None, 200)
        .await;
    assert!(expensive["data"].as_array().unwrap().is_empty());

    // The request log has every call, filterable by session, and one call by id.
    let log = app
        .admin_json(
            &token,
            Method::GET,
            "/requests?session_id=trip-42",
            None,
            200,
        )
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 3);
    assert_eq!(log["data"][0]["id"], third, "newest first");
    let one = app
        .admin_json(
            &token,
            Method::GET,
            &format!("/requests/{first}"),
            None,
            200,
        )
        .await;
    assert_eq!(one["model"], MODEL);
    assert_eq!(one["agent_id"], "planner");
    assert_eq!(
        app.admin_json(&token, Method::GET, "/requests", None, 200)
            .await["data"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // A developer sees only calls of keys they own (none here); another tenant sees nothing at all.
    let (_, developer) = app.token_for("dev@example.com", "developer").await;
    let theirs = app
        .admin_json(&developer, Method::GET, "/sessions", None, 200)
        .await;
    assert!(theirs["data"].as_array().unwrap().is_empty());
    app.admin_json(&developer, Method::GET, "/sessions/trip-42", None, 404)
        .await;
    app.admin_json(
        &developer,
        Method::GET,
        &format!("/requests/{first}"),
        None,
        404,
    )
    .await;
    let other = app.create_tenant("tenant-b").await;
    app.create_user("b-owner@example.com", "owner", Some(other.id))
        .await;
    let b_token = app.login("b-owner@example.com", TEST_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.admin_json(&b_token, Method::GET, "/sessions/trip-42", None, 404)
        .await;
    let b_list = app
        .admin_json(&b_token, Method::GET, "/sessions", None, 200)
        .await;
    assert!(b_list["data"].as_array().unwrap().is_empty());
    let b_log = app
        .admin_json(&b_token, Method::GET, "/requests", None, 200)
        .await;
    assert!(b_log["data"].as_array().unwrap().is_empty());
    app.shutdown().await;
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_the_request_log_work_on_the_embedded_sqlite_store_too() {
    let app = crate::helpers::spawn_app_with(crate::helpers::TestOptions {
        mode: crate::helpers::Mode::Embedded,
        ..crate::helpers::TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let ask = json!({"model": MODEL, "tools": tools(),
                     "messages": [{"role": "user", "content": "Find a flight to Oslo"}]});
    let session = [
        ("x-switchyard-session-id", "embedded-run"),
        ("x-switchyard-agent-id", "planner"),
    ];
    let (status, first, _) = step(&app, &session, &ask).await;
    assert_eq!(status, 200);
    let child = [
        session[0],
        session[1],
        ("x-switchyard-parent-id", first.as_str()),
    ];
    let (status, second, _) = step(&app, &child, &ask).await;
    assert_eq!(status, 200);
    assert_eq!(app.wait_for_usage(2, Duration::from_secs(5)).await, 2);

    let list = app
        .admin_json(&token, Method::GET, "/sessions?min_cost=0", None, 200)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let summary = &list["data"][0];
    assert_eq!(summary["session_id"], "embedded-run");
    assert_eq!(summary["calls"], 2);
    assert!(
        summary["first_call_at"].as_str().unwrap() <= summary["last_call_at"].as_str().unwrap()
    );
    let rows = app.usage_rows().await;
    let cost: i64 = rows.iter().map(|r| r.cost_picos).sum();
    assert_eq!(
        summary["cost"],
        switchyard::money::picos_sum_to_string(i128::from(cost))
    );
    let graph = app
        .admin_json(&token, Method::GET, "/sessions/embedded-run", None, 200)
        .await;
    assert_eq!(graph["totals"]["calls"], 2);
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == first && e["to"] == second && e["kind"] == "parent"),
        "{graph}"
    );
    let log = app
        .admin_json(
            &token,
            Method::GET,
            "/requests?session_id=embedded-run",
            None,
            200,
        )
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);
    app.shutdown().await;
}
