//! Properties:
//! 1. Whenever `parse_reply` accepts input, it consumed a non-empty prefix,
//!    and the serialization of the reply (`Display`, CRLF after every line)
//!    parses back to the same reply, consuming it all. Checked strictly, with
//!    no normalization pass: a middle line is kept as a middle line only when
//!    it does not read as the reply's end (`code SP text` or a bare `code`),
//!    and `Display` writes middle lines verbatim, so re-parsing sees the same
//!    line boundaries. (`Reply::multi` would indent a middle line that reads
//!    as the end, but a parsed reply never holds one.)
//! 2. Any reply built with `Reply::multi` (the server's constructor, which
//!    sanitizes CR/LF and indents middle lines that read as the end) from
//!    the input's lines survives the wire: it parses back to itself.
//!
//! Never panics on any input.
#![no_main]

use ftp::protocol::reply::{parse_reply, Reply, ReplyCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };

    let mut code = ReplyCode::SYSTEM_STATUS;
    if let Ok((rest, reply)) = parse_reply(input) {
        assert!(rest.len() < input.len() && input.ends_with(rest));
        assert!(!reply.lines().is_empty());
        let wire = reply.to_string();
        assert_eq!(
            parse_reply(&wire),
            Ok(("", reply.clone())),
            "input {input:?} serialized as {wire:?}"
        );
        code = reply.code();
    } else if let Some(n) = input.get(..3).and_then(|c| c.parse().ok()) {
        code = ReplyCode::new(n).unwrap_or(code);
    }

    let built = Reply::multi(code, input.split('\n'));
    let wire = built.to_string();
    assert_eq!(
        parse_reply(&wire),
        Ok(("", built.clone())),
        "Reply::multi({code}, lines of {input:?}) serialized as {wire:?}"
    );
});
