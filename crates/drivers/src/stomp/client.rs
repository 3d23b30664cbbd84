//! One STOMP 1.2 connection to a broker, kept alive by a task of its own:
//! [`Client`] subscribes and sends, [`Subscription`] yields each message as
//! a [`Delivery`] that is acknowledged (or refused) one by one.
//!
//! Guarantees, as SSM and APEL's receiver rely on them:
//! - a [`Client::send`] returns once the broker's RECEIPT for it came: the
//!   broker has the message. A connection lost before that sends it again
//!   on the next one, so a message may arrive twice but is never lost;
//! - a subscription acknowledges per message (`ack:client-individual`): a
//!   message not acknowledged when its connection goes is delivered again
//!   (RabbitMQ marks it `redelivered:true`). The acknowledgement of a
//!   message from a connection that has gone is refused
//!   ([`StompError::Stale`]), since the broker will deliver it again;
//! - the connection is watched with heart-beats both ways; when it drops,
//!   the client connects again after a backoff that doubles up to a
//!   ceiling, subscribes again to what it had, and goes on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::frame::{Decoder, Frame, FrameError, Received};

/// How a client connects and keeps its connection.
#[derive(Debug, Clone)]
pub struct StompSettings {
    /// The heart-beat interval offered both ways (zero: none).
    pub heart_beat: Duration,
    /// The first wait before connecting again after a connection is lost.
    pub reconnect_min: Duration,
    /// The longest wait between two attempts to connect again.
    pub reconnect_max: Duration,
    /// How long connecting (TCP and the CONNECTED reply) may take.
    pub connect_timeout: Duration,
    /// How many unacknowledged messages the broker sends a subscription
    /// (RabbitMQ's `prefetch-count`), which bounds what a slow consumer
    /// holds in memory.
    pub prefetch: u32,
    /// The largest frame accepted from the broker, in octets.
    pub max_frame: usize,
}

impl Default for StompSettings {
    fn default() -> StompSettings {
        StompSettings {
            heart_beat: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            prefetch: 100,
            max_frame: 64 << 20,
        }
    }
}

/// What went wrong, said for whoever runs the client.
#[derive(Debug, thiserror::Error)]
pub enum StompError {
    /// The broker's address is not a `stomp://` URL.
    #[error("STOMP URL {url:?}: {problem}; expected stomp://LOGIN:PASSCODE@HOST:PORT/VIRTUAL-HOST")]
    Url { url: String, problem: String },
    /// The broker could not be reached.
    #[error("STOMP broker {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The broker did not answer CONNECT in time.
    #[error("STOMP broker {address} did not answer CONNECT within {seconds} s")]
    ConnectTimeout { address: String, seconds: u64 },
    /// The broker refused to connect (an ERROR frame in reply to CONNECT).
    #[error("STOMP broker {address} refused the connection: {message}")]
    Refused { address: String, message: String },
    /// The broker answered a request with an ERROR frame.
    #[error("STOMP broker: {0}")]
    Broker(String),
    /// What the broker sent breaks the protocol.
    #[error(transparent)]
    Protocol(#[from] FrameError),
    /// A read or write on the connection failed.
    #[error("STOMP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The message was delivered on a connection that has gone: the broker
    /// delivers it again, and that delivery is the one to acknowledge.
    #[error("the STOMP connection that delivered this message has closed; the broker delivers it again")]
    Stale,
    /// The client was disconnected.
    #[error("the STOMP client is disconnected")]
    Closed,
}

/// Where and as whom to connect, from a `stomp://` URL.
#[derive(Debug, Clone)]
struct Target {
    address: String,
    login: String,
    passcode: String,
    virtual_host: String,
}

impl Target {
    /// Reads `stomp://LOGIN:PASSCODE@HOST:PORT/VIRTUAL-HOST`; the port is
    /// 61613 when left out, the virtual host `/` when the path is empty.
    fn parse(url: &str) -> Result<Target, StompError> {
        let bad = |problem: &str| StompError::Url { url: redact(url), problem: problem.to_owned() };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "stomp" {
            return Err(bad(&format!("scheme {:?} is not stomp", parsed.scheme())));
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
        let port = parsed.port().unwrap_or(61613);
        let path = percent_decode(parsed.path().trim_start_matches('/'));
        Ok(Target {
            address: format!("{host}:{port}"),
            login: percent_decode(parsed.username()),
            passcode: percent_decode(parsed.password().unwrap_or_default()),
            virtual_host: if path.is_empty() { "/".to_owned() } else { path },
        })
    }
}

/// The URL with its passcode hidden, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Undoes `%XX` escapes (a malformed one stays as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request from a handle to the connection's task.
enum Command {
    Subscribe { destination: String, deliveries: mpsc::UnboundedSender<Delivery>, reply: Reply<String> },
    Unsubscribe { id: String },
    Send { frame: Frame, reply: Reply<()> },
    Ack { ack_id: String, generation: u64, nack: bool, reply: Reply<()> },
    Disconnect { reply: Reply<()> },
}

type Reply<T> = oneshot::Sender<Result<T, StompError>>;

/// A STOMP client: cheap to clone, every clone using the one connection.
/// The connection closes when the client, its subscriptions and their
/// deliveries are all dropped, or at [`Client::disconnect`].
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    connections: Arc<AtomicU64>,
}

impl Client {
    /// Connects with the default [`StompSettings`] to
    /// `stomp://LOGIN:PASSCODE@HOST:PORT/VIRTUAL-HOST`.
    pub async fn connect(url: &str) -> Result<Client, StompError> {
        Client::connect_with(url, StompSettings::default()).await
    }

    /// Connects once (an error if that fails), then keeps the connection
    /// in a task of its own.
    pub async fn connect_with(url: &str, settings: StompSettings) -> Result<Client, StompError> {
        let target = Target::parse(url)?;
        let link = Link::open(&target, &settings).await?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicU64::new(1));
        let session = Session {
            connections: connections.clone(),
            target,
            settings,
            commands: receiver,
            handles: commands.downgrade(),
            subscriptions: BTreeMap::new(),
            pending: HashMap::new(),
            next_id: 0,
            generation: 0,
            disconnected: false,
        };
        tokio::spawn(session.run(link));
        Ok(Client { commands, connections })
    }

    /// Subscribes to `destination` (`/queue/NAME` on RabbitMQ), once the
    /// broker confirmed it.
    pub async fn subscribe(&self, destination: &str) -> Result<Subscription, StompError> {
        let (deliveries, receiver) = mpsc::unbounded_channel();
        let id =
            self.ask(|reply| Command::Subscribe { destination: destination.to_owned(), deliveries, reply }).await?;
        Ok(Subscription {
            id,
            destination: destination.to_owned(),
            deliveries: receiver,
            commands: self.commands.clone(),
        })
    }

    /// Sends `body` to `destination` with `headers`, returning once the
    /// broker's receipt for it came. The message is persistent unless the
    /// headers say `persistent:false`.
    pub async fn send(&self, destination: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), StompError> {
        let mut frame = Frame::new("SEND").header("destination", destination);
        for (name, value) in headers {
            frame = frame.header(name, value);
        }
        if frame.get("persistent").is_none() {
            frame = frame.header("persistent", "true");
        }
        frame.body = body.to_vec();
        self.ask(|reply| Command::Send { frame, reply }).await
    }

    /// Disconnects gracefully: the broker confirms it has everything sent
    /// before, then the connection closes.
    pub async fn disconnect(&self) -> Result<(), StompError> {
        self.ask(|reply| Command::Disconnect { reply }).await
    }

    /// How many connections the client has made: one, plus one for each
    /// time it connected again after losing its connection.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, StompError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).map_err(|_| StompError::Closed)?;
        answer.await.map_err(|_| StompError::Closed)?
    }
}

/// Messages from one destination, as the broker delivers them; dropping
/// it unsubscribes, and the broker delivers again what was not
/// acknowledged.
#[derive(Debug)]
pub struct Subscription {
    id: String,
    destination: String,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Subscription {
    /// The next message; `None` once the client is disconnected.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }

    /// A message delivered already, if any, without waiting.
    pub fn try_next(&mut self) -> Option<Delivery> {
        self.deliveries.try_recv().ok()
    }

    /// The destination subscribed to.
    pub fn destination(&self) -> &str {
        &self.destination
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unsubscribe { id: self.id.clone() });
    }
}

/// One message delivered, to acknowledge with [`Delivery::ack`] once it is
/// safely handled, or to hand back with [`Delivery::nack`].
#[derive(Debug)]
pub struct Delivery {
    /// The MESSAGE frame's headers (`destination`, `message-id`, the
    /// sender's own...), in order.
    pub headers: Vec<(String, String)>,
    /// The message, as sent.
    pub body: Vec<u8>,
    ack_id: String,
    generation: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Delivery {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the broker delivered this message before (RabbitMQ's
    /// `redelivered` header).
    pub fn redelivered(&self) -> bool {
        self.header("redelivered") == Some("true")
    }

    /// Acknowledges the message, once the broker confirmed it: it will
    /// not be delivered again.
    pub async fn ack(self) -> Result<(), StompError> {
        self.answer(false).await
    }

    /// Hands the message back to the broker, which delivers it again (to
    /// this or another consumer) or dead-letters it as configured.
    pub async fn nack(self) -> Result<(), StompError> {
        self.answer(true).await
    }

    async fn answer(self, nack: bool) -> Result<(), StompError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Ack { ack_id: self.ack_id, generation: self.generation, nack, reply };
        self.commands.send(command).map_err(|_| StompError::Closed)?;
        answer.await.map_err(|_| StompError::Closed)?
    }
}

/// One TCP connection after CONNECTED, with the heart-beats agreed.
struct Link {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    decoder: Decoder,
    /// How often to send something (a heart-beat when idle).
    send_every: Option<Duration>,
    /// How often the broker promised to send something.
    expect_every: Option<Duration>,
    last_read: Instant,
    last_write: Instant,
}

impl Link {
    /// Connects and logs in.
    async fn open(target: &Target, settings: &StompSettings) -> Result<Link, StompError> {
        let timeout = settings.connect_timeout;
        let late = || StompError::ConnectTimeout { address: target.address.clone(), seconds: timeout.as_secs() };
        tokio::time::timeout(timeout, Link::handshake(target, settings)).await.map_err(|_| late())?
    }

    async fn handshake(target: &Target, settings: &StompSettings) -> Result<Link, StompError> {
        let stream = TcpStream::connect(&target.address)
            .await
            .map_err(|source| StompError::Connect { address: target.address.clone(), source })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let beat = settings.heart_beat.as_millis();
        let mut link = Link {
            reader,
            writer,
            decoder: Decoder::new(settings.max_frame),
            send_every: None,
            expect_every: None,
            last_read: Instant::now(),
            last_write: Instant::now(),
        };
        let connect = Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", &target.virtual_host)
            .header("login", &target.login)
            .header("passcode", &target.passcode)
            .header("heart-beat", &format!("{beat},{beat}"));
        link.write(&connect).await?;
        let connected = match link.read().await? {
            Some(frame) if frame.command == "CONNECTED" => frame,
            Some(frame) if frame.command == "ERROR" => {
                return Err(StompError::Refused { address: target.address.clone(), message: error_text(&frame) });
            }
            Some(frame) => {
                return Err(StompError::Broker(format!("a {} frame in reply to CONNECT", frame.command)));
            }
            None => {
                let closed = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed during CONNECT");
                return Err(StompError::Connect { address: target.address.clone(), source: closed });
            }
        };
        if connected.get("version").is_some_and(|v| v != "1.2") {
            return Err(StompError::Broker(format!(
                "the broker speaks STOMP {}, this client 1.2",
                connected.get("version").unwrap_or_default()
            )));
        }
        let (server_sends, server_wants) = connected
            .get("heart-beat")
            .and_then(|v| v.split_once(','))
            .and_then(|(sx, sy)| Some((sx.trim().parse::<u128>().ok()?, sy.trim().parse::<u128>().ok()?)))
            .unwrap_or((0, 0));
        let agree =
            |ours: u128, theirs: u128| (ours > 0 && theirs > 0).then(|| Duration::from_millis(ours.max(theirs) as u64));
        link.send_every = agree(beat, server_wants);
        link.expect_every = agree(beat, server_sends);
        Ok(link)
    }

    async fn write(&mut self, frame: &Frame) -> Result<(), std::io::Error> {
        self.writer.write_all(&frame.encode()).await?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// The next frame (heart-beats skipped); `None` when the broker closed.
    async fn read(&mut self) -> Result<Option<Frame>, StompError> {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            while let Some(received) = self.decoder.decode()? {
                if let Received::Frame(frame) = received {
                    return Ok(Some(frame));
                }
            }
            let read = self.reader.read(&mut buffer).await?;
            if read == 0 {
                return Ok(None);
            }
            self.last_read = Instant::now();
            self.decoder.feed(&buffer[..read]);
        }
    }
}

/// An ERROR frame's `message` header and body, as one text.
fn error_text(frame: &Frame) -> String {
    let message = frame.get("message").unwrap_or("ERROR");
    let body = String::from_utf8_lossy(&frame.body);
    let body = body.trim();
    if body.is_empty() { message.to_owned() } else { format!("{message}: {body}") }
}

/// What waits for a RECEIPT.
enum Pending {
    Send(Frame, Reply<()>),
    Subscribe(String, Reply<String>),
    Ack(Reply<()>),
    Disconnect(Reply<()>),
}

struct Subscribed {
    destination: String,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

/// Why serving a connection stopped.
enum Ended {
    /// Every handle is gone, or the client disconnected.
    Closed,
    /// The connection was lost; connect again.
    Lost(StompError),
}

/// The task's state across connections.
struct Session {
    connections: Arc<AtomicU64>,
    target: Target,
    settings: StompSettings,
    commands: mpsc::UnboundedReceiver<Command>,
    /// To hand deliveries a way back without keeping the task alive.
    handles: mpsc::WeakUnboundedSender<Command>,
    subscriptions: BTreeMap<String, Subscribed>,
    /// By receipt id.
    pending: HashMap<String, Pending>,
    next_id: u64,
    /// Counts connections, to refuse acknowledgements of a gone one.
    generation: u64,
    disconnected: bool,
}

impl Session {
    async fn run(mut self, mut link: Link) {
        loop {
            match self.serve(&mut link).await {
                Ended::Closed => break,
                Ended::Lost(error) => {
                    tracing::warn!(broker = %self.target.address, %error, "STOMP connection lost, connecting again");
                    match self.reconnect().await {
                        Some(next) => link = next,
                        None => break,
                    }
                }
            }
        }
        self.disconnected = true;
        for (_, pending) in self.pending.drain() {
            match pending {
                Pending::Send(_, reply) | Pending::Ack(reply) => drop(reply.send(Err(StompError::Closed))),
                Pending::Subscribe(_, reply) => drop(reply.send(Err(StompError::Closed))),
                Pending::Disconnect(reply) => drop(reply.send(Ok(()))),
            }
        }
    }

    fn next_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}-{}", self.next_id)
    }

    async fn serve(&mut self, link: &mut Link) -> Ended {
        let mut buffer = vec![0; 256 * 1024];
        loop {
            loop {
                match link.decoder.decode() {
                    Ok(Some(Received::HeartBeat)) => {}
                    Ok(Some(Received::Frame(frame))) => {
                        if let Some(ended) = self.on_frame(frame) {
                            return ended;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => return Ended::Lost(error.into()),
                }
            }
            let now = Instant::now();
            let beat_due = link.send_every.map(|every| link.last_write + every);
            let silence_limit = link.expect_every.map(|every| link.last_read + every * 2 + Duration::from_secs(1));
            let wake = [beat_due, silence_limit].into_iter().flatten().min().unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                read = link.reader.read(&mut buffer) => match read {
                    Ok(0) => return Ended::Lost(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof, "the broker closed the connection").into()),
                    Ok(read) => {
                        link.last_read = Instant::now();
                        link.decoder.feed(&buffer[..read]);
                    }
                    Err(error) => return Ended::Lost(error.into()),
                },
                command = self.commands.recv() => match command {
                    None => return Ended::Closed,
                    Some(command) => {
                        if let Err(error) = self.on_command(command, link).await {
                            return Ended::Lost(error.into());
                        }
                    }
                },
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if silence_limit.is_some_and(|limit| now >= limit) {
                        return Ended::Lost(StompError::Broker(format!(
                            "no heart-beat from the broker in {} ms",
                            (now - link.last_read).as_millis()
                        )));
                    }
                    if beat_due.is_some_and(|due| now >= due) {
                        if let Err(error) = link.writer.write_all(b"\n").await {
                            return Ended::Lost(error.into());
                        }
                        link.last_write = now;
                    }
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command, link: &mut Link) -> Result<(), std::io::Error> {
        match command {
            Command::Subscribe { destination, deliveries, reply } => {
                let id = self.next_id("sub");
                let receipt = self.next_id("receipt");
                let frame = self.subscribe_frame(&id, &destination).header("receipt", &receipt);
                self.subscriptions.insert(id.clone(), Subscribed { destination, deliveries });
                self.pending.insert(receipt, Pending::Subscribe(id, reply));
                link.write(&frame).await
            }
            Command::Unsubscribe { id } => {
                if self.subscriptions.remove(&id).is_some() {
                    link.write(&Frame::new("UNSUBSCRIBE").header("id", &id)).await?;
                }
                Ok(())
            }
            Command::Send { frame, reply } => {
                let receipt = self.next_id("receipt");
                let frame = frame.header("receipt", &receipt);
                let written = link.write(&frame).await;
                self.pending.insert(receipt, Pending::Send(frame, reply));
                written
            }
            Command::Ack { ack_id, generation, nack, reply } => {
                if generation != self.generation {
                    let _ = reply.send(Err(StompError::Stale));
                    return Ok(());
                }
                let receipt = self.next_id("receipt");
                let command = if nack { "NACK" } else { "ACK" };
                self.pending.insert(receipt.clone(), Pending::Ack(reply));
                link.write(&Frame::new(command).header("id", &ack_id).header("receipt", &receipt)).await
            }
            Command::Disconnect { reply } => {
                let receipt = self.next_id("receipt");
                self.pending.insert(receipt.clone(), Pending::Disconnect(reply));
                self.disconnected = true;
                link.write(&Frame::new("DISCONNECT").header("receipt", &receipt)).await
            }
        }
    }

    fn subscribe_frame(&self, id: &str, destination: &str) -> Frame {
        Frame::new("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("ack", "client-individual")
            .header("prefetch-count", &self.settings.prefetch.to_string())
    }

    /// Handles a frame from the broker; `Some` when the connection ends.
    fn on_frame(&mut self, frame: Frame) -> Option<Ended> {
        match frame.command.as_str() {
            "MESSAGE" => {
                let subscription = frame.get("subscription").unwrap_or_default();
                let (Some(subscribed), Some(commands)) = (self.subscriptions.get(subscription), self.handles.upgrade())
                else {
                    return None;
                };
                let Some(ack_id) = frame.get("ack").or(frame.get("message-id")).map(str::to_owned) else {
                    return Some(Ended::Lost(StompError::Broker(
                        "a MESSAGE frame with neither ack nor message-id header".into(),
                    )));
                };
                let delivery = Delivery {
                    headers: frame.headers,
                    body: frame.body,
                    ack_id,
                    generation: self.generation,
                    commands,
                };
                let _ = subscribed.deliveries.send(delivery);
                None
            }
            "RECEIPT" => {
                match frame.get("receipt-id").and_then(|id| self.pending.remove(id)) {
                    Some(Pending::Send(_, reply) | Pending::Ack(reply)) => drop(reply.send(Ok(()))),
                    Some(Pending::Subscribe(id, reply)) => drop(reply.send(Ok(id))),
                    Some(Pending::Disconnect(reply)) => {
                        let _ = reply.send(Ok(()));
                        return Some(Ended::Closed);
                    }
                    None => {}
                }
                None
            }
            "ERROR" => {
                let message = error_text(&frame);
                match frame.get("receipt-id").and_then(|id| self.pending.remove(id)) {
                    Some(Pending::Send(_, reply) | Pending::Ack(reply) | Pending::Disconnect(reply)) => {
                        drop(reply.send(Err(StompError::Broker(message.clone()))));
                    }
                    Some(Pending::Subscribe(id, reply)) => {
                        self.subscriptions.remove(&id);
                        drop(reply.send(Err(StompError::Broker(message.clone()))));
                    }
                    None => {}
                }
                // The broker closes the connection after an ERROR frame.
                Some(Ended::Lost(StompError::Broker(message)))
            }
            other => Some(Ended::Lost(StompError::Broker(format!("an unexpected {other} frame")))),
        }
    }

    /// Connects again after a backoff, subscribes again and sends again
    /// what had no receipt; `None` when nobody holds a handle any more.
    async fn reconnect(&mut self) -> Option<Link> {
        self.generation += 1;
        let pending = std::mem::take(&mut self.pending);
        for (receipt, pending) in pending {
            match pending {
                Pending::Ack(reply) => drop(reply.send(Err(StompError::Stale))),
                Pending::Disconnect(reply) => {
                    let _ = reply.send(Ok(()));
                    return None;
                }
                kept => {
                    self.pending.insert(receipt, kept);
                }
            }
        }
        if self.disconnected {
            return None;
        }
        let mut wait = self.settings.reconnect_min;
        loop {
            tokio::time::sleep(wait).await;
            if self.commands.is_closed() && self.commands.is_empty() {
                return None;
            }
            match self.resume().await {
                Ok(link) => {
                    self.connections.fetch_add(1, Ordering::Relaxed);
                    return Some(link);
                }
                Err(error) => {
                    tracing::warn!(broker = %self.target.address, %error, wait_ms = wait.as_millis() as u64,
                        "STOMP broker unreachable, trying again");
                    wait = (wait * 2).min(self.settings.reconnect_max);
                }
            }
        }
    }

    async fn resume(&mut self) -> Result<Link, StompError> {
        let mut link = Link::open(&self.target, &self.settings).await?;
        let confirming: HashMap<&str, &str> = self
            .pending
            .iter()
            .filter_map(|(receipt, pending)| match pending {
                Pending::Subscribe(id, _) => Some((id.as_str(), receipt.as_str())),
                _ => None,
            })
            .collect();
        for (id, subscribed) in &self.subscriptions {
            let mut frame = self.subscribe_frame(id, &subscribed.destination);
            if let Some(receipt) = confirming.get(id.as_str()) {
                frame = frame.header("receipt", receipt);
            }
            link.write(&frame).await?;
        }
        for pending in self.pending.values() {
            if let Pending::Send(frame, _) = pending {
                link.write(frame).await?;
            }
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_broker_the_login_and_the_virtual_host() {
        let target = Target::parse("stomp://guest:gu%40st@127.0.0.1:61613/").unwrap();
        assert_eq!(
            (target.address.as_str(), target.login.as_str(), target.passcode.as_str(), target.virtual_host.as_str()),
            ("127.0.0.1:61613", "guest", "gu@st", "/")
        );
        let target = Target::parse("stomp://apel@broker.example/accounting%2Fcloud").unwrap();
        assert_eq!(
            (target.address.as_str(), target.virtual_host.as_str()),
            ("broker.example:61613", "accounting/cloud")
        );
        let error = Target::parse("amqp://guest:secret@127.0.0.1/").unwrap_err().to_string();
        assert!(error.contains("scheme \"amqp\" is not stomp") && !error.contains("secret"), "{error}");
    }
}
