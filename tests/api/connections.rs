//! Slow and idle connections: a header read timeout closes them, and a cap on open
//! connections keeps a flood of them from exhausting the server.

use crate::common::{Backend, TestApp, spawn_app_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// A request line and one header, never the blank line that ends the head.
const UNFINISHED_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: roomgate\r\n";

async fn app_with(max_connections: usize) -> TestApp {
    spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.header_read_timeout = HEADER_TIMEOUT;
        c.security.max_connections = max_connections;
        c
    })
    .await
    .expect("sqlite")
}

/// Reads until the server closes the socket (or resets it); fails the test after `within`.
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the socket open for {within:?}"
    );
    received
}

async fn slow_socket(app: &TestApp) -> TcpStream {
    let mut socket = TcpStream::connect(app.addr).await.expect("connect");
    socket.write_all(UNFINISHED_HEAD).await.expect("write");
    socket
}

#[tokio::test]
async fn slow_silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let app = app_with(64).await;
    let started = Instant::now();

    // A head that never ends gets at most a 408, then the connection is closed.
    let mut slow = slow_socket(&app).await;
    let answer = read_until_closed(&mut slow, HEADER_TIMEOUT * 5).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(
        started.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(100),
        "closed only once the timeout ran out: {:?}",
        started.elapsed()
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    read_until_closed(&mut silent, HEADER_TIMEOUT * 5).await;

    // A kept-alive connection idle after its answer is closed too.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: roomgate\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut idle, HEADER_TIMEOUT * 5).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("connection: close"), "kept alive: {text}");
}

#[tokio::test]
async fn a_flood_of_slow_sockets_beyond_the_cap_does_not_stop_healthz() {
    const CAP: usize = 4;
    let app = app_with(CAP).await;
    // Three times the cap: without a cap and a timeout, each would hold a descriptor forever.
    let mut slow = Vec::new();
    for _ in 0..CAP * 3 {
        slow.push(slow_socket(&app).await);
    }
    let started = Instant::now();
    let health = tokio::time::timeout(
        // The queue ahead drains a cap's worth per header timeout.
        HEADER_TIMEOUT * 3 + Duration::from_secs(3),
        reqwest::Client::new().get(app.url("/healthz")).send(),
    )
    .await
    .expect("healthz answers within the bound")
    .expect("healthz");
    assert_eq!(health.status(), 200);
    let waited = started.elapsed();
    // Every slot was held by a slow socket, so healthz was served only once the first of
    // them had been closed by the timeout: the cap was honoured.
    assert!(
        waited >= HEADER_TIMEOUT - Duration::from_millis(250),
        "healthz was served at once ({waited:?}): more than {CAP} connections were open"
    );
    // Every slow socket ends up closed by the server, none served.
    for mut socket in slow {
        let answer = read_until_closed(&mut socket, HEADER_TIMEOUT * 5).await;
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    }
    // Once they are gone, answers are immediate again.
    let started = Instant::now();
    let health = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(
        started.elapsed() < HEADER_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    const PER_ADDRESS: usize = 3;
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        // Long enough that the slow sockets outlive the test's checks.
        c.security.header_read_timeout = Duration::from_secs(30);
        c.security.max_connections = 8;
        c.security.max_connections_per_address = PER_ADDRESS;
        c
    })
    .await
    .expect("sqlite");
    // One client (127.0.0.1) opens far more slow sockets than its share.
    let mut slow = Vec::new();
    for _ in 0..PER_ADDRESS {
        slow.push(slow_socket(&app).await);
    }
    // Past its share, a connection from that address is closed on arrival.
    let mut extra = slow_socket(&app).await;
    read_until_closed(&mut extra, Duration::from_secs(5)).await;
    // Another address (a health probe, another client) is served at once.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(5),
        other.get(app.url("/healthz")).send(),
    )
    .await
    .expect("healthz answers")
    .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(slow);
}
