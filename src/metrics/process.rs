//! Figures about the process and its threads, from `/proc` (Linux).

/// The process's resident memory and CPU time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on every Linux we meet).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a `/proc/.../stat` line, in seconds.
fn cpu_of_stat(stat: &str) -> Option<f64> {
    // Fields after the parenthesised command (which may hold spaces): state is field 3,
    // utime field 14, stime field 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second())
}

/// CPU seconds of the calling thread (a shard's busy time).
pub fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| cpu_of_stat(&s))
        .unwrap_or(0.0)
}

impl Process {
    /// Reads `/proc/self`; a figure that cannot be read is 0.
    pub fn read() -> Process {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let cpu_seconds = cpu_of_stat(&stat).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        let resident_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * page);
        Process {
            resident_bytes,
            cpu_seconds,
            start_time_seconds: start_time(&stat).unwrap_or(0.0),
        }
    }
}

/// The process's start, in seconds since the epoch: boot time plus field 22 of its stat.
fn start_time(stat: &str) -> Option<f64> {
    let rest = stat.rsplit_once(')')?.1;
    let since_boot: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot + since_boot as f64 / ticks_per_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let p = Process::read();
        assert!(p.resident_bytes > 0);
        assert!(p.start_time_seconds > 1.0e9);
        assert!(cpu_of_stat("1 (a b) S 0 0 0 0 0 0 0 0 0 0 250 50 0 0").is_some_and(|s| s > 0.0));
    }
}
