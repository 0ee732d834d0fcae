//! An HTTP/2 client that speaks frames by hand, over real TLS: it sees the server's SETTINGS as sent and
//! can do what conforming clients (hyper, Go) refuse to — open more streams than the server allows and
//! never grant flow-control window, as an attacker would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const END_STREAM: u8 = 0x1;
/// `RST_STREAM`'s error code for a stream the server did not process (RFC 9113 §7).
pub const REFUSED_STREAM: u32 = 0x7;
/// `RST_STREAM`'s error code for a malformed request (RFC 9113 §8.1.1).
pub const PROTOCOL_ERROR: u32 = 0x1;
/// `GOAWAY`'s error code for a peer that generates excessive load.
pub const ENHANCE_YOUR_CALM: u32 = 0xb;
/// `GOAWAY`'s error code for a graceful close.
pub const NO_ERROR: u32 = 0x0;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// One frame as received.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

pub struct RawH2 {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    next_stream: u32,
}

impl RawH2 {
    /// Connects with ALPN `h2` and sends the client preface with empty SETTINGS (so the default 65,535-byte
    /// windows, which this client never widens).
    pub fn connect(port: u16, ca: &Path) -> RawH2 {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut tls = crate::support::env::client_config(ca, None);
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(tls), name).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        stream.write_all(PREFACE).unwrap();
        let mut raw = RawH2 {
            stream,
            next_stream: 1,
        };
        raw.send(SETTINGS, 0, 0, &[]);
        raw.flush();
        assert_eq!(
            raw.stream.conn.alpn_protocol(),
            Some(&b"h2"[..]),
            "the server chose h2"
        );
        raw
    }

    fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len();
        let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    pub fn flush(&mut self) {
        self.stream.flush().unwrap();
    }

    /// Queues a GET for `path` on a new stream (HPACK literals, no Huffman); `flush` sends it.
    pub fn get(&mut self, path: &str) -> u32 {
        self.get_with(path, &[])
    }

    /// A GET for `path` with extra `headers` (lowercase names), of any length: the header block is split
    /// into HEADERS and CONTINUATION frames of the default 16 KiB.
    pub fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> u32 {
        let mut block = vec![0x82, 0x87]; // :method GET, :scheme https (static table)
        for (name_index, value) in [(4u8, path), (1, "127.0.0.1")] {
            // Literal without indexing, indexed name (:path 4, :authority 1).
            block.push(name_index);
            hpack_string(&mut block, value);
        }
        for (name, value) in headers {
            block.push(0); // literal without indexing, new name
            hpack_string(&mut block, name);
            hpack_string(&mut block, value);
        }
        let id = self.next_stream;
        self.next_stream += 2;
        let mut pieces = block.chunks(16_384).peekable();
        let (mut kind, mut flags) = (HEADERS, END_STREAM);
        while let Some(piece) = pieces.next() {
            if pieces.peek().is_none() {
                flags |= END_HEADERS;
            }
            self.send(kind, flags, id, piece);
            (kind, flags) = (CONTINUATION, 0);
        }
        id
    }

    /// Queues a POST for `path` whose body is still to come (`data` sends it); `flush` sends it.
    pub fn post(&mut self, path: &str) -> u32 {
        let mut block = vec![0x83, 0x87]; // :method POST, :scheme https (static table)
        for (name_index, value) in [(4u8, path), (1, "127.0.0.1")] {
            block.push(name_index);
            hpack_string(&mut block, value);
        }
        let id = self.next_stream;
        self.next_stream += 2;
        self.send(HEADERS, END_HEADERS, id, &block);
        id
    }

    /// Queues the last piece of a request's body on `stream`.
    pub fn data(&mut self, stream: u32, body: &[u8]) {
        self.send(DATA, END_STREAM, stream, body);
    }

    /// The next frame; answers PINGs and acknowledges SETTINGS on the way, as every client must.
    /// `None` when nothing arrives within the read timeout or the connection ends.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let mut header = [0u8; 9];
        self.stream.read_exact(&mut header).ok()?;
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload).ok()?;
        let frame = Frame {
            kind: header[3],
            flags: header[4],
            stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff,
            payload,
        };
        match (frame.kind, frame.flags & ACK) {
            (SETTINGS, 0) => self.send(SETTINGS, ACK, 0, &[]),
            (PING, 0) => self.send(PING, ACK, 0, &frame.payload.clone()),
            _ => return Some(frame),
        }
        self.flush();
        Some(frame)
    }

    /// The answer on `stream`: its HEADERS frame and its body, read until `END_STREAM` (frames of other
    /// streams are skipped). A reset or the connection's end panics.
    pub fn answer(&mut self, stream: u32) -> (Frame, Vec<u8>) {
        let (mut headers, mut body) = (None, Vec::new());
        loop {
            let frame = self.next_frame().expect("the answer");
            assert!(
                frame.kind != GOAWAY && (frame.stream != stream || frame.kind != RST_STREAM),
                "{frame:?}"
            );
            if frame.stream != stream {
                continue;
            }
            let end = frame.flags & END_STREAM != 0;
            match frame.kind {
                HEADERS => headers = Some(frame),
                DATA => body.extend_from_slice(&frame.payload),
                _ => {}
            }
            if end {
                return (headers.expect("HEADERS before END_STREAM"), body);
            }
        }
    }

    /// The server's SETTINGS, `(identifier, value)` in the order sent: the first frame it sends.
    pub fn server_settings(&mut self) -> Vec<(u16, u32)> {
        let frame = self.next_frame().expect("the server's SETTINGS");
        assert_eq!(
            (frame.kind, frame.flags),
            (SETTINGS, 0),
            "the first frame: {frame:?}"
        );
        frame
            .payload
            .chunks(6)
            .map(|e| {
                (
                    u16::from_be_bytes([e[0], e[1]]),
                    u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
                )
            })
            .collect()
    }
}

impl Frame {
    /// The error code of a `RST_STREAM` or `GOAWAY`, 0 for other frames.
    pub fn error_code_or_zero(&self) -> u32 {
        match self.kind {
            RST_STREAM | GOAWAY => self.error_code(),
            _ => 0,
        }
    }

    /// The error code of a `RST_STREAM` (its payload) or a `GOAWAY` (after the last stream id).
    pub fn error_code(&self) -> u32 {
        let at = match self.kind {
            GOAWAY => 4,
            _ => 0,
        };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

/// An HPACK string literal without Huffman coding: its length as a 7-bit-prefix integer, then its bytes.
fn hpack_string(block: &mut Vec<u8>, value: &str) {
    let mut length = value.len();
    if length < 127 {
        block.push(length as u8);
    } else {
        block.push(127);
        length -= 127;
        while length >= 128 {
            block.push((length % 128) as u8 | 0x80);
            length /= 128;
        }
        block.push(length as u8);
    }
    block.extend_from_slice(value.as_bytes());
}

/// `SETTINGS_MAX_CONCURRENT_STREAMS` among `settings`.
pub fn max_concurrent_streams(settings: &[(u16, u32)]) -> Option<u32> {
    settings
        .iter()
        .rev()
        .find(|(id, _)| *id == 0x3)
        .map(|(_, v)| *v)
}
