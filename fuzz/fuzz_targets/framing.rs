//! Any bytes, in any chunks: the line codec never fails or panics, every byte is accounted
//! for (in a line, a kept prefix's length, or a cut-short tail), and no frame is over the limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use loggerator::ingest::framing::{Frame, LineCodec};
use tokio_util::codec::Decoder;

const LIMIT: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut codec = LineCodec::new(LIMIT);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = codec.decode(&mut buf).expect("never fails") {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("never fails") {
        frames.push(frame);
    }
    let mut accounted = 0;
    for frame in &frames {
        match frame {
            Frame::Line(bytes) => {
                assert!(bytes.len() <= LIMIT && !bytes.contains(&b'\n'));
                accounted += bytes.len() + 1;
            }
            Frame::TooLong { prefix, length } => {
                assert!(prefix.len() == LIMIT && *length > LIMIT);
                accounted += length + 1;
            }
            Frame::Unterminated { bytes, length } => {
                assert!(bytes.len() <= LIMIT && *length >= bytes.len());
                accounted += length;
            }
        }
    }
    assert_eq!(accounted, input.len());
});
