//! Network interfaces: traffic counters from `/proc/net/dev` and link state from
//! `/sys/class/net/<iface>/` (`operstate`, `carrier`, `mtu`, `speed`, `address`, `ifindex`).
//!
//! Addresses come from [`netaddr`](super::netaddr) and are matched to interfaces by
//! [`LinkInfo::ifindex`].
//!
//! node_exporter equivalents: `node_network_{receive,transmit}_*_total{device}`,
//! `node_network_up` (`operstate` is `up`), `node_network_carrier`, `node_network_mtu_bytes`,
//! `node_network_speed_bytes` (`speed_mbps` × 125000), `node_network_info{address, operstate}`.

use super::ascii::{fields, first_line, parse_i64, parse_u32, parse_u64, split_key};
use super::read::{
    LINE_BUF_SIZE, Line, ReadError, VALUE_BUF_SIZE, join_path, lines, read_file, read_lines,
};
use crate::config::parse_or;

/// Most interfaces kept in a [`NetDev`]; further ones are counted in [`NetDev::omitted`].
///
/// Default 16. Set with `EDGELOOP_MAX_IFACES`. Cost: about 200 bytes per entry.
pub const MAX_IFACES: usize = parse_or(option_env!("EDGELOOP_MAX_IFACES"), 16);

/// Longest interface name: 15 bytes, the kernel's `IFNAMSIZ` (16) less its NUL. Not
/// configurable.
pub const IFNAME_LEN: usize = 15;

/// An interface name (`eth0`, `wlan0`, `br-lan`).
pub type IfName = heapless::String<IFNAME_LEN>;

/// The 16 counters of a `/proc/net/dev` row, since the interface was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IfCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errs: u64,
    /// Received packets dropped.
    pub rx_drop: u64,
    /// Receive FIFO overruns.
    pub rx_fifo: u64,
    /// Receive framing errors.
    pub rx_frame: u64,
    /// Compressed packets received.
    pub rx_compressed: u64,
    /// Multicast packets received.
    pub rx_multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errs: u64,
    /// Packets dropped on transmit.
    pub tx_drop: u64,
    /// Transmit FIFO overruns.
    pub tx_fifo: u64,
    /// Collisions.
    pub tx_colls: u64,
    /// Carrier losses.
    pub tx_carrier: u64,
    /// Compressed packets sent.
    pub tx_compressed: u64,
}

/// RFC 2863 operational state, `/sys/class/net/<iface>/operstate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OperState {
    /// `unknown`: the driver does not report it (loopback, many virtual devices).
    Unknown,
    /// `notpresent`.
    NotPresent,
    /// `down`.
    Down,
    /// `lowerlayerdown`: e.g. a VLAN whose parent is down.
    LowerLayerDown,
    /// `testing`.
    Testing,
    /// `dormant`: e.g. Wi-Fi not yet associated.
    Dormant,
    /// `up`.
    Up,
}

impl OperState {
    /// The kernel's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OperState::Unknown => "unknown",
            OperState::NotPresent => "notpresent",
            OperState::Down => "down",
            OperState::LowerLayerDown => "lowerlayerdown",
            OperState::Testing => "testing",
            OperState::Dormant => "dormant",
            OperState::Up => "up",
        }
    }
}

/// Parses the contents of an `operstate` file (`"up\n"`); `None` for anything else.
pub fn parse_operstate(data: &[u8]) -> Option<OperState> {
    Some(match first_line(data)? {
        b"unknown" => OperState::Unknown,
        b"notpresent" => OperState::NotPresent,
        b"down" => OperState::Down,
        b"lowerlayerdown" => OperState::LowerLayerDown,
        b"testing" => OperState::Testing,
        b"dormant" => OperState::Dormant,
        b"up" => OperState::Up,
        _ => return None,
    })
}

/// Parses a `speed` file (Mbit/s). `None` for the kernel's "unknown" values (`-1`, and
/// `65535`/`4294967295` from older drivers) and anything unreadable.
pub fn parse_speed(data: &[u8]) -> Option<u32> {
    let n = parse_i64(first_line(data)?)?;
    match u32::try_from(n) {
        Ok(65_535 | u32::MAX) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Parses a 6-byte hardware address file (`"b8:27:eb:12:34:56\n"`); `None` for other lengths
/// (tunnels, InfiniBand) or junk.
pub fn parse_mac(data: &[u8]) -> Option<[u8; 6]> {
    let line = first_line(data)?;
    let mut mac = [0u8; 6];
    let mut parts = line.split(|&b| b == b':');
    for byte in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        let hex = |c: u8| (c as char).to_digit(16);
        *byte = u8::try_from(hex(p[0])? * 16 + hex(p[1])?).ok()?;
    }
    if parts.next().is_some() {
        None
    } else {
        Some(mac)
    }
}

/// Link attributes from `/sys/class/net/<iface>/`; each `None` when its file is missing or
/// unreadable (no `/sys` in the container, `carrier` and `speed` read as `EINVAL` while the
/// link is down, virtual devices without a speed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkInfo {
    /// Kernel interface index (`ifindex`), the key used by netlink address dumps.
    pub ifindex: Option<u32>,
    /// Operational state (`operstate`).
    pub operstate: Option<OperState>,
    /// Physical link detected (`carrier`).
    pub carrier: Option<bool>,
    /// MTU in bytes (`mtu`).
    pub mtu: Option<u32>,
    /// Link speed in Mbit/s (`speed`).
    pub speed_mbps: Option<u32>,
    /// Ethernet hardware address (`address`).
    pub mac: Option<[u8; 6]>,
}

/// One interface: its name, counters and link attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Interface {
    /// Interface name.
    pub name: IfName,
    /// `/proc/net/dev` counters.
    pub counters: IfCounters,
    /// `/sys/class/net` attributes (all `None` until [`read_link`] fills them).
    pub link: LinkInfo,
}

/// A snapshot of the interfaces in `/proc/net/dev`, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetDev {
    /// The interfaces, at most [`MAX_IFACES`].
    pub ifaces: heapless::Vec<Interface, MAX_IFACES>,
    /// Interface rows that did not fit, or whose name was not usable (longer than
    /// [`IFNAME_LEN`] or not printable ASCII).
    pub omitted: u16,
}

impl NetDev {
    /// The interface called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Interface> {
        self.ifaces.iter().find(|i| i.name == name)
    }

    /// Takes one `/proc/net/dev` line: rows are `name: 16 counters`; headers, cut rows and
    /// rows with unreadable counters are ignored.
    pub fn feed(&mut self, line: Line<'_>) {
        if !line.complete {
            return;
        }
        let Some((name, rest)) = split_key(line.text) else {
            return;
        };
        let name = name.trim_ascii();
        let mut values = [0u64; 16];
        let mut f = fields(rest);
        for v in &mut values {
            match f.next().and_then(parse_u64) {
                Some(n) => *v = n,
                None => return,
            }
        }
        let Some(name) = valid_name(name) else {
            self.omitted = self.omitted.saturating_add(1);
            return;
        };
        let [
            rx_bytes,
            rx_packets,
            rx_errs,
            rx_drop,
            rx_fifo,
            rx_frame,
            rx_compressed,
            rx_multicast,
            tx_bytes,
            tx_packets,
            tx_errs,
            tx_drop,
            tx_fifo,
            tx_colls,
            tx_carrier,
            tx_compressed,
        ] = values;
        let counters = IfCounters {
            rx_bytes,
            rx_packets,
            rx_errs,
            rx_drop,
            rx_fifo,
            rx_frame,
            rx_compressed,
            rx_multicast,
            tx_bytes,
            tx_packets,
            tx_errs,
            tx_drop,
            tx_fifo,
            tx_colls,
            tx_carrier,
            tx_compressed,
        };
        let iface = Interface {
            name,
            counters,
            link: LinkInfo::default(),
        };
        if self.ifaces.push(iface).is_err() {
            self.omitted = self.omitted.saturating_add(1);
        }
    }
}

/// A name usable as a `/sys/class/net` path component: 1..=15 printable ASCII bytes without
/// `/`, and not `.` or `..`.
fn valid_name(name: &[u8]) -> Option<IfName> {
    if name.is_empty() || name == b"." || name == b".." {
        return None;
    }
    if !name.iter().all(|&b| b.is_ascii_graphic() && b != b'/') {
        return None;
    }
    let s = core::str::from_utf8(name).ok()?;
    IfName::try_from(s).ok()
}

/// Parses the contents of `/proc/net/dev`. Never fails; link attributes are left `None`.
pub fn parse_net_dev(data: &[u8]) -> NetDev {
    let mut d = NetDev::default();
    for line in lines(data) {
        d.feed(line);
    }
    d
}

/// Reads `/proc/net/dev` (counters only, see [`read_interfaces`]).
pub fn read_net_dev() -> Result<NetDev, ReadError> {
    read_net_dev_from("/proc/net/dev")
}

/// Reads a net/dev file at `path`, streamed through a [`LINE_BUF_SIZE`] buffer.
pub fn read_net_dev_from(path: &str) -> Result<NetDev, ReadError> {
    let mut d = NetDev::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| d.feed(line))?;
    Ok(d)
}

/// Reads `/sys/class/net/<name>/` attributes. Never fails; unreadable attributes are `None`.
pub fn read_link(name: &str) -> LinkInfo {
    read_link_at("/sys", name)
}

/// [`read_link`] with another sysfs mount point (`sys_root` is normally `/sys`).
pub fn read_link_at(sys_root: &str, name: &str) -> LinkInfo {
    let number = |d: &[u8]| first_line(d).and_then(parse_u32);
    let bool01 = |d: &[u8]| match first_line(d)? {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    };
    LinkInfo {
        ifindex: read_attr(sys_root, name, "ifindex", number),
        operstate: read_attr(sys_root, name, "operstate", parse_operstate),
        carrier: read_attr(sys_root, name, "carrier", bool01),
        mtu: read_attr(sys_root, name, "mtu", number),
        speed_mbps: read_attr(sys_root, name, "speed", parse_speed),
        mac: read_attr(sys_root, name, "address", parse_mac),
    }
}

/// Reads `<sys_root>/class/net/<name>/<file>` into a [`VALUE_BUF_SIZE`] buffer and parses it.
fn read_attr<T>(
    sys_root: &str,
    name: &str,
    file: &str,
    parse: impl FnOnce(&[u8]) -> Option<T>,
) -> Option<T> {
    let path = join_path(&[sys_root, "/class/net/", name, "/", file]).ok()?;
    let mut buf = [0u8; VALUE_BUF_SIZE];
    parse(read_file(&path, &mut buf).ok()?)
}

/// Reads `/proc/net/dev` and fills every interface's [`LinkInfo`] from `/sys/class/net`.
pub fn read_interfaces() -> Result<NetDev, ReadError> {
    read_interfaces_at("/proc", "/sys")
}

/// [`read_interfaces`] with other procfs and sysfs mount points.
pub fn read_interfaces_at(proc_root: &str, sys_root: &str) -> Result<NetDev, ReadError> {
    let path = join_path(&[proc_root, "/net/dev"])?;
    let mut d = read_net_dev_from(&path)?;
    for iface in &mut d.ifaces {
        iface.link = read_link_at(sys_root, &iface.name);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testfs::FakeRoot;

    const NET_DEV: &[u8] = b"Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 154892618    6401    1    2    3     4          5         6   321671    3621    7    8    9    10      11         12
 wlan0:0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn parses_net_dev() {
        let d = parse_net_dev(NET_DEV);
        assert_eq!(d.ifaces.len(), 3);
        assert_eq!(d.omitted, 0);
        let lo = d.get("lo").unwrap();
        assert_eq!((lo.counters.rx_bytes, lo.counters.tx_packets), (3193, 29));
        let eth = d.get("eth0").unwrap();
        let c = eth.counters;
        assert_eq!(c.rx_bytes, 154_892_618);
        assert_eq!((c.rx_errs, c.rx_drop, c.rx_multicast), (1, 2, 6));
        assert_eq!(
            (
                c.tx_bytes,
                c.tx_errs,
                c.tx_drop,
                c.tx_colls,
                c.tx_compressed
            ),
            (321_671, 7, 8, 10, 12)
        );
        assert_eq!(d.get("wlan0").unwrap().counters, IfCounters::default());
        assert_eq!(eth.link, LinkInfo::default());
    }

    #[test]
    fn net_dev_truncated_and_odd() {
        // Cut inside eth0's row: eth0 is left out rather than given wrong counters.
        let cut = &NET_DEV[..NET_DEV.windows(6).position(|w| w == b"321671").unwrap() + 3];
        let d = parse_net_dev(cut);
        assert!(d.get("lo").is_some());
        assert!(d.get("eth0").is_none());
        // Too few counters, junk, over-long and unusable names.
        let d = parse_net_dev(
            b"eth1: 1 2 3\neth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n\
              averyveryverylongname: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
              ..: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        );
        assert!(d.ifaces.is_empty());
        assert_eq!(d.omitted, 3);
    }

    #[test]
    fn net_dev_capacity() {
        let mut data = std::string::String::new();
        for i in 0..MAX_IFACES + 2 {
            data.push_str(&std::format!("veth{i}: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n"));
        }
        let d = parse_net_dev(data.as_bytes());
        assert_eq!(d.ifaces.len(), MAX_IFACES);
        assert_eq!(d.omitted, 2);
    }

    #[test]
    fn attribute_parsers() {
        assert_eq!(parse_operstate(b"up\n"), Some(OperState::Up));
        assert_eq!(
            parse_operstate(b"lowerlayerdown\n"),
            Some(OperState::LowerLayerDown)
        );
        assert_eq!(parse_operstate(b"u"), None);
        assert_eq!(parse_operstate(b"sideways\n"), None);
        assert_eq!(OperState::Dormant.as_str(), "dormant");
        assert_eq!(parse_speed(b"1000\n"), Some(1000));
        assert_eq!(parse_speed(b"-1\n"), None);
        assert_eq!(parse_speed(b"4294967295\n"), None);
        assert_eq!(parse_speed(b"65535\n"), None);
        assert_eq!(parse_speed(b"100"), None);
        assert_eq!(
            parse_mac(b"b8:27:eb:12:34:5f\n"),
            Some([0xb8, 0x27, 0xeb, 0x12, 0x34, 0x5f])
        );
        assert_eq!(parse_mac(b"00:00:00:00\n"), None);
        assert_eq!(parse_mac(b"b8:27:eb:12:34:56:78\n"), None);
        assert_eq!(parse_mac(b"b8:27:eb:12:34:5g\n"), None);
        assert_eq!(parse_mac(b"b8:27:eb:12:34:5\n"), None);
    }

    #[test]
    fn link_from_fake_sysfs() {
        let fs = FakeRoot::new();
        fs.file("proc/net/dev", NET_DEV);
        fs.file("sys/class/net/eth0/operstate", b"up\n");
        fs.file("sys/class/net/eth0/carrier", b"1\n");
        fs.file("sys/class/net/eth0/mtu", b"1500\n");
        fs.file("sys/class/net/eth0/speed", b"1000\n");
        fs.file("sys/class/net/eth0/address", b"b8:27:eb:00:00:01\n");
        fs.file("sys/class/net/eth0/ifindex", b"2\n");
        // wlan0: down, carrier unreadable (an empty file here), no speed file.
        fs.file("sys/class/net/wlan0/operstate", b"dormant\n");
        fs.file("sys/class/net/wlan0/carrier", b"");
        let root = fs.root();
        let d =
            read_interfaces_at(&std::format!("{root}/proc"), &std::format!("{root}/sys")).unwrap();
        let eth = d.get("eth0").unwrap().link;
        assert_eq!(
            eth,
            LinkInfo {
                ifindex: Some(2),
                operstate: Some(OperState::Up),
                carrier: Some(true),
                mtu: Some(1500),
                speed_mbps: Some(1000),
                mac: Some([0xb8, 0x27, 0xeb, 0, 0, 1]),
            }
        );
        let wlan = d.get("wlan0").unwrap().link;
        assert_eq!(wlan.operstate, Some(OperState::Dormant));
        assert_eq!(
            (wlan.carrier, wlan.speed_mbps, wlan.mtu),
            (None, None, None)
        );
        // lo has no sysfs directory at all (container without /sys).
        assert_eq!(d.get("lo").unwrap().link, LinkInfo::default());
        // No procfs: an error, not a panic.
        let missing = std::format!("{root}/nothing");
        assert_eq!(
            read_interfaces_at(&missing, &missing),
            Err(ReadError::Missing)
        );
    }
}
