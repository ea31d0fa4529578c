//! Device status readers: what the status firmware shows on its status page, JSON API and
//! Prometheus (node_exporter-compatible) metrics.
//!
//! Every reader is split in two: a pure parser `parse_*(&[u8])` that turns a file's contents
//! into a plain, fixed-size struct (tested on sample files), and a thin `read_*` function that
//! reads the real file into a stack buffer. Nothing allocates, and every capacity is a
//! documented `pub const` that a board can override at build time (see
//! [`config`](crate::config)).
//!
//! | module | source | gives |
//! | --- | --- | --- |
//! | [`system`] | `uname(2)`, `/proc/uptime`, `/proc/loadavg`, `/proc/stat` | host name, kernel, architecture, uptime, load, boot time, context switches, forks, interrupts |
//! | [`cpu`] | `/proc/stat` `cpu`/`cpuN` lines | per-core jiffies; utilisation between two snapshots |
//! | [`memory`] | `/proc/meminfo` | RAM and swap in bytes |
//! | [`net`] | `/proc/net/dev`, `/sys/class/net/<if>/` | traffic counters, link state, MTU, speed, MAC |
//! | [`netaddr`] | netlink `RTM_GETADDR` | IPv4 and IPv6 addresses per interface |
//! | [`disk`] | `/proc/self/mounts`, `statvfs(2)` | real filesystems with size, free, available, inodes |
//! | [`thermal`] | `/sys/class/thermal`, `/sys/class/hwmon` | temperatures in millidegrees Celsius |
//! | [`process`] | `/proc/self/status`, `/proc/self/stat` | this process's RSS, peak RSS, CPU time |
//!
//! # Missing, cut and odd files
//!
//! Containers, QEMU guests and trimmed-down board kernels may lack any of these files, or show
//! them with fewer fields. Nothing here panics on file contents, and nothing is guessed:
//!
//! * a missing file makes its reader return [`ReadError::Missing`] (or, for readers that
//!   combine several sources, leaves that part `None` or empty);
//! * a field that is absent or not understood is `None`; a line that was cut (a file ending
//!   without `\n`, or a line longer than the read buffer) only contributes its whole fields,
//!   so a truncated file gives "unknown", never a wrong number;
//! * files larger than their buffer are streamed line by line ([`read::read_lines`]), or
//!   reported as [`ReadError::TooLarge`];
//! * tables that are full count what they dropped in an `omitted` field.
//!
//! Errors are a small `Copy` enum, [`ReadError`]; callers usually show any error as "unknown".
//!
//! # Blocking
//!
//! `/proc` and `/sys` reads do not block. `statvfs` on a network filesystem can, so
//! [`disk`] skips measuring those by default. The netlink dump is read with `MSG_DONTWAIT`.

pub mod ascii;
pub mod cpu;
pub mod disk;
pub mod history;
pub mod json;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod netaddr;
pub mod page;
pub mod process;
pub mod read;
pub mod service;
pub mod snapshot;
pub mod system;
pub mod thermal;

#[cfg(test)]
mod testfs;

pub use cpu::{
    CoreJiffies, CoreUsage, CpuJiffies, CpuShare, CpuTimes, CpuUsage, MAX_CPUS, USER_HZ, cpu_share,
    cpu_usage, jiffies_to_millis, parse_cpu_times, read_cpu_times,
};
pub use disk::{
    DiskUsage, MAX_MOUNTS, Mount, MountFilter, Mounts, disk_usage, parse_mounts, read_mounts,
};
pub use memory::{MemInfo, parse_meminfo, read_meminfo};
pub use net::{
    IfCounters, IfName, Interface, LinkInfo, MAX_IFACES, NetDev, OperState, parse_net_dev,
    read_interfaces, read_link, read_net_dev,
};
pub use netaddr::{AddrList, AddrScope, IfAddr, MAX_ADDRS, parse_addr_dump, read_addresses};
pub use process::{
    ProcessMemory, ProcessTimes, parse_process_stat, parse_process_status, read_process_memory,
    read_process_times,
};
pub use read::ReadError;
pub use system::{
    KernelCounters, KernelInfo, LoadAvg, SystemInfo, Uptime, parse_kernel_counters, parse_loadavg,
    parse_uptime, read_kernel_counters, read_kernel_info, read_loadavg, read_system_info,
    read_uptime,
};
pub use thermal::{MAX_SENSORS, Sensor, SensorSource, Sensors, parse_millicelsius, read_sensors};
