//! Any text: the parser never panics, its spans and its record agree, and a line it accepts
//! becomes a parsed entry whose key reads back the record's method and user.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loggerator::batch::Entry;
use loggerator::parse::{parse_fields, parse_line};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let record = parse_line(text);
    match (parse_fields(text), &record) {
        (Ok(fields), Ok(record)) => assert_eq!(&fields.record(text), record),
        (Err(a), Err(b)) => assert_eq!(&a, b),
        (a, b) => panic!("parse_fields {a:?} but parse_line {b:?}"),
    }
    match (Entry::from_line(text), record) {
        (Entry::Parsed { line, key }, Ok(record)) => {
            assert_eq!(key.method(&line), record.method.as_ref());
            assert_eq!(key.user(&line), record.user);
            assert_eq!((key.date, key.code), (record.date, record.code));
        }
        (Entry::Rejected { reason, .. }, Err(error)) => assert_eq!(reason, error.to_string()),
        (entry, record) => panic!("entry {entry:?} but record {record:?}"),
    }
});
