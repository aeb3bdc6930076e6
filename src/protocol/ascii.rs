//! TYPE A (ASCII) line-end conversion, RFC 959 §3.1.1.1.
//!
//! On the wire a text file's lines end in CRLF; on this (Unix) side they end
//! in LF. Sending turns every LF not already preceded by CR into CRLF;
//! receiving turns CRLF into LF and leaves a lone CR alone. Both keep state
//! across buffers, because a CRLF may be split between two reads.

/// LF to CRLF, for data sent in TYPE A.
#[derive(Debug, Default, Clone)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// Appends the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

/// CRLF to LF, for data received in TYPE A.
#[derive(Debug, Default, Clone)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// Appends the converted form of `input` to `out`; a CR at the end of
    /// `input` is held back until the next byte shows whether LF follows.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if std::mem::take(&mut self.pending_cr) && b != b'\n' {
                out.push(b'\r');
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a CR held back at the end of the data.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lf_becomes_crlf_and_back() {
        let mut out = Vec::new();
        ToNetwork::default().convert(b"a\nb\r\nc\rd\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\rd\r\n");
        let mut back = Vec::new();
        let mut from = FromNetwork::default();
        from.convert(&out, &mut back);
        from.finish(&mut back);
        assert_eq!(back, b"a\nb\nc\rd\n");
    }

    proptest! {
        /// Any split of the input gives the same result as one buffer.
        #[test]
        fn conversion_is_independent_of_splits(data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..200), cut in 0usize..200) {
            let cut = cut.min(data.len());
            let mut whole = Vec::new();
            let mut from = FromNetwork::default();
            from.convert(&data, &mut whole);
            from.finish(&mut whole);
            let mut split = Vec::new();
            let mut from = FromNetwork::default();
            from.convert(&data[..cut], &mut split);
            from.convert(&data[cut..], &mut split);
            from.finish(&mut split);
            prop_assert_eq!(&whole, &split);

            let mut whole = Vec::new();
            ToNetwork::default().convert(&data, &mut whole);
            let mut split = Vec::new();
            let mut to = ToNetwork::default();
            to.convert(&data[..cut], &mut split);
            to.convert(&data[cut..], &mut split);
            prop_assert_eq!(whole, split);
        }

        /// Text without CR survives the round trip unchanged.
        #[test]
        fn unix_text_round_trips(data in proptest::collection::vec(any::<u8>().prop_filter("no CR", |b| *b != b'\r'), 0..200)) {
            let mut wire = Vec::new();
            ToNetwork::default().convert(&data, &mut wire);
            let mut back = Vec::new();
            let mut from = FromNetwork::default();
            from.convert(&wire, &mut back);
            from.finish(&mut back);
            prop_assert_eq!(back, data);
        }
    }
}
