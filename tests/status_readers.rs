#![cfg(feature = "status")]
//! Reads the real host files through the public `edgeloop::status` API and checks the results
//! against an independent, std-based reading of the same files.
//!
//! Values that move between the two reads (uptime, counters, RSS) are compared with bounds
//! taken before and after; sources the host may lack (thermal zones, netlink in a strict
//! sandbox) are compared only for agreement, never required.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv6Addr};

use edgeloop::status::{self, AddrScope, MountFilter, OperState, ReadError, SensorSource};

fn std_read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("std read of {path}: {e}"))
}

/// The value of `Key:` in a `Key: value [kB]` file, via std.
fn std_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[test]
fn mem_total_matches() {
    let kib = std_field(&std_read("/proc/meminfo"), "MemTotal").expect("MemTotal");
    let m = status::read_meminfo().expect("read_meminfo");
    assert_eq!(m.total, Some(kib * 1024));
    let avail = m.available_or_estimate().expect("available");
    assert!(avail <= m.total.unwrap());
    assert!(m.free.unwrap() <= m.total.unwrap());
}

#[test]
fn cpu_count_matches_stat_lines() {
    let text = std_read("/proc/stat");
    let std_cores: Vec<u16> = text
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .strip_prefix("cpu")?
                .parse()
                .ok()
        })
        .collect();
    let t = status::read_cpu_times().expect("read_cpu_times");
    assert_eq!(t.core_count(), std_cores.len());
    let kept: Vec<u16> = t.cores.iter().map(|c| c.cpu).collect();
    assert_eq!(kept[..], std_cores[..kept.len()]);
    assert!(t.total.is_some());
    // Utilisation between two snapshots is within 0..=100 %.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let t2 = status::read_cpu_times().expect("second snapshot");
    let u = status::cpu_usage(&t, &t2);
    for core in &u.cores {
        assert!(core.share.busy <= 10_000 && core.share.idle <= 10_000);
    }
    if let Some(total) = u.total {
        assert!(total.busy <= 10_000);
    }
}

#[test]
fn boot_time_and_counters_match() {
    let text = std_read("/proc/stat");
    let c = status::read_kernel_counters().expect("read_kernel_counters");
    assert_eq!(c.boot_time, std_stat_value(&text, "btime"));
    assert!(c.boot_time.unwrap() > 1_000_000_000);
    let ctxt_before = std_stat_value(&text, "ctxt").unwrap();
    assert!(c.context_switches.unwrap() >= ctxt_before);
    let intr_before = std_stat_value(&text, "intr").unwrap();
    assert!(c.interrupts.unwrap() >= intr_before);
}

fn std_stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        if f.next()? == key {
            f.next()?.parse().ok()
        } else {
            None
        }
    })
}

fn std_uptime_ms() -> f64 {
    let text = std_read("/proc/uptime");
    text.split_whitespace()
        .next()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        * 1000.0
}

#[test]
fn uptime_within_two_seconds() {
    let before = std_uptime_ms();
    let u = status::read_uptime().expect("read_uptime");
    let after = std_uptime_ms();
    let ours = u.up_ms as f64;
    assert!(
        ours >= before - 2000.0 && ours <= after + 2000.0,
        "{before} {ours} {after}"
    );
    assert!(u.idle_ms.is_some());
}

#[test]
fn loadavg_matches() {
    let parse = |s: &str| -> Vec<u32> {
        s.split_whitespace()
            .take(3)
            .map(|x| (x.parse::<f64>().unwrap() * 100.0).round() as u32)
            .collect()
    };
    let before = parse(&std_read("/proc/loadavg"));
    let l = status::read_loadavg().expect("read_loadavg");
    let after = parse(&std_read("/proc/loadavg"));
    let ours = vec![l.load1, l.load5, l.load15];
    assert!(
        ours == before || ours == after,
        "{before:?} {ours:?} {after:?}"
    );
    assert!(l.tasks.unwrap() >= l.runnable.unwrap());
}

#[test]
fn uname_matches_proc_sys_kernel() {
    let k = status::read_kernel_info();
    assert_eq!(
        k.hostname.as_str(),
        std_read("/proc/sys/kernel/hostname").trim()
    );
    assert_eq!(
        k.release.as_str(),
        std_read("/proc/sys/kernel/osrelease").trim()
    );
    assert_eq!(k.sysname.as_str(), "Linux");
    // No /proc file holds the machine name; a 64-bit build runs on a kernel of its own arch.
    assert!(!k.machine.is_empty());
    if matches!(std::env::consts::ARCH, "x86_64" | "aarch64") {
        assert_eq!(k.machine.as_str(), std::env::consts::ARCH);
    }
    let info = status::read_system_info();
    assert!(info.uptime.is_some() && info.load.is_some() && info.counters.boot_time.is_some());
}

fn std_net_dev() -> Vec<(String, u64)> {
    std_read("/proc/net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            Some((
                name.trim().to_owned(),
                rest.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn interfaces_match_proc_net_dev_and_sysfs() {
    let before = std_net_dev();
    let d = status::read_interfaces().expect("read_interfaces");
    let after = std_net_dev();
    assert!(d.get("lo").is_some(), "loopback present");
    assert_eq!(d.ifaces.len() + usize::from(d.omitted), before.len());
    for iface in &d.ifaces {
        let name = iface.name.as_str();
        let b = before
            .iter()
            .find(|(n, _)| n == name)
            .expect("in std read")
            .1;
        let a = after
            .iter()
            .find(|(n, _)| n == name)
            .map_or(u64::MAX, |x| x.1);
        assert!(
            b <= iface.counters.rx_bytes && iface.counters.rx_bytes <= a,
            "{name}"
        );
        let sys = format!("/sys/class/net/{name}");
        let attr = |f: &str| fs::read_to_string(format!("{sys}/{f}")).ok();
        assert_eq!(
            iface.link.mtu,
            attr("mtu").and_then(|s| s.trim().parse().ok()),
            "{name} mtu"
        );
        assert_eq!(
            iface.link.ifindex,
            attr("ifindex").and_then(|s| s.trim().parse().ok()),
            "{name} ifindex"
        );
        assert_eq!(
            iface.link.operstate.map(OperState::as_str),
            attr("operstate").map(|s| s.trim().to_owned()).as_deref(),
            "{name} operstate"
        );
    }
}

/// `/proc/net/if_inet6`: `addr-hex ifindex-hex prefix-hex scope-hex flags-hex name`.
fn std_if_inet6() -> BTreeSet<(Ipv6Addr, u32, u8)> {
    let Ok(text) = fs::read_to_string("/proc/net/if_inet6") else {
        return BTreeSet::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = u128::from_str_radix(f.first()?, 16).ok()?;
            let idx = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let prefix = u8::from_str_radix(f.get(2)?, 16).ok()?;
            Some((Ipv6Addr::from(addr), idx, prefix))
        })
        .collect()
}

#[test]
fn addresses_match_if_inet6_and_loopback() {
    let list = match status::read_addresses() {
        Ok(l) => l,
        Err(ReadError::Open(e)) => {
            eprintln!("netlink sockets unavailable here (errno {e}); skipping");
            return;
        }
        Err(e) => panic!("read_addresses: {e}"),
    };
    let lo_index: u32 = std_read("/sys/class/net/lo/ifindex")
        .trim()
        .parse()
        .unwrap();
    let lo4 = list
        .addrs
        .iter()
        .find(|a| a.addr == IpAddr::from([127, 0, 0, 1]))
        .expect("127.0.0.1 listed");
    assert_eq!(
        (lo4.ifindex, lo4.prefix_len, lo4.scope),
        (lo_index, 8, AddrScope::Host)
    );
    if list.omitted == 0 {
        let ours: BTreeSet<(Ipv6Addr, u32, u8)> = list
            .addrs
            .iter()
            .filter_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, a.ifindex, a.prefix_len)),
                IpAddr::V4(_) => None,
            })
            .collect();
        assert_eq!(ours, std_if_inet6());
    }
}

#[test]
fn mounts_come_from_proc_self_mounts() {
    let text = std_read("/proc/self/mounts");
    let std_points: BTreeSet<String> = text
        .lines()
        .filter_map(|l| Some(l.split(' ').nth(1)?.replace("\\040", " ")))
        .collect();
    let m = status::read_mounts(&MountFilter::default()).expect("read_mounts");
    for mount in &m.mounts {
        assert!(
            std_points.contains(mount.mount_point.as_str()),
            "{}",
            mount.mount_point
        );
        assert!(
            !["proc", "sysfs", "cgroup", "cgroup2", "devpts"].contains(&mount.fs_type.as_str())
        );
        if let Some(u) = mount.usage {
            assert!(u.avail_bytes <= u.size_bytes && u.free_bytes <= u.size_bytes);
        }
    }
    let root = status::disk_usage("/").expect("statvfs /");
    assert!(root.size_bytes > 0);
    if let Some(r) = m.mounts.iter().find(|x| x.mount_point == "/") {
        assert_eq!(r.usage.unwrap().size_bytes, root.size_bytes);
    }
}

#[test]
fn thermal_zones_match_sysfs_listing() {
    let zones = fs::read_dir("/sys/class/thermal")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
                .count()
        })
        .unwrap_or(0);
    let s = status::read_sensors();
    let ours = s
        .sensors
        .iter()
        .filter(|x| x.source == SensorSource::ThermalZone)
        .count();
    if zones <= status::MAX_SENSORS {
        assert_eq!(ours, zones);
    }
    for sensor in &s.sensors {
        if let Some(t) = sensor.millicelsius {
            assert!((-60_000..=200_000).contains(&t), "{sensor:?}");
        }
    }
}

#[test]
fn own_process_matches_proc_self() {
    let status_text = std_read("/proc/self/status");
    let rss_before = std_field(&status_text, "VmRSS").unwrap() * 1024;
    let m = status::read_process_memory().expect("read_process_memory");
    let rss = m.rss_bytes.unwrap();
    // RSS moves a little between the reads; allow 25 %.
    assert!(
        rss.abs_diff(rss_before) <= rss_before / 4,
        "{rss} vs {rss_before}"
    );
    assert!(m.rss_peak_bytes.unwrap() >= rss);
    assert!(m.threads.unwrap() >= 1);

    let stat_text = std_read("/proc/self/stat");
    let after_name = &stat_text[stat_text.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after_name
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let (utime, start) = (f[14 - 3], f[22 - 3]);
    let t = status::read_process_times().expect("read_process_times");
    assert!(t.utime_ticks >= utime);
    assert_eq!(t.start_ticks, start);
}
