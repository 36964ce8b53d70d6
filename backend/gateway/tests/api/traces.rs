//! OpenTelemetry traces end to end: an in-process OTLP/HTTP receiver decodes what the gateway exports; the test
//! checks span names and kinds, the parent / child structure, the GenAI and `switchyard.*` attributes, that the
//! caller's W3C trace context is continued and propagated to the provider, and that a dead collector costs only
//! dropped spans.

use crate::helpers::{MODEL, TestApp, TestOptions, chat_body, spawn_app_with};
use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Collects the spans of every OTLP/HTTP trace export it receives.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let sink = Arc::clone(&spans);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let sink = Arc::clone(&sink);
            App::new().route(
                "/v1/traces",
                web::post().to(move |body: web::Bytes| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let request = ExportTraceServiceRequest::decode(body.as_ref())
                            .expect("valid OTLP protobuf");
                        let mut spans = sink.lock().unwrap();
                        for resource in request.resource_spans {
                            for scope in resource.scope_spans {
                                spans.extend(scope.spans);
                            }
                        }
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, spans, handle }
    }

    /// Waits until `n` spans arrived (flushing the gateway's exporter meanwhile).
    async fn wait_for(&self, app: &TestApp, n: usize) -> Vec<Span> {
        for _ in 0..50 {
            if let Some(tracing) = app.services.tracing.clone() {
                tokio::task::spawn_blocking(move || tracing.flush())
                    .await
                    .unwrap();
            }
            let spans = self.spans.lock().unwrap().clone();
            if spans.len() >= n {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let spans = self.spans.lock().unwrap().clone();
        panic!(
            "expected {n} spans, got {}: {:?}",
            spans.len(),
            names(&spans)
        );
    }
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attribute(span, key) {
        Some(Any::StringValue(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Any::IntValue(n)) => Some(*n),
        _ => None,
    }
}

async fn traced_app(endpoint: String) -> TestApp {
    spawn_app_with(TestOptions {
        tweak: Box::new(move |s| {
            s.tracing.enabled = Some(true);
            s.tracing.endpoint = Some(endpoint);
            s.tracing.export_interval = Duration::from_millis(100);
            s.tracing.export_timeout = Duration::from_secs(2);
        }),
        ..TestOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_one_server_span_with_phase_and_attempt_children_continuing_the_callers_trace() {
    let receiver = Receiver::start().await;
    let app = traced_app(receiver.url.clone()).await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("tracestate", "vendor=opaque")
        .header("x-switchyard-session-id", "run-7")
        .header("x-switchyard-agent-id", "researcher")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);

    let spans = receiver.wait_for(&app, 6).await;
    let server = spans
        .iter()
        .find(|s| s.name == format!("chat {MODEL}"))
        .unwrap_or_else(|| panic!("no server span in {:?}", names(&spans)));
    assert_eq!(server.kind, 2, "SERVER");
    assert_eq!(
        hex(&server.trace_id),
        TRACE_ID,
        "the caller's trace continues"
    );
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN);
    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == server.span_id)
        .collect();
    let mut child_names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    child_names.sort_unstable();
    assert_eq!(
        child_names,
        [
            "authenticate",
            "chat mock-gpt",
            "check_limits",
            "invoke_agent researcher",
            "route"
        ]
    );
    let attempt = children.iter().find(|s| s.name == "chat mock-gpt").unwrap();
    assert_eq!(attempt.kind, 3, "CLIENT");
    assert_eq!(text(attempt, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(text(attempt, "server.address"), Some("127.0.0.1"));
    assert_eq!(int(attempt, "http.response.status_code"), Some(200));

    // GenAI attributes, then the gateway's own.
    assert_eq!(text(server, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(text(server, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(text(server, "gen_ai.request.model"), Some(MODEL));
    assert_eq!(text(server, "gen_ai.response.model"), Some("mock-gpt"));
    assert_eq!(
        int(server, "gen_ai.usage.input_tokens"),
        Some(row.input_tokens)
    );
    assert_eq!(
        int(server, "gen_ai.usage.output_tokens"),
        Some(row.output_tokens)
    );
    assert_eq!(text(server, "gen_ai.conversation.id"), Some("run-7"));
    assert_eq!(text(server, "gen_ai.agent.id"), Some("researcher"));
    assert_eq!(
        text(server, "switchyard.tenant.id"),
        Some(app.services.default_tenant.id.to_string().as_str())
    );
    assert_eq!(
        text(server, "switchyard.request.id"),
        Some(row.id.to_string().as_str())
    );
    assert_eq!(text(server, "switchyard.region"), Some(row.region.as_str()));
    assert_eq!(
        text(server, "switchyard.cost"),
        Some(
            switchyard::money::Picos(row.cost_picos)
                .to_string()
                .as_str()
        )
    );
    assert!(text(server, "switchyard.key.prefix").is_some_and(|p| app.key.starts_with(p)));
    assert_eq!(
        text(server, "gen_ai.input.messages"),
        None,
        "content is off by default"
    );

    // The provider received the attempt's context, in the caller's trace, with the caller's trace state.
    let received = app.mock.received();
    let sent = received.last().unwrap();
    assert_eq!(
        sent.header("traceparent"),
        Some(format!("00-{TRACE_ID}-{}-01", hex(&attempt.span_id)).as_str())
    );
    assert_eq!(sent.header("tracestate"), Some("vendor=opaque"));

    // A failed call: error status and type on the server span and on its attempt.
    let failed = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-status", "500")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    let spans = receiver.wait_for(&app, 10).await;
    let failed_server = spans
        .iter()
        .filter(|s| s.name == format!("chat {MODEL}"))
        .find(|s| hex(&s.trace_id) != TRACE_ID)
        .unwrap();
    assert_eq!(text(failed_server, "error.type"), Some("upstream_error"));
    assert_eq!(
        failed_server.status.as_ref().map(|s| s.code),
        Some(2),
        "ERROR"
    );
    let failed_attempt = spans
        .iter()
        .find(|s| s.parent_span_id == failed_server.span_id && s.kind == 3)
        .unwrap();
    assert_eq!(text(failed_attempt, "error.type"), Some("upstream_error"));
    app.shutdown().await;
    receiver.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_capture_is_redacted_and_a_dead_collector_costs_only_dropped_spans() {
    // A collector that is not there: calls still succeed, and the dropped spans are counted.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(move |s| {
            s.tracing.enabled = Some(true);
            s.tracing.endpoint = Some(dead);
            s.tracing.export_interval = Duration::from_millis(50);
            s.tracing.export_timeout = Duration::from_millis(500);
            s.tracing.capture_content = true;
        }),
        ..TestOptions::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.post("/v1/chat/completions", &chat_body(false))
                .await
                .status(),
            200
        );
    }
    let mut dropped = 0.0;
    for _ in 0..60 {
        if let Some(tracing) = app.services.tracing.clone() {
            tokio::task::spawn_blocking(move || tracing.flush())
                .await
                .unwrap();
        }
        let metrics = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        dropped = metrics
            .lines()
            .find(|l| l.starts_with("switchyard_trace_spans_dropped{reason=\"export_failed\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if dropped >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dropped >= 3.0, "dropped spans counted: {dropped}");
    app.shutdown().await;

    // With a live collector and content capture on, the prompt is recorded with personal data redacted.
    let receiver = Receiver::start().await;
    let app = spawn_app_with(TestOptions {
        tweak: Box::new({
            let url = receiver.url.clone();
            move |s| {
                s.tracing.enabled = Some(true);
                s.tracing.endpoint = Some(url);
                s.tracing.export_interval = Duration::from_millis(100);
                s.tracing.capture_content = true;
            }
        }),
        ..TestOptions::default()
    })
    .await;
    let mut body = chat_body(false);
    body["messages"][0]["content"] =
        serde_json::json!("Mail jane.doe@example.com about card 4111 1111 1111 1111");
    assert_eq!(app.post("/v1/chat/completions", &body).await.status(), 200);
    let spans = receiver.wait_for(&app, 5).await;
    let server = spans.iter().find(|s| s.kind == 2).unwrap();
    let input = text(server, "gen_ai.input.messages").unwrap();
    assert!(
        input.contains("[REDACTED]") && !input.contains("jane.doe") && !input.contains("4111"),
        "{input}"
    );
    let output = text(server, "gen_ai.output.messages").unwrap();
    assert!(
        output.contains("Mock reply") && !output.contains("jane.doe"),
        "{output}"
    );
    // A streamed answer's content is captured as it reached the client.
    body["stream"] = serde_json::json!(true);
    let streamed = app.post("/v1/chat/completions", &body).await;
    streamed.text().await.unwrap();
    let spans = receiver.wait_for(&app, 10).await;
    let streamed_server = spans
        .iter()
        .find(|s| {
            s.kind == 2
                && matches!(
                    attribute(s, "gen_ai.request.stream"),
                    Some(Any::BoolValue(true))
                )
        })
        .unwrap();
    let output = text(streamed_server, "gen_ai.output.messages").unwrap();
    assert!(
        output.contains("Mock reply") && output.contains("[REDACTED]"),
        "{output}"
    );
    app.shutdown().await;
    receiver.handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_run_shows_its_agent_steps_and_the_tools_execution_as_spans() {
    let receiver = Receiver::start().await;
    let app = traced_app(receiver.url.clone()).await;
    let tools = serde_json::json!([{"type": "function", "function": {"name": "lookup_fare",
        "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}]);
    let send = |body: serde_json::Value| {
        app.client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.key)
            .header("x-switchyard-agent-id", "planner")
            .json(&body)
            .send()
    };
    let asked: serde_json::Value = send(serde_json::json!({"model": MODEL, "tools": tools,
            "messages": [{"role": "user", "content": "Fare to Porto?"}]}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let call = asked["choices"][0]["message"]["tool_calls"][0].clone();
    let tool_id = call["id"].as_str().unwrap().to_owned();
    // The caller "runs" the tool for a while before sending the result back.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let answered = send(
        serde_json::json!({"model": MODEL, "tools": tools, "messages": [
            {"role": "user", "content": "Fare to Porto?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": tool_id, "content": "42 EUR"},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(answered.status(), 200);

    // Two calls: each a server span with 4 children plus its invoke_agent span; one execute_tool span.
    let spans = receiver.wait_for(&app, 13).await;
    let servers: Vec<&Span> = spans.iter().filter(|s| s.kind == 2).collect();
    assert_eq!(servers.len(), 2);
    let agents: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "invoke_agent planner")
        .collect();
    assert_eq!(agents.len(), 2, "{:?}", names(&spans));
    assert!(
        agents
            .iter()
            .all(|a| servers.iter().any(|s| s.span_id == a.parent_span_id)
                && text(a, "gen_ai.agent.id") == Some("planner"))
    );
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool lookup_fare")
        .unwrap_or_else(|| panic!("no tool span in {:?}", names(&spans)));
    assert_eq!(tool.kind, 1, "INTERNAL");
    assert_eq!(text(tool, "gen_ai.operation.name"), Some("execute_tool"));
    assert_eq!(text(tool, "gen_ai.tool.call.id"), Some(tool_id.as_str()));
    // It hangs under the call that brought the result back and lasts about as long as the tool ran.
    let second = servers
        .iter()
        .max_by_key(|s| s.start_time_unix_nano)
        .unwrap();
    assert_eq!(tool.parent_span_id, second.span_id);
    let ran_ms = (tool.end_time_unix_nano - tool.start_time_unix_nano) / 1_000_000;
    assert!(
        (100..5_000).contains(&ran_ms),
        "tool span lasted {ran_ms} ms"
    );
    app.shutdown().await;
    receiver.handle.stop(true).await;
}

/// An OTLP/gRPC collector keeping the spans it receives.
#[derive(Default, Clone)]
struct GrpcCollector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for GrpcCollector
{
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_export_over_otlp_grpc_too() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    let collector = GrpcCollector::default();
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve(address);
    let serving = tokio::spawn(server);
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(move |s| {
            s.tracing.enabled = Some(true);
            s.tracing.protocol = Some("grpc".into());
            s.tracing.endpoint = Some(format!("http://{address}"));
            s.tracing.export_interval = Duration::from_millis(100);
        }),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    let mut received = Vec::new();
    for _ in 0..50 {
        if let Some(tracing) = app.services.tracing.clone() {
            tokio::task::spawn_blocking(move || tracing.flush())
                .await
                .unwrap();
        }
        received = collector.0.lock().unwrap().clone();
        if received.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server_span = received
        .iter()
        .find(|s| s.kind == 2)
        .unwrap_or_else(|| panic!("no server span over gRPC: {:?}", names(&received)));
    assert_eq!(server_span.name, format!("chat {MODEL}"));
    assert_eq!(
        received
            .iter()
            .filter(|s| s.parent_span_id == server_span.span_id)
            .count(),
        4
    );
    app.shutdown().await;
    serving.abort();
}
