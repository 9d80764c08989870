//! The broker's permissions (issue 13, item 4): the generated `deploy/nats/nats.conf`, run by
//! a real `nats-server`, gives each service a user that may publish only its own events,
//! consume only through its own durable consumers, and read replies only on its own inbox
//! prefix; anyone else is refused. Spoken to in the NATS client protocol itself, so the test
//! sees exactly what the server answers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ECOMMERCE, Scratch, required_under_ci, tool};

/// The passwords the server reads from its environment, one per service.
const PASSWORDS: [(&str, &str, &str); 4] = [
    ("users", "USERS_NATS_PASSWORD", "u-secret"),
    ("products", "PRODUCTS_NATS_PASSWORD", "p-secret"),
    ("orders", "ORDERS_NATS_PASSWORD", "o-secret"),
    ("payments", "PAYMENTS_NATS_PASSWORD", "pay-secret"),
];

#[test]
fn each_service_publishes_only_its_own_events_and_reads_only_its_own_replies() {
    let Some(nats) = required_under_ci(tool("nats-server"), "`nats-server` (scripts/tools.sh)") else {
        return;
    };
    let scratch = Scratch::generated(ECOMMERCE);
    let server = Server::start(&nats, &scratch.join("deploy/nats/nats.conf"), scratch.path());
    let password = |service: &str| PASSWORDS.iter().find(|(s, _, _)| *s == service).unwrap().2;

    // orders publishes its own event, and reads replies on its own inbox.
    let mut orders = server.session("orders", password("orders")).expect("orders is a user");
    assert_eq!(orders.publish("shop.orders.order_placed"), Ok(()));
    assert_eq!(orders.subscribe("_INBOX_orders.>"), Ok(()));
    // The stream API it needs to create the stream it publishes to.
    assert_eq!(orders.publish("$JS.API.STREAM.INFO.SHOP"), Ok(()));

    // payments may publish its event but not orders', and may not read orders' events
    // directly, nor the replies (acknowledgements, pulled messages) that go to orders.
    let mut payments = server
        .session("payments", password("payments"))
        .expect("payments is a user");
    assert_eq!(payments.publish("shop.payments.payment_completed"), Ok(()));
    for (refused, what) in [
        (
            payments.publish("shop.orders.order_placed"),
            "Publish to \"shop.orders.order_placed\"",
        ),
        (payments.subscribe("shop.orders.>"), "Subscription to \"shop.orders.>\""),
        (
            payments.subscribe("_INBOX_orders.>"),
            "Subscription to \"_INBOX_orders.>\"",
        ),
        (payments.subscribe("_INBOX.>"), "Subscription to \"_INBOX.>\""),
        // Only through its own durable consumer: not by pulling from orders' consumers.
        (
            payments.publish("$JS.API.CONSUMER.MSG.NEXT.SHOP.orders-payments-payment-completed"),
            "Publish to \"$JS.API.CONSUMER.MSG.NEXT.SHOP.orders-payments-payment-completed\"",
        ),
    ] {
        let error = refused.expect_err(what);
        assert!(
            error.contains("Permissions Violation") && error.contains(what),
            "{error}"
        );
    }
    assert_eq!(
        payments.publish("$JS.API.CONSUMER.MSG.NEXT.SHOP.payments-orders-order-placed"),
        Ok(()),
        "its own consumer"
    );

    // users consumes nothing and publishes nothing.
    let mut users = server.session("users", password("users")).expect("users is a user");
    let error = users
        .publish("shop.users.anything")
        .expect_err("users publishes no events");
    assert!(error.contains("Permissions Violation"), "{error}");

    // No user, a wrong password, or another service's password: refused outright.
    for (user, pass) in [("", ""), ("orders", "wrong"), ("orders", password("payments"))] {
        let error = server.session(user, pass).expect_err("refused");
        assert!(error.contains("Authorization Violation"), "{user}/{pass}: {error}");
    }
}

/// A `nats-server` on a free port with the generated configuration; stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl Server {
    fn start(nats: &Path, config: &Path, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let mut command = Command::new(nats);
        command
            .args([
                "-c",
                &config.to_string_lossy(),
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(store.path())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (_, variable, password) in PASSWORDS {
            command.env(variable, password);
        }
        let child = command.spawn().expect("nats-server starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _store: store,
        }
    }

    /// A connection as `user`, or the server's error when it refuses it.
    fn session(&self, user: &str, pass: &str) -> Result<Session, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut session = Session {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            sid: 0,
        };
        let info = session.line();
        assert!(info.starts_with("INFO "), "{info}");
        let connect = serde_json::json!({ "user": user, "pass": pass, "verbose": false, "pedantic": false });
        session.send(&format!("CONNECT {connect}\r\n"))?;
        Ok(session)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    sid: u32,
}

impl Session {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("the server answers");
        line.trim_end().to_owned()
    }

    /// Sends `text` then a PING: `Ok` when the server answers PONG with no error before it.
    fn send(&mut self, text: &str) -> Result<(), String> {
        self.writer.write_all(format!("{text}PING\r\n").as_bytes()).unwrap();
        loop {
            let line = self.line();
            if line == "PONG" {
                return Ok(());
            }
            if line.starts_with("-ERR") {
                // Drain to the PONG (if the connection stays open) so the next call starts clean.
                if !line.contains("Authorization Violation") {
                    while self.line() != "PONG" {}
                }
                return Err(line);
            }
            assert!(
                line.starts_with("INFO") || line.starts_with("PING"),
                "unexpected `{line}`"
            );
        }
    }

    fn publish(&mut self, subject: &str) -> Result<(), String> {
        self.send(&format!("PUB {subject} 2\r\nhi\r\n"))
    }

    fn subscribe(&mut self, subject: &str) -> Result<(), String> {
        self.sid += 1;
        self.send(&format!("SUB {subject} {}\r\n", self.sid))
    }
}
