//! The generated e-commerce system, running on this machine the way its own `./dev.sh` runs it:
//! nats-server with JetStream, the four services on SQLite and Envoy in front, plus an OTLP/HTTP
//! receiver (oteltap) for traces. Every request goes through the gateway, except counting
//! payments: payments is internal-only, which is itself checked.
//!
//! Then the failures microservices exist for: payments down while orders are placed, the broker
//! down while an event is published, a synchronous dependency down. Every process the test
//! starts, it stops (also when an assertion fails), and it checks that they are gone.
//!
//! The example has `[auth]`: requests carry tokens from `fleetwright dev token`, which the
//! gateway `./dev.sh` runs trusts; what they may do without one, or without the role, is
//! checked first.
//!
//! Needs `envoy` and `oteltap` (`FLEETWRIGHT_TOOLS`) and `nats-server`; scripts/tools.sh installs
//! them. Ports are the example's fixed ones (gateway 8080, services 8081-8084 and 50051-50054,
//! NATS 4222, OTLP 4318), so it runs alone on them.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Scratch, cargo, shell_command, tool};

const GATEWAY: &str = "http://127.0.0.1:8080";
/// payments has no route: its own port is the only way in.
const PAYMENTS_DIRECT: &str = "http://127.0.0.1:8084";
const OTLP_PORT: u16 = 4318;

#[test]
#[ignore = "builds and runs the generated e-commerce system (minutes); run by .ci/run"]
fn ecommerce_system_works_end_to_end_through_the_gateway() {
    let (Some(envoy), Some(oteltap), Some(nats)) = (tool("envoy"), tool("oteltap"), tool("nats-server")) else {
        return;
    };
    let scratch = Scratch::new();
    scratch.run(&["new", "shop", "--example", "ecommerce"]).assert_code(0);
    let scratch = scratch.sub("shop");
    cargo(scratch.path(), &["build", "--workspace"], &[]);

    let spans = Receiver::start(&oteltap);
    let system = System::up(scratch.path(), &envoy, &nats);
    let token = |args: &[&str]| {
        let mut all = vec!["dev", "token"];
        all.extend_from_slice(args);
        let run = scratch.run(&all);
        run.assert_code(0);
        run.stdout.trim().to_owned()
    };
    let customer = Http::with_token(&token(&["--sub", "ada"]));
    let anonymous = Http::new();
    // The rest of the test acts as an admin, who may do everything the example exposes.
    let http = Http::with_token(&token(&["--sub", "root", "--role", "admin"]));

    // Browsing products is public, managing them needs `admin`; orders need a caller.
    let (status, _) = anonymous.send("GET", &format!("{GATEWAY}/api/products"), None);
    assert_eq!(status, 200, "browsing products needs no token");
    let widget = json!({"sku": "SKU-0", "name": "Gadget", "description": null, "price_cents": 1, "tags": []});
    let (status, _) = anonymous.send("POST", &format!("{GATEWAY}/api/products"), Some(widget.clone()));
    assert_eq!(status, 401, "managing products without a token");
    let (status, _) = customer.send("POST", &format!("{GATEWAY}/api/products"), Some(widget));
    assert_eq!(status, 403, "managing products without the `admin` role");
    let (status, _) = anonymous.send("GET", &format!("{GATEWAY}/api/orders"), None);
    assert_eq!(status, 401, "orders need a caller");
    let (status, body) = customer.send("GET", &format!("{GATEWAY}/api/orders"), None);
    assert_eq!(status, 200, "{body}");

    // The happy path: a customer, a product, an order, and the two events that make it paid.
    let user = http.create(
        "/api/users",
        json!({"email": "ada@example.com", "display_name": "Ada", "marketing_opt_in": false}),
    );
    let product = http.create(
        "/api/products",
        json!({"sku": "SKU-1", "name": "Widget", "description": null, "price_cents": 1250, "tags": []}),
    );
    customers_reach_only_their_own_orders(&token, &http, &product);
    let first = place_order(&http, &user, &product, 2);
    assert_eq!(
        first.total_cents, 2500,
        "the line's price comes from the catalogue: 2 x 1250"
    );
    first.wait_until_paid(&http, Duration::from_mins(1));
    assert_eq!(payments_of(&http, &first.id), 1);
    cancelling_goes_through_the_operation(&http, &user, &first);

    // An internal service is not reachable through the gateway, though it runs.
    let (status, _) = http.send("GET", &format!("{GATEWAY}/payments"), None);
    assert_eq!(status, 404, "payments has no route, so the gateway must not reach it");
    let (status, _) = http.send("GET", &format!("{PAYMENTS_DIRECT}/payments"), None);
    assert_eq!(status, 200);
    services_prove_their_callers_themselves(&anonymous, &customer);

    // payments is down: the order is still accepted, and is paid once payments is back,
    // with exactly one payment.
    system.stop("payments");
    let second = place_order(&http, &user, &product, 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(second.status(&http), "pending", "nobody can pay while payments is down");
    system.start("payments");
    second.wait_until_paid(&http, Duration::from_mins(1));
    assert_eq!(
        payments_of(&http, &second.id),
        1,
        "a redelivered event must not pay twice"
    );

    // The broker is down: placing an order still succeeds (the event waits in the outbox),
    // and the event is published and handled once the broker is back.
    system.stop("nats");
    let third = place_order(&http, &user, &product, 3);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(third.status(&http), "pending");
    system.start("nats");
    third.wait_until_paid(&http, Duration::from_secs(100));
    assert_eq!(payments_of(&http, &third.id), 1);

    // A synchronous dependency is down: adding a line (which reads the price from products)
    // fails fast with a clear error instead of hanging.
    system.stop("products");
    let draft = http.create("/api/orders", order_body(&user));
    let started = Instant::now();
    let (status, body) = http.send(
        "POST",
        &format!("{GATEWAY}/api/orders/order-lines"),
        Some(line_body(&draft, &product, 1)),
    );
    let waited = started.elapsed();
    assert_eq!(
        status, 503,
        "products down must be 503 Service Unavailable, got {status}: {body}"
    );
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("products"),
        "the error must name the dependency: {body}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "failing took {waited:?}: it must fail fast"
    );
    system.start("products");

    // One order's trace: the gateway's span, orders' spans and products' spans under one id.
    let trace = spans.trace_of_request("/api/orders/order-lines", Duration::from_secs(30));
    assert_trace_crosses_services(&trace);

    let pids = system.pids();
    drop(system);
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived `./dev.sh down`");
    }
}

/// An order placed through the gateway: a draft, one line, then `place_order` makes it `pending`.
struct Order {
    id: String,
    total_cents: i64,
}

impl Order {
    fn status(&self, http: &Http) -> String {
        let (status, body) = http.send("GET", &format!("{GATEWAY}/api/orders/{}", self.id), None);
        assert_eq!(status, 200, "{body}");
        body["status"].as_str().expect("status is a string").to_owned()
    }

    fn wait_until_paid(&self, http: &Http, limit: Duration) {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            last = self.status(http);
            if last == "paid" {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("order {} is still `{last}` after {limit:?}", self.id);
    }
}

/// A paid order cannot be cancelled; a draft can, through the `cancel_order` operation, and a
/// cancelled order is never placed.
fn cancelling_goes_through_the_operation(http: &Http, user: &Value, paid: &Order) {
    let (status, refused) = http.send("POST", &format!("{GATEWAY}/api/orders/{}/cancel", paid.id), None);
    assert_eq!((status, &refused["code"]), (409, &json!("conflict")), "{refused}");
    let draft = http.create("/api/orders", order_body(user));
    let draft_id = draft["id"].as_str().expect("order id");
    let (status, cancelled) = http.send("POST", &format!("{GATEWAY}/api/orders/{draft_id}/cancel"), None);
    assert_eq!(
        (status, &cancelled["status"]),
        (200, &json!("cancelled")),
        "{cancelled}"
    );
    let (status, placed) = http.send("POST", &format!("{GATEWAY}/api/orders/{draft_id}/place"), None);
    assert_eq!(status, 409, "a cancelled order is not placed: {placed}");
}

/// Issue 13: a service reached without the gateway proves its caller all the same: it verifies
/// the token itself, so a request without one is refused there too, and a valid one works.
fn services_prove_their_callers_themselves(anonymous: &Http, customer: &Http) {
    let (status, _) = anonymous.send("GET", &format!("{PAYMENTS_DIRECT}/payments"), None);
    assert_eq!(status, 401, "payments called directly without a token");
    let (status, _) = anonymous.send("GET", "http://127.0.0.1:8083/api/orders", None);
    assert_eq!(status, 401, "orders called directly without a token");
    let (status, body) = customer.send("GET", "http://127.0.0.1:8083/api/orders", None);
    assert_eq!(status, 200, "the same token works directly: {body}");
}

/// Issue 13: an order belongs to its customer (`owner = "customer_id"`). A customer orders for
/// themself (no admin needed: orders passes their token to products, whose catalogue is
/// public), reads the order and its lines, and cannot order for someone else; another customer
/// finds neither the order nor its lines (404) and lists none of them; an admin reaches both.
fn customers_reach_only_their_own_orders(token: &dyn Fn(&[&str]) -> String, admin: &Http, product: &Value) {
    let ada_id = "0190a6c4-0000-7000-8000-00000000ada0";
    let ada = Http::with_token(&token(&["--sub", ada_id]));
    let eve = Http::with_token(&token(&["--sub", "0190a6c4-0000-7000-8000-000000000e7e"]));
    let order = ada.create("/api/orders", json!({"customer_id": ada_id, "note": null}));
    let line = ada.create("/api/orders/order-lines", line_body(&order, product, 1));
    let (order_url, line_url) = (
        format!("{GATEWAY}/api/orders/{}", order["id"].as_str().expect("order id")),
        format!(
            "{GATEWAY}/api/orders/order-lines/{}",
            line["id"].as_str().expect("line id")
        ),
    );
    let (status, body) = ada.send("GET", &format!("{order_url}/lines"), None);
    assert_eq!(
        (status, &body["items"]),
        (200, &json!([line])),
        "ada reads her order's lines"
    );
    let someone_else = json!({"customer_id": "0190a6c4-0000-7000-8000-000000000e7e", "note": null});
    let (status, body) = ada.send("POST", &format!("{GATEWAY}/api/orders"), Some(someone_else));
    assert_eq!(status, 403, "ada orders for eve: {body}");

    for url in [&order_url, &line_url, &format!("{order_url}/lines")] {
        let (status, body) = eve.send("GET", url, None);
        assert_eq!(status, 404, "eve reads {url}: {body}");
        let (status, body) = admin.send("GET", url, None);
        assert_eq!(status, 200, "an admin reads {url}: {body}");
    }
    let (status, body) = eve.send("GET", &format!("{GATEWAY}/api/orders"), None);
    assert_eq!(
        (status, &body["items"]),
        (200, &json!([])),
        "eve lists none of ada's orders"
    );
    let (status, body) = eve.send("GET", &format!("{GATEWAY}/api/orders/order-lines"), None);
    assert_eq!(status, 422, "eve lists lines without naming one of her orders: {body}");
    let (status, body) = eve.send("POST", &format!("{order_url}/place"), None);
    assert_eq!(status, 404, "eve places ada's order: {body}");
}

/// A new order: the client names the customer; the state, total and time placed are the
/// server's.
fn order_body(user: &Value) -> Value {
    json!({"customer_id": user["id"], "note": null})
}

fn line_body(order: &Value, product: &Value, quantity: i32) -> Value {
    json!({"order_id": order["id"], "product_id": product["id"], "quantity": quantity, "unit_price_cents": 0})
}

fn place_order(http: &Http, user: &Value, product: &Value, quantity: i32) -> Order {
    let draft = http.create("/api/orders", order_body(user));
    assert_eq!(draft["status"], "draft", "{draft}");
    let line = http.create("/api/orders/order-lines", line_body(&draft, product, quantity));
    assert_eq!(line["unit_price_cents"], product["price_cents"], "{line}");
    let id = draft["id"].as_str().expect("order id").to_owned();
    // Its lines, listed under it through the gateway (issue 12: queries).
    let (status, lines) = http.send("GET", &format!("{GATEWAY}/api/orders/{id}/lines"), None);
    assert_eq!(status, 200, "{lines}");
    assert_eq!(lines["items"], json!([line]), "the order's one line");
    // Placing is an operation of orders, not a replace of the whole order.
    let (status, placed) = http.send("POST", &format!("{GATEWAY}/api/orders/{id}/place"), None);
    assert_eq!(status, 200, "placing the order: {placed}");
    assert_eq!(placed["status"], "pending", "{placed}");
    assert!(placed["placed_at"].is_string(), "{placed}");
    Order {
        id,
        total_cents: placed["total_cents"].as_i64().expect("total"),
    }
}

/// How many payments payments recorded for an order, over every page.
fn payments_of(http: &Http, order_id: &str) -> usize {
    let mut count = 0;
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(token) => format!("{PAYMENTS_DIRECT}/payments?page_size=1000&page_token={token}"),
            None => format!("{PAYMENTS_DIRECT}/payments?page_size=1000"),
        };
        let (status, page) = http.send("GET", &url, None);
        assert_eq!(status, 200, "{page}");
        count += page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|payment| payment["order_id"] == order_id)
            .count();
        match page["next_page_token"].as_str() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return count,
        }
    }
}

/// Spans of one trace must come from the gateway (Envoy), orders and products.
fn assert_trace_crosses_services(trace: &[Value]) {
    let names: Vec<String> = trace
        .iter()
        .map(|span| format!("{} (kind {})", span["name"].as_str().unwrap_or("?"), span["kind"]))
        .collect();
    let gateway = trace
        .iter()
        .any(|span| attribute(span, "component").as_deref() == Some("proxy"));
    // orders answers the REST request (a server span), then calls products over gRPC: a client
    // span in orders and a server span in products, both naming the RPC.
    let mentions = |span: &Value, text: &str| span.to_string().contains(text);
    let orders_server = trace
        .iter()
        .any(|span| span["kind"] == 2 && !mentions(span, "\"proxy\"") && mentions(span, "order-lines"));
    let call = |kind: i64| {
        trace
            .iter()
            .any(|span| span["kind"] == kind && mentions(span, "GetProduct"))
    };
    assert!(gateway, "no gateway span in the trace: {names:?}");
    assert!(orders_server, "no span of orders serving the request: {names:?}");
    assert!(call(3), "no client span of orders calling products: {names:?}");
    assert!(call(2), "no server span of products answering the call: {names:?}");
}

fn attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|attribute| attribute["key"] == key)
        .and_then(|attribute| attribute["value"]["stringValue"].as_str())
        .map(str::to_owned)
}

/// A small JSON-over-HTTP client that returns every status as a value.
struct Http {
    agent: ureq::Agent,
    /// `Authorization` for every request, if any.
    authorization: Option<String>,
}

impl Http {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            agent,
            authorization: None,
        }
    }

    /// A client that sends `token` as its bearer token.
    fn with_token(token: &str) -> Self {
        Self {
            authorization: Some(format!("Bearer {token}")),
            ..Self::new()
        }
    }

    /// Sends a request; returns the status and the body as JSON (`Value::Null` when empty).
    fn send(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        let auth = self.authorization.as_deref().unwrap_or_default();
        let result = match (method, body) {
            ("GET", None) if auth.is_empty() => self.agent.get(url).call(),
            ("GET", None) => self.agent.get(url).header("authorization", auth).call(),
            ("POST", Some(body)) if auth.is_empty() => self.agent.post(url).send_json(body),
            ("POST", Some(body)) => self.agent.post(url).header("authorization", auth).send_json(body),
            ("POST", None) => self.agent.post(url).header("authorization", auth).send_empty(),
            ("PUT", Some(body)) => self.agent.put(url).header("authorization", auth).send_json(body),
            other => unreachable!("no such request in this test: {other:?}"),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// A POST through the gateway that must answer 201 Created; returns the body.
    fn create(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.send("POST", &format!("{GATEWAY}{path}"), Some(body));
        assert_eq!(status, 201, "POST {path}: {value}");
        value
    }
}

/// The system started by the workspace's own `./dev.sh`; `Drop` stops it.
struct System {
    root: PathBuf,
    envoy: PathBuf,
    nats: PathBuf,
}

impl System {
    fn up(root: &Path, envoy: &Path, nats: &Path) -> Self {
        let system = Self {
            root: root.to_owned(),
            envoy: envoy.to_owned(),
            nats: nats.to_owned(),
        };
        system.dev(&["up"]);
        system
    }

    fn dev(&self, args: &[&str]) {
        let output = self.command(args).output().expect("dev.sh runs");
        assert!(
            output.status.success(),
            "./dev.sh {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = shell_command(self.root.join("dev.sh"));
        command
            .args(args)
            .current_dir(&self.root)
            .env("DEV_NO_BUILD", "1")
            .env("ENVOY", &self.envoy)
            .env("NATS_SERVER", &self.nats)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{OTLP_PORT}"));
        command
    }

    fn start(&self, name: &str) {
        self.dev(&["start", name]);
    }

    fn stop(&self, name: &str) {
        self.dev(&["stop", name]);
    }

    /// The pids of everything that runs now.
    fn pids(&self) -> Vec<u32> {
        let dir = self.root.join(".dev/pids");
        std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
                    .filter_map(|pid| pid.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // Also on a failed assertion: never leave processes behind.
        let _ = self.command(&["down"]).stdout(Stdio::null()).status();
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.contains(") Z "))
}

/// oteltap on the OTLP/HTTP port, its spans (NDJSON on stdout) collected by a thread.
struct Receiver {
    child: Child,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(oteltap: &Path) -> Self {
        let mut child = Command::new(oteltap)
            .args(["--port", &OTLP_PORT.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("oteltap starts");
        let stdout = child.stdout.take().expect("piped");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&spans);
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Listening") {
                    let _ = ready.send(());
                } else if let Ok(span) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("not poisoned").push(span);
                }
            }
        });
        listening
            .recv_timeout(Duration::from_secs(30))
            .expect("oteltap listens within 30 s");
        Self { child, spans }
    }

    /// Every span of the trace whose gateway span served `path`, once it holds spans from
    /// more than the gateway (services export in batches, so wait for them).
    fn trace_of_request(&self, path: &str, limit: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans = self.spans.lock().expect("not poisoned").clone();
            let trace_ids: Vec<&Value> = spans
                .iter()
                .filter(|span| attribute(span, "http.url").is_some_and(|url| url.ends_with(path)))
                .map(|span| &span["traceId"])
                .collect();
            let best = trace_ids
                .iter()
                .map(|id| {
                    spans
                        .iter()
                        .filter(|span| &&span["traceId"] == id)
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .max_by_key(Vec::len);
            match best {
                Some(trace) if trace.len() >= 4 || started.elapsed() > limit => return trace,
                None if started.elapsed() > limit => panic!("no span of the gateway for {path} arrived"),
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
