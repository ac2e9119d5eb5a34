//! The WebSocket frame reader (our own code, in place of a maintained crate) on arbitrary
//! bytes, delivered in two pieces: never a panic, no message over the limit, and text
//! messages always valid UTF-8.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::ws::wire::{Event, Reader};

const MAX: usize = 4096;

fuzz_target!(|input: (u16, &[u8])| {
    let (split, data) = input;
    let split = (split as usize).min(data.len());
    let mut r = Reader::new(data[..split].to_vec(), MAX);
    let mut pushed = false;
    loop {
        match r.parse_buffered() {
            Ok(Some(Event::Text(t))) => {
                assert!(t.len() <= MAX);
                assert!(std::str::from_utf8(&t).is_ok());
            }
            Ok(Some(Event::Binary(b))) => assert!(b.len() <= MAX),
            Ok(Some(Event::Ping(p))) => assert!(p.len() <= 125),
            Ok(Some(Event::Close(_))) => return,
            Ok(None) if !pushed => {
                r.push(&data[split..]);
                pushed = true;
            }
            Ok(None) | Err(_) => return,
        }
    }
});
