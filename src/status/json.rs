//! `/api/status` (and each `/events` message) and `/api/history` as JSON, written into a
//! caller buffer with `serde-json-core` (no allocation).
//!
//! [`write_status`] serialises borrowed views of a [`Snapshot`]; the output is compact (no
//! newline, so it is also one SSE `data:` line, see [`write_status_event`]). A value that is
//! unknown is `null`. It never holds more than [`STATUS_JSON_MAX`] bytes, whatever the
//! snapshot contains (every table full, every string made of characters JSON must escape), so a
//! buffer of that size always suffices; a typical Raspberry Pi answer is 2–4 KiB.
//!
//! The history is not repeated in every status message: [`write_history`] writes it for
//! `/api/history` (the page fetches it once), and each status carries the newest `sample`, which
//! the page appends to its copy when `seq` is new.
//!
//! # `/api/status` schema
//!
//! Percentages are numbers from 0 to 100 with two decimals; temperatures are °C with three.
//!
//! | key | type | unit / meaning |
//! |---|---|---|
//! | `seq` | integer | refreshes so far; the number of `sample` |
//! | `hostname`, `os`, `kernel`, `kernel_version`, `arch` | string | `uname`: nodename, sysname, release, version, machine |
//! | `time_ms` | integer \| null | wall clock of the refresh, ms since the Unix epoch |
//! | `uptime_s` | integer \| null | seconds since boot |
//! | `boot_time_s` | integer \| null | boot time, s since the Unix epoch |
//! | `load` | object \| null | `load1`, `load5`, `load15` (number); `runnable`, `tasks` (integer \| null) |
//! | `cpu.count` | integer | online cores (0 when unknown) |
//! | `cpu.total` | object \| null | `busy_pct`, `user_pct`, `nice_pct`, `system_pct`, `idle_pct`, `iowait_pct`, `irq_pct`, `softirq_pct`, `steal_pct` (%) since the previous refresh |
//! | `cpu.cores[]` | array | `{cpu: integer, busy_pct: %}` per core |
//! | `memory` | object \| null | `total_bytes`, `available_bytes`, `free_bytes`, `buffers_bytes`, `cached_bytes`, `used_bytes` (bytes \| null; used = total − available), `used_pct` (% \| null) |
//! | `swap` | object \| null | `total_bytes`, `free_bytes`, `used_bytes` (bytes \| null), `used_pct` (% \| null, null without swap) |
//! | `filesystems[]` | array | `device`, `mountpoint`, `fstype` (string), `read_only` (bool), `size_bytes`, `free_bytes`, `avail_bytes`, `files`, `files_free` (integer \| null), `used_pct` (% like `df` \| null) |
//! | `interfaces[]` | array | `name` (string), `state` (operstate string \| null), `up` (bool), `carrier` (bool \| null), `mtu` (bytes \| null), `speed_mbps` (Mbit/s \| null), `mac` (`"b8:27:eb:…"` \| null), `addresses` (array of `"addr/prefix"`), `rx_bytes`, `tx_bytes`, `rx_packets`, `tx_packets`, `rx_errs`, `tx_errs`, `rx_drop`, `tx_drop` (counters since the interface appeared), `rx_bytes_per_s`, `tx_bytes_per_s` (bytes/s \| null) |
//! | `temperatures[]` | array | `source` (`"thermal"` \| `"hwmon"`), `device`, `channel` (integer), `name`, `label` (string), `celsius` (°C \| null) |
//! | `server` | object | `uptime_s`, `connections_open`, `requests_total`, `bytes_in_total`, `bytes_out_total`, `static_memory_bytes` (integer), `rss_bytes` (bytes \| null) |
//! | `sample` | object | the newest history sample: `cpu_pct`, `mem_pct` (% \| null), `rx_bytes_per_s`, `tx_bytes_per_s` (bytes/s, non-loopback total \| null), `temp_c` (hottest sensor, °C \| null) |
//! | `omitted` | object | rows that did not fit their table: `cpus`, `filesystems`, `interfaces`, `addresses`, `temperatures` (integer) |
//!
//! # `/api/history` schema
//!
//! `{"seq": integer, "cpu_pct": [...], "mem_pct": [...], "rx_bytes_per_s": [...],
//! "tx_bytes_per_s": [...], "temp_c": [...]}`: one array per figure of `sample`, oldest first,
//! all of the same length (at most [`HISTORY_LEN`]), `null` where a figure was unknown; the last
//! element is sample number `seq`.

use core::fmt;

use serde::ser::{Serialize, Serializer};

use super::cpu::MAX_CPUS;
use super::disk::{FSTYPE_LEN, MAX_MOUNTS, MOUNT_PATH_LEN};
use super::history::{HISTORY_LEN, History, Sample};
use super::metrics::FormatError;
use super::net::{IFNAME_LEN, MAX_IFACES};
use super::netaddr::{IfAddr, MAX_ADDRS};
use super::snapshot::{Snapshot, fs_used};
use super::system::UTS_LEN;
use super::thermal::{MAX_SENSORS, SENSOR_NAME_LEN, SensorSource};

// Worst-case sizes. A JSON string of `n` bytes of text takes at most `6n + 2` bytes (a control
// byte becomes `\u00XX`); the numbers are the longest each kind of value can print as.
const fn text(n: usize) -> usize {
    6 * n + 2
}
const U64: usize = 20;
const U32: usize = 10;
const U16: usize = 5;
const BOOL: usize = 5;
/// A hundredths-of-a-percent `u16` divided by 100 (`"655.35"`).
const PCT: usize = 6;
/// A load average (`u32` hundredths) divided by 100 (`"42949672.95"`).
const LOAD: usize = 11;
/// Millidegrees (`i32`) divided by 1000 (`"-2147483.648"`).
const TEMP: usize = 12;
/// `"ffff:…:ffff/128"`.
const CIDR: usize = 2 + 39 + 4;
/// `"b8:27:eb:12:34:56"`.
const MAC: usize = 2 + 17;

/// The longest key (`static_memory_bytes`, 19), rounded up; a test checks every key fits.
const KEY: usize = 20;

/// Bytes of an object with `n` fields, not counting the values: braces, `"key":`, commas.
const fn obj(n: usize) -> usize {
    2 + n * (KEY + 4)
}

/// Bytes of an array of `n` values of at most `each` bytes.
const fn array(n: usize, each: usize) -> usize {
    2 + n * (each + 1)
}

const LOAD_MAX: usize = obj(5) + 3 * LOAD + 2 * U32;
const CORE_MAX: usize = obj(2) + U16 + PCT;
const CPU_MAX: usize = obj(3) + U64 + obj(9) + 9 * PCT + array(MAX_CPUS, CORE_MAX);
const MEMORY_MAX: usize = obj(7) + 6 * U64 + PCT;
const SWAP_MAX: usize = obj(4) + 3 * U64 + PCT;
const FS_MAX: usize = obj(10) + 2 * text(MOUNT_PATH_LEN) + text(FSTYPE_LEN) + BOOL + 5 * U64 + PCT;
/// One interface with an empty `addresses` array (every address is counted once, below).
const IFACE_MAX: usize = obj(18)
    + text(IFNAME_LEN)
    + text("lowerlayerdown".len())
    + 2 * BOOL
    + 2 * U32
    + MAC
    + 2
    + 10 * U64;
const TEMP_ROW_MAX: usize =
    obj(6) + text("thermal".len()) + 2 * U16 + 2 * text(SENSOR_NAME_LEN) + TEMP;
const SERVER_MAX: usize = obj(7) + 7 * U64;
const SAMPLE_MAX: usize = obj(5) + 2 * PCT + 2 * U64 + TEMP;
const OMITTED_MAX: usize = obj(5) + 5 * U16;
/// Top-level fields.
const TOP_FIELDS: usize = 19;

/// The most bytes [`write_status`] can write, for any [`Snapshot`]: the sum of the worst case
/// of every part with every table full ([`MAX_CPUS`], [`MAX_MOUNTS`], [`MAX_IFACES`],
/// [`MAX_ADDRS`], [`MAX_SENSORS`]) and every string made of control characters (6 bytes each
/// once escaped): 62 664 bytes with the default capacities (a typical answer is 2–4 KiB).
pub const STATUS_JSON_MAX: usize = obj(TOP_FIELDS)
    + U64
    + 5 * text(UTS_LEN)
    + 3 * U64
    + LOAD_MAX
    + CPU_MAX
    + MEMORY_MAX
    + SWAP_MAX
    + array(MAX_MOUNTS, FS_MAX)
    + array(MAX_IFACES, IFACE_MAX)
    + MAX_ADDRS * (CIDR + 1)
    + array(MAX_SENSORS, TEMP_ROW_MAX)
    + SERVER_MAX
    + SAMPLE_MAX
    + OMITTED_MAX;

/// The most bytes [`write_status_event`] can write: `data: `, the JSON, and the blank line.
pub const STATUS_EVENT_MAX: usize = "data: ".len() + STATUS_JSON_MAX + 2;

/// The most bytes [`write_history`] can write (20 876 bytes for the default
/// [`HISTORY_LEN`]).
pub const HISTORY_JSON_MAX: usize = obj(6)
    + U64
    + 2 * array(HISTORY_LEN, PCT)
    + 2 * array(HISTORY_LEN, U64)
    + array(HISTORY_LEN, TEMP);

fn pct(h: u16) -> f64 {
    f64::from(h) / 100.0
}

fn celsius(mc: i32) -> f64 {
    f64::from(mc) / 1000.0
}

/// A JSON array from an iterator (cloned, since `serialize` takes `&self`).
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

/// `"addr/prefix"`.
struct Cidr<'a>(&'a IfAddr);

impl fmt::Display for Cidr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.addr, self.0.prefix_len)
    }
}

impl Serialize for Cidr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `"b8:27:eb:12:34:56"`.
struct Mac([u8; 6]);

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b':'; 17];
        for (i, b) in self.0.iter().enumerate() {
            out[i * 3] = HEX[usize::from(b >> 4)];
            out[i * 3 + 1] = HEX[usize::from(b & 0xf)];
        }
        s.serialize_str(core::str::from_utf8(&out).unwrap_or(""))
    }
}

#[derive(serde::Serialize)]
struct LoadView {
    load1: f64,
    load5: f64,
    load15: f64,
    runnable: Option<u32>,
    tasks: Option<u32>,
}

#[derive(serde::Serialize)]
struct ShareView {
    busy_pct: f64,
    user_pct: f64,
    nice_pct: f64,
    system_pct: f64,
    idle_pct: f64,
    iowait_pct: f64,
    irq_pct: f64,
    softirq_pct: f64,
    steal_pct: f64,
}

#[derive(serde::Serialize)]
struct CoreView {
    cpu: u16,
    busy_pct: f64,
}

#[derive(serde::Serialize)]
#[serde(bound(serialize = "Seq<I>: Serialize"))]
struct CpuView<I> {
    count: usize,
    total: Option<ShareView>,
    cores: Seq<I>,
}

#[derive(serde::Serialize)]
struct MemoryView {
    total_bytes: Option<u64>,
    available_bytes: Option<u64>,
    free_bytes: Option<u64>,
    buffers_bytes: Option<u64>,
    cached_bytes: Option<u64>,
    used_bytes: Option<u64>,
    used_pct: Option<f64>,
}

#[derive(serde::Serialize)]
struct SwapView {
    total_bytes: Option<u64>,
    free_bytes: Option<u64>,
    used_bytes: Option<u64>,
    used_pct: Option<f64>,
}

#[derive(serde::Serialize)]
struct FsView<'a> {
    device: &'a str,
    mountpoint: &'a str,
    fstype: &'a str,
    read_only: bool,
    size_bytes: Option<u64>,
    free_bytes: Option<u64>,
    avail_bytes: Option<u64>,
    files: Option<u64>,
    files_free: Option<u64>,
    used_pct: Option<f64>,
}

#[derive(serde::Serialize)]
#[serde(bound(serialize = "Seq<A>: Serialize"))]
struct IfaceView<'a, A> {
    name: &'a str,
    state: Option<&'static str>,
    up: bool,
    carrier: Option<bool>,
    mtu: Option<u32>,
    speed_mbps: Option<u32>,
    mac: Option<Mac>,
    addresses: Seq<A>,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
    rx_errs: u64,
    tx_errs: u64,
    rx_drop: u64,
    tx_drop: u64,
    rx_bytes_per_s: Option<u64>,
    tx_bytes_per_s: Option<u64>,
}

#[derive(serde::Serialize)]
struct TempView<'a> {
    source: &'static str,
    device: u16,
    channel: u16,
    name: &'a str,
    label: &'a str,
    celsius: Option<f64>,
}

#[derive(serde::Serialize)]
struct ServerView {
    uptime_s: u64,
    connections_open: u64,
    requests_total: u64,
    bytes_in_total: u64,
    bytes_out_total: u64,
    static_memory_bytes: u64,
    rss_bytes: Option<u64>,
}

#[derive(serde::Serialize)]
struct SampleView {
    cpu_pct: Option<f64>,
    mem_pct: Option<f64>,
    rx_bytes_per_s: Option<u64>,
    tx_bytes_per_s: Option<u64>,
    temp_c: Option<f64>,
}

impl SampleView {
    fn new(s: &Sample) -> Self {
        SampleView {
            cpu_pct: s.cpu_busy.map(pct),
            mem_pct: s.mem_used.map(pct),
            rx_bytes_per_s: s.rx_bytes_per_s,
            tx_bytes_per_s: s.tx_bytes_per_s,
            temp_c: s.max_millicelsius.map(celsius),
        }
    }
}

#[derive(serde::Serialize)]
struct OmittedView {
    cpus: u16,
    filesystems: u16,
    interfaces: u16,
    addresses: u16,
    temperatures: u16,
}

/// The whole document; the tables are serialised straight from the snapshot.
struct StatusView<'a>(&'a Snapshot);

impl Serialize for StatusView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let snap = self.0;
        let k = &snap.kernel;
        let mut st = s.serialize_struct("Status", TOP_FIELDS)?;
        st.serialize_field("seq", &snap.history.pushed())?;
        st.serialize_field("hostname", k.hostname.as_str())?;
        st.serialize_field("os", k.sysname.as_str())?;
        st.serialize_field("kernel", k.release.as_str())?;
        st.serialize_field("kernel_version", k.version.as_str())?;
        st.serialize_field("arch", k.machine.as_str())?;
        st.serialize_field("time_ms", &snap.wall_clock_ms)?;
        st.serialize_field("uptime_s", &snap.uptime_s())?;
        st.serialize_field("boot_time_s", &snap.boot_time_s())?;
        let load = snap.load.map(|l| LoadView {
            load1: f64::from(l.load1) / 100.0,
            load5: f64::from(l.load5) / 100.0,
            load15: f64::from(l.load15) / 100.0,
            runnable: l.runnable,
            tasks: l.tasks,
        });
        st.serialize_field("load", &load)?;
        let cpu = CpuView {
            count: snap.cpu_count(),
            total: snap.cpu.total.map(|t| ShareView {
                busy_pct: pct(t.busy),
                user_pct: pct(t.user),
                nice_pct: pct(t.nice),
                system_pct: pct(t.system),
                idle_pct: pct(t.idle),
                iowait_pct: pct(t.iowait),
                irq_pct: pct(t.irq),
                softirq_pct: pct(t.softirq),
                steal_pct: pct(t.steal),
            }),
            cores: Seq(snap.cpu.cores.iter().map(|c| CoreView {
                cpu: c.cpu,
                busy_pct: pct(c.share.busy),
            })),
        };
        st.serialize_field("cpu", &cpu)?;
        let mem = snap.memory.as_ref();
        st.serialize_field(
            "memory",
            &mem.map(|m| MemoryView {
                total_bytes: m.total,
                available_bytes: m.available_or_estimate(),
                free_bytes: m.free,
                buffers_bytes: m.buffers,
                cached_bytes: m.cached,
                used_bytes: snap.mem_used_bytes(),
                used_pct: snap.mem_used().map(pct),
            }),
        )?;
        st.serialize_field(
            "swap",
            &mem.map(|m| SwapView {
                total_bytes: m.swap_total,
                free_bytes: m.swap_free,
                used_bytes: m.swap_used(),
                used_pct: snap.swap_used().map(pct),
            }),
        )?;
        let fs = snap.filesystems.mounts.iter().map(|m| FsView {
            device: m.device.as_str(),
            mountpoint: m.mount_point.as_str(),
            fstype: m.fs_type.as_str(),
            read_only: m.read_only,
            size_bytes: m.usage.map(|u| u.size_bytes),
            free_bytes: m.usage.map(|u| u.free_bytes),
            avail_bytes: m.usage.map(|u| u.avail_bytes),
            files: m.usage.map(|u| u.files),
            files_free: m.usage.map(|u| u.files_free),
            used_pct: m.usage.as_ref().and_then(fs_used).map(pct),
        });
        st.serialize_field("filesystems", &Seq(fs))?;
        let ifaces = snap.net.ifaces.iter().enumerate().map(|(i, f)| {
            let (c, l, r) = (&f.counters, &f.link, snap.rate(i));
            IfaceView {
                name: f.name.as_str(),
                state: l.operstate.map(|o| o.as_str()),
                up: l.operstate == Some(super::net::OperState::Up),
                carrier: l.carrier,
                mtu: l.mtu,
                speed_mbps: l.speed_mbps,
                mac: l.mac.map(Mac),
                addresses: Seq(snap.addresses(i).map(Cidr)),
                rx_bytes: c.rx_bytes,
                tx_bytes: c.tx_bytes,
                rx_packets: c.rx_packets,
                tx_packets: c.tx_packets,
                rx_errs: c.rx_errs,
                tx_errs: c.tx_errs,
                rx_drop: c.rx_drop,
                tx_drop: c.tx_drop,
                rx_bytes_per_s: r.rx_bytes_per_s,
                tx_bytes_per_s: r.tx_bytes_per_s,
            }
        });
        st.serialize_field("interfaces", &Seq(ifaces))?;
        let temps = snap.sensors.sensors.iter().map(|t| TempView {
            source: match t.source {
                SensorSource::ThermalZone => "thermal",
                SensorSource::Hwmon => "hwmon",
            },
            device: t.device,
            channel: t.channel,
            name: t.name.as_str(),
            label: t.label.as_str(),
            celsius: t.millicelsius.map(celsius),
        });
        st.serialize_field("temperatures", &Seq(temps))?;
        let v = &snap.server;
        let server = ServerView {
            uptime_s: v.uptime_s,
            connections_open: v.connections_open,
            requests_total: v.requests_served,
            bytes_in_total: v.bytes_in,
            bytes_out_total: v.bytes_out,
            static_memory_bytes: v.static_memory_bytes,
            rss_bytes: v.rss_bytes,
        };
        st.serialize_field("server", &server)?;
        st.serialize_field("sample", &SampleView::new(&snap.sample()))?;
        let omitted = OmittedView {
            cpus: snap.cpu_times.omitted,
            filesystems: snap.filesystems.omitted,
            interfaces: snap.net.omitted,
            addresses: snap.addrs.omitted,
            temperatures: snap.sensors.omitted,
        };
        st.serialize_field("omitted", &omitted)?;
        st.end()
    }
}

/// Writes the `/api/status` document (see the [module docs](self) for the schema) into `out`
/// and returns its length. Fails only when `out` is too small; a buffer of
/// [`STATUS_JSON_MAX`] bytes never is.
pub fn write_status(snap: &Snapshot, out: &mut [u8]) -> Result<usize, FormatError> {
    serde_json_core::to_slice(&StatusView(snap), out).map_err(|_| FormatError::BufferTooSmall)
}

/// Writes one Server-Sent Events message carrying the status JSON (`data: {...}\n\n`) for
/// `/events`, and returns its length. At most [`STATUS_EVENT_MAX`] bytes.
pub fn write_status_event(snap: &Snapshot, out: &mut [u8]) -> Result<usize, FormatError> {
    const HEAD: &[u8] = b"data: ";
    let body = out
        .get_mut(HEAD.len()..)
        .ok_or(FormatError::BufferTooSmall)?;
    let n = write_status(snap, body)?;
    let end = HEAD.len() + n;
    out.get_mut(end..end + 2)
        .ok_or(FormatError::BufferTooSmall)?
        .copy_from_slice(b"\n\n");
    out[..HEAD.len()].copy_from_slice(HEAD);
    Ok(end + 2)
}

struct HistoryView<'a>(&'a History);

impl Serialize for HistoryView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = self.0;
        let mut st = s.serialize_struct("History", 6)?;
        st.serialize_field("seq", &h.pushed())?;
        st.serialize_field("cpu_pct", &Seq(h.iter().map(|x| x.cpu_busy.map(pct))))?;
        st.serialize_field("mem_pct", &Seq(h.iter().map(|x| x.mem_used.map(pct))))?;
        st.serialize_field("rx_bytes_per_s", &Seq(h.iter().map(|x| x.rx_bytes_per_s)))?;
        st.serialize_field("tx_bytes_per_s", &Seq(h.iter().map(|x| x.tx_bytes_per_s)))?;
        let temp = h.iter().map(|x| x.max_millicelsius.map(celsius));
        st.serialize_field("temp_c", &Seq(temp))?;
        st.end()
    }
}

/// Writes the `/api/history` document (see the [module docs](self)) into `out` and returns
/// its length. A buffer of [`HISTORY_JSON_MAX`] bytes always suffices.
pub fn write_history(history: &History, out: &mut [u8]) -> Result<usize, FormatError> {
    serde_json_core::to_slice(&HistoryView(history), out).map_err(|_| FormatError::BufferTooSmall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::snapshot::worst_case;
    use std::vec;

    fn status(snap: &Snapshot) -> std::string::String {
        let mut buf = vec![0u8; STATUS_JSON_MAX];
        let n = write_status(snap, &mut buf).unwrap();
        std::string::String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Every `"key":` of a document whose strings contain no `":`.
    fn keys(doc: &str) -> impl Iterator<Item = &str> {
        doc.match_indices("\":").map(|(end, _)| {
            let start = doc[..end].rfind('"').unwrap() + 1;
            &doc[start..end]
        })
    }

    #[test]
    fn every_table_full_fits_the_documented_maximum() {
        // A control character is JSON's worst case (6 bytes), `"` the next (2).
        for c in ['\u{1}', '"'] {
            let snap = worst_case(c);
            let doc = status(&snap);
            assert!(doc.len() <= STATUS_JSON_MAX);
            assert!(
                keys(&doc).all(|k| k.len() <= KEY),
                "a key is longer than KEY"
            );
            if c == '\u{1}' {
                // The bound is not wildly loose either.
                assert!(
                    doc.len() * 10 > STATUS_JSON_MAX * 8,
                    "{} of {STATUS_JSON_MAX}",
                    doc.len()
                );
            }
        }
        let mut small = [0u8; 64];
        assert_eq!(
            write_status(&worst_case('x'), &mut small),
            Err(FormatError::BufferTooSmall)
        );
    }

    #[test]
    fn number_widths_hold() {
        let mut buf = [0u8; 32];
        let len = |v: f64, buf: &mut [u8]| serde_json_core::to_slice(&v, buf).unwrap();
        for h in 0..=u16::MAX {
            assert!(len(pct(h), &mut buf) <= PCT, "{h}");
        }
        for l in [0, 1, 7, 45, 99_999, u32::MAX - 1, u32::MAX] {
            assert!(len(f64::from(l) / 100.0, &mut buf) <= LOAD, "{l}");
        }
        for t in [i32::MIN, i32::MIN + 1, -1, 0, 1, 48_312, i32::MAX] {
            assert!(len(celsius(t), &mut buf) <= TEMP, "{t}");
        }
        let n = len(pct(1234), &mut buf);
        assert_eq!(&buf[..n], b"12.34");
        let n = len(celsius(-500), &mut buf);
        assert_eq!(&buf[..n], b"-0.5");
    }

    #[test]
    fn empty_snapshot_is_all_unknown() {
        let doc = status(&Snapshot::new());
        for part in [
            "\"seq\":0,\"hostname\":\"\"",
            "\"uptime_s\":null",
            "\"load\":null",
            "\"cpu\":{\"count\":0,\"total\":null,\"cores\":[]}",
            "\"memory\":null,\"swap\":null,\"filesystems\":[],\"interfaces\":[],\"temperatures\":[]",
            "\"rss_bytes\":null",
            "\"sample\":{\"cpu_pct\":null,\"mem_pct\":null,\"rx_bytes_per_s\":null",
        ] {
            assert!(doc.contains(part), "{part} not in {doc}");
        }
        let top: std::vec::Vec<_> = keys(&doc).collect();
        for k in ["arch", "kernel", "server", "omitted"] {
            assert!(top.contains(&k));
        }
    }

    #[test]
    fn values_and_escaping() {
        let mut snap = worst_case('x');
        snap.kernel.hostname = "pi \"4\"\n".try_into().unwrap();
        snap.load.as_mut().unwrap().load1 = 45;
        let doc = status(&snap);
        assert!(doc.contains("\"hostname\":\"pi \\\"4\\\"\\n\""));
        assert!(doc.contains("\"load1\":0.45,"));
        assert!(doc.contains("\"mac\":\"ff:ff:ff:ff:ff:ff\""));
        assert!(doc.contains("\"state\":\"lowerlayerdown\",\"up\":false"));
        assert!(doc.contains("\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128\""));
        assert!(doc.contains("\"source\":\"hwmon\""));
        assert!(!doc.contains('\n'));
    }

    #[test]
    fn event_framing() {
        let snap = Snapshot::new();
        let mut buf = vec![0u8; STATUS_EVENT_MAX];
        let n = write_status_event(&snap, &mut buf).unwrap();
        let doc = status(&snap);
        assert_eq!(&buf[..n], std::format!("data: {doc}\n\n").as_bytes());
        for short in [0, 5, n - 1] {
            assert_eq!(
                write_status_event(&snap, &mut buf[..short]),
                Err(FormatError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn history_document() {
        let mut h = History::new();
        let mut buf = vec![0u8; HISTORY_JSON_MAX];
        let n = write_history(&h, &mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"{\"seq\":0,\"cpu_pct\":[],\"mem_pct\":[],\"rx_bytes_per_s\":[],\"tx_bytes_per_s\":[],\"temp_c\":[]}"
        );
        h.push(&Sample::default());
        h.push(&Sample {
            cpu_busy: Some(1250),
            mem_used: Some(5000),
            rx_bytes_per_s: Some(10),
            tx_bytes_per_s: Some(0),
            max_millicelsius: Some(48_312),
        });
        let n = write_history(&h, &mut buf).unwrap();
        assert_eq!(
            core::str::from_utf8(&buf[..n]).unwrap(),
            "{\"seq\":2,\"cpu_pct\":[null,12.5],\"mem_pct\":[null,50.0],\"rx_bytes_per_s\":[null,10],\"tx_bytes_per_s\":[null,0],\"temp_c\":[null,48.312]}"
        );
        let full = worst_case('x');
        let n = write_history(&full.history, &mut buf).unwrap();
        assert!(n <= HISTORY_JSON_MAX && n * 10 > HISTORY_JSON_MAX * 8);
    }
}
