//! STOMP 1.2 frames, with no I/O: encoding a frame to bytes and decoding
//! frames from bytes as they arrive, however the reads split them.
//!
//! The grammar is the specification's (stomp.github.io, STOMP 1.2,
//! "Augmented BNF"): a command line, header lines, an empty line, the
//! body, a NUL octet, then any number of end-of-lines, which between frames
//! are heart-beats. Header names and values escape `\r`, `\n`, `:` and `\`
//! as `\r`, `\n`, `\c` and `\\` in every frame but CONNECT and CONNECTED;
//! any other escape is a protocol error. A body is exactly
//! `content-length` octets (NULs included) when that header is there, and
//! runs to the first NUL otherwise. When a header repeats, its first value
//! counts.

use std::fmt;

/// The commands of STOMP 1.2, client's and server's.
const COMMANDS: [&str; 15] = [
    "CONNECT",
    "STOMP",
    "CONNECTED",
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "ACK",
    "NACK",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "DISCONNECT",
    "MESSAGE",
    "RECEIPT",
    "ERROR",
];

/// The longest command line and header block read before the body, past
/// which the peer is taken to speak something else than STOMP.
const MAX_HEAD: usize = 64 * 1024;

/// One frame: a command, its headers in order, and its body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// `MESSAGE`, `SEND`, `CONNECTED`...
    pub command: String,
    /// Headers in the order written, unescaped; a repeated name keeps
    /// every occurrence, the first one being the one that counts.
    pub headers: Vec<(String, String)>,
    /// The body, any octets.
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame with a command and no headers or body.
    pub fn new(command: &str) -> Frame {
        Frame { command: command.to_owned(), ..Frame::default() }
    }

    /// Adds a header, builder style.
    pub fn header(mut self, name: &str, value: &str) -> Frame {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The value of header `name` (its first occurrence).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether this frame's headers are written without escapes.
    fn raw_headers(command: &str) -> bool {
        command == "CONNECT" || command == "CONNECTED"
    }

    /// The frame as octets on the wire. A frame with a body carries its
    /// `content-length` (added when the headers do not have one), so that
    /// a body may hold NULs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.command.len() + 64 * self.headers.len() + self.body.len() + 32);
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        let raw = Frame::raw_headers(&self.command);
        for (name, value) in &self.headers {
            escape_into(&mut out, name, raw);
            out.push(b':');
            escape_into(&mut out, value, raw);
            out.push(b'\n');
        }
        if !self.body.is_empty() && self.get("content-length").is_none() {
            out.extend_from_slice(format!("content-length:{}\n", self.body.len()).as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }
}

/// Writes `text` escaped as STOMP 1.2 asks (or as is, for `raw`).
fn escape_into(out: &mut Vec<u8>, text: &str, raw: bool) {
    if raw {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for &b in text.as_bytes() {
        match b {
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b':' => out.extend_from_slice(b"\\c"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
}

/// What breaks the protocol in what a peer sent, said so that whoever
/// reads it knows what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A command line that is no STOMP 1.2 command.
    UnknownCommand(String),
    /// A header line with no `:` between name and value.
    HeaderWithoutColon { command: String, line: String },
    /// A backslash followed by something STOMP 1.2 does not define.
    BadEscape { command: String, header: String, sequence: String },
    /// A command or header that is not UTF-8.
    NotUtf8 { command: String },
    /// A `content-length` that is not a number of octets.
    BadContentLength { command: String, value: String },
    /// The octet after `content-length` octets of body is not NUL.
    NoNulAfterBody { command: String, length: usize },
    /// A frame larger than the decoder accepts.
    TooLarge { limit: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnknownCommand(line) => {
                write!(f, "STOMP: {line:?} is not a STOMP 1.2 command (CONNECTED, MESSAGE, RECEIPT, ERROR, ...)")
            }
            FrameError::HeaderWithoutColon { command, line } => {
                write!(f, "STOMP {command} frame: header line {line:?} has no ':' between name and value")
            }
            FrameError::BadEscape { command, header, sequence } => write!(
                f,
                "STOMP {command} frame: header {header:?} holds escape {sequence:?}; STOMP 1.2 defines only \\r, \\n, \\c and \\\\"
            ),
            FrameError::NotUtf8 { command } => write!(f, "STOMP {command} frame: a header is not UTF-8"),
            FrameError::BadContentLength { command, value } => {
                write!(f, "STOMP {command} frame: content-length {value:?} is not a number of octets")
            }
            FrameError::NoNulAfterBody { command, length } => write!(
                f,
                "STOMP {command} frame: the octet after its {length} octets of body (content-length) is not the NUL that ends a frame"
            ),
            FrameError::TooLarge { limit } => write!(f, "STOMP: a frame larger than {limit} octets"),
        }
    }
}

impl std::error::Error for FrameError {}

/// What the decoder found next in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An end-of-line between frames: the peer is alive.
    HeartBeat,
    /// A whole frame.
    Frame(Frame),
}

/// Decodes frames from octets fed as they arrive. A frame split across
/// reads comes out once its last octet is in.
#[derive(Debug)]
pub struct Decoder {
    buffer: Vec<u8>,
    /// Where the frame being read starts in `buffer`.
    start: usize,
    /// How far (from `start`) the search for the end of the head, then for
    /// the NUL ending a body without `content-length`, has looked.
    scanned: usize,
    /// The end of the pending frame's head once found: where its empty
    /// line starts and where its body starts (from `start`).
    head: Option<(usize, usize)>,
    max_frame: usize,
}

impl Decoder {
    /// A decoder that refuses frames larger than `max_frame` octets.
    pub fn new(max_frame: usize) -> Decoder {
        Decoder { buffer: Vec::new(), start: 0, scanned: 0, head: None, max_frame }
    }

    /// Appends what was read.
    pub fn feed(&mut self, octets: &[u8]) {
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(octets);
    }

    /// The next heart-beat or frame, `None` until one is whole.
    pub fn decode(&mut self) -> Result<Option<Received>, FrameError> {
        let data = &self.buffer[self.start..];
        match (data.first(), data.get(1)) {
            (None, _) | (Some(b'\r'), None) => return Ok(None),
            (Some(b'\n'), _) => return Ok(Some(self.consume(1, Received::HeartBeat))),
            (Some(b'\r'), Some(b'\n')) => return Ok(Some(self.consume(2, Received::HeartBeat))),
            (Some(b'\r'), Some(_)) => {
                return Err(FrameError::UnknownCommand(String::from_utf8_lossy(first_line(data)).into_owned()));
            }
            _ => {}
        }
        let head_limit = MAX_HEAD.min(self.max_frame);
        let Some((head_end, body_start)) = self.head_end() else {
            if self.buffer.len() - self.start > head_limit {
                return Err(FrameError::TooLarge { limit: head_limit });
            }
            return Ok(None);
        };
        let data = &self.buffer[self.start..];
        let (command, headers) = parse_head(&data[..head_end])?;
        let frame_end = match headers.iter().find(|(n, _)| n == "content-length") {
            Some((_, value)) => {
                let length: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| FrameError::BadContentLength { command: command.clone(), value: value.clone() })?;
                if body_start + length + 1 > self.max_frame {
                    return Err(FrameError::TooLarge { limit: self.max_frame });
                }
                match data.get(body_start + length) {
                    None => return Ok(None),
                    Some(0) => body_start + length,
                    Some(_) => return Err(FrameError::NoNulAfterBody { command, length }),
                }
            }
            None => {
                let from = self.scanned.max(body_start);
                match memchr::memchr(0, &data[from..]) {
                    Some(at) => from + at,
                    None => {
                        self.scanned = data.len();
                        if data.len() > self.max_frame {
                            return Err(FrameError::TooLarge { limit: self.max_frame });
                        }
                        return Ok(None);
                    }
                }
            }
        };
        let body = data[body_start..frame_end].to_vec();
        Ok(Some(self.consume(frame_end + 1, Received::Frame(Frame { command, headers, body }))))
    }

    /// The end of the pending frame's head: where its empty line starts
    /// and where its body starts.
    fn head_end(&mut self) -> Option<(usize, usize)> {
        if self.head.is_some() {
            return self.head;
        }
        let data = &self.buffer[self.start..];
        let mut from = self.scanned;
        while let Some(at) = memchr::memchr(b'\n', &data[from..]) {
            let newline = from + at;
            let found = match (data.get(newline + 1), data.get(newline + 2)) {
                (Some(b'\n'), _) => Some((newline, newline + 2)),
                (Some(b'\r'), Some(b'\n')) => Some((newline, newline + 3)),
                (None, _) | (Some(b'\r'), None) => break,
                _ => None,
            };
            if found.is_some() {
                self.head = found;
                self.scanned = 0;
                return found;
            }
            from = newline + 1;
        }
        // Look again from the last line seen, which may still be ending.
        self.scanned = from;
        None
    }

    fn consume(&mut self, length: usize, received: Received) -> Received {
        self.start += length;
        self.scanned = 0;
        self.head = None;
        received
    }
}

/// The first line of `data`, without its end-of-line.
fn first_line(data: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len()).min(200);
    data[..end].strip_suffix(b"\r").unwrap_or(&data[..end])
}

/// Reads a command line and header lines (`head` without the empty line).
fn parse_head(head: &[u8]) -> Result<(String, Vec<(String, String)>), FrameError> {
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let command_line = lines.next().unwrap_or_default();
    let command = match std::str::from_utf8(command_line) {
        Ok(command) if COMMANDS.contains(&command) => command.to_owned(),
        _ => return Err(FrameError::UnknownCommand(String::from_utf8_lossy(command_line).into_owned())),
    };
    let raw = Frame::raw_headers(&command);
    let mut headers = Vec::new();
    for line in lines {
        let line = std::str::from_utf8(line).map_err(|_| FrameError::NotUtf8 { command: command.clone() })?;
        let Some((name, value)) = line.split_once(':') else {
            return Err(FrameError::HeaderWithoutColon { command, line: line.to_owned() });
        };
        if raw {
            headers.push((name.to_owned(), value.to_owned()));
        } else {
            let name = unescape(name, &command, name)?;
            let value = unescape(value, &command, &name)?;
            headers.push((name, value));
        }
    }
    Ok((command, headers))
}

/// Undoes STOMP 1.2's header escaping.
fn unescape(text: &str, command: &str, header: &str) -> Result<String, FrameError> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            other => {
                return Err(FrameError::BadEscape {
                    command: command.to_owned(),
                    header: header.to_owned(),
                    sequence: other.map_or_else(|| "\\".to_owned(), |c| format!("\\{c}")),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut Decoder) -> Vec<Received> {
        std::iter::from_fn(|| decoder.decode().unwrap()).collect()
    }

    fn frames(octets: &[u8]) -> Vec<Received> {
        let mut decoder = Decoder::new(1 << 20);
        decoder.feed(octets);
        decode_all(&mut decoder)
    }

    #[test]
    fn headers_escape_and_unescape_except_in_connect_frames() {
        let frame = Frame::new("SEND").header("des:t", "a\\b\r\nc:d");
        let octets = frame.encode();
        assert_eq!(octets, b"SEND\ndes\\ct:a\\\\b\\r\\nc\\cd\n\n\0");
        assert_eq!(frames(&octets), [Received::Frame(frame)]);

        let connect = Frame::new("CONNECT").header("passcode", "a:b\\c");
        assert_eq!(connect.encode(), b"CONNECT\npasscode:a:b\\c\n\n\0");
        let connected = frames(b"CONNECTED\nserver:RabbitMQ/3.10\\x\n\n\0");
        assert_eq!(connected, [Received::Frame(Frame::new("CONNECTED").header("server", "RabbitMQ/3.10\\x"))]);
    }

    #[test]
    fn an_undefined_escape_or_a_foreign_command_is_refused_saying_what_is_wrong() {
        let mut decoder = Decoder::new(1024);
        decoder.feed(b"MESSAGE\nsubscription:s\\t\n\n\0");
        let error = decoder.decode().unwrap_err();
        assert_eq!(
            error,
            FrameError::BadEscape { command: "MESSAGE".into(), header: "subscription".into(), sequence: "\\t".into() }
        );
        assert!(error.to_string().contains("defines only \\r, \\n, \\c and \\\\"), "{error}");

        let mut decoder = Decoder::new(1024);
        decoder.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        let error = decoder.decode().unwrap_err();
        assert_eq!(error, FrameError::UnknownCommand("HTTP/1.1 400 Bad Request".into()));
        assert!(error.to_string().contains("is not a STOMP 1.2 command"), "{error}");

        let mut decoder = Decoder::new(1024);
        decoder.feed(b"MESSAGE\nno colon here\n\n\0");
        assert!(decoder.decode().unwrap_err().to_string().contains("\"no colon here\" has no ':'"));
    }

    #[test]
    fn content_length_bodies_may_hold_nuls() {
        let body = b"a\0b\0\0c".to_vec();
        let frame = Frame { command: "MESSAGE".into(), headers: vec![("message-id".into(), "1".into())], body };
        let octets = frame.encode();
        let mut expected = frame.clone();
        expected.headers.push(("content-length".into(), "6".into()));
        assert_eq!(frames(&octets), [Received::Frame(expected)]);

        // Without content-length the body ends at the first NUL.
        let read = frames(b"MESSAGE\na:1\n\nhello\0");
        assert_eq!(
            read,
            [Received::Frame(Frame { body: b"hello".to_vec(), ..Frame::new("MESSAGE").header("a", "1") })]
        );
    }

    #[test]
    fn a_wrong_content_length_is_refused() {
        let mut decoder = Decoder::new(1024);
        decoder.feed(b"MESSAGE\ncontent-length:3\n\nabcd\0");
        assert_eq!(decoder.decode().unwrap_err(), FrameError::NoNulAfterBody { command: "MESSAGE".into(), length: 3 });
        let mut decoder = Decoder::new(1024);
        decoder.feed(b"MESSAGE\ncontent-length:-3\n\n\0");
        assert!(matches!(decoder.decode().unwrap_err(), FrameError::BadContentLength { .. }));
        let mut decoder = Decoder::new(16);
        decoder.feed(b"MESSAGE\ncontent-length:300\n\n");
        assert_eq!(decoder.decode().unwrap_err(), FrameError::TooLarge { limit: 16 });
    }

    #[test]
    fn end_of_lines_between_frames_are_heart_beats() {
        let read = frames(b"\n\r\nRECEIPT\r\nreceipt-id:7\r\n\r\n\0\n\nERROR\nmessage:x\n\n\0\r\n");
        assert_eq!(
            read,
            [
                Received::HeartBeat,
                Received::HeartBeat,
                Received::Frame(Frame::new("RECEIPT").header("receipt-id", "7")),
                Received::HeartBeat,
                Received::HeartBeat,
                Received::Frame(Frame::new("ERROR").header("message", "x")),
                Received::HeartBeat,
            ]
        );
    }

    #[test]
    fn frames_split_anywhere_across_reads_come_out_whole_once() {
        let first = Frame { body: b"x\0y".to_vec(), ..Frame::new("MESSAGE").header("destination", "/queue/a:b") };
        let second = Frame { body: b"plain".to_vec(), ..Frame::new("MESSAGE").header("ack", "2") };
        let mut octets = first.encode();
        octets.extend_from_slice(b"\r\n");
        // The second without content-length: its body ends at the NUL.
        octets.extend_from_slice(b"MESSAGE\r\nack:2\r\n\r\nplain\0");
        let mut first_read = first.clone();
        first_read.headers.push(("content-length".into(), "3".into()));
        let expected = [Received::Frame(first_read), Received::HeartBeat, Received::Frame(second)];
        for chunk in 1..=octets.len() {
            let mut decoder = Decoder::new(1 << 20);
            let mut read = Vec::new();
            for piece in octets.chunks(chunk) {
                decoder.feed(piece);
                read.extend(decode_all(&mut decoder));
            }
            assert_eq!(read, expected, "read {chunk} octets at a time");
        }
        // One octet at a time, splitting every CR LF too.
        for split in 0..octets.len() {
            let mut decoder = Decoder::new(1 << 20);
            decoder.feed(&octets[..split]);
            let mut read = decode_all(&mut decoder);
            decoder.feed(&octets[split..]);
            read.extend(decode_all(&mut decoder));
            assert_eq!(read, expected, "split at {split}");
        }
    }

    #[test]
    fn a_repeated_header_keeps_its_first_value() {
        let read = frames(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0");
        let Received::Frame(frame) = &read[0] else { panic!("{read:?}") };
        assert_eq!(frame.get("foo"), Some("World"));
    }
}
