//! A shard's manifest: what recovery must find in the shard's directory.
//!
//! Without it, a snapshot deleted or damaged while no log record follows it looks exactly
//! like a new, empty shard, and a deleted newest segment looks like no writes at all: the
//! server would start with less than it acknowledged, without a word. The manifest names
//! the snapshot to load and every segment that must be there, each with the last record it
//! is known to hold, so recovery can refuse to start and say what is missing.
//!
//! It is rewritten whole (temporary file, sync, rename, directory sync) only when the set of
//! files changes or a bound becomes known: at start, when the log rotates, when a snapshot
//! lands, and at a clean stop. Never per write.
//!
//! Text, so an operator can read it:
//!
//! ```text
//! nimbus-manifest 1
//! snapshot 120
//! segment 121 300
//! segment 301 0
//! crc 1a2b3c4d
//! ```
//!
//! `segment FIRST THROUGH`: records `FIRST..=THROUGH` are in that file (`THROUGH < FIRST`: none
//! known yet); records after `THROUGH` may follow it.

use super::disk::Disk;
use std::io;
use std::path::Path;

/// The manifest's file name in a shard directory.
pub const FILE: &str = "MANIFEST";
const HEADER: &str = "nimbus-manifest 1";

/// One log segment that must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Its first sequence number (and its file name, `wal-<first>.log`).
    pub first: u64,
    /// Every record from `first` through this one is in it.
    pub through: u64,
}

impl Segment {
    /// The records this segment is known to hold, if any.
    pub fn known(&self) -> Option<std::ops::RangeInclusive<u64>> {
        (self.through >= self.first).then_some(self.first..=self.through)
    }
}

/// What a shard directory must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The sequence number of the snapshot to load; 0: none.
    pub snapshot: u64,
    /// Segments, oldest first.
    pub segments: Vec<Segment>,
}

impl Manifest {
    /// The text of the manifest, with its checksum line.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = format!("{HEADER}\nsnapshot {}\n", self.snapshot);
        for s in &self.segments {
            body += &format!("segment {} {}\n", s.first, s.through);
        }
        let crc = crc32c::crc32c(body.as_bytes());
        body += &format!("crc {crc:08x}\n");
        body.into_bytes()
    }

    /// Reads a manifest's text; the error says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let body_end = text
            .rfind("crc ")
            .ok_or_else(|| "no checksum line (the file is cut short)".to_string())?;
        let (body, crc_line) = text.split_at(body_end);
        let crc = u32::from_str_radix(crc_line.trim_start_matches("crc ").trim(), 16)
            .map_err(|_| "a malformed checksum line".to_string())?;
        if crc32c::crc32c(body.as_bytes()) != crc {
            return Err("checksum mismatch (the file is damaged)".into());
        }
        let mut lines = body.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("does not start with `{HEADER}`"));
        }
        let mut m = Manifest::default();
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            let num = |w: &str| w.parse::<u64>().map_err(|_| format!("bad line `{line}`"));
            match words.as_slice() {
                ["snapshot", n] => m.snapshot = num(n)?,
                ["segment", first, through] => m.segments.push(Segment {
                    first: num(first)?,
                    through: num(through)?,
                }),
                _ => return Err(format!("bad line `{line}`")),
            }
        }
        Ok(m)
    }

    /// Reads `dir`'s manifest: `Ok(None)` when there is none.
    pub fn read(disk: &dyn Disk, dir: &Path) -> io::Result<Option<Manifest>> {
        let path = dir.join(FILE);
        if !disk.list(dir)?.iter().any(|n| n == FILE) {
            return Ok(None);
        }
        let bytes = disk.read(&path)?;
        Manifest::decode(&bytes).map(Some).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a valid manifest: {why}", path.display()),
            )
        })
    }

    /// Makes this manifest `dir`'s, atomically: a crash leaves the old one or this one.
    pub fn write(&self, disk: &dyn Disk, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let written = disk
            .write_synced(&tmp, &self.encode())
            .and_then(|()| disk.rename(&tmp, &dir.join(FILE)))
            .and_then(|()| disk.sync_dir(dir));
        if written.is_err() {
            let _ = disk.remove(&tmp);
        }
        written
    }

    /// The newest segment, the one appended to.
    pub fn last_mut(&mut self) -> Option<&mut Segment> {
        self.segments.last_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_detected() {
        let m = Manifest {
            snapshot: 120,
            segments: vec![
                Segment {
                    first: 121,
                    through: 300,
                },
                Segment {
                    first: 301,
                    through: 0,
                },
            ],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes), Ok(m.clone()));
        for cut in 0..bytes.len() - 1 {
            assert!(Manifest::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[25] ^= 1;
        assert!(Manifest::decode(&flipped).is_err());
        assert_eq!(m.segments[0].known(), Some(121..=300));
        assert_eq!(m.segments[1].known(), None);
    }
}
