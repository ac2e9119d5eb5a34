//! An incremental decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! It is fed the bytes after the head as they arrive and remembers how far it got, so a
//! body trickled in many reads is decoded once, not re-scanned. It is strict: bare LF,
//! a size without hex digits, a size over 16 hex digits, or missing CRLF after the data
//! are framing errors, and the connection is closed.

use crate::error::Error;

/// Longest chunk-size line (size plus extensions) or trailer section accepted.
const LINE_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decoder state; `consumed` counts input bytes already decoded.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    consumed: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size,
            consumed: 0,
            trailer_bytes: 0,
        }
    }
}

fn framing(msg: &str) -> Error {
    Error::BadFraming(format!("bad chunked body: {msg}"))
}

/// The index of the next CRLF in `input`; a bare LF is an error.
fn line_end(input: &[u8]) -> Result<Option<usize>, Error> {
    match input.iter().position(|&b| b == b'\n') {
        Some(0) => Err(framing("bare LF")),
        Some(i) if input[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err(framing("bare LF")),
        None if input.len() > LINE_MAX => Err(framing("line too long")),
        None => Ok(None),
    }
}

fn parse_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(framing("invalid chunk size"));
    }
    let rest = &line[digits..];
    let rest_ok =
        rest.is_empty() || rest.iter().find(|b| **b != b' ' && **b != b'\t') == Some(&b';');
    if !rest_ok || rest.iter().any(|b| *b == b'\r' || *b == 0) {
        return Err(framing("invalid chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| framing("invalid chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| framing("invalid chunk size"))
}

impl ChunkedDecoder {
    /// Forgets the input decoded so far, which the caller drops from its buffer: the next
    /// `feed` starts at what was not yet decoded. Returns how many bytes that was.
    pub fn take_consumed(&mut self) -> usize {
        std::mem::take(&mut self.consumed)
    }

    /// Decodes what it can of `input` (the body bytes received so far, from the start of
    /// the body or from where the last [`ChunkedDecoder::take_consumed`] left off) into `out`. Returns `Ok(Some(n))` once the body is complete, `n` being the
    /// length of the encoded body; `Ok(None)` when more input is needed.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        size_max: u64,
    ) -> Result<Option<usize>, Error> {
        loop {
            let rest = &input[self.consumed..];
            match self.state {
                State::Size => {
                    let Some(end) = line_end(rest)? else {
                        return Ok(None);
                    };
                    let size = parse_size(&rest[..end])?;
                    self.consumed += end + 2;
                    if size == 0 {
                        self.state = State::Trailers;
                    } else if size > size_max.saturating_sub(out.len() as u64) {
                        // Compared without adding: a peer-chosen size must not wrap around.
                        return Err(Error::PayloadTooLarge {
                            size: None,
                            size_max,
                        });
                    } else {
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    let take = (left.min(rest.len() as u64)) as usize;
                    out.extend_from_slice(&rest[..take]);
                    self.consumed += take;
                    self.state = if take as u64 == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take as u64)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(None);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(framing("chunk data not followed by CRLF"));
                    }
                    self.consumed += 2;
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(end) = line_end(rest)? else {
                        return Ok(None);
                    };
                    self.consumed += end + 2;
                    self.trailer_bytes += end + 2;
                    if self.trailer_bytes > LINE_MAX {
                        return Err(framing("trailers too long"));
                    }
                    if end == 0 {
                        self.state = State::Done;
                    }
                }
                State::Done => return Ok(Some(self.consumed)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chunk_size_near_u64_max_is_too_large_not_a_wrap_around() {
        let mut d = ChunkedDecoder::default();
        let mut out = vec![0u8; 10];
        let r = d.feed(b"ffffffffffffffff\r\n", &mut out, 16 << 20);
        assert!(matches!(r, Err(Error::PayloadTooLarge { .. })), "{r:?}");
    }

    #[test]
    fn decoded_input_can_be_dropped_between_feeds() {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut input = b"3;ext=long\r\nabc\r\n".to_vec();
        assert!(d.feed(&input, &mut out, 100).expect("feed").is_none());
        let done = d.take_consumed();
        input.drain(..done);
        input.extend_from_slice(b"2\r\nde\r\n0\r\n\r\n");
        assert_eq!(
            d.feed(&input, &mut out, 100).expect("feed"),
            Some(input.len())
        );
        assert_eq!(out, b"abcde");
    }

    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Error> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        Ok(d.feed(input, &mut out, 1 << 20)?.map(|n| (out, n)))
    }

    #[test]
    fn decodes_with_extensions_and_trailers() {
        let body = b"5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (out, n) = decode_all(body).expect("ok").expect("complete");
        assert_eq!(out, b"hello world");
        assert_eq!(&body[n..], b"NEXT");
    }

    #[test]
    fn rejects_bad_sizes_and_framing() {
        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"11111111111111111\r\n",
            b"5 x\r\nhello\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn enforces_the_size_limit_before_buffering() {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let r = d.feed(b"ffffff\r\n", &mut out, 1024);
        assert!(matches!(r, Err(Error::PayloadTooLarge { .. })));
    }

    proptest! {
        /// Fed in any two pieces, the decoder produces the same body.
        #[test]
        fn any_split_decodes_the_same(data in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..50, cut in 0usize..400) {
            let mut enc = Vec::new();
            for c in data.chunks(chunk) {
                enc.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                enc.extend_from_slice(c);
                enc.extend_from_slice(b"\r\n");
            }
            enc.extend_from_slice(b"0\r\n\r\n");
            let cut = cut.min(enc.len());
            let mut d = ChunkedDecoder::default();
            let mut out = Vec::new();
            let first = d.feed(&enc[..cut], &mut out, 1 << 20).expect("ok");
            if cut < enc.len() {
                prop_assert!(first.is_none());
            }
            let done = d.feed(&enc, &mut out, 1 << 20).expect("ok");
            prop_assert_eq!(done, Some(enc.len()));
            prop_assert_eq!(out, data);
        }
    }
}
