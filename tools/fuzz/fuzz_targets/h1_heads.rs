//! The HTTP/1.1 head judge (`http1::Heads`) fed any bytes, whole and in pieces of a size the input picks
//! (its first byte; at most 32 pieces).
//! Whatever the bytes: no panic; the same verdict however they arrive; a refusal only where actix-http's own
//! decoder refuses too, and no later than the refused head (the judge never refuses what actix would serve);
//! and every refusal's answer a well-formed HTTP/1.1 answer whose length is its body's.
#![no_main]
use actix_http::ServiceConfig;
use actix_http::h1::{Codec, Message};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use prometheus_adapter::http1::{Heads, MAX_HEAD_BYTES};
use tokio_util::codec::Decoder;

thread_local! {
    static SYSTEM: actix_rt::SystemRunner = actix_rt::System::new();
    /// actix-http's defaults; made once, inside a System (it starts actix's Date service).
    static CONFIG: ServiceConfig = SYSTEM.with(|system| system.block_on(async { ServiceConfig::default() }));
}

/// How many bytes actix-http's decoder had consumed when it refused `input`, if it did.
fn actix_refuses_after(input: &[u8]) -> Option<usize> {
    let mut codec = Codec::new(CONFIG.with(ServiceConfig::clone));
    let mut buffer = BytesMut::from(input);
    loop {
        let consumed = input.len() - buffer.len();
        match codec.decode(&mut buffer) {
            Err(_) => return Some(consumed),
            Ok(None) => return None,
            Ok(Some(Message::Item(_) | Message::Chunk(_))) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let (whole, refused_at) = Heads::judged(input, input.len().max(1));
    // At most 32 pieces: every read parses the head so far (as actix does), so one-byte pieces of a long
    // input would spend the run on one input.
    let piece = (usize::from(piece) + 1).max(input.len() / 32);
    let (in_pieces, _) = Heads::judged(input, piece);
    assert_eq!(
        whole, in_pieces,
        "the verdict depends on how the bytes arrive"
    );
    let Some(refusal) = whole else {
        return;
    };
    // Heads longer than actix's buffer are refused whatever actix would make of them (module doc).
    if input.len() <= MAX_HEAD_BYTES {
        match actix_refuses_after(input) {
            Some(consumed) => assert!(
                consumed <= refused_at,
                "actix served a head the judge refused ({refusal:?})"
            ),
            None => panic!("actix serves what the judge refused: {refusal:?}"),
        }
    }
    let wire = refusal.response();
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = response.parse(&wire) else {
        panic!("not an HTTP answer: {:?}", String::from_utf8_lossy(&wire));
    };
    assert_eq!(response.code, Some(refusal.code));
    let length = response
        .headers
        .iter()
        .find(|h| h.name == "content-length")
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok());
    assert_eq!(length, Some(wire.len() - head));
});
