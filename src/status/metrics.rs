//! `/metrics`: the [`Snapshot`] in the Prometheus text exposition format 0.0.4, written into a
//! caller buffer.
//!
//! Names, types, `HELP` texts and labels are node_exporter's wherever node_exporter has the
//! figure, so existing dashboards and alerts work unchanged: `node_uname_info`,
//! `node_boot_time_seconds`, `node_time_seconds`, `node_load1/5/15`, `node_procs_running`,
//! `node_procs_blocked`, `node_context_switches_total`, `node_forks_total`, `node_intr_total`,
//! `node_cpu_seconds_total{cpu,mode}`, `node_memory_<Field>_bytes`,
//! `node_network_{receive,transmit}_{bytes,packets,errs,drop}_total{device}`,
//! `node_network_{up,carrier,mtu_bytes,speed_bytes,info}`,
//! `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_{files,files_free,readonly}`
//! (`{device,fstype,mountpoint}`), `node_thermal_zone_temp{type,zone}`,
//! `node_hwmon_temp_celsius{chip,sensor}`, `node_hwmon_chip_names`, `node_hwmon_sensor_label`.
//! The server's own figures are `edgeloop_*` plus the standard `process_resident_memory_bytes`.
//!
//! Differences from node_exporter: `node_uname_info` has no `domainname` label; `node_network_info`
//! has only `address`, `device` and `operstate`; an hwmon `chip` is the chip's `name` made
//! label-safe (`cpu_thermal`) when it is unique, else `hwmonN` (node_exporter prefers the
//! device path, which the readers do not keep). A figure that is unknown is left out, and a
//! family with no sample at all is left out with its `HELP` and `TYPE`.
//!
//! The output never exceeds [`METRICS_MAX`] bytes. Label values are escaped as the format
//! requires (`\\`, `\"`, `\n`).

use core::fmt;

use super::cpu::{MAX_CPUS, jiffies_to_millis};
use super::disk::{FSTYPE_LEN, MAX_MOUNTS, MOUNT_PATH_LEN};
use super::memory::MemInfo;
use super::net::{IFNAME_LEN, MAX_IFACES, OperState};
use super::snapshot::Snapshot;
use super::system::UTS_LEN;
use super::thermal::{MAX_SENSORS, SENSOR_NAME_LEN, Sensor, SensorName, SensorSource};
use crate::http::itoa::{DEC_U64_LEN, dec_u64};

/// Why a formatter could not write its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FormatError {
    /// The output buffer is too small (each formatter documents the size that always fits).
    BufferTooSmall,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

impl core::error::Error for FormatError {}

/// A cursor writing text into a caller buffer; shared by the metrics and page formatters.
#[derive(Debug)]
pub struct TextOut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> TextOut<'a> {
    /// An empty cursor at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        TextOut { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`, or fails without writing any of them.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .filter(|&e| e <= self.buf.len())
            .ok_or(FormatError::BufferTooSmall)?;
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends `n` in decimal.
    pub fn put_u64(&mut self, n: u64) -> Result<(), FormatError> {
        let mut b = [0u8; DEC_U64_LEN];
        self.put(dec_u64(n, &mut b))
    }

    /// Appends `value / 10^decimals` in decimal without trailing zeros (`decimal(45120, 3,
    /// false)` is `45.12`), negated when `negative` is set and the value is not zero.
    pub fn put_decimal(
        &mut self,
        value: u64,
        decimals: u32,
        negative: bool,
    ) -> Result<(), FormatError> {
        let scale = 10u64.checked_pow(decimals).unwrap_or(1);
        if negative && value != 0 {
            self.put(b"-")?;
        }
        self.put_u64(value / scale)?;
        let mut frac = value % scale;
        if frac == 0 {
            return Ok(());
        }
        self.put(b".")?;
        let mut div = scale / 10;
        while frac != 0 && div != 0 {
            // frac < 10 × div, so the digit is a single decimal digit.
            let digit = u8::try_from(frac / div).unwrap_or(9);
            self.put(&[b'0' + digit])?;
            frac %= div;
            div /= 10;
        }
        Ok(())
    }
}

impl fmt::Write for TextOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// A metric family: name, `HELP` text and `TYPE`.
struct Fam {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
}

const fn gauge(name: &'static str, help: &'static str) -> Fam {
    Fam {
        name,
        help,
        kind: "gauge",
    }
}

const fn counter(name: &'static str, help: &'static str) -> Fam {
    Fam {
        name,
        help,
        kind: "counter",
    }
}

/// A sample value.
#[derive(Clone, Copy)]
enum Val {
    /// An integer.
    U(u64),
    /// `magnitude / 10^decimals`, negative if the flag is set.
    Dec(u64, u32, bool),
}

/// Writes one family's samples, with its `HELP`/`TYPE` header before the first one.
struct Family<'o, 'b> {
    out: &'o mut TextOut<'b>,
    fam: &'static Fam,
    started: bool,
}

impl<'o, 'b> Family<'o, 'b> {
    fn new(out: &'o mut TextOut<'b>, fam: &'static Fam) -> Self {
        Family {
            out,
            fam,
            started: false,
        }
    }

    fn row(&mut self, labels: &[(&str, &str)], v: Val) -> Result<(), FormatError> {
        let (o, f) = (&mut *self.out, self.fam);
        if !self.started {
            self.started = true;
            for part in ["# HELP ", f.name, " ", f.help, "\n# TYPE ", f.name, " "] {
                o.put(part.as_bytes())?;
            }
            o.put(f.kind.as_bytes())?;
            o.put(b"\n")?;
        }
        o.put(f.name.as_bytes())?;
        for (i, (key, value)) in labels.iter().enumerate() {
            o.put(if i == 0 { b"{" } else { b"," })?;
            o.put(key.as_bytes())?;
            o.put(b"=\"")?;
            put_label_value(o, value)?;
            o.put(b"\"")?;
        }
        if !labels.is_empty() {
            o.put(b"}")?;
        }
        o.put(b" ")?;
        match v {
            Val::U(n) => o.put_u64(n)?,
            Val::Dec(n, d, neg) => o.put_decimal(n, d, neg)?,
        }
        o.put(b"\n")
    }
}

/// Writes a label value with `\`, `"` and newline escaped.
fn put_label_value(o: &mut TextOut<'_>, value: &str) -> Result<(), FormatError> {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => continue,
        };
        o.put(&bytes[start..i])?;
        o.put(esc)?;
        start = i + 1;
    }
    o.put(&bytes[start..])
}

/// One scalar family with a single unlabelled sample, if the value is known.
fn scalar(o: &mut TextOut<'_>, fam: &'static Fam, v: Option<Val>) -> Result<(), FormatError> {
    match v {
        Some(v) => Family::new(o, fam).row(&[], v),
        None => Ok(()),
    }
}

fn dec(n: u64) -> ([u8; DEC_U64_LEN], usize) {
    let mut b = [0u8; DEC_U64_LEN];
    let len = dec_u64(n, &mut b).len();
    (b, len)
}

/// The text of a number formatted by [`dec`].
fn dec_str(d: &([u8; DEC_U64_LEN], usize)) -> &str {
    core::str::from_utf8(&d.0[DEC_U64_LEN - d.1..]).unwrap_or("")
}

// --- Families -------------------------------------------------------------------------------

const UNAME: Fam = gauge(
    "node_uname_info",
    "Labeled system information as provided by the uname system call.",
);
const BOOT: Fam = gauge("node_boot_time_seconds", "Node boot time, in unixtime.");
const TIME: Fam = gauge(
    "node_time_seconds",
    "System time in seconds since epoch (1970).",
);
const LOAD: [Fam; 3] = [
    gauge("node_load1", "1m load average."),
    gauge("node_load5", "5m load average."),
    gauge("node_load15", "15m load average."),
];
const PROCS_RUNNING: Fam = gauge(
    "node_procs_running",
    "Number of processes in runnable state.",
);
const PROCS_BLOCKED: Fam = gauge(
    "node_procs_blocked",
    "Number of processes blocked waiting for I/O to complete.",
);
const CTXT: Fam = counter(
    "node_context_switches_total",
    "Total number of context switches.",
);
const FORKS: Fam = counter("node_forks_total", "Total number of forks.");
const INTR: Fam = counter("node_intr_total", "Total number of interrupts serviced.");
const CPU: Fam = counter(
    "node_cpu_seconds_total",
    "Seconds the CPUs spent in each mode.",
);
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

macro_rules! meminfo {
    ($(($field:ident, $name:literal)),* $(,)?) => {
        const MEMORY: &[(Fam, fn(&MemInfo) -> Option<u64>)] = &[$((
            gauge(
                concat!("node_memory_", $name, "_bytes"),
                concat!("Memory information field ", $name, "_bytes."),
            ),
            |m: &MemInfo| m.$field,
        )),*];
    };
}

meminfo!(
    (total, "MemTotal"),
    (free, "MemFree"),
    (available, "MemAvailable"),
    (buffers, "Buffers"),
    (cached, "Cached"),
    (swap_cached, "SwapCached"),
    (active, "Active"),
    (inactive, "Inactive"),
    (swap_total, "SwapTotal"),
    (swap_free, "SwapFree"),
    (dirty, "Dirty"),
    (writeback, "Writeback"),
    (anon_pages, "AnonPages"),
    (mapped, "Mapped"),
    (shmem, "Shmem"),
    (slab, "Slab"),
    (slab_reclaimable, "SReclaimable"),
    (slab_unreclaimable, "SUnreclaim"),
    (kernel_stack, "KernelStack"),
    (page_tables, "PageTables"),
    (commit_limit, "CommitLimit"),
    (committed_as, "Committed_AS"),
);

macro_rules! netdev {
    ($(($field:ident, $dir:literal, $stat:literal)),* $(,)?) => {
        const NET_COUNTERS: &[(Fam, fn(&super::net::IfCounters) -> u64)] = &[$((
            counter(
                concat!("node_network_", $dir, "_", $stat, "_total"),
                concat!("Network device statistic ", $dir, "_", $stat, "."),
            ),
            |c: &super::net::IfCounters| c.$field,
        )),*];
    };
}

netdev!(
    (rx_bytes, "receive", "bytes"),
    (rx_packets, "receive", "packets"),
    (rx_errs, "receive", "errs"),
    (rx_drop, "receive", "drop"),
    (tx_bytes, "transmit", "bytes"),
    (tx_packets, "transmit", "packets"),
    (tx_errs, "transmit", "errs"),
    (tx_drop, "transmit", "drop"),
);

const NET_UP: Fam = gauge(
    "node_network_up",
    "Value is 1 if operstate is 'up', 0 otherwise.",
);
const NET_PROPS: [Fam; 3] = [
    gauge("node_network_carrier", "Network device property: carrier"),
    gauge(
        "node_network_mtu_bytes",
        "Network device property: mtu_bytes",
    ),
    gauge(
        "node_network_speed_bytes",
        "Network device property: speed_bytes",
    ),
];
const NET_INFO: Fam = gauge(
    "node_network_info",
    "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
);
const FS: [Fam; 6] = [
    gauge("node_filesystem_size_bytes", "Filesystem size in bytes."),
    gauge(
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
    ),
    gauge(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    ),
    gauge("node_filesystem_files", "Filesystem total file nodes."),
    gauge(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
    ),
    gauge("node_filesystem_readonly", "Filesystem read-only status."),
];
const THERMAL: Fam = gauge("node_thermal_zone_temp", "Zone temperature in Celsius");
const HWMON_TEMP: Fam = gauge(
    "node_hwmon_temp_celsius",
    "Hardware monitor for temperature (input)",
);
const HWMON_CHIP: Fam = gauge(
    "node_hwmon_chip_names",
    "Annotation metric for human-readable chip names",
);
const HWMON_LABEL: Fam = gauge("node_hwmon_sensor_label", "Label for given chip and sensor");
const SERVER: [Fam; 7] = [
    gauge(
        "edgeloop_uptime_seconds",
        "Seconds since the edgeloop server started.",
    ),
    gauge("edgeloop_connections_open", "Client connections open now."),
    counter("edgeloop_requests_total", "HTTP requests answered."),
    counter(
        "edgeloop_bytes_received_total",
        "Bytes received from clients.",
    ),
    counter("edgeloop_bytes_sent_total", "Bytes sent to clients."),
    gauge(
        "edgeloop_static_memory_bytes",
        "Memory reserved at build time for the server's tables and buffers.",
    ),
    gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
    ),
];

// --- Worst-case size ------------------------------------------------------------------------

/// The longest value: a sign, 20 digits and a decimal point.
const VAL: usize = 22;

/// `# HELP name help\n# TYPE name kind\n`.
const fn header(f: &Fam) -> usize {
    2 * f.name.len() + f.help.len() + f.kind.len() + 18
}

/// `{k="v",...}` with every value at its longest and fully escaped (2 bytes per byte).
const fn lab(keys: &[(&str, usize)]) -> usize {
    if keys.is_empty() {
        return 0;
    }
    let mut n = 1 + keys.len(); // braces and commas
    let mut i = 0;
    while i < keys.len() {
        n += keys[i].0.len() + 3 + 2 * keys[i].1;
        i += 1;
    }
    n
}

/// A family of `rows` samples with labels of at most `labels` bytes and values of `val`.
const fn fam(f: &Fam, rows: usize, labels: usize, val: usize) -> usize {
    header(f) + rows * (f.name.len() + labels + val + 2)
}

const fn scalars(fams: &[&Fam]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < fams.len() {
        n += fam(fams[i], 1, 0, VAL);
        i += 1;
    }
    n
}

const fn per_table<T>(fams: &[(Fam, T)], rows: usize, labels: usize) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < fams.len() {
        n += fam(&fams[i].0, rows, labels, VAL);
        i += 1;
    }
    n
}

const IFACE_LABEL: usize = lab(&[("device", IFNAME_LEN)]);
const FS_LABELS: usize = lab(&[
    ("device", MOUNT_PATH_LEN),
    ("fstype", FSTYPE_LEN),
    ("mountpoint", MOUNT_PATH_LEN),
]);
/// `temp65535`.
const SENSOR_LABEL_LEN: usize = 9;

/// The most bytes [`write_metrics`] can write, for any [`Snapshot`]: every family with every
/// table full ([`MAX_CPUS`] × 8 modes, [`MAX_IFACES`], [`MAX_MOUNTS`], [`MAX_SENSORS`]) and
/// every label value at its longest and fully escaped: 113 269 bytes with the default
/// capacities, mostly filesystem labels (a typical answer is 10–15 KiB).
pub const METRICS_MAX: usize = {
    let uts = lab(&[
        ("machine", UTS_LEN),
        ("nodename", UTS_LEN),
        ("release", UTS_LEN),
        ("sysname", UTS_LEN),
        ("version", UTS_LEN),
    ]);
    let mut n = fam(&UNAME, 1, uts, 1);
    n += scalars(&[
        &BOOT,
        &TIME,
        &LOAD[0],
        &LOAD[1],
        &LOAD[2],
        &PROCS_RUNNING,
        &PROCS_BLOCKED,
        &CTXT,
        &FORKS,
        &INTR,
    ]);
    n += fam(&CPU, MAX_CPUS * 8, lab(&[("cpu", 5), ("mode", 7)]), VAL);
    n += per_table(MEMORY, 1, 0);
    n += per_table(NET_COUNTERS, MAX_IFACES, IFACE_LABEL);
    n += fam(&NET_UP, MAX_IFACES, IFACE_LABEL, VAL);
    let mut i = 0;
    while i < NET_PROPS.len() {
        n += fam(&NET_PROPS[i], MAX_IFACES, IFACE_LABEL, VAL);
        i += 1;
    }
    let info = lab(&[("address", 17), ("device", IFNAME_LEN), ("operstate", 14)]);
    n += fam(&NET_INFO, MAX_IFACES, info, 1);
    let mut i = 0;
    while i < FS.len() {
        n += fam(&FS[i], MAX_MOUNTS, FS_LABELS, VAL);
        i += 1;
    }
    let zone = lab(&[("type", SENSOR_NAME_LEN), ("zone", 5)]);
    n += fam(&THERMAL, MAX_SENSORS, zone, VAL);
    let chip_sensor = lab(&[("chip", SENSOR_NAME_LEN), ("sensor", SENSOR_LABEL_LEN)]);
    n += fam(&HWMON_TEMP, MAX_SENSORS, chip_sensor, VAL);
    let names = lab(&[("chip", SENSOR_NAME_LEN), ("chip_name", SENSOR_NAME_LEN)]);
    n += fam(&HWMON_CHIP, MAX_SENSORS, names, 1);
    let labels = lab(&[
        ("chip", SENSOR_NAME_LEN),
        ("label", SENSOR_NAME_LEN),
        ("sensor", SENSOR_LABEL_LEN),
    ]);
    n += fam(&HWMON_LABEL, MAX_SENSORS, labels, 1);
    let mut i = 0;
    while i < SERVER.len() {
        n += fam(&SERVER[i], 1, 0, VAL);
        i += 1;
    }
    n
};

// --- Writer ---------------------------------------------------------------------------------

/// Writes every known figure of `snap` in the Prometheus text format 0.0.4 into `out` and
/// returns the length. Serve it as `text/plain; version=0.0.4; charset=utf-8`. Fails only
/// when `out` is too small; a buffer of [`METRICS_MAX`] bytes never is.
pub fn write_metrics(snap: &Snapshot, out: &mut [u8]) -> Result<usize, FormatError> {
    let mut text = TextOut::new(out);
    let o = &mut text;
    write_system(o, snap)?;
    write_cpu(o, snap)?;
    if let Some(m) = &snap.memory {
        for (f, get) in MEMORY {
            scalar(o, f, get(m).map(Val::U))?;
        }
    }
    write_net(o, snap)?;
    write_filesystems(o, snap)?;
    write_temperatures(o, snap)?;
    let s = &snap.server;
    let values = [
        Some(s.uptime_s),
        Some(s.connections_open),
        Some(s.requests_served),
        Some(s.bytes_in),
        Some(s.bytes_out),
        Some(s.static_memory_bytes),
        s.rss_bytes,
    ];
    for (f, v) in SERVER.iter().zip(values) {
        scalar(o, f, v.map(Val::U))?;
    }
    Ok(text.len())
}

fn write_system(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    let k = &snap.kernel;
    let uname = [
        ("machine", k.machine.as_str()),
        ("nodename", k.hostname.as_str()),
        ("release", k.release.as_str()),
        ("sysname", k.sysname.as_str()),
        ("version", k.version.as_str()),
    ];
    Family::new(o, &UNAME).row(&uname, Val::U(1))?;
    let c = &snap.counters;
    scalar(o, &BOOT, c.boot_time.map(Val::U))?;
    scalar(
        o,
        &TIME,
        snap.wall_clock_ms.map(|ms| Val::Dec(ms, 3, false)),
    )?;
    if let Some(l) = snap.load {
        for (f, v) in LOAD.iter().zip([l.load1, l.load5, l.load15]) {
            scalar(o, f, Some(Val::Dec(u64::from(v), 2, false)))?;
        }
    }
    scalar(o, &PROCS_RUNNING, c.procs_running.map(Val::U))?;
    scalar(o, &PROCS_BLOCKED, c.procs_blocked.map(Val::U))?;
    scalar(o, &CTXT, c.context_switches.map(Val::U))?;
    scalar(o, &FORKS, c.forks.map(Val::U))?;
    scalar(o, &INTR, c.interrupts.map(Val::U))
}

fn write_cpu(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    let mut f = Family::new(o, &CPU);
    for core in &snap.cpu_times.cores {
        let n = dec(u64::from(core.cpu));
        for (mode, j) in CPU_MODES.iter().zip(core.jiffies.fields()) {
            let v = Val::Dec(jiffies_to_millis(j), 3, false);
            f.row(&[("cpu", dec_str(&n)), ("mode", mode)], v)?;
        }
    }
    Ok(())
}

/// `b8:27:eb:12:34:56`.
fn mac_text(mac: &[u8; 6], buf: &mut [u8; 17]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    *buf = [b':'; 17];
    for (i, b) in mac.iter().enumerate() {
        buf[i * 3] = HEX[usize::from(b >> 4)];
        buf[i * 3 + 1] = HEX[usize::from(b & 0xf)];
    }
}

fn write_net(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    let ifaces = &snap.net.ifaces;
    for (fam, get) in NET_COUNTERS {
        let mut f = Family::new(o, fam);
        for i in ifaces {
            f.row(&[("device", &i.name)], Val::U(get(&i.counters)))?;
        }
    }
    let mut f = Family::new(o, &NET_UP);
    for i in ifaces {
        if let Some(state) = i.link.operstate {
            let up = u64::from(state == OperState::Up);
            f.row(&[("device", &i.name)], Val::U(up))?;
        }
    }
    for (n, fam) in NET_PROPS.iter().enumerate() {
        let mut f = Family::new(o, fam);
        for i in ifaces {
            let l = &i.link;
            let v = match n {
                0 => l.carrier.map(u64::from),
                1 => l.mtu.map(u64::from),
                _ => l.speed_mbps.map(|s| u64::from(s) * 125_000),
            };
            if let Some(v) = v {
                f.row(&[("device", &i.name)], Val::U(v))?;
            }
        }
    }
    let mut f = Family::new(o, &NET_INFO);
    for i in ifaces {
        let mut mac = [0u8; 17];
        let address = match &i.link.mac {
            Some(m) => {
                mac_text(m, &mut mac);
                core::str::from_utf8(&mac).unwrap_or("")
            }
            None => "",
        };
        let state = i.link.operstate.map_or("", |s| s.as_str());
        let labels = [
            ("address", address),
            ("device", &i.name),
            ("operstate", state),
        ];
        f.row(&labels, Val::U(1))?;
    }
    Ok(())
}

fn write_filesystems(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    for (n, fam) in FS.iter().enumerate() {
        let mut f = Family::new(o, fam);
        for m in &snap.filesystems.mounts {
            let v = match (n, m.usage) {
                (5, _) => Some(u64::from(m.read_only)),
                (_, None) => None,
                (0, Some(u)) => Some(u.size_bytes),
                (1, Some(u)) => Some(u.free_bytes),
                (2, Some(u)) => Some(u.avail_bytes),
                (3, Some(u)) => Some(u.files),
                (_, Some(u)) => Some(u.files_free),
            };
            let labels = [
                ("device", m.device.as_str()),
                ("fstype", m.fs_type.as_str()),
                ("mountpoint", m.mount_point.as_str()),
            ];
            if let Some(v) = v {
                f.row(&labels, Val::U(v))?;
            }
        }
    }
    Ok(())
}

fn millicelsius(mc: i32) -> Val {
    Val::Dec(u64::from(mc.unsigned_abs()), 3, mc < 0)
}

/// The `chip` label of an hwmon sensor: its chip name made label-safe (lower case, `_` for
/// anything but letters and digits), or `hwmonN` when that is empty or another hwmon device
/// has the same name.
fn chip_label(all: &[Sensor], s: &Sensor) -> SensorName {
    let mut clean = SensorName::new();
    for b in s.name.bytes() {
        let c = if b.is_ascii_alphanumeric() {
            b.to_ascii_lowercase()
        } else {
            b'_'
        };
        let _ = clean.push(char::from(c));
    }
    let trimmed = clean.trim_matches('_');
    let shared = all
        .iter()
        .any(|o| o.source == SensorSource::Hwmon && o.device != s.device && o.name == s.name);
    if !trimmed.is_empty() && !shared {
        return SensorName::try_from(trimmed).unwrap_or_default();
    }
    let mut id = SensorName::new();
    let _ = id.push_str("hwmon");
    let _ = id.push_str(dec_str(&dec(u64::from(s.device))));
    id
}

fn write_temperatures(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    let all = &snap.sensors.sensors[..];
    let mut f = Family::new(o, &THERMAL);
    for s in all.iter().filter(|s| s.source == SensorSource::ThermalZone) {
        if let Some(mc) = s.millicelsius {
            let zone = dec(u64::from(s.device));
            f.row(
                &[("type", &s.name), ("zone", dec_str(&zone))],
                millicelsius(mc),
            )?;
        }
    }
    let hwmon = || all.iter().filter(|s| s.source == SensorSource::Hwmon);
    let sensor_id = |s: &Sensor| {
        let mut id = heapless::String::<SENSOR_LABEL_LEN>::new();
        let _ = id.push_str("temp");
        let _ = id.push_str(dec_str(&dec(u64::from(s.channel))));
        id
    };
    let mut f = Family::new(o, &HWMON_TEMP);
    for s in hwmon() {
        if let Some(mc) = s.millicelsius {
            let (chip, sensor) = (chip_label(all, s), sensor_id(s));
            f.row(&[("chip", &chip), ("sensor", &sensor)], millicelsius(mc))?;
        }
    }
    let mut f = Family::new(o, &HWMON_CHIP);
    for (i, s) in hwmon().enumerate() {
        // One row per chip: the first sensor of each device.
        if hwmon().take(i).any(|p| p.device == s.device) || s.name.is_empty() {
            continue;
        }
        f.row(
            &[("chip", &chip_label(all, s)), ("chip_name", &s.name)],
            Val::U(1),
        )?;
    }
    let mut f = Family::new(o, &HWMON_LABEL);
    for s in hwmon().filter(|s| !s.label.is_empty()) {
        let (chip, sensor) = (chip_label(all, s), sensor_id(s));
        f.row(
            &[("chip", &chip), ("label", &s.label), ("sensor", &sensor)],
            Val::U(1),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::snapshot::worst_case;
    use crate::status::thermal::Sensor;
    use std::string::String;
    use std::vec;

    fn metrics(snap: &Snapshot) -> String {
        let mut buf = vec![0u8; METRICS_MAX];
        let n = write_metrics(snap, &mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn every_table_full_fits_the_documented_maximum() {
        // `"`, `\` and newline are escaped to two bytes: the worst case.
        for c in ['"', '\n', 'x'] {
            let text = metrics(&worst_case(c));
            assert!(text.len() <= METRICS_MAX);
            if c == '"' {
                assert!(
                    text.len() * 10 > METRICS_MAX * 8,
                    "{} of {METRICS_MAX}",
                    text.len()
                );
            }
        }
        let mut small = [0u8; 100];
        assert_eq!(
            write_metrics(&worst_case('x'), &mut small),
            Err(FormatError::BufferTooSmall)
        );
    }

    #[test]
    fn empty_snapshot_has_only_what_is_known() {
        let text = metrics(&Snapshot::new());
        let families: vec::Vec<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            families,
            [
                "node_uname_info gauge",
                "edgeloop_uptime_seconds gauge",
                "edgeloop_connections_open gauge",
                "edgeloop_requests_total counter",
                "edgeloop_bytes_received_total counter",
                "edgeloop_bytes_sent_total counter",
                "edgeloop_static_memory_bytes gauge",
            ]
        );
        assert!(text.contains("\nedgeloop_requests_total 0\n"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn formats_values_and_labels() {
        let mut s = worst_case('x');
        s.kernel.hostname = "pi \"4\"\\\n".try_into().unwrap();
        s.load.as_mut().unwrap().load1 = 45;
        s.wall_clock_ms = Some(1_700_000_000_250);
        s.cpu_times.cores.truncate(1);
        s.cpu_times.cores[0].cpu = 0;
        s.cpu_times.cores[0].jiffies.user = 183_427;
        let text = metrics(&s);
        assert!(text.contains("nodename=\"pi \\\"4\\\"\\\\\\n\""));
        assert!(text.contains("\nnode_load1 0.45\n"));
        assert!(text.contains("\nnode_time_seconds 1700000000.25\n"));
        assert!(text.contains("\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1834.27\n"));
        assert!(
            text.contains("node_network_speed_bytes{device=\"xxxxxxxxxxxxxxa\"} 536870911875000\n")
        );
        assert!(text.contains(
            "node_hwmon_temp_celsius{chip=\"hwmon65535\",sensor=\"temp65535\"} -2147483.647\n"
        ));
        assert!(text.contains(
            "# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n"
        ));
        assert!(text.contains("# TYPE node_network_receive_bytes_total counter\n"));
        assert!(text.contains("address=\"ff:ff:ff:ff:ff:ff\""));
        // Each family's samples directly follow its header, and no family repeats.
        let mut seen = std::collections::BTreeSet::new();
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
                assert!(seen.insert(current), "{current} twice");
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "{line} outside {current}");
            }
        }
    }

    #[test]
    fn decimals() {
        let mut buf = [0u8; 32];
        let mut put = |v: u64, d: u32, neg: bool| {
            let mut o = TextOut::new(&mut buf);
            o.put_decimal(v, d, neg).unwrap();
            let n = o.len();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        assert_eq!(put(45, 2, false), "0.45");
        assert_eq!(put(48_312, 3, true), "-48.312");
        assert_eq!(put(48_000, 3, false), "48");
        assert_eq!(put(5, 3, false), "0.005");
        assert_eq!(put(0, 3, true), "0");
        assert_eq!(put(u64::MAX, 0, true), "-18446744073709551615");
        assert_eq!(put(u64::MAX, 25, false), "18446744073709551615");
        let mut tiny = [0u8; 3];
        let mut o = TextOut::new(&mut tiny);
        assert_eq!(o.put(b"abcd"), Err(FormatError::BufferTooSmall));
        assert!(o.is_empty());
    }

    #[test]
    fn hwmon_chip_labels() {
        let sensor = |device: u16, name: &str| Sensor {
            source: SensorSource::Hwmon,
            device,
            channel: 1,
            name: name.try_into().unwrap(),
            label: SensorName::new(),
            millicelsius: Some(1),
        };
        let all = [
            sensor(0, "cpu_thermal"),
            sensor(1, "NVMe Drive!"),
            sensor(2, "nvme"),
            sensor(3, "nvme"),
            sensor(4, "--"),
        ];
        let got: vec::Vec<_> = all.iter().map(|s| chip_label(&all, s)).collect();
        assert_eq!(
            got,
            ["cpu_thermal", "nvme_drive", "hwmon2", "hwmon3", "hwmon4"]
        );
    }
}
