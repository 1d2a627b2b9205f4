//! Any text as a tokens file: read or refused naming a line of it, never a panic; a token found
//! in what was read is found again by its own secret only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loggerator::tokens::{Tokens, TokensError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Tokens::parse(text, "tokens") {
        Ok(tokens) => assert!(tokens.find(text).is_none() || !tokens.is_empty()),
        Err(TokensError::Line { line, .. }) => assert!(line >= 1 && line <= text.lines().count()),
        Err(other) => panic!("{other}"),
    }
});
