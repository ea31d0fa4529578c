//! System identity and load: `uname`, `/proc/uptime`, `/proc/loadavg` and the kernel-wide
//! counters of `/proc/stat` (boot time, context switches, forks, interrupts, runnable tasks).
//!
//! node_exporter equivalents: `node_uname_info`, `node_boot_time_seconds`, `node_load1/5/15`,
//! `node_context_switches_total`, `node_forks_total`, `node_intr_total`, `node_procs_running`,
//! `node_procs_blocked`; uptime is `node_time_seconds - node_boot_time_seconds`.

use super::ascii::{fields, first_line, parse_fixed, parse_u32, parse_u64, to_ascii_string};
use super::read::{LINE_BUF_SIZE, Line, ReadError, VALUE_BUF_SIZE, lines, read_file, read_lines};

/// Capacity of each [`KernelInfo`] string: 64 bytes, the kernel's `__NEW_UTS_LEN` (a `utsname`
/// field is at most 64 bytes plus its NUL), so nothing is ever cut. Not configurable.
pub const UTS_LEN: usize = 64;

/// A `uname` field as text (bytes other than printable ASCII shown as `?`).
pub type UtsString = heapless::String<UTS_LEN>;

/// What `uname(2)` reports (`node_uname_info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KernelInfo {
    /// Host name (`nodename`), e.g. `raspberrypi`.
    pub hostname: UtsString,
    /// Operating system name (`sysname`), `Linux`.
    pub sysname: UtsString,
    /// Kernel release, e.g. `6.1.21-v8+`.
    pub release: UtsString,
    /// Kernel build version string, e.g. `#1642 SMP PREEMPT Mon Apr  3 17:24:16 BST 2023`.
    pub version: UtsString,
    /// Machine architecture, e.g. `aarch64` or `armv7l`.
    pub machine: UtsString,
}

impl KernelInfo {
    /// Builds the record from raw `uname` fields (bytes without their NUL).
    pub fn from_fields(
        hostname: &[u8],
        sysname: &[u8],
        release: &[u8],
        version: &[u8],
        machine: &[u8],
    ) -> Self {
        KernelInfo {
            hostname: to_ascii_string(hostname).0,
            sysname: to_ascii_string(sysname).0,
            release: to_ascii_string(release).0,
            version: to_ascii_string(version).0,
            machine: to_ascii_string(machine).0,
        }
    }
}

/// Calls `uname(2)`; it cannot fail.
pub fn read_kernel_info() -> KernelInfo {
    let u = rustix::system::uname();
    KernelInfo::from_fields(
        u.nodename().to_bytes(),
        u.sysname().to_bytes(),
        u.release().to_bytes(),
        u.version().to_bytes(),
        u.machine().to_bytes(),
    )
}

/// `/proc/uptime`: time since boot, and idle time summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Uptime {
    /// Milliseconds since boot (the file has 10 ms resolution).
    pub up_ms: u64,
    /// Milliseconds all CPUs spent idle, summed (so up to `up_ms` × CPUs); `None` when the
    /// second field is missing.
    pub idle_ms: Option<u64>,
}

/// Parses `/proc/uptime` (`"291.31 521.94\n"`). `None` unless the first line is complete and
/// starts with a valid number.
pub fn parse_uptime(data: &[u8]) -> Option<Uptime> {
    let line = first_line(data)?;
    let mut f = fields(line);
    let up_ms = parse_fixed(f.next()?, 3)?;
    let idle_ms = f.next().and_then(|s| parse_fixed(s, 3));
    Some(Uptime { up_ms, idle_ms })
}

/// Reads `/proc/uptime`.
pub fn read_uptime() -> Result<Uptime, ReadError> {
    read_uptime_from("/proc/uptime")
}

/// Reads an uptime file at `path` (for tests and chroots).
pub fn read_uptime_from(path: &str) -> Result<Uptime, ReadError> {
    let mut buf = [0u8; VALUE_BUF_SIZE];
    parse_uptime(read_file(path, &mut buf)?).ok_or(ReadError::Malformed)
}

/// `/proc/loadavg`. Load averages are in hundredths, exactly as the kernel prints them
/// (`0.45` is `45`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoadAvg {
    /// 1-minute load average × 100.
    pub load1: u32,
    /// 5-minute load average × 100.
    pub load5: u32,
    /// 15-minute load average × 100.
    pub load15: u32,
    /// Runnable scheduling entities (tasks) now, the `1` of `1/85`.
    pub runnable: Option<u32>,
    /// Scheduling entities (tasks) that exist, the `85` of `1/85`.
    pub tasks: Option<u32>,
    /// The most recently created process id.
    pub last_pid: Option<u32>,
}

/// Parses `/proc/loadavg` (`"0.45 0.17 0.06 1/85 5089\n"`). `None` unless the first line is
/// complete and has three valid load averages.
pub fn parse_loadavg(data: &[u8]) -> Option<LoadAvg> {
    let line = first_line(data)?;
    let mut f = fields(line);
    let load = |s: Option<&[u8]>| {
        s.and_then(|s| parse_fixed(s, 2))
            .and_then(|n| u32::try_from(n).ok())
    };
    let load1 = load(f.next())?;
    let load5 = load(f.next())?;
    let load15 = load(f.next())?;
    let (runnable, tasks) = match f.next() {
        Some(s) => match s.iter().position(|&b| b == b'/') {
            Some(i) => (parse_u32(&s[..i]), parse_u32(&s[i + 1..])),
            None => (None, None),
        },
        None => (None, None),
    };
    let last_pid = f.next().and_then(parse_u32);
    Some(LoadAvg {
        load1,
        load5,
        load15,
        runnable,
        tasks,
        last_pid,
    })
}

/// Reads `/proc/loadavg`.
pub fn read_loadavg() -> Result<LoadAvg, ReadError> {
    read_loadavg_from("/proc/loadavg")
}

/// Reads a loadavg file at `path`.
pub fn read_loadavg_from(path: &str) -> Result<LoadAvg, ReadError> {
    let mut buf = [0u8; VALUE_BUF_SIZE];
    parse_loadavg(read_file(path, &mut buf)?).ok_or(ReadError::Malformed)
}

/// Kernel-wide counters from `/proc/stat` (everything except the `cpu` lines, see
/// [`cpu`](super::cpu)). Each is `None` when its line is absent or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KernelCounters {
    /// Boot time, seconds since the Unix epoch (`btime`).
    pub boot_time: Option<u64>,
    /// Context switches since boot (`ctxt`).
    pub context_switches: Option<u64>,
    /// Processes and threads created since boot (`processes`).
    pub forks: Option<u64>,
    /// Interrupts serviced since boot, all sources (first number of `intr`).
    pub interrupts: Option<u64>,
    /// Tasks runnable now (`procs_running`).
    pub procs_running: Option<u64>,
    /// Tasks blocked on I/O now (`procs_blocked`).
    pub procs_blocked: Option<u64>,
}

impl KernelCounters {
    /// Takes what it knows from one `/proc/stat` line.
    ///
    /// Only whole fields are used: the `intr` line is usually longer than the read buffer, and
    /// its total (the first number) is taken from the start of it.
    pub fn feed(&mut self, line: Line<'_>) {
        let mut f = fields(line.settled());
        let (Some(key), Some(value)) = (f.next(), f.next()) else {
            return;
        };
        let slot = match key {
            b"btime" => &mut self.boot_time,
            b"ctxt" => &mut self.context_switches,
            b"processes" => &mut self.forks,
            b"intr" => &mut self.interrupts,
            b"procs_running" => &mut self.procs_running,
            b"procs_blocked" => &mut self.procs_blocked,
            _ => return,
        };
        *slot = parse_u64(value);
    }
}

/// Parses the kernel-wide counters out of the contents of `/proc/stat`.
pub fn parse_kernel_counters(data: &[u8]) -> KernelCounters {
    let mut c = KernelCounters::default();
    for line in lines(data) {
        c.feed(line);
    }
    c
}

/// Reads the counters from `/proc/stat`.
pub fn read_kernel_counters() -> Result<KernelCounters, ReadError> {
    read_kernel_counters_from("/proc/stat")
}

/// Reads the counters from a stat file at `path`, streaming it through a [`LINE_BUF_SIZE`]
/// buffer (the file is often several kilobytes).
pub fn read_kernel_counters_from(path: &str) -> Result<KernelCounters, ReadError> {
    let mut c = KernelCounters::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| c.feed(line))?;
    Ok(c)
}

/// Everything in this module in one record; each part is `None` when it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SystemInfo {
    /// `uname` fields.
    pub kernel: KernelInfo,
    /// `/proc/uptime`.
    pub uptime: Option<Uptime>,
    /// `/proc/loadavg`.
    pub load: Option<LoadAvg>,
    /// `/proc/stat` counters (all `None` when the file is missing).
    pub counters: KernelCounters,
}

/// Reads [`SystemInfo`]; missing files leave their part `None`.
pub fn read_system_info() -> SystemInfo {
    SystemInfo {
        kernel: read_kernel_info(),
        uptime: read_uptime().ok(),
        load: read_loadavg().ok(),
        counters: read_kernel_counters().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::status::testfs::FakeRoot;

    const PI_STAT: &[u8] = b"cpu  183427 1312 56381 9187437 8021 0 1904 0 0 0
cpu0 45231 302 15102 2296102 2013 0 1530 0 0 0
cpu1 46012 337 13643 2297217 1989 0 146 0 0 0
cpu2 45917 336 13805 2297041 2012 0 114 0 0 0
cpu3 46267 337 13831 2297077 2007 0 114 0 0 0
intr 48313447 0 12622 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 81541294
btime 1700000000
processes 227051
procs_running 2
procs_blocked 0
softirq 20341451 3 4416214 2094 311624 0 0 4026 9011390 0 6596100
";

    #[test]
    fn uptime() {
        let u = parse_uptime(b"291.31 521.94\n").unwrap();
        assert_eq!(
            u,
            Uptime {
                up_ms: 291_310,
                idle_ms: Some(521_940)
            }
        );
        assert_eq!(parse_uptime(b"5.00\n").unwrap().idle_ms, None);
        // Truncated: no newline, so the number may be cut.
        assert_eq!(parse_uptime(b"291.3"), None);
        assert_eq!(parse_uptime(b""), None);
        assert_eq!(parse_uptime(b"abc def\n"), None);
        assert_eq!(parse_uptime(b"\n"), None);
    }

    #[test]
    fn loadavg() {
        let l = parse_loadavg(b"0.45 0.17 0.06 1/85 5089\n").unwrap();
        assert_eq!(
            l,
            LoadAvg {
                load1: 45,
                load5: 17,
                load15: 6,
                runnable: Some(1),
                tasks: Some(85),
                last_pid: Some(5089)
            }
        );
        let busy = parse_loadavg(b"12.50 8.00 4.25\n").unwrap();
        assert_eq!((busy.load1, busy.load5, busy.load15), (1250, 800, 425));
        assert_eq!(busy.runnable, None);
        assert_eq!(parse_loadavg(b"0.45 0.17\n"), None);
        assert_eq!(parse_loadavg(b"0.45 0.17 0.0"), None);
        let odd = parse_loadavg(b"0.45 0.17 0.06 x/85 y\n").unwrap();
        assert_eq!(
            (odd.runnable, odd.tasks, odd.last_pid),
            (None, Some(85), None)
        );
    }

    #[test]
    fn kernel_counters_from_pi_stat() {
        let c = parse_kernel_counters(PI_STAT);
        assert_eq!(c.boot_time, Some(1_700_000_000));
        assert_eq!(c.context_switches, Some(81_541_294));
        assert_eq!(c.forks, Some(227_051));
        assert_eq!(c.interrupts, Some(48_313_447));
        assert_eq!(c.procs_running, Some(2));
        assert_eq!(c.procs_blocked, Some(0));
    }

    #[test]
    fn kernel_counters_truncated() {
        // Cut inside the btime value: btime is unknown, earlier lines are fine.
        let cut = &PI_STAT[..PI_STAT.windows(9).position(|w| w == b"btime 170").unwrap() + 9];
        let c = parse_kernel_counters(cut);
        assert_eq!(c.boot_time, None);
        assert_eq!(c.context_switches, Some(81_541_294));
        assert_eq!(c.forks, None);
        assert_eq!(
            parse_kernel_counters(b"btime\nctxt x\n"),
            KernelCounters::default()
        );
    }

    #[test]
    fn kernel_counters_stream_long_intr_line() {
        // An intr line much longer than the line buffer (thousands of IRQs on a big SoC).
        let mut data = std::vec::Vec::from(&b"cpu  1 2 3 4 5 6 7 8\nintr 987654321"[..]);
        for _ in 0..4000 {
            data.extend_from_slice(b" 0");
        }
        data.extend_from_slice(b"\nctxt 42\nbtime 1700000001\n");
        let fs = FakeRoot::new();
        let p = fs.file("stat", &data);
        let c = read_kernel_counters_from(&p).unwrap();
        assert_eq!(c.interrupts, Some(987_654_321));
        assert_eq!(c.context_switches, Some(42));
        assert_eq!(c.boot_time, Some(1_700_000_001));
    }

    #[test]
    fn missing_files_are_errors_not_panics() {
        let fs = FakeRoot::new();
        let root = fs.root();
        let p = std::format!("{root}/uptime");
        assert_eq!(read_uptime_from(&p), Err(ReadError::Missing));
        let p = fs.file("loadavg", b"garbage\n");
        assert_eq!(read_loadavg_from(&p), Err(ReadError::Malformed));
        let p = fs.file("big", &[b'1'; 4096]);
        assert_eq!(read_uptime_from(&p), Err(ReadError::TooLarge));
    }

    #[test]
    fn kernel_info_fields() {
        let k = KernelInfo::from_fields(
            b"raspberrypi",
            b"Linux",
            b"6.1.21-v7+",
            b"#1642 SMP",
            b"armv7l",
        );
        assert_eq!(k.hostname.as_str(), "raspberrypi");
        assert_eq!(k.machine.as_str(), "armv7l");
        let odd = KernelInfo::from_fields(b"h\xc3\xa9", b"", b"", b"", b"");
        assert_eq!(odd.hostname.as_str(), "h??");
        let live = read_kernel_info();
        assert_eq!(live.sysname.as_str(), "Linux");
    }
}
