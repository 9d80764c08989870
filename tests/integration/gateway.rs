//! The gateway's `[auth]` and edge limits through the real Envoy (issue 13): the config
//! `./dev.sh` runs (`gateway/envoy.local.yaml`), generated from a manifest with `[auth]`, in
//! front of small upstreams that answer every request with the headers they received. Tokens
//! come from `fleetwright dev token` and, for the ones the gateway must refuse, from the same
//! development key with one thing wrong. Also: which gateways trust the development key.
//!
//! Needs `envoy` (`FLEETWRIGHT_TOOLS`, scripts/tools.sh); skipped with a note without it.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::{Scratch, tool};

const ISSUER: &str = "https://id.example.com/realms/shop";
const AUDIENCE: &str = "shop-api";
/// Requests per second per route: low, so the limit is reached quickly.
const RATE_LIMIT: usize = 20;

fn manifest(ports: &Ports) -> String {
    format!(
        r#"version = 1

[project]
name = "shop"

[gateway]
port = {gateway}
admin_port = {admin}
rate_limit = {RATE_LIMIT}

[auth]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}", "shop-admin"]
jwks_uri = "https://id.example.com/realms/shop/certs"

[messaging]
broker = "none"

[services.products]
route = "/api/products"
database = "sqlite"
ports = {{ http = {products}, grpc = {products_grpc} }}

[services.products.access]
read = "public"
default = "role:admin"

[services.products.entities.Product]
name = "string"

[services.orders]
route = "/api/orders"
database = "sqlite"
ports = {{ http = {orders}, grpc = {orders_grpc} }}
# Its own rate limit, over the gateway's.
rate_limit = 100000

[services.orders.access]
default = "authenticated"
delete = ["role:admin", "scope:orders:purge"]

[services.orders.access.entities.Order]
update = "internal"

[services.orders.entities.Order]
note = "string"
"#,
        gateway = ports.gateway,
        admin = ports.admin,
        products = ports.products,
        products_grpc = ports.products_grpc,
        orders = ports.orders,
        orders_grpc = ports.orders_grpc,
    )
}

struct Ports {
    gateway: u16,
    admin: u16,
    products: u16,
    products_grpc: u16,
    orders: u16,
    orders_grpc: u16,
}

/// A free loopback port (the metrics listener takes the admin port + 1: ask for a pair).
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 65_000 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[test]
fn auth_and_edge_limits_hold_through_the_real_gateway() {
    let Some(envoy) = tool("envoy") else { return };
    let products = Upstream::start();
    let orders = Upstream::start();
    let ports = Ports {
        gateway: free_port(),
        admin: free_port(),
        products: products.port,
        products_grpc: free_port(),
        orders: orders.port,
        orders_grpc: free_port(),
    };
    let scratch = Scratch::generated(&manifest(&ports));
    let gateway = Gateway::start(&envoy, &scratch.join("gateway/envoy.local.yaml"), &ports);
    let at = |path: &str| format!("http://127.0.0.1:{}{path}", ports.gateway);
    bad_tokens_are_refused(&at, &orders);
    identity_and_policies(&at, &scratch, &orders);
    edge_limits(&at, &scratch);
    drop(gateway);
}

/// Public routes take no token; a missing or bad one is 401 before any service is reached.
fn bad_tokens_are_refused(at: &dyn Fn(&str) -> String, orders: &Upstream) {
    let (status, seen) = send("GET", &at("/api/products"), &[]);
    assert_eq!(status, 200, "browsing is public: {seen}");
    assert_eq!(seen[":path"], "/api/products", "the upstream answered: {seen}");

    // No token, or a bad one: 401 before any service is reached.
    let now = now();
    let good = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bob", "iat": now, "nbf": now, "exp": now + 600});
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        fleetwright::devkey::sign(&claims)
    };
    let broken_signature = {
        let token = fleetwright::devkey::sign(&good);
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &signature[1..])
    };
    let unsigned = {
        let token = fleetwright::devkey::sign_with_header(&json!({"alg": "none", "typ": "JWT"}), &good);
        let (rest, _) = token.rsplit_once('.').unwrap();
        format!("{rest}.")
    };
    let refused = [
        ("no token", None),
        ("expired", Some(with(&|c| c["exp"] = json!(now - 120)))),
        ("not yet valid", Some(with(&|c| c["nbf"] = json!(now + 600)))),
        (
            "without expiry",
            Some(with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        (
            "wrong issuer",
            Some(with(&|c| c["iss"] = json!("https://evil.example.com"))),
        ),
        ("wrong audience", Some(with(&|c| c["aud"] = json!("another-api")))),
        ("broken signature", Some(broken_signature)),
        ("alg none", Some(unsigned)),
        ("not a token", Some("garbage".to_owned())),
    ];
    let before = orders.requests();
    for (what, token) in &refused {
        let headers: Vec<(&str, String)> = token.iter().map(|t| ("authorization", format!("Bearer {t}"))).collect();
        let (status, body) = send("GET", &at("/api/orders"), &headers);
        assert_eq!(status, 401, "{what}: {body}");
        // A bad token is refused on a public route too: it is checked when sent.
        if token.is_some() {
            let (status, _) = send("GET", &at("/api/products"), &headers);
            assert_eq!(status, 401, "{what} on a public route");
        }
    }
    assert_eq!(orders.requests(), before, "a refused request reached the service");
}

/// A valid token passes with the verified identity and nothing the client claimed; roles
/// and scopes are checked per route.
fn identity_and_policies(at: &dyn Fn(&str) -> String, scratch: &Scratch, orders: &Upstream) {
    // A valid token: through, with the verified identity, and nothing the client claimed.
    let bob = dev_token(scratch, &["--sub", "bob"]);
    let spoofed = [
        ("authorization", format!("Bearer {bob}")),
        ("x-fleet-subject", "mallory".to_owned()),
        ("x-fleet-claims", "eyJzdWIiOiJtYWxsb3J5In0".to_owned()),
    ];
    let (status, seen) = send("GET", &at("/api/orders"), &spoofed);
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["x-fleet-subject"], "bob", "{seen}");
    let claims = decode(seen["x-fleet-claims"].as_str().expect("the verified payload"));
    assert_eq!(claims["sub"], "bob");
    let (status, seen) = send("GET", &at("/api/products/1"), &spoofed[1..]);
    assert_eq!(status, 200);
    assert!(
        seen.get("x-fleet-subject").is_none() && seen.get("x-fleet-claims").is_none(),
        "identity headers from outside must be stripped: {seen}"
    );
    // The second audience is accepted too.
    let admin_audience = dev_token(scratch, &["--sub", "carol", "--aud", "shop-admin"]);
    let (status, _) = send(
        "GET",
        &at("/api/orders"),
        &[("authorization", format!("Bearer {admin_audience}"))],
    );
    assert_eq!(status, 200);

    // Roles and scopes: 403 without them, through with one of them.
    let bearer = |token: &str| [("authorization", format!("Bearer {token}"))];
    let (status, _) = send("POST", &at("/api/products"), &bearer(&bob));
    assert_eq!(status, 403, "managing products needs `admin`");
    let (status, _) = send("DELETE", &at("/api/orders/1"), &bearer(&bob));
    assert_eq!(status, 403);
    let alice = dev_token(scratch, &["--sub", "alice", "--role", "admin"]);
    let (status, seen) = send("POST", &at("/api/products"), &bearer(&alice));
    assert_eq!((status, &seen["x-fleet-subject"]), (200, &json!("alice")), "{seen}");
    let purger = dev_token(scratch, &["--sub", "dave", "--scope", "openid orders:purge"]);
    let (status, _) = send("DELETE", &at("/api/orders/1"), &bearer(&purger));
    assert_eq!(status, 200, "a scope in the list admits");
    let near_miss = dev_token(scratch, &["--sub", "dave", "--scope", "orders:purge-all"]);
    let (status, _) = send("DELETE", &at("/api/orders/1"), &bearer(&near_miss));
    assert_eq!(status, 403, "a scope matches whole");
    // An entity's own policy over the service's: nobody updates orders through the gateway.
    let (status, _) = send("PUT", &at("/api/orders/1"), &bearer(&alice));
    assert_eq!(status, 403, "`internal` closes the action to every caller");
    let (status, _) = send("PUT", &at("/api/orders/1"), &[]);
    assert_eq!(status, 403);

    // gRPC is not routed: `access` declares no `grpc`.
    let (status, _) = send("POST", &at("/shop.orders.v1.OrdersService/ListOrders"), &bearer(&alice));
    assert_ne!(status, 200);
    assert_eq!(orders.requests_to("/shop.orders.v1"), 0);
    let (status, _) = send("GET", &at("/api/payments"), &bearer(&alice));
    assert_eq!(status, 404, "a path no route matches");
}

/// Header names, escaped slashes, `..`, body size and the rate limit.
fn edge_limits(at: &dyn Fn(&str) -> String, scratch: &Scratch) {
    let alice = dev_token(scratch, &["--sub", "alice", "--role", "admin"]);
    let bearer = |token: &str| [("authorization", format!("Bearer {token}"))];
    // Edge hardening: underscores in header names, escaped slashes, paths that climb out.
    let (status, _) = send("GET", &at("/api/products"), &[("x_user", "x".to_owned())]);
    assert_eq!(status, 400, "a header name with an underscore is refused");
    let (status, _) = send("GET", &at("/api/products/..%2F..%2Fapi%2Forders"), &[]);
    assert_eq!(status, 400, "escaped slashes are refused");
    let (status, seen) = send("GET", &at("/api/products/../orders"), &[]);
    assert_eq!(
        status, 401,
        "`..` is resolved before routing, onto orders' policy: {seen}"
    );
    let (status, _) = send_body(
        "POST",
        &at("/api/products"),
        &bearer(&alice),
        &vec![b'x'; 2 * 1_048_576],
    );
    assert_eq!(status, 413, "a body over max_request_bytes is refused");

    // The rate limit: past RATE_LIMIT requests in a second on one route, 429. Sent from a few
    // threads at once; on a slow machine the burst spans refills, which the bound allows.
    let url = at("/api/products/7");
    let started = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    (0..RATE_LIMIT / 2)
                        .map(|_| send("GET", &url, &[]).0)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.contains(&429), "no 429 past the limit: {statuses:?}");
    // One bucket of RATE_LIMIT, refilled each second the burst lasted.
    let seconds = usize::try_from(started.elapsed().as_secs()).unwrap() + 1;
    assert!(
        passed >= RATE_LIMIT && passed <= RATE_LIMIT * (seconds + 1),
        "{passed} passed in {seconds} s: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");

    // orders sets a rate limit of its own, far above the gateway's: the same burst passes.
    let url = at("/api/orders/7");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    (0..RATE_LIMIT / 2)
                        .map(|_| send("GET", &url, &bearer(&alice)).0)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(!statuses.contains(&429), "orders' own limit applies: {statuses:?}");
}

/// The development key is trusted by the development gateways only: the Kubernetes base,
/// which the prod overlay deploys, fetches `jwks_uri` and holds no development key.
#[test]
fn only_development_gateways_trust_the_development_key() {
    let scratch = Scratch::new();
    scratch.run(&["new", "shop", "--example", "ecommerce"]).assert_code(0);
    let shop = scratch.sub("shop");
    let set: Value = serde_json::from_str(&fleetwright::devkey::jwks()).unwrap();
    let dev_key = set["keys"][0]["x"].as_str().unwrap().to_owned();
    for dev in [
        "gateway/envoy.local.yaml",
        "gateway/envoy.yaml",
        "deploy/k8s/overlays/dev/envoy.yaml",
    ] {
        let text = shop.read(dev);
        assert!(text.contains(&dev_key) && !text.contains("remote_jwks"), "{dev}");
    }
    let prod = shop.read("deploy/k8s/base/gateway/envoy.yaml");
    assert!(
        !prod.contains(&dev_key),
        "the production gateway must never trust the development key"
    );
    assert!(!prod.contains("local_jwks") && prod.contains("remote_jwks"));
    assert!(prod.contains("https://id.shop.example.com/realms/shop/protocol/openid-connect/certs"));
    let prod_overlay = shop.read("deploy/k8s/overlays/prod/kustomization.yaml");
    assert!(!prod_overlay.contains("envoy.yaml") && !prod_overlay.contains("../dev"));
    assert!(
        shop.read("deploy/k8s/overlays/dev/kustomization.yaml")
            .contains("behavior: replace")
    );
    // Tokens say which key they are signed with.
    let token = shop.run(&["dev", "token", "--sub", "alice", "--role", "admin"]);
    token.assert_code(0);
    let header = decode(token.stdout.trim().split('.').next().unwrap());
    assert_eq!(header["kid"], fleetwright::devkey::KEY_ID);
}

#[test]
fn dev_token_needs_auth_in_the_manifest() {
    let scratch = Scratch::new();
    scratch.run(&["new", "hello", "--example", "minimal"]).assert_code(0);
    let run = scratch.sub("hello").run(&["dev", "token", "--sub", "alice"]);
    run.assert_code(2).assert_stderr_contains("no `[auth]`");
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn dev_token(scratch: &Scratch, args: &[&str]) -> String {
    let mut all = vec!["dev", "token"];
    all.extend_from_slice(args);
    let run = scratch.run(&all);
    run.assert_code(0);
    run.stdout.trim().to_owned()
}

fn decode(base64url: &str) -> Value {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(base64url.trim_end_matches('='))
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn send(method: &str, url: &str, headers: &[(&str, String)]) -> (u16, Value) {
    send_body(method, url, headers, &[])
}

/// One request over a new connection (raw HTTP/1.1, so nothing rewrites the path); the
/// status and the body as JSON (`Value::Null` when not JSON).
fn send_body(method: &str, url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    let _ = write!(request, "content-length: {}\r\n\r\n", body.len());
    stream.write_all(request.as_bytes()).unwrap();
    // Envoy may answer 413 before the whole body is sent, and close.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: no response: {text}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A loopback HTTP server that answers every request 200 with the request's headers (and
/// `:path`, `:method`) as JSON, and counts what it served.
struct Upstream {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Upstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Self { port, seen }
    }

    /// Requests served other than health checks.
    fn requests(&self) -> usize {
        self.seen.lock().unwrap().iter().filter(|p| *p != "/readyz").count()
    }

    fn requests_to(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }
}

/// Serves one keep-alive connection.
fn serve(stream: TcpStream, log: &std::sync::Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = serde_json::Map::new();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.insert(name, json!(value.trim()));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        headers.insert(":path".into(), json!(path));
        headers.insert(":method".into(), json!(method));
        log.lock().unwrap().push(path);
        let text = Value::Object(headers).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Envoy on the generated config; `Drop` stops it.
struct Gateway {
    child: Child,
}

impl Gateway {
    fn start(envoy: &Path, config: &Path, ports: &Ports) -> Self {
        let child = Command::new(envoy)
            .args([
                "-c",
                config.to_str().unwrap(),
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ])
            .arg("--base-id")
            .arg(ports.admin.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("envoy starts");
        let gateway = Self { child };
        let started = Instant::now();
        let mut last = None;
        // Ready, with both upstreams healthy (their first health check passed).
        while started.elapsed() < Duration::from_secs(20) {
            let stats = TcpStream::connect(("127.0.0.1", ports.admin)).ok().and_then(|mut s| {
                s.write_all(b"GET /clusters HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n")
                    .ok()?;
                let mut text = String::new();
                s.read_to_string(&mut text).ok()?;
                Some(text)
            });
            let healthy = |s: &String| {
                s.lines()
                    .filter(|l| l.contains("_http::") && l.ends_with("::health_flags::healthy"))
                    .count()
            };
            if stats.as_ref().is_some_and(|s| healthy(s) == 2) {
                return gateway;
            }
            last = stats;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("envoy did not get ready with healthy upstreams in 20 s: {last:?}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
