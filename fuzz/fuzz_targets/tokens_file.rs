//! Any text as a tokens file: read or refused naming a line of it, never a panic; what is read
//! holds at most a token a line, and reads the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loggerator::tokens::{Tokens, TokensError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Tokens::parse(text, "tokens") {
        Ok(tokens) => {
            assert!(tokens.len() <= text.lines().count());
            assert_eq!(Tokens::parse(text, "tokens"), Ok(tokens));
        }
        Err(TokensError::Line { line, .. }) => assert!(line >= 1 && line <= text.lines().count()),
        Err(other) => panic!("{other}"),
    }
});
