//! The status page: an HTML template rendered on the device, plus its static assets.
//!
//! `assets/status/index.html` is a template whose `{{name}}` placeholders [`render`] fills with
//! the snapshot's current values (HTML-escaped), so the page shows everything with JavaScript
//! off, charts included: the sparklines of CPU, memory, network throughput and temperature over
//! the [`History`] are inline SVG paths drawn here. `app.js` then takes
//! over: it loads `/api/history`, listens to `EventSource('/events')` (each message is the
//! `/api/status` JSON, see [`json`](super::json)) and falls back to polling `/api/status` every
//! two seconds, updating the same elements and redrawing the same paths.
//!
//! The CSS and JavaScript are separate static [`Asset`]s, served from [`ASSET_PREFIX`]. The
//! root `build.rs` embeds them at build time with their gzip-compressed form (best level) and
//! strong ETags; serve [`Asset::gzip`] with `Content-Encoding: gzip` to clients that accept it,
//! and answer `If-None-Match` with `304`. Nothing on the page is loaded from elsewhere.
//!
//! The rendered page never exceeds [`PAGE_MAX`] bytes, computed at build time from the template
//! itself (a placeholder this module does not know fails the build).

use core::net::IpAddr;

use super::history::{HISTORY_LEN, History, Sample};
use super::metrics::{FormatError, TextOut};
use super::net::{IFNAME_LEN, MAX_IFACES, OperState};
use super::netaddr::MAX_ADDRS;
use super::snapshot::{Snapshot, fs_used};
use super::system::UTS_LEN;
use super::thermal::{MAX_SENSORS, SENSOR_NAME_LEN};
use super::{cpu::MAX_CPUS, disk::FSTYPE_LEN, disk::MAX_MOUNTS, disk::MOUNT_PATH_LEN};

/// One embedded static file of the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// File name under `assets/status/` (and under [`ASSET_PREFIX`] on the server).
    pub name: &'static str,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// The file as written.
    pub raw: &'static [u8],
    /// The same bytes gzip-compressed (send with `Content-Encoding: gzip`).
    pub gzip: &'static [u8],
    /// Strong ETag of `raw`, quotes included (`"<FNV-1a 64 of raw, hex>"`).
    pub etag: &'static str,
    /// Strong ETag of the gzip representation (`etag` with `-gz` before the closing quote).
    pub gzip_etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/status_assets.rs"));

/// The static assets (`app.js`, `style.css`), sorted by name.
pub static ASSETS: &[Asset] = &GENERATED_ASSETS;

/// The URL path the page loads its assets from: `/status/app.js`, `/status/style.css`.
pub const ASSET_PREFIX: &str = "/status/";

/// The asset called `name` (`"app.js"`), if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The asset for a request path under [`ASSET_PREFIX`] (`"/status/style.css"`).
pub fn asset_for_path(path: &str) -> Option<&'static Asset> {
    asset(path.strip_prefix(ASSET_PREFIX)?)
}

/// Shown for an unknown value.
const UNKNOWN: &[u8] = "—".as_bytes();

// --- Worst-case sizes of the values (bytes) -------------------------------------------------

/// HTML-escaped text of `n` bytes (`"` becomes `&quot;`).
const fn esc(n: usize) -> usize {
    6 * n
}
/// `"655.3 %"`.
const PCT: usize = 7;
/// `"655.35"`.
const VALUE: usize = 6;
/// `"1023.9 KiB"`.
const BYTES: usize = 10;
/// `"1023.9 KiB/s"`.
const RATE: usize = BYTES + 2;
const COUNT: usize = 20;
/// `"42949672.95"`.
const LOAD: usize = 11;
/// `"-2147483.6 °C"`.
const TEMP: usize = 14;
/// `"213503982334601d 7h 0m"`.
const DURATION: usize = 24;
/// `"2024-01-31 23:59:59 UTC"` (a raw number of seconds after year 9999).
const DATE: usize = 23;
/// `"ffff:…:ffff/128"`.
const CIDR: usize = 39 + 4;
/// Decimal digits of the largest x coordinate of a sparkline.
const X_DIGITS: usize = {
    let mut d = 1;
    let mut n = HISTORY_LEN / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
};
/// `M123 45` or `L123 45` per sample.
const PATH: usize = HISTORY_LEN * (X_DIGITS + 5);

// --- Templates ------------------------------------------------------------------------------

const CORE_ROW: &[u8] = b"<div class=\"core\"><span>cpu{{cpu}}</span><meter min=\"0\" max=\"100\" \
value=\"{{value}}\"></meter><span>{{pct}}</span></div>";
const CORE_FIELDS: &[(&str, usize)] = &[("cpu", 5), ("value", VALUE), ("pct", PCT)];

const FS_ROW: &[u8] = b"<tr><td title=\"{{device}}\">{{mountpoint}}</td><td>{{fstype}}</td>\
<td class=\"num\"><meter min=\"0\" max=\"100\" value=\"{{value}}\"></meter> {{pct}}</td>\
<td class=\"num\">{{size}}</td><td class=\"num\">{{avail}}</td></tr>";
const FS_FIELDS: &[(&str, usize)] = &[
    ("device", esc(MOUNT_PATH_LEN)),
    ("mountpoint", esc(MOUNT_PATH_LEN)),
    ("fstype", esc(FSTYPE_LEN)),
    ("value", VALUE),
    ("pct", PCT),
    ("size", BYTES),
    ("avail", BYTES),
];

const IFACE_ROW: &[u8] = b"<tr><td>{{name}}</td><td class=\"{{class}}\">{{state}}</td>\
<td class=\"addr\">{{addresses}}</td><td class=\"num\">{{rx_rate}}</td>\
<td class=\"num\">{{tx_rate}}</td><td class=\"num\">{{rx_total}} / {{tx_total}}</td>\
<td class=\"num\">{{errors}} / {{drops}}</td></tr>";
/// `addresses` is 0 here: every address is listed once, so they are counted per page.
const IFACE_FIELDS: &[(&str, usize)] = &[
    ("name", esc(IFNAME_LEN)),
    ("class", 4),
    ("state", 14),
    ("addresses", 0),
    ("rx_rate", RATE),
    ("tx_rate", RATE),
    ("rx_total", BYTES),
    ("tx_total", BYTES),
    ("errors", COUNT),
    ("drops", COUNT),
];
/// One address: `fe80::1/64<br>`.
const ADDRESS: usize = CIDR + 4;

const TEMP_ROW: &[u8] = b"<tr><td>{{name}}</td><td class=\"num {{class}}\">{{temp}}</td></tr>";
const TEMP_FIELDS: &[(&str, usize)] = &[
    ("name", esc(SENSOR_NAME_LEN) + 1 + esc(SENSOR_NAME_LEN)),
    ("class", 3),
    ("temp", TEMP),
];

const PAGE_FIELDS: &[(&str, usize)] = &[
    ("hostname", esc(UTS_LEN)),
    ("os", esc(UTS_LEN)),
    ("kernel", esc(UTS_LEN)),
    ("arch", esc(UTS_LEN)),
    ("uptime", DURATION),
    ("boot_time", DATE),
    ("updated", DATE),
    ("load1", LOAD),
    ("load5", LOAD),
    ("load15", LOAD),
    ("tasks", COUNT),
    ("cpu_busy", PCT),
    ("cpu_count", COUNT),
    ("cpu_user", PCT),
    ("cpu_system", PCT),
    ("cpu_iowait", PCT),
    ("cores", MAX_CPUS * template_max(CORE_ROW, CORE_FIELDS)),
    ("mem_pct", PCT),
    ("mem_value", VALUE),
    ("mem_used", BYTES),
    ("mem_avail", BYTES),
    ("mem_total", BYTES),
    ("swap", BYTES + 3 + PCT + 2),
    ("temp_max", TEMP),
    ("temp_scale", 2 * TEMP + 5),
    (
        "temperatures",
        MAX_SENSORS * template_max(TEMP_ROW, TEMP_FIELDS),
    ),
    ("net_rx", RATE),
    ("net_tx", RATE),
    ("net_scale", RATE),
    (
        "interfaces",
        MAX_IFACES * template_max(IFACE_ROW, IFACE_FIELDS) + MAX_ADDRS * ADDRESS,
    ),
    ("filesystems", MAX_MOUNTS * template_max(FS_ROW, FS_FIELDS)),
    ("srv_uptime", DURATION),
    ("srv_connections", COUNT),
    ("srv_requests", COUNT),
    ("srv_in", BYTES),
    ("srv_out", BYTES),
    ("srv_rss", BYTES),
    ("srv_static", BYTES),
    ("seq", COUNT),
    ("spark_box", 8 + X_DIGITS),
    ("spark_cpu", PATH),
    ("spark_mem", PATH),
    ("spark_rx", PATH),
    ("spark_tx", PATH),
    ("spark_temp", PATH),
];

/// The most bytes [`render`] can write, for any [`Snapshot`]: the template's text plus every
/// placeholder at its longest (every table full, every string escaped at 6 bytes a byte).
/// 63 638 bytes with the default capacities (a typical page is 5–15 KiB).
pub const PAGE_MAX: usize = template_max(TEMPLATE, PAGE_FIELDS);

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Where `{{` or `}}` (`open`) starts in `t` at or after `from`.
const fn find_pair(t: &[u8], from: usize, open: bool) -> Option<usize> {
    let c = if open { b'{' } else { b'}' };
    let mut i = from;
    while i + 1 < t.len() {
        if t[i] == c && t[i + 1] == c {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The longest output of `tpl` when each placeholder writes at most its `fields` entry; a
/// placeholder missing from `fields` is a (compile-time) error.
const fn template_max(tpl: &[u8], fields: &[(&str, usize)]) -> usize {
    let mut total = 0;
    let mut at = 0;
    while let Some(open) = find_pair(tpl, at, true) {
        let Some(close) = find_pair(tpl, open + 2, false) else {
            break;
        };
        total += open - at;
        let (_, name) = tpl.split_at(open + 2);
        let (name, _) = name.split_at(close - open - 2);
        let mut i = 0;
        loop {
            assert!(
                i < fields.len(),
                "status page: unknown template placeholder"
            );
            if bytes_eq(fields[i].0.as_bytes(), name) {
                total += fields[i].1;
                break;
            }
            i += 1;
        }
        at = close + 2;
    }
    total + (tpl.len() - at)
}

type Fill<'f> = dyn FnMut(&mut TextOut<'_>, &[u8]) -> Result<(), FormatError> + 'f;

/// Copies `tpl` to `o`, calling `fill` for each `{{name}}`.
fn render_with(o: &mut TextOut<'_>, tpl: &[u8], fill: &mut Fill<'_>) -> Result<(), FormatError> {
    let mut at = 0;
    while let Some(open) = find_pair(tpl, at, true) {
        let Some(close) = find_pair(tpl, open + 2, false) else {
            break;
        };
        o.put(&tpl[at..open])?;
        fill(o, &tpl[open + 2..close])?;
        at = close + 2;
    }
    o.put(&tpl[at..])
}

// --- Values ---------------------------------------------------------------------------------

/// HTML-escaped text.
fn put_text(o: &mut TextOut<'_>, s: &str) -> Result<(), FormatError> {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let e: &[u8] = match c {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        o.put(&b[start..i])?;
        o.put(e)?;
        start = i + 1;
    }
    o.put(&b[start..])
}

fn put_opt<T>(
    o: &mut TextOut<'_>,
    v: Option<T>,
    f: impl FnOnce(&mut TextOut<'_>, T) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    match v {
        Some(v) => f(o, v),
        None => o.put(UNKNOWN),
    }
}

/// Tenths as `12.3` (always one decimal), with a minus sign if `negative`.
fn put_tenths(o: &mut TextOut<'_>, tenths: u64, negative: bool) -> Result<(), FormatError> {
    if negative {
        o.put(b"-")?;
    }
    o.put_u64(tenths / 10)?;
    o.put(b".")?;
    o.put_u64(tenths % 10)
}

/// Hundredths of a percent as `12.3 %` (truncated to tenths).
fn put_pct(o: &mut TextOut<'_>, h: Option<u16>) -> Result<(), FormatError> {
    put_opt(o, h, |o, h| {
        put_tenths(o, u64::from(h / 10), false)?;
        o.put(b" %")
    })
}

/// Hundredths of a percent as a number for `<meter value>` (`12.34`; 0 when unknown).
fn put_value(o: &mut TextOut<'_>, h: Option<u16>) -> Result<(), FormatError> {
    o.put_decimal(u64::from(h.unwrap_or(0)), 2, false)
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `16.0 EiB`.
fn put_bytes(o: &mut TextOut<'_>, n: u64) -> Result<(), FormatError> {
    const UNITS: [&[u8]; 6] = [b" KiB", b" MiB", b" GiB", b" TiB", b" PiB", b" EiB"];
    if n < 1024 {
        o.put_u64(n)?;
        return o.put(b" B");
    }
    let mut unit = 0;
    let mut scaled = u128::from(n) * 10 / 1024;
    while scaled >= 10 * 1024 && unit + 1 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    put_tenths(o, u64::try_from(scaled).unwrap_or(u64::MAX), false)?;
    o.put(UNITS[unit])
}

/// A load average in hundredths with both decimals: `0.40`.
fn put_load(o: &mut TextOut<'_>, v: u32) -> Result<(), FormatError> {
    o.put_u64(u64::from(v / 100))?;
    o.put(b".")?;
    put_2(o, u64::from(v % 100), b"")
}

fn put_opt_bytes(o: &mut TextOut<'_>, n: Option<u64>) -> Result<(), FormatError> {
    put_opt(o, n, put_bytes)
}

fn put_rate(o: &mut TextOut<'_>, n: Option<u64>) -> Result<(), FormatError> {
    put_opt(o, n, |o, n| {
        put_bytes(o, n)?;
        o.put(b"/s")
    })
}

fn put_count(o: &mut TextOut<'_>, n: Option<u64>) -> Result<(), FormatError> {
    put_opt(o, n, |o, n| o.put_u64(n))
}

/// Millidegrees as `48.3 °C`.
fn put_temp(o: &mut TextOut<'_>, mc: Option<i32>) -> Result<(), FormatError> {
    put_opt(o, mc, |o, mc| {
        put_tenths(o, u64::from(mc.unsigned_abs() / 100), mc <= -100)?;
        o.put(" °C".as_bytes())
    })
}

/// Seconds as `3d 4h 5m`, `4h 5m` or `5m 3s`.
fn put_duration(o: &mut TextOut<'_>, s: Option<u64>) -> Result<(), FormatError> {
    put_opt(o, s, |o, s| {
        let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
        let parts: [(u64, &[u8]); 2] = if d > 0 {
            o.put_u64(d)?;
            o.put(b"d ")?;
            [(h, b"h "), (m, b"m")]
        } else if h > 0 {
            [(h, b"h "), (m, b"m")]
        } else {
            [(m, b"m "), (s % 60, b"s")]
        };
        for (v, unit) in parts {
            o.put_u64(v)?;
            o.put(unit)?;
        }
        Ok(())
    })
}

fn put_2(o: &mut TextOut<'_>, n: u64, sep: &[u8]) -> Result<(), FormatError> {
    if n < 10 {
        o.put(b"0")?;
    }
    o.put_u64(n)?;
    o.put(sep)
}

/// Seconds since the epoch as `2024-01-31 23:59:59 UTC` (proleptic Gregorian calendar).
fn put_date(o: &mut TextOut<'_>, secs: Option<u64>) -> Result<(), FormatError> {
    put_opt(o, secs, |o, secs| {
        if secs >= 253_402_300_800 {
            return o.put_u64(secs); // year 10000 and later: not worth a calendar
        }
        // Days to a civil date, counted from 0000-03-01 so leap days end each cycle.
        let z = secs / 86_400 + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        o.put_u64(year)?;
        o.put(b"-")?;
        put_2(o, month, b"-")?;
        put_2(o, day, b" ")?;
        put_2(o, secs / 3600 % 24, b":")?;
        put_2(o, secs / 60 % 60, b":")?;
        put_2(o, secs % 60, b" UTC")
    })
}

// --- Sparklines -----------------------------------------------------------------------------

/// An SVG path over the history: x is the sample index (the newest at the right edge), y runs
/// from 100 (bottom) to 0; `y_of` maps a sample to 0..=100 or `None` for a gap.
fn put_path(
    o: &mut TextOut<'_>,
    h: &History,
    y_of: impl Fn(&Sample) -> Option<u64>,
) -> Result<(), FormatError> {
    let mut pen_down = false;
    for (x, s) in (HISTORY_LEN - h.len()..).zip(h.iter()) {
        match y_of(&s) {
            Some(v) => {
                o.put(if pen_down { b"L" } else { b"M" })?;
                o.put_u64(x as u64)?;
                o.put(b" ")?;
                o.put_u64(100 - v.min(100))?;
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    Ok(())
}

/// Scales `v` from `lo..=hi` to 0..=100.
fn scale(v: i64, lo: i64, hi: i64) -> u64 {
    let span = i128::from(hi) - i128::from(lo);
    if span <= 0 {
        return 50;
    }
    let r = (i128::from(v) - i128::from(lo)).clamp(0, span) * 100 / span;
    u64::try_from(r).unwrap_or(0)
}

/// The largest rate in the history (either direction), at least 1.
fn peak_rate(h: &History) -> u64 {
    h.iter()
        .flat_map(|s| [s.rx_bytes_per_s, s.tx_bytes_per_s])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(1)
}

/// Lowest and highest temperature in the history.
fn temp_range(h: &History) -> Option<(i32, i32)> {
    let temps = h.iter().filter_map(|s| s.max_millicelsius);
    Some((temps.clone().min()?, temps.max()?))
}

// --- Rendering ------------------------------------------------------------------------------

fn put_cores(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    for c in &snap.cpu.cores {
        let busy = Some(c.share.busy);
        render_with(o, CORE_ROW, &mut |o, name| match name {
            b"cpu" => o.put_u64(u64::from(c.cpu)),
            b"value" => put_value(o, busy),
            _ => put_pct(o, busy),
        })?;
    }
    Ok(())
}

fn put_filesystems(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    for m in &snap.filesystems.mounts {
        let used = m.usage.as_ref().and_then(fs_used);
        render_with(o, FS_ROW, &mut |o, name| match name {
            b"device" => put_text(o, &m.device),
            b"mountpoint" => put_text(o, &m.mount_point),
            b"fstype" => put_text(o, &m.fs_type),
            b"value" => put_value(o, used),
            b"pct" => put_pct(o, used),
            b"size" => put_opt_bytes(o, m.usage.map(|u| u.size_bytes)),
            _ => put_opt_bytes(o, m.usage.map(|u| u.avail_bytes)),
        })?;
    }
    Ok(())
}

fn put_interfaces(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    for (i, f) in snap.net.ifaces.iter().enumerate() {
        let (c, rate, state) = (&f.counters, snap.rate(i), f.link.operstate);
        render_with(o, IFACE_ROW, &mut |o, name| match name {
            b"name" => put_text(o, &f.name),
            b"class" => match state {
                Some(OperState::Down | OperState::LowerLayerDown | OperState::NotPresent) => {
                    o.put(b"down")
                }
                _ => Ok(()),
            },
            b"state" => o.put(state.map_or("—", |s| s.as_str()).as_bytes()),
            b"addresses" => {
                for (n, a) in snap.addresses(i).enumerate() {
                    if n > 0 {
                        o.put(b"<br>")?;
                    }
                    put_cidr(o, a.addr, a.prefix_len)?;
                }
                Ok(())
            }
            b"rx_rate" => put_rate(o, rate.rx_bytes_per_s),
            b"tx_rate" => put_rate(o, rate.tx_bytes_per_s),
            b"rx_total" => put_bytes(o, c.rx_bytes),
            b"tx_total" => put_bytes(o, c.tx_bytes),
            b"errors" => o.put_u64(c.rx_errs.saturating_add(c.tx_errs)),
            _ => o.put_u64(c.rx_drop.saturating_add(c.tx_drop)),
        })?;
    }
    Ok(())
}

/// `addr/prefix` (only hex digits, `:` and `.`: nothing to escape).
fn put_cidr(o: &mut TextOut<'_>, addr: IpAddr, prefix: u8) -> Result<(), FormatError> {
    use core::fmt::Write;
    write!(o, "{addr}/{prefix}").map_err(|_| FormatError::BufferTooSmall)
}

/// Temperatures from 80 °C on are shown as hot.
const HOT_MILLICELSIUS: i32 = 80_000;

fn put_temperatures(o: &mut TextOut<'_>, snap: &Snapshot) -> Result<(), FormatError> {
    for s in &snap.sensors.sensors {
        render_with(o, TEMP_ROW, &mut |o, name| match name {
            b"name" => {
                put_text(o, if s.name.is_empty() { "sensor" } else { &s.name })?;
                if s.label.is_empty() {
                    return Ok(());
                }
                o.put(b" ")?;
                put_text(o, &s.label)
            }
            b"class" => match s.millicelsius {
                Some(t) if t >= HOT_MILLICELSIUS => o.put(b"hot"),
                _ => Ok(()),
            },
            _ => put_temp(o, s.millicelsius),
        })?;
    }
    Ok(())
}

/// Renders the status page for `snap` into `out` and returns its length. Fails only when `out`
/// is too small; a buffer of [`PAGE_MAX`] bytes never is. Serve it as
/// `text/html; charset=utf-8`, not cached.
pub fn render(snap: &Snapshot, out: &mut [u8]) -> Result<usize, FormatError> {
    let mut text = TextOut::new(out);
    let (k, h, mem) = (&snap.kernel, &snap.history, snap.memory.as_ref());
    let share = snap.cpu.total;
    let srv = &snap.server;
    let peak = peak_rate(h);
    let temps = temp_range(h);
    render_with(&mut text, TEMPLATE, &mut |o, name| match name {
        b"hostname" => put_text(o, &k.hostname),
        b"os" => put_text(o, &k.sysname),
        b"kernel" => put_text(o, &k.release),
        b"arch" => put_text(o, &k.machine),
        b"uptime" => put_duration(o, snap.uptime_s()),
        b"boot_time" => put_date(o, snap.boot_time_s()),
        b"updated" => put_date(o, snap.wall_clock_ms.map(|ms| ms / 1000)),
        b"load1" | b"load5" | b"load15" => put_opt(o, snap.load, |o, l| {
            let v = match name {
                b"load1" => l.load1,
                b"load5" => l.load5,
                _ => l.load15,
            };
            put_load(o, v)
        }),
        b"tasks" => put_count(o, snap.load.and_then(|l| l.tasks).map(u64::from)),
        b"cpu_busy" => put_pct(o, share.map(|s| s.busy)),
        b"cpu_count" => o.put_u64(snap.cpu_count() as u64),
        b"cpu_user" => put_pct(o, share.map(|s| s.user)),
        b"cpu_system" => put_pct(o, share.map(|s| s.system)),
        b"cpu_iowait" => put_pct(o, share.map(|s| s.iowait)),
        b"cores" => put_cores(o, snap),
        b"mem_pct" => put_pct(o, snap.mem_used()),
        b"mem_value" => put_value(o, snap.mem_used()),
        b"mem_used" => put_opt_bytes(o, snap.mem_used_bytes()),
        b"mem_avail" => put_opt_bytes(o, mem.and_then(|m| m.available_or_estimate())),
        b"mem_total" => put_opt_bytes(o, mem.and_then(|m| m.total)),
        b"swap" => match (mem.and_then(|m| m.swap_used()), snap.swap_used()) {
            (Some(used), Some(pct)) => {
                put_bytes(o, used)?;
                o.put(b" (")?;
                put_pct(o, Some(pct))?;
                o.put(b")")
            }
            (Some(_), None) => o.put(b"no swap"),
            _ => o.put(UNKNOWN),
        },
        b"temp_max" => put_temp(o, snap.max_millicelsius()),
        b"temp_scale" => match temps {
            Some((lo, hi)) => {
                put_temp(o, Some(lo))?;
                o.put(" – ".as_bytes())?;
                put_temp(o, Some(hi))
            }
            None => o.put(UNKNOWN),
        },
        b"temperatures" => put_temperatures(o, snap),
        b"net_rx" => put_rate(o, snap.total_rate().rx_bytes_per_s),
        b"net_tx" => put_rate(o, snap.total_rate().tx_bytes_per_s),
        b"net_scale" => put_rate(o, Some(peak)),
        b"interfaces" => put_interfaces(o, snap),
        b"filesystems" => put_filesystems(o, snap),
        b"srv_uptime" => put_duration(o, Some(srv.uptime_s)),
        b"srv_connections" => o.put_u64(srv.connections_open),
        b"srv_requests" => o.put_u64(srv.requests_served),
        b"srv_in" => put_bytes(o, srv.bytes_in),
        b"srv_out" => put_bytes(o, srv.bytes_out),
        b"srv_rss" => put_opt_bytes(o, srv.rss_bytes),
        b"srv_static" => put_bytes(o, srv.static_memory_bytes),
        b"seq" => o.put_u64(h.pushed()),
        b"spark_box" => {
            o.put(b"0 0 ")?;
            o.put_u64(HISTORY_LEN.saturating_sub(1).max(1) as u64)?;
            o.put(b" 100")
        }
        b"spark_cpu" => put_path(o, h, |s| s.cpu_busy.map(|v| u64::from(v) / 100)),
        b"spark_mem" => put_path(o, h, |s| s.mem_used.map(|v| u64::from(v) / 100)),
        b"spark_rx" => put_path(o, h, |s| s.rx_bytes_per_s.map(|v| scale_rate(v, peak))),
        b"spark_tx" => put_path(o, h, |s| s.tx_bytes_per_s.map(|v| scale_rate(v, peak))),
        b"spark_temp" => put_path(o, h, |s| {
            let (lo, hi) = temps?;
            // One degree of margin above and below.
            let (lo, hi) = (i64::from(lo) - 1000, i64::from(hi) + 1000);
            s.max_millicelsius.map(|v| scale(i64::from(v), lo, hi))
        }),
        _ => Ok(()),
    })?;
    Ok(text.len())
}

fn scale_rate(v: u64, peak: u64) -> u64 {
    let r = u128::from(v.min(peak)) * 100 / u128::from(peak.max(1));
    u64::try_from(r).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::snapshot::worst_case;
    use std::string::String;
    use std::vec;

    fn page(snap: &Snapshot) -> String {
        let mut buf = vec![0u8; PAGE_MAX];
        let n = render(snap, &mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn text(f: impl FnOnce(&mut TextOut<'_>) -> Result<(), FormatError>) -> String {
        let mut buf = [0u8; 256];
        let mut o = TextOut::new(&mut buf);
        f(&mut o).unwrap();
        let n = o.len();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn every_table_full_fits_the_documented_maximum() {
        for c in ['"', '<', 'x'] {
            let html = page(&worst_case(c));
            assert!(html.len() <= PAGE_MAX);
            assert!(!html.contains("{{"), "a placeholder was left");
            if c == '"' {
                assert!(
                    html.len() * 10 > PAGE_MAX * 8,
                    "{} of {PAGE_MAX}",
                    html.len()
                );
            }
        }
        let mut small = [0u8; 100];
        assert_eq!(
            render(&worst_case('x'), &mut small),
            Err(FormatError::BufferTooSmall)
        );
    }

    #[test]
    fn template_sizes() {
        assert_eq!(template_max(b"a{{x}}b{{x}}", &[("x", 3)]), 8);
        assert_eq!(template_max(b"a{{x", &[("x", 3)]), 4);
        assert_eq!(template_max(b"}}{{", &[]), 4);
        let mut buf = [0u8; 16];
        let mut o = TextOut::new(&mut buf);
        render_with(&mut o, b"a{{x}}b{{y", &mut |o, n| {
            o.put(if n == b"x" { b"12" } else { b"?" })
        })
        .unwrap();
        assert_eq!(&buf[..7], b"a12b{{y");
    }

    #[test]
    fn empty_snapshot_renders_unknowns() {
        let html = page(&Snapshot::new());
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<span class=\"big\" id=\"cpu_busy\">—</span>"));
        assert!(html.contains("<tbody id=\"filesystems\"></tbody>"));
        assert!(html.contains("<path id=\"spark_cpu\" d=\"\"/>"));
        assert!(html.contains("Snapshot 0;"));
    }

    #[test]
    fn values_are_escaped_and_formatted() {
        let mut s = worst_case('x');
        s.kernel.hostname = "<b>&\"pi'".try_into().unwrap();
        let html = page(&s);
        assert!(html.contains("<h1 id=\"hostname\">&lt;b&gt;&amp;&quot;pi&#39;</h1>"));
        assert!(html.contains("<title>&lt;b&gt;"));
        assert!(html.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128<br>"));
        assert!(html.contains("class=\"down\">lowerlayerdown<"));
        assert!(html.contains("viewBox=\"0 0 299 100\"") || HISTORY_LEN != 300);
        for a in ASSETS {
            assert!(html.contains(&std::format!("\"{ASSET_PREFIX}{}\"", a.name)));
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(text(|o| put_bytes(o, 0)), "0 B");
        assert_eq!(text(|o| put_bytes(o, 1023)), "1023 B");
        assert_eq!(text(|o| put_bytes(o, 1536)), "1.5 KiB");
        assert_eq!(text(|o| put_bytes(o, 4_026_531_840)), "3.7 GiB");
        assert_eq!(text(|o| put_bytes(o, u64::MAX)), "15.9 EiB");
        assert_eq!(text(|o| put_rate(o, Some(2048))), "2.0 KiB/s");
        assert_eq!(text(|o| put_rate(o, None)), "—");
        assert_eq!(text(|o| put_pct(o, Some(1234))), "12.3 %");
        assert_eq!(text(|o| put_pct(o, Some(10_000))), "100.0 %");
        assert_eq!(text(|o| put_value(o, Some(1234))), "12.34");
        assert_eq!(text(|o| put_temp(o, Some(48_312))), "48.3 °C");
        assert_eq!(text(|o| put_temp(o, Some(-5_050))), "-5.0 °C");
        assert_eq!(text(|o| put_temp(o, Some(-50))), "0.0 °C");
        assert_eq!(text(|o| put_duration(o, Some(59))), "0m 59s");
        assert_eq!(text(|o| put_duration(o, Some(3725))), "1h 2m");
        assert_eq!(
            text(|o| put_duration(o, Some(3 * 86_400 + 3725))),
            "3d 1h 2m"
        );
        assert_eq!(text(|o| put_date(o, Some(0))), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            text(|o| put_date(o, Some(951_782_400))),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            text(|o| put_date(o, Some(1_700_000_000))),
            "2023-11-14 22:13:20 UTC"
        );
        assert_eq!(
            text(|o| put_date(o, Some(253_402_300_799))),
            "9999-12-31 23:59:59 UTC"
        );
        assert_eq!(
            text(|o| put_date(o, Some(u64::MAX))),
            "18446744073709551615"
        );
        assert_eq!(text(|o| put_text(o, "a<b")), "a&lt;b");
        assert_eq!(text(|o| put_load(o, 5)), "0.05");
        assert_eq!(text(|o| put_load(o, u32::MAX)), "42949672.95");
    }

    #[test]
    fn sparkline_paths() {
        let mut h = History::new();
        for v in [Some(0), None, Some(5000), Some(10_000)] {
            h.push(&Sample {
                cpu_busy: v,
                ..Sample::default()
            });
        }
        let x0 = HISTORY_LEN - 4;
        let d = text(|o| put_path(o, &h, |s| s.cpu_busy.map(|v| u64::from(v) / 100)));
        assert_eq!(d, std::format!("M{x0} 100M{} 50L{} 0", x0 + 2, x0 + 3));
        assert_eq!(scale(5, 0, 10), 50);
        assert_eq!(scale(-5, 0, 10), 0);
        assert_eq!(scale(5, 5, 5), 50);
        assert_eq!(scale_rate(7, 7), 100);
        assert_eq!(scale_rate(9, 0), 0);
        assert_eq!(peak_rate(&h), 1);
        assert_eq!(temp_range(&h), None);
    }

    #[test]
    fn assets_are_embedded() {
        let js = asset("app.js").unwrap();
        assert_eq!(js.content_type, "text/javascript; charset=utf-8");
        assert!(js.raw.starts_with(b"// Live updates"));
        assert_eq!(&js.gzip[..3], &[0x1f, 0x8b, 8]);
        assert!(js.gzip.len() < js.raw.len());
        assert!(js.etag.starts_with('"') && js.etag.ends_with('"') && js.etag.len() == 18);
        assert_eq!(js.gzip_etag, std::format!("{}-gz\"", &js.etag[..17]));
        let css = asset_for_path("/status/style.css").unwrap();
        assert_eq!(css.content_type, "text/css; charset=utf-8");
        assert_ne!(css.etag, js.etag);
        assert!(
            asset("index.html").is_none(),
            "the template is not served as is"
        );
        assert!(asset_for_path("/other/app.js").is_none());
    }
}
