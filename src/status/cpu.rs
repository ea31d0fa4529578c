//! CPU time from the `cpu` and `cpuN` lines of `/proc/stat`, and utilisation between two
//! snapshots.
//!
//! The core count comes from the `cpuN` lines (online CPUs), so no `/proc/cpuinfo` is needed
//! (its format differs between ARM boards and it is absent in some containers). Offline CPUs
//! have no line, so core numbers can have gaps.
//!
//! node_exporter equivalent: `node_cpu_seconds_total{cpu, mode}` (use [`jiffies_to_millis`]).

use super::ascii::{fields, parse_u64};
use super::read::{LINE_BUF_SIZE, Line, ReadError, lines, read_lines};
use crate::config::parse_or;

/// Most per-core entries kept in a [`CpuTimes`]; further cores are counted in
/// [`CpuTimes::omitted`].
///
/// Default 16. Set with `EDGELOOP_MAX_CPUS`. Cost: 72 bytes per entry in a [`CpuTimes`],
/// 20 bytes in a [`CpuUsage`].
pub const MAX_CPUS: usize = parse_or(option_env!("EDGELOOP_MAX_CPUS"), 16);

/// Clock ticks ("jiffies") per second in `/proc/stat` and `/proc/<pid>/stat`: the kernel's
/// `USER_HZ`, what `sysconf(_SC_CLK_TCK)` returns.
///
/// It is 100 on every architecture this crate targets (ARM, AArch64, x86, RISC-V), whatever the
/// kernel's internal `CONFIG_HZ`; only Alpha and IA-64 differ. Fixed rather than read from the
/// auxiliary vector (`AT_CLKTCK`) to keep the readers free of that dependency.
pub const USER_HZ: u64 = 100;

/// Converts `USER_HZ` ticks to milliseconds (saturating).
pub const fn jiffies_to_millis(jiffies: u64) -> u64 {
    jiffies.saturating_mul(1000) / USER_HZ
}

/// Cumulative time one CPU (or all of them) spent in each mode since boot, in `USER_HZ` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CpuJiffies {
    /// Normal user code (includes guest time).
    pub user: u64,
    /// Niced user code (includes niced guest time).
    pub nice: u64,
    /// Kernel code.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle with I/O outstanding (may go backwards on some kernels).
    pub iowait: u64,
    /// Hard interrupts.
    pub irq: u64,
    /// Soft interrupts.
    pub softirq: u64,
    /// Stolen by the hypervisor (virtual machines).
    pub steal: u64,
}

impl CpuJiffies {
    /// Sum of all modes (saturating).
    pub fn total(&self) -> u64 {
        self.fields().iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// The modes in declaration order.
    pub fn fields(&self) -> [u64; 8] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
    }

    /// Parses the numbers after `cpu`/`cpuN`.
    ///
    /// A complete line needs at least user, nice, system and idle (Linux 2.4 stopped there;
    /// missing later modes are 0). A cut line needs all eight modes whole, since a mode missing
    /// there is unknown, not zero.
    fn parse<'a>(mut values: impl Iterator<Item = &'a [u8]>, complete: bool) -> Option<Self> {
        let mut v = [0u64; 8];
        for (i, slot) in v.iter_mut().enumerate() {
            match values.next() {
                Some(s) => *slot = parse_u64(s)?,
                None if complete && i >= 4 => break,
                None => return None,
            }
        }
        let [user, nice, system, idle, iowait, irq, softirq, steal] = v;
        Some(CpuJiffies {
            user,
            nice,
            system,
            idle,
            iowait,
            irq,
            softirq,
            steal,
        })
    }
}

/// One core's times in a [`CpuTimes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CoreJiffies {
    /// The core number, `N` of `cpuN`.
    pub cpu: u16,
    /// Its times.
    pub jiffies: CpuJiffies,
}

/// A snapshot of `/proc/stat` CPU times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CpuTimes {
    /// All CPUs together (the `cpu` line); `None` if absent or unreadable.
    pub total: Option<CpuJiffies>,
    /// Online cores in file order (ascending), at most [`MAX_CPUS`].
    pub cores: heapless::Vec<CoreJiffies, MAX_CPUS>,
    /// `cpuN` lines that did not fit in `cores`.
    pub omitted: u16,
}

impl CpuTimes {
    /// Takes one `/proc/stat` line; lines other than `cpu`/`cpuN`, and unreadable ones, are
    /// ignored.
    pub fn feed(&mut self, line: Line<'_>) {
        let mut f = fields(line.settled());
        let Some(key) = f.next() else { return };
        let Some(suffix) = key.strip_prefix(b"cpu") else {
            return;
        };
        let Some(jiffies) = CpuJiffies::parse(f, line.complete) else {
            return;
        };
        if suffix.is_empty() {
            self.total = Some(jiffies);
            return;
        }
        let Some(cpu) = parse_u64(suffix).and_then(|n| u16::try_from(n).ok()) else {
            return;
        };
        if self.cores.push(CoreJiffies { cpu, jiffies }).is_err() {
            self.omitted = self.omitted.saturating_add(1);
        }
    }

    /// The times of core `cpu`, if present.
    pub fn core(&self, cpu: u16) -> Option<&CpuJiffies> {
        self.cores.iter().find(|c| c.cpu == cpu).map(|c| &c.jiffies)
    }

    /// Number of online cores seen (kept plus omitted).
    pub fn core_count(&self) -> usize {
        self.cores.len() + usize::from(self.omitted)
    }
}

/// Parses the CPU lines of the contents of `/proc/stat`. Never fails: what cannot be read is
/// left out (`total` `None`, fewer `cores`).
pub fn parse_cpu_times(data: &[u8]) -> CpuTimes {
    let mut t = CpuTimes::default();
    for line in lines(data) {
        t.feed(line);
    }
    t
}

/// Reads `/proc/stat`.
pub fn read_cpu_times() -> Result<CpuTimes, ReadError> {
    read_cpu_times_from("/proc/stat")
}

/// Reads a stat file at `path`, streamed through a [`LINE_BUF_SIZE`] buffer. Fails with
/// [`ReadError::Malformed`] when it has no readable CPU line at all.
pub fn read_cpu_times_from(path: &str) -> Result<CpuTimes, ReadError> {
    let mut t = CpuTimes::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| t.feed(line))?;
    if t.total.is_none() && t.core_count() == 0 {
        return Err(ReadError::Malformed);
    }
    Ok(t)
}

/// Share of time spent in each mode over an interval, in hundredths of a percent
/// (`0..=10000`; `2550` is 25.50 %). The modes add up to 10000 (within rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CpuShare {
    /// Not idle: everything except `idle` and `iowait`.
    pub busy: u16,
    /// User mode.
    pub user: u16,
    /// Niced user mode.
    pub nice: u16,
    /// Kernel mode.
    pub system: u16,
    /// Idle.
    pub idle: u16,
    /// Idle waiting for I/O.
    pub iowait: u16,
    /// Hard interrupts.
    pub irq: u16,
    /// Soft interrupts.
    pub softirq: u16,
    /// Stolen by the hypervisor.
    pub steal: u16,
}

/// Utilisation of one core in a [`CpuUsage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CoreUsage {
    /// Core number.
    pub cpu: u16,
    /// Its shares over the interval.
    pub share: CpuShare,
}

/// Utilisation between two [`CpuTimes`] snapshots, from [`cpu_usage`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CpuUsage {
    /// All CPUs; `None` when either snapshot lacks the `cpu` line or no time passed.
    pub total: Option<CpuShare>,
    /// Cores present in both snapshots that had time pass, in the order of the newer one.
    pub cores: heapless::Vec<CoreUsage, MAX_CPUS>,
}

/// Utilisation between `prev` and `now` for one CPU, or `None` if no time passed.
///
/// Each mode's delta saturates at zero (counters can go backwards: `iowait` does, and a core
/// that went offline and back restarts). Shares are computed from the sum of the deltas, so
/// they never exceed 100 %.
pub fn cpu_share(prev: &CpuJiffies, now: &CpuJiffies) -> Option<CpuShare> {
    let (p, n) = (prev.fields(), now.fields());
    let mut d = [0u64; 8];
    for i in 0..8 {
        d[i] = n[i].saturating_sub(p[i]);
    }
    let total: u128 = d.iter().map(|&x| u128::from(x)).sum();
    if total == 0 {
        return None;
    }
    // x <= total, so the quotient is at most 10000 and fits in u16.
    let pct = |x: u64| u16::try_from(u128::from(x) * 10_000 / total).unwrap_or(10_000);
    let [user, nice, system, idle, iowait, irq, softirq, steal] = d;
    let idle_all = u128::from(idle) + u128::from(iowait);
    let busy = u16::try_from((total - idle_all) * 10_000 / total).unwrap_or(10_000);
    Some(CpuShare {
        busy,
        user: pct(user),
        nice: pct(nice),
        system: pct(system),
        idle: pct(idle),
        iowait: pct(iowait),
        irq: pct(irq),
        softirq: pct(softirq),
        steal: pct(steal),
    })
}

/// Utilisation per core and in total between two snapshots (`prev` taken before `now`).
pub fn cpu_usage(prev: &CpuTimes, now: &CpuTimes) -> CpuUsage {
    let total = match (&prev.total, &now.total) {
        (Some(p), Some(n)) => cpu_share(p, n),
        _ => None,
    };
    let mut cores = heapless::Vec::new();
    for core in &now.cores {
        let Some(before) = prev.core(core.cpu) else {
            continue;
        };
        if let Some(share) = cpu_share(before, &core.jiffies) {
            // Cannot overflow: at most one entry per entry of `now.cores`.
            let _ = cores.push(CoreUsage {
                cpu: core.cpu,
                share,
            });
        }
    }
    CpuUsage { total, cores }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raspberry Pi 3 (4 cores, no steal/guest on a 4.x kernel), and no `/proc/cpuinfo` needed.
    const PI: &[u8] = b"cpu  183427 1312 56381 9187437 8021 0 1904 0 0 0
cpu0 45231 302 15102 2296102 2013 0 1530 0 0 0
cpu1 46012 337 13643 2297217 1989 0 146 0 0 0
cpu2 45917 336 13805 2297041 2012 0 114 0 0 0
cpu3 46267 337 13831 2297077 2007 0 114 0 0 0
intr 48313447 0 12622 0 0 0 0
ctxt 81541294
btime 1700000000
";

    #[test]
    fn parses_pi_stat() {
        let t = parse_cpu_times(PI);
        assert_eq!(t.core_count(), 4);
        assert_eq!(t.omitted, 0);
        let total = t.total.unwrap();
        assert_eq!(total.user, 183_427);
        assert_eq!(total.idle, 9_187_437);
        assert_eq!(total.softirq, 1904);
        assert_eq!(t.core(3).unwrap().system, 13_831);
        assert_eq!(t.cores[0].cpu, 0);
    }

    #[test]
    fn old_kernel_four_fields_and_offline_core() {
        let t = parse_cpu_times(b"cpu 10 0 5 100\ncpu0 5 0 2 50\ncpu2 5 0 3 50\n");
        assert_eq!(t.total.unwrap().iowait, 0);
        assert_eq!(
            t.cores
                .iter()
                .map(|c| c.cpu)
                .collect::<heapless::Vec<_, 4>>(),
            [0, 2]
        );
        assert!(t.core(1).is_none());
    }

    #[test]
    fn malformed_and_truncated() {
        // Too few fields, junk, a non-numeric suffix: ignored.
        let t = parse_cpu_times(b"cpu 1 2 3\ncpuX 1 2 3 4\ncpu0 1 2 x 4\ncpufreq 1 2 3 4\n");
        assert_eq!(t, CpuTimes::default());
        // File cut in the middle of cpu1: the partial line is not used (iowait unknown).
        let cut = b"cpu  10 0 5 100 3 0 0 0\ncpu0 5 0 2 50 1 0 0 0\ncpu1 5 0 3 5";
        let t = parse_cpu_times(cut);
        assert_eq!(t.core_count(), 1);
        // A cut line that still has all eight modes whole is fine.
        let t = parse_cpu_times(b"cpu0 5 0 2 50 1 0 0 0 0 1");
        assert_eq!(t.core(0).unwrap().iowait, 1);
        assert_eq!(parse_cpu_times(b""), CpuTimes::default());
    }

    #[test]
    fn more_cores_than_capacity() {
        let mut data = std::string::String::from("cpu 1 1 1 1 1 1 1 1\n");
        for i in 0..MAX_CPUS + 3 {
            data.push_str(&std::format!("cpu{i} 1 1 1 1 1 1 1 1\n"));
        }
        let t = parse_cpu_times(data.as_bytes());
        assert_eq!(t.cores.len(), MAX_CPUS);
        assert_eq!(t.omitted, 3);
        assert_eq!(t.core_count(), MAX_CPUS + 3);
    }

    #[test]
    fn usage_between_snapshots() {
        let a = parse_cpu_times(
            b"cpu 100 0 100 800 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0\n",
        );
        let b = parse_cpu_times(b"cpu 150 0 150 900 0 0 0 0\ncpu0 100 0 100 400 0 0 0 0\ncpu1 50 0 50 500 0 0 0 0\ncpu2 1 1 1 1 0 0 0 0\n");
        let u = cpu_usage(&a, &b);
        let total = u.total.unwrap();
        assert_eq!(total.busy, 5000);
        assert_eq!(total.user, 2500);
        assert_eq!(total.idle, 5000);
        assert_eq!(u.cores.len(), 2, "cpu2 is new, no previous sample");
        assert_eq!(u.cores[0].share.busy, 10_000);
        assert_eq!(u.cores[1].share.busy, 0);
        assert_eq!(u.cores[1].share.idle, 10_000);
    }

    #[test]
    fn usage_saturates_and_handles_no_time() {
        let prev = CpuJiffies {
            user: 10,
            iowait: 50,
            idle: 10,
            ..Default::default()
        };
        let now = CpuJiffies {
            user: 20,
            iowait: 40,
            idle: 20,
            ..Default::default()
        };
        let s = cpu_share(&prev, &now).unwrap();
        assert_eq!(s.iowait, 0);
        assert_eq!(s.busy, 5000);
        assert_eq!(cpu_share(&now, &now), None);
        let huge = CpuJiffies {
            user: u64::MAX,
            idle: u64::MAX,
            ..Default::default()
        };
        let s = cpu_share(&CpuJiffies::default(), &huge).unwrap();
        assert_eq!((s.user, s.idle, s.busy), (5000, 5000, 5000));
        assert_eq!(
            cpu_usage(&CpuTimes::default(), &parse_cpu_times(PI)),
            CpuUsage::default()
        );
    }

    #[test]
    fn seconds() {
        assert_eq!(jiffies_to_millis(183_427), 1_834_270);
        assert_eq!(jiffies_to_millis(u64::MAX), u64::MAX / USER_HZ);
        assert_eq!(
            CpuJiffies {
                user: u64::MAX,
                nice: 1,
                ..Default::default()
            }
            .total(),
            u64::MAX
        );
    }
}
