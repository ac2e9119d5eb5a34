//! The log record decoder: arbitrary bytes scanned as a segment, and arbitrary bytes
//! framed with valid checksums (so the archive decoder, not the checksum, is what
//! meets them). Never a panic, and a scan accounts for every byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::wal::record::{scan, Tail};

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let mut head8 = [0u8; 8];
    head8[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    head8[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(&head8);
    out.extend_from_slice(&crc32c::crc32c(&head8).to_le_bytes());
    out.extend_from_slice(payload);
}

fn check(buf: &[u8]) {
    let s = scan(buf);
    assert!(s.valid_len <= buf.len());
    match s.tail {
        Tail::Clean => assert_eq!(s.valid_len, buf.len()),
        Tail::Torn { dropped } => assert_eq!(s.valid_len + dropped, buf.len()),
        Tail::Corrupt { offset } => assert_eq!(offset, s.valid_len),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut framed = Vec::new();
    frame(data, &mut framed);
    check(&framed);
});
