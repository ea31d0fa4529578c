//! Temperatures from thermal zones (`/sys/class/thermal/thermal_zone*/{type,temp}`) and hwmon
//! devices (`/sys/class/hwmon/hwmon*/{name,temp*_input,temp*_label}`), in millidegrees Celsius.
//!
//! ARM boards usually expose the SoC sensor as a thermal zone (`cpu-thermal` on a Raspberry
//! Pi), and often the same sensor again through hwmon; both are listed. Containers and QEMU
//! guests often have neither directory: the list is then empty.
//!
//! Directories are listed with `getdents64` into a stack buffer (see
//! [`for_each_dir_entry`]; `rustix::fs::Dir` would need rustix's `alloc` feature). To keep the
//! order stable without storing the listing, each step rescans the directory for the next
//! higher index, so sensors come sorted by zone, hwmon device and channel number, and when
//! there are more than [`MAX_SENSORS`], the lowest-numbered are kept.
//!
//! node_exporter equivalents: `node_thermal_zone_temp{zone, type}` and
//! `node_hwmon_temp_celsius{chip, sensor}` (divide by 1000).

use super::ascii::{first_line, parse_i64, parse_u64, to_ascii_string};
use super::read::{VALUE_BUF_SIZE, for_each_dir_entry, join_path, read_file};
use crate::config::parse_or;
use crate::http::itoa::{DEC_U64_LEN, dec_u64};

/// Most sensors kept in a [`Sensors`]; further ones are counted in [`Sensors::omitted`].
///
/// Default 16. Set with `EDGELOOP_MAX_SENSORS`. Cost: 96 bytes per entry (64-bit targets).
pub const MAX_SENSORS: usize = parse_or(option_env!("EDGELOOP_MAX_SENSORS"), 16);

/// Longest sensor name or label kept (`cpu-thermal`, `Package id 0`); longer ones are cut.
/// Fixed at 32 bytes.
pub const SENSOR_NAME_LEN: usize = 32;

/// A sensor name or label.
pub type SensorName = heapless::String<SENSOR_NAME_LEN>;

/// Where a [`Sensor`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SensorSource {
    /// `/sys/class/thermal/thermal_zone<device>`.
    #[default]
    ThermalZone,
    /// `/sys/class/hwmon/hwmon<device>/temp<channel>_input`.
    Hwmon,
}

/// One temperature sensor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sensor {
    /// Thermal zone or hwmon.
    pub source: SensorSource,
    /// Zone number or hwmon device number.
    pub device: u16,
    /// hwmon channel (`N` of `tempN_input`); 0 for thermal zones.
    pub channel: u16,
    /// Zone `type` or hwmon chip `name` (empty if unreadable).
    pub name: SensorName,
    /// hwmon `tempN_label` (empty if there is none, and for thermal zones).
    pub label: SensorName,
    /// Temperature in millidegrees Celsius; `None` when it cannot be read (some zones fail
    /// with `EINVAL`/`ENODATA` while their device is off).
    pub millicelsius: Option<i32>,
}

/// The sensors of one snapshot: thermal zones first, then hwmon, each in number order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sensors {
    /// At most [`MAX_SENSORS`].
    pub sensors: heapless::Vec<Sensor, MAX_SENSORS>,
    /// Sensors that did not fit.
    pub omitted: u16,
}

impl Sensors {
    fn push(&mut self, s: Sensor) {
        if self.sensors.push(s).is_err() {
            self.omitted = self.omitted.saturating_add(1);
        }
    }
}

/// Parses a temperature file (`"48312\n"`, millidegrees). `None` unless it is one complete
/// line holding an integer that fits `i32`.
pub fn parse_millicelsius(data: &[u8]) -> Option<i32> {
    parse_i64(first_line(data)?).and_then(|n| i32::try_from(n).ok())
}

/// Parses a name or label file (`"cpu-thermal\n"`): its first line, cut to
/// [`SENSOR_NAME_LEN`]. `None` when empty. A missing final newline is accepted here (a cut
/// name is still a useful name).
pub fn parse_sensor_name(data: &[u8]) -> Option<SensorName> {
    let line = data.split(|&b| b == b'\n').next()?.trim_ascii();
    if line.is_empty() {
        None
    } else {
        Some(to_ascii_string(line).0)
    }
}

/// The number in a directory entry name `<prefix><N><suffix>` (`thermal_zone3`,
/// `temp2_input`), if it has exactly that form.
pub fn parse_indexed_name(name: &[u8], prefix: &[u8], suffix: &[u8]) -> Option<u16> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    parse_u64(digits).and_then(|n| u16::try_from(n).ok())
}

/// The smallest `N` above `after` among the entries `<prefix><N><suffix>` of directory `dir`.
fn next_index(dir: &str, prefix: &[u8], suffix: &[u8], after: Option<u16>) -> Option<u16> {
    let mut best: Option<u16> = None;
    for_each_dir_entry(dir, |name| {
        if let Some(n) = parse_indexed_name(name, prefix, suffix) {
            if after.is_none_or(|a| n > a) && best.is_none_or(|b| n < b) {
                best = Some(n);
            }
        }
    })
    .ok()?;
    best
}

/// Calls `f` with every index of the entries `<prefix><N><suffix>` of `dir`, ascending.
fn for_each_index(dir: &str, prefix: &[u8], suffix: &[u8], mut f: impl FnMut(u16)) {
    let mut after = None;
    while let Some(n) = next_index(dir, prefix, suffix, after) {
        f(n);
        after = Some(n);
    }
}

/// Reads a small file in `dir` and parses it.
fn read_in<T>(dir: &str, file: &str, parse: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
    let path = join_path(&[dir, "/", file]).ok()?;
    let mut buf = [0u8; VALUE_BUF_SIZE];
    parse(read_file(&path, &mut buf).ok()?)
}

/// Formats a decimal `u16` as text (the shared integer formatter, seen as `&str`).
fn decimal(n: u16, buf: &mut [u8; DEC_U64_LEN]) -> &str {
    core::str::from_utf8(dec_u64(u64::from(n), buf)).unwrap_or("0")
}

/// Reads all thermal zones and hwmon temperatures from `/sys`. Never fails: what cannot be
/// read is left out (or has `millicelsius` `None`).
pub fn read_sensors() -> Sensors {
    read_sensors_at("/sys")
}

/// [`read_sensors`] with another sysfs mount point (`sys_root` is normally `/sys`).
pub fn read_sensors_at(sys_root: &str) -> Sensors {
    let mut out = Sensors::default();
    let mut num = [0u8; DEC_U64_LEN];
    if let Ok(class) = join_path(&[sys_root, "/class/thermal"]) {
        for_each_index(&class, b"thermal_zone", b"", |zone| {
            let Ok(dir) = join_path(&[&class, "/thermal_zone", decimal(zone, &mut num)]) else {
                return;
            };
            out.push(Sensor {
                source: SensorSource::ThermalZone,
                device: zone,
                channel: 0,
                name: read_in(&dir, "type", parse_sensor_name).unwrap_or_default(),
                label: SensorName::new(),
                millicelsius: read_in(&dir, "temp", parse_millicelsius),
            });
        });
    }
    if let Ok(class) = join_path(&[sys_root, "/class/hwmon"]) {
        for_each_index(&class, b"hwmon", b"", |dev| {
            let Ok(mut dir) = join_path(&[&class, "/hwmon", decimal(dev, &mut num)]) else {
                return;
            };
            let mut name = read_in(&dir, "name", parse_sensor_name);
            if name.is_none() {
                // Drivers from before Linux 3.x keep their attributes under device/.
                if dir.push_str("/device").is_err() {
                    return;
                }
                name = read_in(&dir, "name", parse_sensor_name);
            }
            read_hwmon_channels(&dir, dev, name.unwrap_or_default(), &mut out);
        });
    }
    out
}

/// Adds the `temp<N>_input` channels of one hwmon directory.
fn read_hwmon_channels(dir: &str, dev: u16, name: SensorName, out: &mut Sensors) {
    let mut num = [0u8; DEC_U64_LEN];
    for_each_index(dir, b"temp", b"_input", |ch| {
        let n = decimal(ch, &mut num);
        let (Ok(input), Ok(label)) = (
            join_path(&["temp", n, "_input"]),
            join_path(&["temp", n, "_label"]),
        ) else {
            return;
        };
        out.push(Sensor {
            source: SensorSource::Hwmon,
            device: dev,
            channel: ch,
            name: name.clone(),
            label: read_in(dir, &label, parse_sensor_name).unwrap_or_default(),
            millicelsius: read_in(dir, &input, parse_millicelsius),
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testfs::FakeRoot;

    #[test]
    fn value_parsers() {
        assert_eq!(parse_millicelsius(b"48312\n"), Some(48_312));
        assert_eq!(parse_millicelsius(b"-5000\n"), Some(-5000));
        assert_eq!(parse_millicelsius(b"483"), None, "cut: no newline");
        assert_eq!(parse_millicelsius(b"\n"), None);
        assert_eq!(parse_millicelsius(b"99999999999\n"), None);
        assert_eq!(parse_millicelsius(b"N/A\n"), None);
        assert_eq!(
            parse_sensor_name(b"cpu-thermal\n").unwrap().as_str(),
            "cpu-thermal"
        );
        assert_eq!(parse_sensor_name(b"Core 0").unwrap().as_str(), "Core 0");
        assert_eq!(parse_sensor_name(b"\n"), None);
        assert_eq!(parse_sensor_name(b"").map(|s| s.len()), None);
        let long = parse_sensor_name(&[b'x'; 100]).unwrap();
        assert_eq!(long.len(), SENSOR_NAME_LEN);
        assert_eq!(
            parse_indexed_name(b"thermal_zone12", b"thermal_zone", b""),
            Some(12)
        );
        assert_eq!(
            parse_indexed_name(b"temp3_input", b"temp", b"_input"),
            Some(3)
        );
        assert_eq!(parse_indexed_name(b"temp3_label", b"temp", b"_input"), None);
        assert_eq!(
            parse_indexed_name(b"thermal_zone", b"thermal_zone", b""),
            None
        );
        assert_eq!(
            parse_indexed_name(b"cooling_device0", b"thermal_zone", b""),
            None
        );
        assert_eq!(parse_indexed_name(b"hwmon99999", b"hwmon", b""), None);
        let mut b = [0u8; DEC_U64_LEN];
        assert_eq!(decimal(0, &mut b), "0");
        assert_eq!(decimal(65_535, &mut b), "65535");
    }

    #[test]
    fn raspberry_pi_style() {
        let fs = FakeRoot::new();
        fs.file("class/thermal/thermal_zone0/type", b"cpu-thermal\n");
        fs.file("class/thermal/thermal_zone0/temp", b"48312\n");
        fs.dir("class/thermal/cooling_device0");
        fs.file("class/hwmon/hwmon0/name", b"cpu_thermal\n");
        fs.file("class/hwmon/hwmon0/temp1_input", b"48312\n");
        fs.file("class/hwmon/hwmon1/name", b"rpi_volt\n");
        fs.file("class/hwmon/hwmon1/in0_lcrit_alarm", b"0\n");
        let s = read_sensors_at(&fs.root());
        assert_eq!(s.sensors.len(), 2);
        assert_eq!(s.omitted, 0);
        let zone = &s.sensors[0];
        assert_eq!(
            (zone.source, zone.device, zone.name.as_str()),
            (SensorSource::ThermalZone, 0, "cpu-thermal")
        );
        assert_eq!(zone.millicelsius, Some(48_312));
        let hw = &s.sensors[1];
        assert_eq!(
            (hw.source, hw.device, hw.channel),
            (SensorSource::Hwmon, 0, 1)
        );
        assert_eq!((hw.name.as_str(), hw.label.as_str()), ("cpu_thermal", ""));
    }

    #[test]
    fn container_without_thermal() {
        let fs = FakeRoot::new();
        assert_eq!(read_sensors_at(&fs.root()), Sensors::default());
        fs.dir("class/thermal");
        assert_eq!(read_sensors_at(&fs.root()), Sensors::default());
    }

    #[test]
    fn pc_style_hwmon_with_labels_gaps_and_bad_values() {
        let fs = FakeRoot::new();
        fs.file("class/thermal/thermal_zone2/type", b"x86_pkg_temp\n");
        fs.file("class/thermal/thermal_zone2/temp", b"4100"); // cut
        fs.file("class/thermal/thermal_zone10/type", b"acpitz\n");
        fs.file("class/thermal/thermal_zone10/temp", b"27800\n");
        fs.file("class/hwmon/hwmon3/name", b"coretemp\n");
        fs.file("class/hwmon/hwmon3/temp1_input", b"45000\n");
        fs.file("class/hwmon/hwmon3/temp1_label", b"Package id 0\n");
        fs.file("class/hwmon/hwmon3/temp10_input", b"43000\n");
        fs.file("class/hwmon/hwmon3/temp2_input", b"44000\n");
        fs.file("class/hwmon/hwmon3/temp2_label", b"Core 0\n");
        // Old layout: attributes under device/.
        fs.file("class/hwmon/hwmon1/device/name", b"lm75\n");
        fs.file("class/hwmon/hwmon1/device/temp1_input", b"31500\n");
        let s = read_sensors_at(&fs.root());
        let got: std::vec::Vec<_> = s
            .sensors
            .iter()
            .map(|x| {
                (
                    x.device,
                    x.channel,
                    x.name.as_str(),
                    x.label.as_str(),
                    x.millicelsius,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, 0, "x86_pkg_temp", "", None),
                (10, 0, "acpitz", "", Some(27_800)),
                (1, 1, "lm75", "", Some(31_500)),
                (3, 1, "coretemp", "Package id 0", Some(45_000)),
                (3, 2, "coretemp", "Core 0", Some(44_000)),
                (3, 10, "coretemp", "", Some(43_000)),
            ]
        );
    }

    #[test]
    fn more_sensors_than_capacity() {
        let fs = FakeRoot::new();
        for i in 0..MAX_SENSORS + 3 {
            fs.file(
                &std::format!("class/thermal/thermal_zone{i}/temp"),
                b"1000\n",
            );
        }
        let s = read_sensors_at(&fs.root());
        assert_eq!((s.sensors.len(), s.omitted), (MAX_SENSORS, 3));
        assert_eq!(s.sensors[MAX_SENSORS - 1].device as usize, MAX_SENSORS - 1);
        assert!(s.sensors.iter().all(|x| x.name.is_empty()));
    }
}
