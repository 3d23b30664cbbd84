//! The resilience rules of the real drivers' HTTP client, against tiny
//! loopback servers that misbehave on purpose (5xx, 4xx, 429, hanging):
//! bounded retries with backoff on 5xx and connection errors, none on
//! 4xx, none for a create that may have reached the server, and a
//! hanging provider costs one timeout without holding up the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nuvola_drivers::DriverError;
use nuvola_drivers::http::{CallPolicy, Http, Replay};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `answer` (a status line and headers) to every request, counting
/// them; `None` accepts and never answers.
async fn server(answer: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                counter.fetch_add(1, Ordering::SeqCst);
                match answer {
                    Some(head) => {
                        let reply = format!("{head}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    (url, hits)
}

fn http(timeout_secs: f64) -> Http {
    Http::new(CallPolicy { timeout_secs, retries: 2, backoff_ms: 10, max_backoff_ms: 50, ..CallPolicy::default() })
        .unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let (url, hits) = server(Some("HTTP/1.1 503 Service Unavailable")).await;
    let err = http(5.0).send(Method::GET, &url, Replay::Safe, |r| r).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Unavailable(m) if m.said.contains("503") && m.said.contains("3 tries")),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (url, hits) = server(Some("HTTP/1.1 400 Bad Request")).await;
    let reply = http(5.0).send(Method::GET, &url, Replay::Safe, |r| r).await.unwrap();
    assert_eq!(reply.status.as_u16(), 400);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_create_that_reached_the_server_is_not_replayed() {
    let (url, hits) = server(Some("HTTP/1.1 502 Bad Gateway")).await;
    let reply = http(5.0).send(Method::POST, &url, Replay::Unsafe, |r| r.body("x")).await.unwrap();
    assert_eq!(reply.status.as_u16(), 502, "handed back for the driver to judge");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let (url, hits) = server(Some("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0")).await;
    let err = http(5.0).send(Method::GET, &url, Replay::Safe, |r| r).await.unwrap_err();
    assert!(matches!(&err, DriverError::Unavailable(m) if m.said.contains("429")), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refused_connections_are_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = http(5.0).send(Method::POST, &url, Replay::Unsafe, |r| r).await.unwrap_err();
    assert!(matches!(&err, DriverError::Unavailable(m) if m.said.contains("3 tries")), "{err:?}");
    // Where the site was reached (an address inside it) and how the
    // transport failed are for the log, not for the deployment's owner.
    let address = url.trim_start_matches("http://");
    assert!(!err.to_string().contains(address), "{err}");
    assert!(err.cause().is_some_and(|c| c.contains(address)), "{err:?}");
}

/// A provider that accepts and never answers costs each call its timeout
/// (times the tries), while calls to a healthy provider go through.
#[tokio::test]
async fn a_hanging_provider_does_not_block_others() {
    let (hung, hung_hits) = server(None).await;
    let (healthy, _) = server(Some("HTTP/1.1 200 OK")).await;
    let client = http(0.3);
    let start = Instant::now();
    let stuck = {
        let client = client.clone();
        tokio::spawn(async move { client.send(Method::GET, &hung, Replay::Safe, |r| r).await })
    };
    for _ in 0..5 {
        let t = Instant::now();
        client.send(Method::GET, &healthy, Replay::Safe, |r| r).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(250));
    }
    let err = stuck.await.unwrap().unwrap_err();
    assert!(matches!(&err, DriverError::Unavailable(m) if m.said.contains("timed out")), "{err:?}");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "bounded: {took:?}");
    assert_eq!(hung_hits.load(Ordering::SeqCst), 3);
}
