//! This process's own resource use: memory from `/proc/self/status`, CPU time and counters
//! from `/proc/self/stat`.
//!
//! node_exporter (Prometheus client) equivalents: `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_cpu_seconds_total` ((utime + stime) / `USER_HZ`),
//! `process_start_time_seconds` (`btime` + `start_ticks` / `USER_HZ`).

use super::ascii::{fields, parse_u32, parse_u64, split_key};
use super::read::{LINE_BUF_SIZE, Line, ReadError, lines, read_lines, read_prefix};
use crate::config::parse_or;

/// Size of the stack buffer `/proc/self/stat` is read into, in bytes.
///
/// Default 512: the fields used end by the 24th, within about 300 bytes even with a 64-byte
/// name and 20-digit numbers. The rest of the line (up to 52 fields) may be cut off; only
/// whole fields are used. Set with `EDGELOOP_STATUS_STAT_BUF`.
pub const PROC_STAT_BUF_SIZE: usize = parse_or(option_env!("EDGELOOP_STATUS_STAT_BUF"), 512);

/// Memory figures from `/proc/self/status`, in bytes (threads as a count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProcessMemory {
    /// `VmRSS`: resident set size now.
    pub rss_bytes: Option<u64>,
    /// `VmHWM`: peak resident set size ("high water mark").
    pub rss_peak_bytes: Option<u64>,
    /// `VmSize`: virtual memory size.
    pub virtual_bytes: Option<u64>,
    /// `VmPeak`: peak virtual memory size.
    pub virtual_peak_bytes: Option<u64>,
    /// `Threads`: number of threads.
    pub threads: Option<u32>,
}

impl ProcessMemory {
    /// Takes one `/proc/self/status` line; others and cut lines are ignored.
    pub fn feed(&mut self, line: Line<'_>) {
        if !line.complete {
            return;
        }
        let Some((key, rest)) = split_key(line.text) else {
            return;
        };
        let mut f = fields(rest);
        let (value, unit, extra) = (f.next(), f.next(), f.next());
        if key == b"Threads" {
            if unit.is_none() {
                self.threads = value.and_then(parse_u32);
            }
            return;
        }
        let slot = match key {
            b"VmRSS" => &mut self.rss_bytes,
            b"VmHWM" => &mut self.rss_peak_bytes,
            b"VmSize" => &mut self.virtual_bytes,
            b"VmPeak" => &mut self.virtual_peak_bytes,
            _ => return,
        };
        *slot = match (value.and_then(parse_u64), unit, extra) {
            (Some(n), Some(b"kB"), None) => n.checked_mul(1024),
            _ => None,
        };
    }
}

/// Parses the contents of `/proc/self/status`. Never fails: unknown fields stay `None`
/// (kernel threads have no `Vm*` lines).
pub fn parse_process_status(data: &[u8]) -> ProcessMemory {
    let mut m = ProcessMemory::default();
    for line in lines(data) {
        m.feed(line);
    }
    m
}

/// Reads `/proc/self/status`.
pub fn read_process_memory() -> Result<ProcessMemory, ReadError> {
    read_process_memory_from("/proc/self/status")
}

/// Reads a status file at `path`, streamed through a [`LINE_BUF_SIZE`] buffer (long lines
/// such as `Cpus_allowed` on big machines are skipped).
pub fn read_process_memory_from(path: &str) -> Result<ProcessMemory, ReadError> {
    let mut m = ProcessMemory::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| m.feed(line))?;
    if m.rss_bytes.is_none() {
        return Err(ReadError::Malformed);
    }
    Ok(m)
}

/// CPU time and counters from `/proc/self/stat`; times in `USER_HZ` ticks
/// (see [`USER_HZ`](super::cpu::USER_HZ)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProcessTimes {
    /// Time in user mode (field 14, `utime`).
    pub utime_ticks: u64,
    /// Time in kernel mode (field 15, `stime`).
    pub stime_ticks: u64,
    /// Minor page faults (field 10, `minflt`).
    pub minor_faults: u64,
    /// Major page faults, those that read from disk (field 12, `majflt`).
    pub major_faults: u64,
    /// Threads (field 20, `num_threads`).
    pub threads: u64,
    /// Start time after boot (field 22, `starttime`).
    pub start_ticks: u64,
}

impl ProcessTimes {
    /// User plus system time in milliseconds (saturating).
    pub fn cpu_millis(&self) -> u64 {
        super::cpu::jiffies_to_millis(self.utime_ticks.saturating_add(self.stime_ticks))
    }
}

/// Parses `/proc/<pid>/stat` (or its start). The command name (field 2) is in parentheses and
/// may itself contain spaces and `)`, so fields are counted from the last `)`. Only whole
/// fields are used: if `data` does not end in `\n` its last field is treated as cut. `None`
/// when a needed field is missing or not a number.
pub fn parse_process_stat(data: &[u8]) -> Option<ProcessTimes> {
    let close = data.iter().rposition(|&b| b == b')')?;
    let rest = &data[close + 1..];
    let line = match rest.strip_suffix(b"\n") {
        Some(text) => Line {
            text,
            complete: true,
        },
        None => Line {
            text: rest,
            complete: false,
        },
    };
    // Field 3 (state) is index 0 here.
    let mut v = [0u64; 6];
    let wanted = [
        (10usize, 0usize),
        (12, 1),
        (14, 2),
        (15, 3),
        (20, 4),
        (22, 5),
    ];
    let mut got = 0;
    for (i, field) in fields(line.settled()).enumerate() {
        let Some(&(_, slot)) = wanted.iter().find(|(n, _)| *n == i + 3) else {
            continue;
        };
        v[slot] = parse_u64(field)?;
        got += 1;
    }
    if got != wanted.len() {
        return None;
    }
    let [
        minor_faults,
        major_faults,
        utime_ticks,
        stime_ticks,
        threads,
        start_ticks,
    ] = v;
    Some(ProcessTimes {
        utime_ticks,
        stime_ticks,
        minor_faults,
        major_faults,
        threads,
        start_ticks,
    })
}

/// Reads `/proc/self/stat`.
pub fn read_process_times() -> Result<ProcessTimes, ReadError> {
    read_process_times_from("/proc/self/stat")
}

/// Reads the start of a stat file at `path` into a [`PROC_STAT_BUF_SIZE`] buffer.
pub fn read_process_times_from(path: &str) -> Result<ProcessTimes, ReadError> {
    let mut buf = [0u8; PROC_STAT_BUF_SIZE];
    let prefix = read_prefix(path, &mut buf)?;
    let data = if prefix.complete {
        prefix.data
    } else {
        // Cut by the buffer: drop the last (possibly partial) field, and make sure the
        // parser does not read the cut as a line end.
        prefix.data.strip_suffix(b"\n").unwrap_or(prefix.data)
    };
    parse_process_stat(data).ok_or(ReadError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testfs::FakeRoot;

    const STAT: &[u8] = b"5237 (edge loop) S 5228 5228 3376 0 -1 4194304 103 0 7 0 250 31 0 0 20 0 3 0 34865 3133440 418 18446744073709551615 94478757736448 94478757756329 140722072166832 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94478757772336 94478757773952 94479132110848 140722072173084 140722072173104 140722072173104 140722072174571 0\n";

    const STATUS: &[u8] = b"Name:\tedgeloop
Umask:\t0022
State:\tS (sleeping)
Pid:\t5237
VmPeak:\t    4516 kB
VmSize:\t    4516 kB
VmHWM:\t    1956 kB
VmRSS:\t    1812 kB
Threads:\t3
Cpus_allowed_list:\t0-3
";

    #[test]
    fn parses_stat() {
        let t = parse_process_stat(STAT).unwrap();
        assert_eq!(
            t,
            ProcessTimes {
                utime_ticks: 250,
                stime_ticks: 31,
                minor_faults: 103,
                major_faults: 7,
                threads: 3,
                start_ticks: 34_865
            }
        );
        assert_eq!(t.cpu_millis(), 2810);
    }

    #[test]
    fn stat_with_odd_name_and_truncation() {
        let odd = b"1 (a) b) (c) R 0 1 1 0 -1 0 5 0 1 0 9 8 0 0 20 0 1 0 77 0 0\n";
        let t = parse_process_stat(odd).unwrap();
        assert_eq!(
            (t.minor_faults, t.utime_ticks, t.stime_ticks, t.start_ticks),
            (5, 9, 8, 77)
        );
        // Cut right inside starttime: unknown, not a wrong number.
        let cut = &STAT[..STAT.windows(5).position(|w| w == b"34865").unwrap() + 3];
        assert_eq!(parse_process_stat(cut), None);
        // Cut just after starttime's separator: everything needed is whole.
        let cut = &STAT[..STAT.windows(5).position(|w| w == b"34865").unwrap() + 6];
        assert_eq!(parse_process_stat(cut).unwrap().start_ticks, 34_865);
        assert_eq!(parse_process_stat(b"1 (x R 0\n"), None);
        assert_eq!(parse_process_stat(b"1 (x) R 0 1 x\n"), None);
        assert_eq!(parse_process_stat(b""), None);
    }

    #[test]
    fn parses_status() {
        let m = parse_process_status(STATUS);
        assert_eq!(m.rss_bytes, Some(1812 * 1024));
        assert_eq!(m.rss_peak_bytes, Some(1956 * 1024));
        assert_eq!(m.virtual_bytes, Some(4516 * 1024));
        assert_eq!(m.virtual_peak_bytes, Some(4516 * 1024));
        assert_eq!(m.threads, Some(3));
        // Kernel thread: no Vm lines. Truncated: VmRSS cut.
        assert_eq!(
            parse_process_status(b"Name:\tkthreadd\nThreads:\t1\n").rss_bytes,
            None
        );
        let cut = &STATUS[..STATUS.windows(5).position(|w| w == b"VmRSS").unwrap() + 12];
        let m = parse_process_status(cut);
        assert_eq!((m.rss_bytes, m.rss_peak_bytes), (None, Some(1956 * 1024)));
        let odd = parse_process_status(b"VmRSS: 12 MB\nVmHWM: 5\nThreads: 2 x\n");
        assert_eq!(odd, ProcessMemory::default());
    }

    #[test]
    fn readers_on_files() {
        let fs = FakeRoot::new();
        let p = fs.file("stat", STAT);
        assert_eq!(read_process_times_from(&p).unwrap().utime_ticks, 250);
        // A stat line far longer than the buffer: the needed fields are still whole.
        let mut long = STAT[..STAT.len() - 1].to_vec();
        for _ in 0..200 {
            long.extend_from_slice(b" 18446744073709551615");
        }
        long.push(b'\n');
        let p = fs.file("long", &long);
        assert_eq!(read_process_times_from(&p).unwrap().start_ticks, 34_865);
        let p = fs.file("status", STATUS);
        assert_eq!(read_process_memory_from(&p).unwrap().threads, Some(3));
        let p = fs.file("kthread", b"Name:\tkthreadd\n");
        assert_eq!(read_process_memory_from(&p), Err(ReadError::Malformed));
        let p = fs.file("junk", b"nothing here");
        assert_eq!(read_process_times_from(&p), Err(ReadError::Malformed));
    }
}
