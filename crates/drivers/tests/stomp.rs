//! The STOMP client against the real RabbitMQ with its STOMP plugin that
//! `.ci/rabbitmq.sh` starts (`NUVOLA_TEST_STOMP_URL`): a round trip, a
//! message left unacknowledged delivered again to the next consumer, a
//! 5 MB message, and the client carrying on after the broker closed its
//! connections. Without the broker the tests skip, saying why; under
//! `CI=true` they fail instead. Each test uses queues of its own, deleted
//! at the end.

use std::time::Duration;

use nuvola_drivers::stomp::{Client, Delivery, StompError, StompSettings, Subscription};
use nuvola_drivers::testing::{rabbitmqctl, stomp_url};

/// A queue no other test uses, deleted when dropped.
struct Queue {
    name: String,
    vhost: String,
}

impl Queue {
    fn new(vhost: &str) -> Queue {
        Queue { name: format!("nuvola-test-{}", uuid::Uuid::new_v4()), vhost: vhost.to_owned() }
    }

    fn destination(&self) -> String {
        format!("/queue/{}", self.name)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", "-p", &self.vhost, &self.name])
            .output();
    }
}

/// The next delivery, within a minute (a broker that delivers nothing
/// fails the test instead of hanging it).
async fn next(subscription: &mut Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(60), subscription.next())
        .await
        .expect("a message within a minute")
        .expect("a message, not the end of the subscription")
}

#[tokio::test]
async fn a_message_sent_with_a_receipt_arrives_with_its_headers_and_body() {
    let Some(url) = stomp_url() else { return };
    let queue = Queue::new("/");
    let client = Client::connect(&url).await.unwrap();
    let mut subscription = client.subscribe(&queue.destination()).await.unwrap();
    let body = b"APEL-cloud-message: v0.4\nVMUUID: a\0b\n%%\n";
    client.send(&queue.destination(), &[("empa-id", "x:y\nz\\w"), ("content-type", "text/plain")], body).await.unwrap();
    for n in 0..3 {
        client.send(&queue.destination(), &[], format!("message {n}").as_bytes()).await.unwrap();
    }

    let first = next(&mut subscription).await;
    assert_eq!(first.body, body, "the body as sent, its NUL included");
    assert_eq!(first.header("empa-id"), Some("x:y\nz\\w"), "escaped header values come back whole");
    assert_eq!(first.header("destination"), Some(queue.destination().as_str()));
    assert!(!first.redelivered());
    first.ack().await.unwrap();
    for n in 0..3 {
        let delivery = next(&mut subscription).await;
        assert_eq!(String::from_utf8_lossy(&delivery.body), format!("message {n}"), "in the order sent");
        delivery.ack().await.unwrap();
    }
    client.disconnect().await.unwrap();
    assert!(matches!(client.send(&queue.destination(), &[], b"late").await, Err(StompError::Closed)));
}

#[tokio::test]
async fn a_message_not_acknowledged_is_delivered_again_after_its_consumer_goes() {
    let Some(url) = stomp_url() else { return };
    let queue = Queue::new("/");
    let sender = Client::connect(&url).await.unwrap();
    sender.send(&queue.destination(), &[], b"record 1").await.unwrap();

    // A consumer takes it and goes without acknowledging it.
    {
        let consumer = Client::connect(&url).await.unwrap();
        let mut subscription = consumer.subscribe(&queue.destination()).await.unwrap();
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.body, b"record 1");
        assert!(!delivery.redelivered());
    }

    // The next consumer gets it again, marked so, and acknowledges it.
    let consumer = Client::connect(&url).await.unwrap();
    let mut subscription = consumer.subscribe(&queue.destination()).await.unwrap();
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.body, b"record 1");
    assert!(delivery.redelivered(), "{:?}", delivery.headers);
    delivery.ack().await.unwrap();
    consumer.disconnect().await.unwrap();

    // Acknowledged, it is gone: a third consumer's first message is the next one sent.
    sender.send(&queue.destination(), &[], b"record 2").await.unwrap();
    let consumer = Client::connect(&url).await.unwrap();
    let mut subscription = consumer.subscribe(&queue.destination()).await.unwrap();
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.body, b"record 2");
    delivery.ack().await.unwrap();

    // A refused message comes back too.
    sender.send(&queue.destination(), &[], b"record 3").await.unwrap();
    let refused = next(&mut subscription).await;
    assert_eq!(refused.body, b"record 3");
    refused.nack().await.unwrap();
    let again = next(&mut subscription).await;
    assert_eq!((again.body.as_slice(), again.redelivered()), (b"record 3".as_slice(), true));
    again.ack().await.unwrap();
}

#[tokio::test]
async fn a_five_megabyte_message_arrives_whole() {
    let Some(url) = stomp_url() else { return };
    let queue = Queue::new("/");
    let client = Client::connect(&url).await.unwrap();
    let mut subscription = client.subscribe(&queue.destination()).await.unwrap();
    // Every octet value, NULs and newlines included, in a pattern that
    // shows a shifted or cut body.
    let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect();
    client.send(&queue.destination(), &[], &body).await.unwrap();
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.body.len(), body.len());
    assert!(delivery.body == body, "the body differs from the one sent");
    delivery.ack().await.unwrap();
}

#[tokio::test]
async fn the_client_carries_on_after_the_broker_closes_its_connections() {
    let Some(url) = stomp_url() else { return };
    // A virtual host of its own, so that closing its connections leaves
    // every other test's alone.
    let vhost = format!("nuvola-test-{}", uuid::Uuid::new_v4());
    rabbitmqctl(&["add_vhost", &vhost]);
    rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    let url = format!("{}{vhost}", url.trim_end_matches('/').to_owned() + "/");
    let queue = Queue::new(&vhost);
    let settings = StompSettings { reconnect_min: Duration::from_millis(50), ..StompSettings::default() };
    let client = Client::connect_with(&url, settings).await.unwrap();
    let mut subscription = client.subscribe(&queue.destination()).await.unwrap();
    client.send(&queue.destination(), &[], b"before").await.unwrap();
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.body, b"before");

    assert_eq!(client.connections(), 1);
    rabbitmqctl(&["close_all_connections", "--vhost", &vhost, "--limit", "100", "nuvola test: closing connections"]);

    // Its acknowledgement is refused once the client saw the connection
    // go, or taken if it went first; either way the message is handled.
    let acked = delivery.ack().await;
    assert!(matches!(acked, Ok(()) | Err(StompError::Stale)), "{acked:?}");
    // The client connects again, subscribes again and sends.
    client.send(&queue.destination(), &[], b"after").await.unwrap();
    let mut seen = Vec::new();
    loop {
        let delivery = next(&mut subscription).await;
        seen.push(String::from_utf8_lossy(&delivery.body).into_owned());
        delivery.ack().await.unwrap();
        if seen.last().is_some_and(|body| body == "after") {
            break;
        }
    }
    assert!(seen.iter().all(|body| body == "before" || body == "after"), "{seen:?}");
    assert_eq!(client.connections(), 2, "connected again once");
    client.disconnect().await.unwrap();
    drop(queue);
    rabbitmqctl(&["delete_vhost", &vhost]);
}

#[tokio::test]
async fn a_wrong_passcode_is_refused_saying_so() {
    let Some(url) = stomp_url() else { return };
    let url = url.replacen(":guest@", ":not-the-passcode@", 1);
    let settings = StompSettings { connect_timeout: Duration::from_secs(30), ..StompSettings::default() };
    let error = Client::connect_with(&url, settings).await.unwrap_err();
    assert!(matches!(error, StompError::Refused { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("refused the connection") && !text.contains("not-the-passcode"), "{text}");
}

#[tokio::test]
async fn a_peer_that_does_not_speak_stomp_is_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0; 1024];
        let _ = socket.read(&mut buffer).await;
        socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await.unwrap();
    });
    let error = Client::connect(&format!("stomp://guest:guest@{address}/")).await.unwrap_err();
    assert!(matches!(error, StompError::Protocol(_)), "{error}");
    assert!(error.to_string().contains("\"HTTP/1.1 400 Bad Request\" is not a STOMP 1.2 command"), "{error}");
}
