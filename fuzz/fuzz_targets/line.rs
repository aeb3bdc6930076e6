//! Property: `LineDecoder` never panics, always makes progress, every
//! `Frame::Line` is at most `cap` bytes long and holds no LF, and the frames
//! are the same whatever the chunking of the input: all at once, split at one
//! fuzzer-chosen point, or one byte at a time.
//!
//! Input layout: byte 0 picks the cap (0..=63, or the real `MAX_LINE` when
//! 0xFF), byte 1 the split point (scaled to the rest), the rest is the stream.
#![no_main]

use ftp::limits::MAX_LINE;
use ftp::protocol::{Frame, LineDecoder};
use libfuzzer_sys::fuzz_target;

fn frames<'a>(cap: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Frame> {
    let mut decoder = LineDecoder::new(cap);
    let mut out = Vec::new();
    for mut chunk in chunks {
        while !chunk.is_empty() {
            let (used, frame) = decoder.decode(chunk);
            assert!(used > 0 && used <= chunk.len(), "no progress or overrun");
            // A frame ends exactly at the LF that completed it; without a
            // frame the whole chunk is consumed.
            match frame {
                Some(_) => assert_eq!(chunk[used - 1], b'\n'),
                None => assert_eq!(used, chunk.len()),
            }
            out.extend(frame);
            chunk = &chunk[used..];
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [cap, split, bytes @ ..] = data else {
        return;
    };
    let cap = if *cap == 0xFF {
        MAX_LINE
    } else {
        usize::from(cap % 64)
    };
    let at = usize::from(*split) * bytes.len() / 255;

    let whole = frames(cap, [bytes]);
    for frame in &whole {
        if let Frame::Line(line) = frame {
            assert!(
                line.len() <= cap,
                "line of {} bytes over cap {cap}",
                line.len()
            );
            assert!(!line.contains(&b'\n'), "LF inside a line");
        }
    }
    assert!(whole.len() <= bytes.iter().filter(|&&b| b == b'\n').count());

    let (head, tail) = bytes.split_at(at);
    assert_eq!(frames(cap, [head, tail]), whole, "split at {at}");
    assert_eq!(frames(cap, bytes.chunks(1)), whole, "byte at a time");
});
