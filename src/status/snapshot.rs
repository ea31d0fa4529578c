//! [`Snapshot`]: everything the status page shows, gathered by one
//! [`refresh`](Snapshot::refresh) call.
//!
//! The status firmware keeps one `Snapshot` in a `static` and refreshes it from a
//! [`PeriodicCallback`](crate::ioloop::PeriodicCallback) once a second; the page, `/api/status`,
//! `/metrics` and `/events` are all formatted from it ([`json`](super::json),
//! [`metrics`](super::metrics), [`page`](super::page)).
//!
//! One refresh reads `uname`, `/proc/uptime`, `/proc/loadavg`, `/proc/stat` (once, for both the
//! CPU lines and the kernel counters), `/proc/meminfo`, `/proc/self/mounts` and `statvfs` of each
//! local filesystem, `/proc/net/dev` and `/sys/class/net/*`, a netlink address dump
//! (`MSG_DONTWAIT`), and `/sys/class/{thermal,hwmon}`. None of these block (network
//! filesystems are not measured, see [`disk`](super::disk)). Rates need two samples, so the
//! snapshot keeps the previous `/proc/stat` CPU sample and the previous interface counters
//! inside: CPU utilisation and throughput are unknown (`None`) after the first refresh and
//! known from the second on.
//!
//! Every source may be missing (containers, QEMU, trimmed kernels): a reader that fails leaves
//! its part `None` or empty, and the formatters show it as unknown. Nothing here panics on file
//! contents.

use crate::ioloop::Instant;

use super::cpu::{CpuTimes, CpuUsage, cpu_usage};
use super::disk::{DiskUsage, MountFilter, Mounts, read_mounts_from};
use super::history::{History, Sample};
use super::memory::{MemInfo, read_meminfo_from};
use super::net::{IfName, Interface, MAX_IFACES, NetDev, read_interfaces_at};
use super::netaddr::{AddrList, IfAddr, read_addresses};
use super::read::{LINE_BUF_SIZE, ReadError, join_path, read_lines};
use super::system::{
    KernelCounters, KernelInfo, LoadAvg, Uptime, read_kernel_info, read_loadavg_from,
    read_uptime_from,
};
use super::thermal::{Sensors, read_sensors_at};

/// The status server's own figures, passed in by the firmware at each refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerFigures {
    /// Seconds since the server started.
    pub uptime_s: u64,
    /// Client connections open now.
    pub connections_open: u64,
    /// Requests answered since start.
    pub requests_served: u64,
    /// Bytes received from clients since start.
    pub bytes_in: u64,
    /// Bytes sent to clients since start.
    pub bytes_out: u64,
    /// Resident set size of the process (`VmRSS`, see
    /// [`read_process_memory`](super::process::read_process_memory)); `None` when unknown.
    pub rss_bytes: Option<u64>,
    /// Memory reserved at build time (tables, slots, buffer pool), in bytes.
    pub static_memory_bytes: u64,
}

/// Where [`Snapshot::refresh_from`] reads. [`Sources::HOST`] is the real system; tests and
/// chroots point the roots elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sources<'a> {
    /// procfs mount point, normally `/proc`.
    pub proc_root: &'a str,
    /// sysfs mount point, normally `/sys`.
    pub sys_root: &'a str,
    /// Call `uname(2)` (otherwise the [`KernelInfo`] strings are left empty).
    pub uname: bool,
    /// Dump interface addresses over netlink (otherwise none are listed).
    pub netlink: bool,
    /// Which filesystems are listed and measured.
    pub mounts: MountFilter,
}

impl Sources<'static> {
    /// The running system: `/proc`, `/sys`, `uname`, netlink, default mount filter.
    pub const HOST: Sources<'static> = Sources {
        proc_root: "/proc",
        sys_root: "/sys",
        uname: true,
        netlink: true,
        mounts: MountFilter {
            include_tmpfs: true,
            stat_network: false,
        },
    };
}

/// Throughput of one interface between the last two refreshes, in bytes per second. `None`
/// on the first refresh, when no time passed, or when a counter went backwards (the
/// interface was re-created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IfRate {
    /// Received bytes per second.
    pub rx_bytes_per_s: Option<u64>,
    /// Sent bytes per second.
    pub tx_bytes_per_s: Option<u64>,
}

/// Byte counters of one interface at the previous refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct PrevCounters {
    name: IfName,
    rx: u64,
    tx: u64,
}

/// Everything the status page shows. See the [module docs](self).
///
/// About 23 KiB on 64-bit targets with the default capacities (7 KiB of it the history); keep it
/// in a `static` (it is `const`-constructible with [`Snapshot::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Snapshot {
    /// `uname`: host name, kernel release and version, architecture (`machine`).
    pub kernel: KernelInfo,
    /// `/proc/uptime`.
    pub uptime: Option<Uptime>,
    /// Wall-clock time of the refresh (`CLOCK_REALTIME`), milliseconds since the Unix epoch.
    pub wall_clock_ms: Option<u64>,
    /// `/proc/loadavg`.
    pub load: Option<LoadAvg>,
    /// `/proc/stat` kernel counters (boot time, context switches, forks, ...).
    pub counters: KernelCounters,
    /// `/proc/stat` CPU times of this refresh (cumulative since boot).
    pub cpu_times: CpuTimes,
    /// CPU utilisation between the previous and this refresh.
    pub cpu: CpuUsage,
    /// `/proc/meminfo` (RAM and swap).
    pub memory: Option<MemInfo>,
    /// Mounted filesystems with their usage.
    pub filesystems: Mounts,
    /// Network interfaces: counters and link state.
    pub net: NetDev,
    /// Throughput of each interface: `rates[i]` belongs to `net.ifaces[i]`.
    pub rates: heapless::Vec<IfRate, MAX_IFACES>,
    /// Interface addresses (netlink), matched by [`LinkInfo::ifindex`](super::net::LinkInfo).
    pub addrs: AddrList,
    /// Temperatures.
    pub sensors: Sensors,
    /// The server's own figures, as passed to the last refresh.
    pub server: ServerFigures,
    /// Headline figures of the last [`HISTORY_LEN`](super::history::HISTORY_LEN) refreshes.
    pub history: History,
    cpu_prev: CpuTimes,
    net_prev: heapless::Vec<PrevCounters, MAX_IFACES>,
    net_prev_at: Option<Instant>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::new()
    }
}

/// `part / whole` in hundredths of a percent (`0..=10000`, `part` clamped to `whole`); `None`
/// when `whole` is 0.
pub fn hundredths(part: u64, whole: u64) -> Option<u16> {
    if whole == 0 {
        return None;
    }
    let v = u128::from(part.min(whole)) * 10_000 / u128::from(whole);
    u16::try_from(v).ok()
}

/// Used share of a filesystem the way `df` shows it: `used / (used + avail)` with
/// `used = size - free`, in hundredths of a percent (space reserved for root is not counted as
/// available). `None` for an empty filesystem.
pub fn fs_used(u: &DiskUsage) -> Option<u16> {
    let used = u.size_bytes.saturating_sub(u.free_bytes);
    hundredths(used, used.saturating_add(u.avail_bytes))
}

/// `true` for the loopback interface, which the throughput totals leave out.
pub fn is_loopback(iface: &Interface) -> bool {
    iface.name == "lo"
}

/// Bytes per second from a counter delta over `dt_ns` nanoseconds (saturating).
fn per_second(now: u64, before: u64, dt_ns: u128) -> Option<u64> {
    let delta = now.checked_sub(before)?;
    if dt_ns == 0 {
        return None;
    }
    let r = u128::from(delta) * 1_000_000_000 / dt_ns;
    Some(u64::try_from(r).unwrap_or(u64::MAX))
}

impl Snapshot {
    /// An empty snapshot: everything unknown until the first refresh.
    pub const fn new() -> Self {
        const EMPTY_CPU: CpuTimes = CpuTimes {
            total: None,
            cores: heapless::Vec::new(),
            omitted: 0,
        };
        Snapshot {
            kernel: KernelInfo {
                hostname: heapless::String::new(),
                sysname: heapless::String::new(),
                release: heapless::String::new(),
                version: heapless::String::new(),
                machine: heapless::String::new(),
            },
            uptime: None,
            wall_clock_ms: None,
            load: None,
            counters: KernelCounters {
                boot_time: None,
                context_switches: None,
                forks: None,
                interrupts: None,
                procs_running: None,
                procs_blocked: None,
            },
            cpu_times: EMPTY_CPU,
            cpu: CpuUsage {
                total: None,
                cores: heapless::Vec::new(),
            },
            memory: None,
            filesystems: Mounts {
                mounts: heapless::Vec::new(),
                omitted: 0,
            },
            net: NetDev {
                ifaces: heapless::Vec::new(),
                omitted: 0,
            },
            rates: heapless::Vec::new(),
            addrs: AddrList {
                addrs: heapless::Vec::new(),
                omitted: 0,
            },
            sensors: Sensors {
                sensors: heapless::Vec::new(),
                omitted: 0,
            },
            server: ServerFigures {
                uptime_s: 0,
                connections_open: 0,
                requests_served: 0,
                bytes_in: 0,
                bytes_out: 0,
                rss_bytes: None,
                static_memory_bytes: 0,
            },
            history: History::new(),
            cpu_prev: EMPTY_CPU,
            net_prev: heapless::Vec::new(),
            net_prev_at: None,
        }
    }

    /// Re-reads every source of the running system ([`Sources::HOST`]) and appends a sample to
    /// the history. `now` is the loop's clock ([`IoLoop::time`](crate::ioloop::IoLoop::time)),
    /// used for the throughput rates.
    pub fn refresh(&mut self, now: Instant, server: ServerFigures) {
        self.refresh_from(&Sources::HOST, now, server);
    }

    /// [`refresh`](Self::refresh) from other sources.
    pub fn refresh_from(&mut self, src: &Sources<'_>, now: Instant, server: ServerFigures) {
        let proc_path = |file: &str| join_path(&[src.proc_root, file]);
        self.kernel = if src.uname {
            read_kernel_info()
        } else {
            KernelInfo::default()
        };
        self.wall_clock_ms = wall_clock_ms();
        self.uptime = proc_path("/uptime").and_then(|p| read_uptime_from(&p)).ok();
        self.load = proc_path("/loadavg")
            .and_then(|p| read_loadavg_from(&p))
            .ok();
        self.refresh_stat(proc_path("/stat").ok().as_deref());
        self.memory = proc_path("/meminfo")
            .and_then(|p| read_meminfo_from(&p))
            .ok();
        self.filesystems = proc_path("/self/mounts")
            .and_then(|p| read_mounts_from(&p, &src.mounts))
            .unwrap_or_default();
        let net = read_interfaces_at(src.proc_root, src.sys_root).unwrap_or_default();
        self.refresh_net(net, now);
        self.addrs = if src.netlink {
            read_addresses().unwrap_or_default()
        } else {
            AddrList::default()
        };
        self.sensors = read_sensors_at(src.sys_root);
        self.server = server;
        let sample = self.sample();
        self.history.push(&sample);
    }

    /// Reads `/proc/stat` once for both the CPU lines and the kernel counters, and computes
    /// utilisation against the previous good sample.
    fn refresh_stat(&mut self, path: Option<&str>) {
        let mut times = CpuTimes::default();
        let mut counters = KernelCounters::default();
        let mut buf = [0u8; LINE_BUF_SIZE];
        let read = match path {
            Some(p) => read_lines(p, &mut buf, |line| {
                times.feed(line);
                counters.feed(line);
            }),
            None => Err(ReadError::PathTooLong),
        };
        self.counters = counters;
        let good = read.is_ok() && (times.total.is_some() || times.core_count() > 0);
        // Keep the last good sample as the base, so a failed round only widens the interval.
        if self.cpu_times.total.is_some() || self.cpu_times.core_count() > 0 {
            self.cpu_prev = core::mem::take(&mut self.cpu_times);
        }
        if good {
            self.cpu_times = times;
            self.cpu = cpu_usage(&self.cpu_prev, &self.cpu_times);
        } else {
            self.cpu = CpuUsage::default();
        }
    }

    /// Takes the new interface table and computes each interface's rate against the previous.
    fn refresh_net(&mut self, net: NetDev, now: Instant) {
        let dt_ns = self
            .net_prev_at
            .map(|at| now.saturating_duration_since(at).as_nanos());
        self.rates.clear();
        for iface in &net.ifaces {
            let prev = self.net_prev.iter().find(|p| p.name == iface.name);
            let rate = match (prev, dt_ns) {
                (Some(p), Some(dt)) => IfRate {
                    rx_bytes_per_s: per_second(iface.counters.rx_bytes, p.rx, dt),
                    tx_bytes_per_s: per_second(iface.counters.tx_bytes, p.tx, dt),
                },
                _ => IfRate::default(),
            };
            // Cannot overflow: one rate per interface, and both hold MAX_IFACES.
            let _ = self.rates.push(rate);
        }
        if !net.ifaces.is_empty() {
            self.net_prev.clear();
            for iface in &net.ifaces {
                let _ = self.net_prev.push(PrevCounters {
                    name: iface.name.clone(),
                    rx: iface.counters.rx_bytes,
                    tx: iface.counters.tx_bytes,
                });
            }
            self.net_prev_at = Some(now);
        }
        self.net = net;
    }

    /// Seconds since boot.
    pub fn uptime_s(&self) -> Option<u64> {
        self.uptime.map(|u| u.up_ms / 1000)
    }

    /// Boot time, seconds since the Unix epoch (`btime` of `/proc/stat`).
    pub fn boot_time_s(&self) -> Option<u64> {
        self.counters.boot_time
    }

    /// Online CPU cores (from the `cpuN` lines; 0 when unknown).
    pub fn cpu_count(&self) -> usize {
        self.cpu_times.core_count()
    }

    /// RAM in use, `MemTotal - MemAvailable` (or its estimate on old kernels), in bytes.
    pub fn mem_used_bytes(&self) -> Option<u64> {
        let m = self.memory.as_ref()?;
        Some(m.total?.saturating_sub(m.available_or_estimate()?))
    }

    /// [`mem_used_bytes`](Self::mem_used_bytes) in hundredths of a percent of `MemTotal`.
    pub fn mem_used(&self) -> Option<u16> {
        hundredths(self.mem_used_bytes()?, self.memory.as_ref()?.total?)
    }

    /// Swap in use in hundredths of a percent; `None` without swap.
    pub fn swap_used(&self) -> Option<u16> {
        let m = self.memory.as_ref()?;
        hundredths(m.swap_used()?, m.swap_total?)
    }

    /// The hottest readable sensor, millidegrees Celsius.
    pub fn max_millicelsius(&self) -> Option<i32> {
        self.sensors
            .sensors
            .iter()
            .filter_map(|s| s.millicelsius)
            .max()
    }

    /// Throughput summed over every interface except loopback; each direction is `None` when
    /// no interface has a known rate for it.
    pub fn total_rate(&self) -> IfRate {
        let mut total = IfRate::default();
        for (iface, rate) in self.net.ifaces.iter().zip(&self.rates) {
            if is_loopback(iface) {
                continue;
            }
            let add = |sum: Option<u64>, v: Option<u64>| match (sum, v) {
                (s, None) => s,
                (s, Some(v)) => Some(s.unwrap_or(0).saturating_add(v)),
            };
            total.rx_bytes_per_s = add(total.rx_bytes_per_s, rate.rx_bytes_per_s);
            total.tx_bytes_per_s = add(total.tx_bytes_per_s, rate.tx_bytes_per_s);
        }
        total
    }

    /// The rate of `net.ifaces[index]`.
    pub fn rate(&self, index: usize) -> IfRate {
        self.rates.get(index).copied().unwrap_or_default()
    }

    /// The addresses of `net.ifaces[index]`. Matched by `ifindex`; an interface without one,
    /// or whose `ifindex` an earlier interface already has, gets none (so each address is
    /// listed at most once and the formatters' worst-case sizes hold).
    pub fn addresses(&self, index: usize) -> impl Iterator<Item = &IfAddr> + Clone {
        let ifindex = self
            .net
            .ifaces
            .get(index)
            .and_then(|i| i.link.ifindex)
            .filter(|&x| {
                !self.net.ifaces[..index]
                    .iter()
                    .any(|e| e.link.ifindex == Some(x))
            });
        self.addrs
            .addrs
            .iter()
            .filter(move |a| Some(a.ifindex) == ifindex)
    }

    /// The headline figures of this refresh, as stored in the history.
    pub fn sample(&self) -> Sample {
        let net = self.total_rate();
        Sample {
            cpu_busy: self.cpu.total.map(|s| s.busy),
            mem_used: self.mem_used(),
            rx_bytes_per_s: net.rx_bytes_per_s,
            tx_bytes_per_s: net.tx_bytes_per_s,
            max_millicelsius: self.max_millicelsius(),
        }
    }
}

/// `CLOCK_REALTIME` in milliseconds since the epoch; `None` before 1970.
fn wall_clock_ms() -> Option<u64> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let ms = u64::try_from(ts.tv_nsec).ok()? / 1_000_000;
    secs.checked_mul(1000)?.checked_add(ms)
}

/// A snapshot with every table full and every value at its longest, for the formatters'
/// worst-case size tests. Strings are filled with `c` (each formatter's worst character).
#[cfg(test)]
pub(crate) fn worst_case(c: char) -> Snapshot {
    use super::cpu::{CoreJiffies, CoreUsage, CpuJiffies, CpuShare, MAX_CPUS};
    use super::disk::{MAX_MOUNTS, Mount};
    use super::history::HISTORY_LEN;
    use super::net::{IfCounters, LinkInfo, OperState};
    use super::netaddr::{AddrScope, MAX_ADDRS};
    use super::thermal::{MAX_SENSORS, Sensor, SensorSource};
    use core::net::{IpAddr, Ipv6Addr};

    fn full<const N: usize>(c: char) -> heapless::String<N> {
        let mut s = heapless::String::new();
        while s.push(c).is_ok() {}
        s
    }
    let m = u64::MAX;
    let mut s = Snapshot::new();
    s.kernel = KernelInfo {
        hostname: full(c),
        sysname: full(c),
        release: full(c),
        version: full(c),
        machine: full(c),
    };
    s.uptime = Some(Uptime {
        up_ms: m,
        idle_ms: Some(m),
    });
    s.wall_clock_ms = Some(m);
    s.load = Some(LoadAvg {
        load1: u32::MAX,
        load5: u32::MAX,
        load15: u32::MAX,
        runnable: Some(u32::MAX),
        tasks: Some(u32::MAX),
        last_pid: Some(u32::MAX),
    });
    s.counters = KernelCounters {
        boot_time: Some(m),
        context_switches: Some(m),
        forks: Some(m),
        interrupts: Some(m),
        procs_running: Some(m),
        procs_blocked: Some(m),
    };
    let j = CpuJiffies {
        user: m,
        nice: m,
        system: m,
        idle: m,
        iowait: m,
        irq: m,
        softirq: m,
        steal: m,
    };
    let share = CpuShare {
        busy: u16::MAX,
        user: u16::MAX,
        nice: u16::MAX,
        system: u16::MAX,
        idle: u16::MAX,
        iowait: u16::MAX,
        irq: u16::MAX,
        softirq: u16::MAX,
        steal: u16::MAX,
    };
    s.cpu_times.total = Some(j);
    s.cpu.total = Some(share);
    for i in 0..MAX_CPUS {
        let cpu = u16::MAX - i as u16;
        let _ = s.cpu_times.cores.push(CoreJiffies { cpu, jiffies: j });
        let _ = s.cpu.cores.push(CoreUsage { cpu, share });
    }
    s.cpu_times.omitted = u16::MAX;
    let mut all = MemInfo {
        total: Some(m),
        available: Some(m / 3),
        free: Some(m),
        buffers: Some(m),
        cached: Some(m),
        swap_total: Some(m),
        swap_free: Some(m / 3),
        ..MemInfo::default()
    };
    for (i, f) in [
        &mut all.swap_cached,
        &mut all.active,
        &mut all.inactive,
        &mut all.dirty,
        &mut all.writeback,
        &mut all.anon_pages,
        &mut all.mapped,
        &mut all.shmem,
        &mut all.slab,
        &mut all.slab_reclaimable,
        &mut all.slab_unreclaimable,
        &mut all.kernel_stack,
        &mut all.page_tables,
        &mut all.commit_limit,
        &mut all.committed_as,
    ]
    .into_iter()
    .enumerate()
    {
        *f = Some(m - i as u64);
    }
    s.memory = Some(all);
    let usage = DiskUsage {
        size_bytes: m,
        free_bytes: m / 3,
        avail_bytes: m / 7,
        files: m,
        files_free: m,
    };
    for _ in 0..MAX_MOUNTS {
        let _ = s.filesystems.mounts.push(Mount {
            device: full(c),
            device_cut: true,
            mount_point: full(c),
            fs_type: full(c),
            read_only: false,
            network: false,
            usage: Some(usage),
        });
    }
    s.filesystems.omitted = u16::MAX;
    let k = IfCounters {
        rx_bytes: m,
        rx_packets: m,
        rx_errs: m,
        rx_drop: m,
        tx_bytes: m,
        tx_packets: m,
        tx_errs: m,
        tx_drop: m,
        ..IfCounters::default()
    };
    for i in 0..MAX_IFACES {
        let link = LinkInfo {
            ifindex: Some(i as u32),
            operstate: Some(OperState::LowerLayerDown),
            carrier: Some(false),
            mtu: Some(u32::MAX),
            speed_mbps: Some(u32::MAX),
            mac: Some([0xff; 6]),
        };
        let mut name: IfName = full(c);
        // Distinct names, so the rates and addresses stay matched.
        name.pop();
        let _ = name.push(char::from(b'a' + (i % 26) as u8));
        let _ = s.net.ifaces.push(Interface {
            name,
            counters: k,
            link,
        });
        let _ = s.rates.push(IfRate {
            rx_bytes_per_s: Some(m),
            tx_bytes_per_s: Some(m),
        });
    }
    s.net.omitted = u16::MAX;
    for i in 0..MAX_ADDRS {
        let _ = s.addrs.addrs.push(IfAddr {
            ifindex: (i % MAX_IFACES) as u32,
            addr: IpAddr::V6(Ipv6Addr::new(
                0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
            )),
            prefix_len: 128,
            scope: AddrScope::Global,
            flags: 0,
        });
    }
    s.addrs.omitted = u16::MAX;
    for i in 0..MAX_SENSORS {
        let _ = s.sensors.sensors.push(Sensor {
            source: SensorSource::Hwmon,
            device: u16::MAX - i as u16,
            channel: u16::MAX,
            name: full(c),
            label: full(c),
            millicelsius: Some(i32::MIN + 1),
        });
    }
    s.sensors.omitted = u16::MAX;
    s.server = ServerFigures {
        uptime_s: m,
        connections_open: m,
        requests_served: m,
        bytes_in: m,
        bytes_out: m,
        rss_bytes: Some(m),
        static_memory_bytes: m,
    };
    for _ in 0..HISTORY_LEN + 1 {
        s.history.push(&Sample {
            cpu_busy: Some(u16::MAX - 1),
            mem_used: Some(u16::MAX - 1),
            rx_bytes_per_s: Some(m),
            tx_bytes_per_s: Some(m),
            max_millicelsius: Some(i32::MIN + 1),
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testfs::FakeRoot;
    use core::net::{IpAddr, Ipv4Addr};

    const SEC: u64 = 1_000_000_000;

    fn stat(user: u64, idle: u64) -> std::string::String {
        std::format!(
            "cpu  {user} 0 0 {idle} 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0\nbtime 1700000000\nctxt 9\n"
        )
    }

    fn net_dev(eth_rx: u64, lo_rx: u64) -> std::string::String {
        std::format!(
            "Inter-| Receive | Transmit\n face |bytes packets|bytes\n\
             lo: {lo_rx} 1 0 0 0 0 0 0 {lo_rx} 1 0 0 0 0 0 0\n\
             eth0: {eth_rx} 5 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n"
        )
    }

    fn fake_host(fs: &FakeRoot) {
        fs.file("proc/uptime", b"3725.50 100.00\n");
        fs.file("proc/loadavg", b"0.45 0.17 0.06 1/85 5089\n");
        fs.file("proc/stat", stat(100, 900).as_bytes());
        fs.file(
            "proc/meminfo",
            b"MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\nBuffers: 10 kB\n\
              Cached: 100 kB\nSwapTotal: 400 kB\nSwapFree: 300 kB\n",
        );
        fs.file("proc/self/mounts", b"proc /proc proc rw 0 0\n");
        fs.file("proc/net/dev", net_dev(1000, 50).as_bytes());
        fs.file("sys/class/net/eth0/operstate", b"up\n");
        fs.file("sys/class/net/eth0/ifindex", b"2\n");
        fs.file("sys/class/thermal/thermal_zone0/type", b"cpu-thermal\n");
        fs.file("sys/class/thermal/thermal_zone0/temp", b"48312\n");
        fs.file("sys/class/thermal/thermal_zone1/temp", b"51000\n");
    }

    fn sources(root: &str) -> (std::string::String, std::string::String) {
        (std::format!("{root}/proc"), std::format!("{root}/sys"))
    }

    #[test]
    fn two_refreshes_give_rates_and_utilisation() {
        let fs = FakeRoot::new();
        fake_host(&fs);
        let (proc_root, sys_root) = sources(&fs.root());
        let src = Sources {
            proc_root: &proc_root,
            sys_root: &sys_root,
            uname: true,
            netlink: false,
            mounts: MountFilter::default(),
        };
        let server = ServerFigures {
            requests_served: 7,
            ..ServerFigures::default()
        };
        let mut s = Snapshot::new();
        s.refresh_from(&src, Instant::from_nanos(10 * SEC), server);
        assert_eq!(s.uptime_s(), Some(3725));
        assert_eq!(s.boot_time_s(), Some(1_700_000_000));
        assert_eq!(s.counters.context_switches, Some(9));
        assert_eq!(s.load.unwrap().load1, 45);
        assert_eq!(s.cpu_count(), 1);
        assert_eq!(s.cpu.total, None, "one sample: no utilisation yet");
        assert_eq!(s.rate(1), IfRate::default());
        assert_eq!(s.mem_used(), Some(7500));
        assert_eq!(s.mem_used_bytes(), Some(750 * 1024));
        assert_eq!(s.swap_used(), Some(2500));
        assert_eq!(s.max_millicelsius(), Some(51_000));
        assert_eq!(s.server.requests_served, 7);
        assert!(s.filesystems.mounts.is_empty());
        assert!(!s.kernel.sysname.is_empty());
        assert!(s.wall_clock_ms.is_some());

        fs.file("proc/stat", stat(150, 1050).as_bytes());
        fs.file("proc/net/dev", net_dev(5000, 1_000_000).as_bytes());
        s.refresh_from(&src, Instant::from_nanos(12 * SEC), server);
        assert_eq!(s.cpu.total.unwrap().busy, 2500);
        assert_eq!(s.cpu.cores[0].share.busy, 2500);
        let eth = s.net.ifaces.iter().position(|i| i.name == "eth0").unwrap();
        assert_eq!(s.rate(eth).rx_bytes_per_s, Some(2000));
        assert_eq!(s.rate(eth).tx_bytes_per_s, Some(0));
        // Loopback is left out of the totals.
        assert_eq!(s.total_rate().rx_bytes_per_s, Some(2000));
        assert_eq!(s.history.len(), 2);
        let latest = s.history.latest().unwrap();
        assert_eq!(latest, s.sample());
        assert_eq!(latest.cpu_busy, Some(2500));
        assert_eq!(latest.rx_bytes_per_s, Some(2000));

        // Counters going backwards (interface re-created) and a failed /proc/stat.
        fs.file("proc/net/dev", net_dev(10, 1_000_000).as_bytes());
        fs.file("proc/stat", b"garbage\n");
        s.refresh_from(&src, Instant::from_nanos(13 * SEC), server);
        assert_eq!(s.rate(eth).rx_bytes_per_s, None);
        assert_eq!(s.cpu.total, None);
        // The next good sample is measured against the last good one.
        fs.file("proc/stat", stat(250, 1150).as_bytes());
        s.refresh_from(&src, Instant::from_nanos(14 * SEC), server);
        assert_eq!(s.cpu.total.unwrap().busy, 5000);
        let cpus: std::vec::Vec<_> = s.history.iter().map(|x| x.cpu_busy).collect();
        assert_eq!(cpus, [None, Some(2500), None, Some(5000)]);
    }

    #[test]
    fn every_source_missing() {
        let src = Sources {
            proc_root: "/nonexistent-edgeloop/proc",
            sys_root: "/nonexistent-edgeloop/sys",
            uname: false,
            netlink: false,
            mounts: MountFilter::default(),
        };
        let mut s = Snapshot::new();
        for t in 1..=3 {
            s.refresh_from(&src, Instant::from_nanos(t * SEC), ServerFigures::default());
        }
        assert_eq!(s.uptime, None);
        assert_eq!(s.load, None);
        assert_eq!(s.memory, None);
        assert_eq!(s.cpu, CpuUsage::default());
        assert_eq!(s.cpu_count(), 0);
        assert!(s.net.ifaces.is_empty() && s.rates.is_empty());
        assert!(s.sensors.sensors.is_empty());
        assert_eq!(s.mem_used(), None);
        assert_eq!(s.total_rate(), IfRate::default());
        assert_eq!(s.history.len(), 3);
        assert!(s.history.iter().all(|x| x == Sample::default()));
        // A root too long for a path buffer is an error like any other.
        let long = "x".repeat(crate::status::read::PATH_LEN + 1);
        let src = Sources {
            proc_root: &long,
            sys_root: &long,
            ..src
        };
        s.refresh_from(&src, Instant::from_nanos(4 * SEC), ServerFigures::default());
        assert_eq!(s.uptime, None);
    }

    #[test]
    fn addresses_follow_ifindex_once() {
        let mut s = Snapshot::new();
        let mut d = crate::status::net::parse_net_dev(&net_dev(1, 1).into_bytes());
        d.ifaces[0].link.ifindex = Some(2);
        d.ifaces[1].link.ifindex = Some(2);
        s.net = d;
        let a = IfAddr {
            ifindex: 2,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            prefix_len: 24,
            scope: crate::status::AddrScope::Global,
            flags: 0,
        };
        let _ = s.addrs.addrs.push(a);
        assert_eq!(s.addresses(0).count(), 1);
        assert_eq!(s.addresses(1).count(), 0, "duplicate ifindex");
        assert_eq!(s.addresses(9).count(), 0);
    }

    #[test]
    fn arithmetic_helpers() {
        assert_eq!(hundredths(1, 3), Some(3333));
        assert_eq!(hundredths(5, 0), None);
        assert_eq!(hundredths(u64::MAX, 1), Some(10_000));
        assert_eq!(hundredths(u64::MAX, u64::MAX), Some(10_000));
        let u = DiskUsage {
            size_bytes: 100,
            free_bytes: 30,
            avail_bytes: 20,
            ..DiskUsage::default()
        };
        assert_eq!(fs_used(&u), Some(7777));
        assert_eq!(fs_used(&DiskUsage::default()), None);
        assert_eq!(per_second(3000, 1000, 2 * u128::from(SEC)), Some(1000));
        assert_eq!(per_second(1, 2, 1), None);
        assert_eq!(per_second(2, 1, 0), None);
        assert_eq!(per_second(u64::MAX, 0, 1), Some(u64::MAX));
    }
}
