//! Proxy overhead: the same chat completion load sent straight to the mock provider and through the gateway,
//! measured in one run, printed as requests per second and p50 / p99 latency at several concurrencies, with the
//! added latency and the throughput ratio.
//!
//! The gateway runs as its own release process with every feature that exists switched on: key
//! authentication, the Postgres + Redis production storage (or the embedded default with `--embedded`), and
//! usage recording of every call. The mock provider and the load generator run in this process on their own
//! runtimes.
//!
//! Two tables: closed loop (each of `c` clients sends its next request when the last one answered: maximum
//! throughput, and latency at saturation, where on a 2-core machine the load generator, the mock, Postgres and
//! the gateway all compete for the CPU), and open loop at a fixed rate below saturation (`--rate`, default
//! 1000 requests/s), where the added latency is the gateway's own cost rather than queueing.
//!
//!     cargo bench -p switchyard --bench proxy_overhead                 # 5 s per point, c = 1, 16, 64
//!     cargo bench -p switchyard --bench proxy_overhead -- --seconds 10 --concurrency 1,16,64,128
//!     cargo bench -p switchyard --bench proxy_overhead -- --soak 300   # 5-minute c=16 run, gateway RSS sampled
//!     cargo bench -p switchyard --bench proxy_overhead -- --tracing     # the same points with traces off, then on
//!
//! With `--tracing` the whole measurement runs twice in one process: a gateway with traces off, then one that
//! samples and exports every call's spans over OTLP/HTTP to an in-process collector that accepts and discards
//! them, so the difference is the cost of tracing on the proxy path.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use mock_provider::{MockConfig, MockServer};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    seconds: u64,
    rate: u64,
    concurrency: Vec<usize>,
    embedded: bool,
    soak: Option<u64>,
    tracing: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        seconds: 5,
        rate: 1000,
        concurrency: vec![1, 16, 64],
        embedded: false,
        soak: None,
        tracing: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                options.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds N")
            }
            "--concurrency" => {
                options.concurrency = args
                    .next()
                    .expect("--concurrency 1,16")
                    .split(',')
                    .map(|c| c.parse().expect("number"))
                    .collect();
            }
            "--embedded" => options.embedded = true,
            "--tracing" => options.tracing = true,
            "--rate" => {
                options.rate = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rate REQUESTS_PER_SECOND")
            }
            "--soak" => {
                options.soak = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--soak SECONDS"),
                )
            }
            // cargo bench passes --bench; ignore anything else.
            _ => {}
        }
    }
    options
}

fn main() {
    let options = parse_options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The mock provider gets its own runtime and threads, like a separate service would.
    let mock_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = mock_runtime.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        MockServer::start(
            listener,
            MockConfig {
                workers: 2,
                record_requests: false,
                ..MockConfig::default()
            },
        )
        .await
        .unwrap()
    });
    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if options.tracing {
        // A collector that accepts every export and keeps nothing, on the mock's runtime.
        let collector = mock_runtime.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let server = actix_web::HttpServer::new(|| {
                actix_web::App::new().default_service(actix_web::web::to(|| async {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .finish()
                }))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            tokio::spawn(server);
            url
        });
        for traced in [None, Some(collector.as_str())] {
            println!(
                "\n=== traces {} ===",
                if traced.is_some() {
                    "ON (every call sampled, exported over OTLP/HTTP)"
                } else {
                    "OFF"
                }
            );
            let gateway = Gateway::start(&mock, options.embedded, traced);
            load_runtime.block_on(run(&options, &mock, &gateway));
            drop(gateway);
        }
    } else {
        let gateway = Gateway::start(&mock, options.embedded, None);
        load_runtime.block_on(run(&options, &mock, &gateway));
        drop(gateway);
    }
    mock_runtime.block_on(mock.stop());
}

/// The gateway as a child process, with its own database.
struct Gateway {
    child: Child,
    base: String,
    key: String,
    /// The admin URL and the name of the benchmark's own database, dropped afterwards.
    database: Option<(String, String)>,
    data_dir: std::path::PathBuf,
}

impl Gateway {
    fn start(mock: &MockServer, embedded: bool, traces_to: Option<&str>) -> Self {
        let bin = env!("CARGO_BIN_EXE_switchyard");
        let data_dir =
            std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut envs = vec![
            ("SWITCHYARD_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            (
                "SWITCHYARD_DATA_DIR".to_owned(),
                data_dir.display().to_string(),
            ),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            // The mock upstream is on loopback, which the egress policy refuses unless the operator allows it.
            (
                "SWITCHYARD_EGRESS__ALLOWED_NETWORKS".to_owned(),
                "[\"127.0.0.1\"]".to_owned(),
            ),
        ];
        if let Some(collector) = traces_to {
            envs.push(("SWITCHYARD_TRACING__ENABLED".into(), "true".into()));
            envs.push(("SWITCHYARD_TRACING__ENDPOINT".into(), collector.to_owned()));
        }
        let mut database = None;
        if !embedded {
            let admin = std::env::var("SWITCHYARD_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("sy_bench_{}", std::process::id());
            psql(&admin, &format!("CREATE DATABASE \"{name}\""));
            let url = format!("{}/{name}", &admin[..admin.rfind('/').unwrap()]);
            envs.push(("SWITCHYARD_DATABASE_URL".into(), url));
            envs.push((
                "SWITCHYARD_REDIS_URL".into(),
                std::env::var("SWITCHYARD_TEST_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            ));
            envs.push(("SWITCHYARD_REDIS_PREFIX".into(), name.clone()));
            database = Some((admin, name));
        }
        let cli = |args: &[&str]| {
            let out = Command::new(bin)
                .args(args)
                .envs(envs.iter().cloned())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        cli(&[
            "providers",
            "add",
            "--name",
            "mock",
            "--base-url",
            &mock.base_url(),
        ]);
        cli(&[
            "models",
            "add",
            "--model",
            "bench",
            "--provider",
            "mock",
            "--upstream-model",
            "mock-gpt",
            "--input-price",
            "2.5",
            "--output-price",
            "10",
        ]);
        let key = cli(&["keys", "create", "--name", "bench"])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned();
        let child = Command::new(bin)
            .arg("serve")
            .envs(envs.iter().cloned())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let ready = readiness::blocking_ready(&base);
        assert!(ready, "gateway did not become ready");
        Self {
            child,
            base,
            key,
            database,
            data_dir,
        }
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if let Some((admin, name)) = &self.database {
            psql(
                admin,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-qc", sql])
        .stdout(Stdio::null())
        .status()
        .expect("psql is installed");
    assert!(status.success(), "psql {sql}");
}

/// Tiny synchronous readiness poll (std only, before the load runtime is busy).
mod readiness {
    pub fn blocking_ready(base: &str) -> bool {
        use std::io::{Read, Write};
        let addr = base.trim_start_matches("http://").to_owned();
        for _ in 0..300 {
            if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
                let _ = stream.write_all(
                    format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return true;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

struct Point {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// Runs `concurrency` clients for `seconds`; with `rate`, the clients together send that many requests per
/// second (open loop), otherwise each sends as fast as answers come back (closed loop).
async fn load(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    model: &str,
    concurrency: usize,
    seconds: u64,
    rate: Option<u64>,
) -> Point {
    let body = Arc::new(serde_json::to_vec(&serde_json::json!({
        "model": model,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Summarise the benefits of an AI gateway in one sentence."}],
        "max_tokens": 64,
    })).unwrap());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let client = client.clone();
            let url = url.to_owned();
            let key = key.map(str::to_owned);
            let body = Arc::clone(&body);
            let mut pacing = rate.map(|r| {
                let period = Duration::from_secs_f64(concurrency as f64 / r as f64);
                // Stagger the clients over one period so the rate is smooth, not bursts of `concurrency`.
                let first =
                    tokio::time::Instant::now() + period.mul_f64(i as f64 / concurrency as f64);
                let mut interval = tokio::time::interval_at(first, period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                interval
            });
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let mut errors = 0;
                while Instant::now() < deadline {
                    if let Some(interval) = &mut pacing {
                        interval.tick().await;
                    }
                    let started = Instant::now();
                    let mut request = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone());
                    if let Some(key) = &key {
                        request = request.bearer_auth(key);
                    }
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(started.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Point {
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(options: &Options, mock: &MockServer, gateway: &Gateway) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let direct_url = format!("{}/chat/completions", mock.base_url());
    let gateway_url = format!("{}/v1/chat/completions", gateway.base);
    // Warm both paths (connection pools, the gateway's key cache and tokenizer).
    load(&client, &direct_url, None, "mock-gpt", 4, 1, None).await;
    load(
        &client,
        &gateway_url,
        Some(&gateway.key),
        "bench",
        4,
        1,
        None,
    )
    .await;

    if let Some(seconds) = options.soak {
        soak(&client, &gateway_url, gateway, seconds).await;
        return;
    }
    println!(
        "\nSwitchyard proxy overhead — non-streaming chat completion, {} s per point, storage: {}",
        options.seconds,
        if options.embedded {
            "embedded SQLite"
        } else {
            "Postgres + Redis"
        }
    );
    println!("Closed loop:");
    print_header();
    for &concurrency in &options.concurrency {
        let direct = load(
            &client,
            &direct_url,
            None,
            "mock-gpt",
            concurrency,
            options.seconds,
            None,
        )
        .await;
        let through = load(
            &client,
            &gateway_url,
            Some(&gateway.key),
            "bench",
            concurrency,
            options.seconds,
            None,
        )
        .await;
        print_row(concurrency, &direct, &through);
    }
    println!("\nOpen loop at {} requests/s in total:", options.rate);
    print_header();
    for &concurrency in &options.concurrency {
        let direct = load(
            &client,
            &direct_url,
            None,
            "mock-gpt",
            concurrency,
            options.seconds,
            Some(options.rate),
        )
        .await;
        let through = load(
            &client,
            &gateway_url,
            Some(&gateway.key),
            "bench",
            concurrency,
            options.seconds,
            Some(options.rate),
        )
        .await;
        print_row(concurrency, &direct, &through);
    }
    println!(
        "gateway RSS after the run: {} MiB",
        gateway.rss_kib() / 1024
    );
}

fn print_header() {
    println!(
        "{:>5} | {:>10} {:>9} {:>9} | {:>10} {:>9} {:>9} | {:>10} {:>10} {:>8}",
        "conc",
        "direct rps",
        "p50 ms",
        "p99 ms",
        "gw rps",
        "p50 ms",
        "p99 ms",
        "+p50 ms",
        "+p99 ms",
        "rps ×"
    );
}

fn print_row(concurrency: usize, direct: &Point, through: &Point) {
    println!(
        "{:>5} | {:>10.0} {:>9.3} {:>9.3} | {:>10.0} {:>9.3} {:>9.3} | {:>10.3} {:>10.3} {:>8.2}{}",
        concurrency,
        direct.rps,
        ms(direct.p50),
        ms(direct.p99),
        through.rps,
        ms(through.p50),
        ms(through.p99),
        ms(through.p50) - ms(direct.p50),
        ms(through.p99) - ms(direct.p99),
        through.rps / direct.rps,
        if direct.errors + through.errors > 0 {
            format!("  ({} errors)", direct.errors + through.errors)
        } else {
            String::new()
        },
    );
}

async fn soak(client: &reqwest::Client, url: &str, gateway: &Gateway, seconds: u64) {
    println!("\nSoak: concurrency 16 for {seconds} s through the gateway; RSS sampled every 30 s");
    let start_rss = gateway.rss_kib();
    println!(
        "{:>6}  {:>10}  {:>9}  {:>9}",
        "t (s)", "rps", "p99 ms", "RSS MiB"
    );
    let mut elapsed = 0;
    while elapsed < seconds {
        let step = 30.min(seconds - elapsed);
        let point = load(client, url, Some(&gateway.key), "bench", 16, step, None).await;
        elapsed += step;
        println!(
            "{:>6}  {:>10.0}  {:>9.3}  {:>9.1}",
            elapsed,
            point.rps,
            ms(point.p99),
            gateway.rss_kib() as f64 / 1024.0
        );
    }
    println!(
        "RSS start {:.1} MiB, end {:.1} MiB",
        start_rss as f64 / 1024.0,
        gateway.rss_kib() as f64 / 1024.0
    );
}
