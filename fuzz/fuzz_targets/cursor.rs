//! Any text as a cursor: decoding never panics, and what decodes encodes back to a cursor that
//! decodes to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loggerator::http::cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ids) = cursor::decode::<1>(text) {
        assert_eq!(cursor::decode::<1>(&cursor::encode(&ids)), Some(ids));
    }
    if let Some(ids) = cursor::decode::<2>(text) {
        assert_eq!(cursor::decode::<2>(&cursor::encode(&ids)), Some(ids));
    }
    let _ = cursor::decode_position(text);
});
