//! Slow clients cannot hold the server: with a few hundred connections
//! that send half a request and wait, on a process allowed 256 open files
//! (macOS's default), `/healthz` is still answered, no accept fails for
//! want of file descriptors, every half-open connection is closed after
//! the header read timeout, and SIGTERM still stops the server cleanly.
//! Before `[http]` limits, the half-open connections stayed open forever
//! and took every file descriptor ("Too many open files").

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, free_port};

/// Half-sent requests opened at once: more than the 256 files the server may open.
const ATTACKERS: usize = 300;

/// Opens a connection and sends the first half of a request head.
fn half_request(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    s
}

/// Whether the server closed `s` (end of stream or reset) by `deadline`.
fn closed_by_server(mut s: &TcpStream, deadline: Instant) -> bool {
    let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or 400 before closing is fine too.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[cfg(unix)]
#[test]
fn half_sent_requests_do_not_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let demo = include_str!("../../../config/demo.toml");
    std::fs::write(
        dir.path().join("nuvola.toml"),
        format!("{demo}\n[http]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 2\n"),
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec '{BIN}' serve --config nuvola.toml --data-dir data --listen {addr}"))
        .current_dir(dir.path())
        .env("NUVOLA_LOG", "info")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, url: format!("http://{addr}"), log };
    let healthz = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthz.get(format!("{}/healthz", server.url)).send().is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the server did not start:\n{}", server.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The default connection limit follows the lowered limit of open files.
    let plain = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(&server.log_text(), "").into_owned();
    assert!(plain.contains("max_connections=128"), "{plain}");

    let attackers: Vec<TcpStream> = (0..ATTACKERS).map(|_| half_request(&addr)).collect();
    // On a new connection, not one kept alive from before.
    let fresh = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let answer = fresh.get(format!("{}/healthz", server.url)).send();
    assert!(
        answer.as_ref().is_ok_and(|r| r.status().is_success()),
        "/healthz was not answered while {ATTACKERS} half-sent requests were open: {answer:?}\n{}",
        server.log_text()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let open = attackers.iter().filter(|s| !closed_by_server(s, deadline)).count();
    assert_eq!(open, 0, "half-open connections still open after the header read timeout");
    let log = server.log_text();
    assert!(!log.contains("Too many open files") && !log.contains("cannot accept"), "{log}");

    // A whole head and a body that stalls: answered or closed, not held.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"POST /login/password HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=demo&")
        .unwrap();
    assert!(
        closed_by_server(&stalled, Instant::now() + Duration::from_secs(60)),
        "a stalled body holds its connection"
    );

    // Shutting down with half-sent requests open: they are cut off, and the server stops.
    let _attackers: Vec<TcpStream> = (0..50).map(|_| half_request(&addr)).collect();
    let status = server_terminate_within(server, Duration::from_secs(60));
    assert!(status.success(), "{status}");
}

/// SIGTERM, and the exit status, failing if the server takes longer than `wait`.
fn server_terminate_within(server: Server, wait: Duration) -> std::process::ExitStatus {
    let pid = server.child.id();
    let log = server.log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(server.terminate());
    });
    match rx.recv_timeout(wait) {
        Ok(status) => {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(text.contains("stopped"), "{text}");
            status
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("the server did not stop within {wait:?} of SIGTERM:\n{}", std::fs::read_to_string(&log).unwrap());
        }
    }
}
