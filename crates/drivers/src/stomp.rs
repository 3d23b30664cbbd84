//! A STOMP 1.2 client, for the message queues accounting records travel
//! through: APEL's SSM sends each message of a site's outgoing queue as one
//! STOMP message to a broker (RabbitMQ with its STOMP plugin, ActiveMQ
//! Artemis), and nuvola consumes them from there.
//!
//! [`frame`] is the wire format with no I/O (encoding, decoding frames as
//! reads split them, header escaping, heart-beats); [`client`] is one
//! connection kept alive: log in, subscribe with `ack:client-individual`,
//! acknowledge each message, send with a receipt so the sender knows the
//! broker has the message, and reconnect with backoff when the broker or
//! the network drops it, subscribing again and sending again what had no
//! receipt yet.
//!
//! ```no_run
//! # async fn consume() -> Result<(), nuvola_drivers::stomp::StompError> {
//! use nuvola_drivers::stomp::Client;
//! let client = Client::connect("stomp://guest:guest@127.0.0.1:61613/").await?;
//! let mut subscription = client.subscribe("/queue/accounting").await?;
//! while let Some(delivery) = subscription.next().await {
//!     println!("{} octets", delivery.body.len());
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```

pub mod client;
pub mod frame;

pub use client::{Client, Delivery, StompError, StompSettings, Subscription};
pub use frame::{Frame, FrameError};
