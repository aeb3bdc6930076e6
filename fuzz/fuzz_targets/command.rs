//! Property: whenever `parse_command` accepts a line, serializing the command
//! and parsing it again gives the same command:
//! `parse_command(&cmd.to_string()) == Ok(cmd)`. Never panics on any input.
#![no_main]

use ftp::protocol::parse_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cmd) = parse_command(line) {
        let wire = cmd.to_string();
        assert_eq!(
            parse_command(&wire),
            Ok(cmd),
            "input {line:?} serialized as {wire:?}"
        );
    }
});
