//! The chunked-body decoder on arbitrary bytes, fed in one piece and in two (compacting
//! the input between them the way a connection does): never a panic, never more output
//! than the limit, and the same answer however the bytes arrived.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::http::chunked::ChunkedDecoder;

const LIMIT: u64 = 1 << 16;

fuzz_target!(|input: (u16, &[u8])| {
    let (split, data) = input;
    let whole = {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        (
            d.feed(data, &mut out, LIMIT)
                .map(|done| done.is_some())
                .ok(),
            out,
        )
    };
    assert!(whole.1.len() as u64 <= LIMIT);
    let split = (split as usize).min(data.len());
    let mut d = ChunkedDecoder::default();
    let mut out = Vec::new();
    let mut buf = data[..split].to_vec();
    let first = d.feed(&buf, &mut out, LIMIT);
    let pieces = match first {
        Err(_) => None,
        Ok(Some(_)) => Some(true),
        Ok(None) => {
            let n = d.take_consumed();
            buf.drain(..n);
            buf.extend_from_slice(&data[split..]);
            d.feed(&buf, &mut out, LIMIT)
                .map(|done| done.is_some())
                .ok()
        }
    };
    assert_eq!(whole.0, pieces, "one piece and two pieces disagree");
    if whole.0 == Some(true) {
        assert_eq!(whole.1, out);
    }
});
