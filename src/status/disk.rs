//! Mounted filesystems from `/proc/self/mounts` and their usage from `statvfs(2)`.
//!
//! Only filesystems that hold data are listed, the way node_exporter's filesystem collector
//! does by default: pseudo filesystems (`proc`, `sysfs`, `cgroup`, `devpts`, `devtmpfs`, ...),
//! read-only images that are always full (`squashfs`, `erofs`, `iso9660`) and mount points
//! under `/proc`, `/sys`, `/dev` and container runtimes' storage are skipped. Unlike
//! node_exporter, `overlay` is kept (it is the root filesystem of containers and of OpenWrt).
//! `tmpfs` is kept unless [`MountFilter::include_tmpfs`] is `false`.
//!
//! `statvfs` on a network filesystem whose server is gone blocks, and the event loop must not;
//! so network filesystems (`nfs`, `cifs`, `sshfs`, ...) are listed with [`Mount::usage`]
//! `None` unless [`MountFilter::stat_network`] is set.
//!
//! node_exporter equivalents: `node_filesystem_{size,free,avail}_bytes`,
//! `node_filesystem_{files,files_free}`, `node_filesystem_readonly{device, fstype, mountpoint}`.

use rustix::fs::{StatVfsMountFlags, statvfs};
use rustix::io::Errno;

use super::ascii::to_ascii_string;
use super::read::{LINE_BUF_SIZE, Line, ReadError, lines, read_lines};
use crate::config::parse_or;

/// Most mounts kept in a [`Mounts`]; further ones are counted in [`Mounts::omitted`].
///
/// Default 16. Set with `EDGELOOP_MAX_MOUNTS`. Cost: about `2 × MOUNT_PATH_LEN + 100` bytes per
/// entry.
pub const MAX_MOUNTS: usize = parse_or(option_env!("EDGELOOP_MAX_MOUNTS"), 16);

/// Longest mount point and device name kept, in bytes (after decoding `\040`-style escapes).
///
/// Default 128. Set with `EDGELOOP_MOUNT_PATH_LEN`. A mount point that is longer (or not
/// UTF-8) cannot be passed to `statvfs` whole, so that mount is counted in
/// [`Mounts::omitted`]; a longer device name is cut and flagged [`Mount::device_cut`].
pub const MOUNT_PATH_LEN: usize = parse_or(option_env!("EDGELOOP_MOUNT_PATH_LEN"), 128);

/// Longest filesystem type name kept (`fuse.sshfs`); longer types are cut. Fixed at 24.
pub const FSTYPE_LEN: usize = 24;

/// A mount point or device name.
pub type MountPath = heapless::String<MOUNT_PATH_LEN>;

/// Which mounts [`parse_mounts`] keeps and [`read_mounts`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MountFilter {
    /// Keep `tmpfs` mounts (`/tmp`, `/run`: RAM-backed, worth watching on small devices).
    /// Default `true`, like node_exporter.
    pub include_tmpfs: bool,
    /// Call `statvfs` on network filesystems too (may block if the server is unreachable).
    /// Default `false`.
    pub stat_network: bool,
}

impl Default for MountFilter {
    fn default() -> Self {
        MountFilter {
            include_tmpfs: true,
            stat_network: false,
        }
    }
}

/// Filesystem types that never hold user data, report no sizes (`ramfs`), or are read-only
/// images (always 100 % used).
const SKIPPED_FS: &[&[u8]] = &[
    b"autofs",
    b"binfmt_misc",
    b"bpf",
    b"cgroup",
    b"cgroup2",
    b"configfs",
    b"debugfs",
    b"devpts",
    b"devtmpfs",
    b"efivarfs",
    b"erofs",
    b"fusectl",
    b"hugetlbfs",
    b"iso9660",
    b"mqueue",
    b"nsfs",
    b"proc",
    b"procfs",
    b"pstore",
    b"ramfs",
    b"rpc_pipefs",
    b"securityfs",
    b"selinuxfs",
    b"squashfs",
    b"sysfs",
    b"tracefs",
];

/// Filesystem types whose `statvfs` may block on the network.
const NETWORK_FS: &[&[u8]] = &[
    b"afs",
    b"ceph",
    b"cifs",
    b"fuse.sshfs",
    b"glusterfs",
    b"lustre",
    b"ncpfs",
    b"nfs",
    b"nfs4",
    b"smb3",
    b"smbfs",
];

/// Mount point prefixes skipped with everything below them.
const SKIPPED_UNDER: &[&str] = &["/proc", "/sys", "/dev"];

/// Mount point prefixes whose sub-mounts are skipped (container layers, credentials).
const SKIPPED_BELOW: &[&str] = &[
    "/run/credentials/",
    "/var/lib/docker/",
    "/var/lib/containers/storage/",
];

/// Space and inode counts from `statvfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiskUsage {
    /// Total size in bytes.
    pub size_bytes: u64,
    /// Free bytes, including those reserved for root.
    pub free_bytes: u64,
    /// Bytes available to unprivileged users.
    pub avail_bytes: u64,
    /// Total inodes (0 on filesystems without a fixed inode table).
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
}

impl DiskUsage {
    /// Converts a `statvfs` result (block counts × fragment size, saturating).
    pub fn from_statvfs(s: &rustix::fs::StatVfs) -> Self {
        let unit = if s.f_frsize != 0 {
            s.f_frsize
        } else {
            s.f_bsize
        };
        DiskUsage {
            size_bytes: s.f_blocks.saturating_mul(unit),
            free_bytes: s.f_bfree.saturating_mul(unit),
            avail_bytes: s.f_bavail.saturating_mul(unit),
            files: s.f_files,
            files_free: s.f_ffree,
        }
    }
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mount {
    /// Source device (`/dev/mmcblk0p2`, `overlay`, `server:/export`).
    pub device: MountPath,
    /// `device` was longer than [`MOUNT_PATH_LEN`] and is cut.
    pub device_cut: bool,
    /// Where it is mounted.
    pub mount_point: MountPath,
    /// Filesystem type (`ext4`, `vfat`, `overlay`).
    pub fs_type: heapless::String<FSTYPE_LEN>,
    /// Mounted read-only (`ro` option, or the `statvfs` flag).
    pub read_only: bool,
    /// A network filesystem (see the module docs).
    pub network: bool,
    /// Usage; `None` until measured, when `statvfs` failed, or for unmeasured network mounts.
    pub usage: Option<DiskUsage>,
}

/// The mounts of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mounts {
    /// Kept mounts in mount order, one per mount point (a later mount on the same point
    /// replaces the earlier, which it hides), at most [`MAX_MOUNTS`].
    pub mounts: heapless::Vec<Mount, MAX_MOUNTS>,
    /// Mounts that passed the filter but did not fit, or whose mount point was too long.
    pub omitted: u16,
}

/// Decodes the octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash) of a
/// mounts field into `out`; returns `false` if it did not fit. Undecodable escapes are kept.
fn unescape(field: &[u8], out: &mut heapless::Vec<u8, MOUNT_PATH_LEN>) -> bool {
    let mut i = 0;
    while i < field.len() {
        let mut b = field[i];
        i += 1;
        if b == b'\\' {
            let oct = field
                .get(i..i + 3)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
            if let Some(d) = oct {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                if let Ok(v) = u8::try_from(v) {
                    b = v;
                    i += 3;
                }
            }
        }
        if out.push(b).is_err() {
            return false;
        }
    }
    true
}

fn is_skipped_point(p: &str) -> bool {
    let under = SKIPPED_UNDER.iter().any(|s| {
        p.strip_prefix(s)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    under
        || SKIPPED_BELOW
            .iter()
            .any(|s| p.len() > s.len() && p.starts_with(s))
}

impl Mounts {
    /// Takes one `/proc/self/mounts` line (`device mountpoint fstype options 0 0`).
    ///
    /// A line cut by the read buffer (long overlay options) is used if its first three fields
    /// are whole.
    pub fn feed(&mut self, line: Line<'_>, filter: &MountFilter) {
        // Whole fields only: for a cut line, those before its last space.
        let mut f = line.settled().split(|&b| b == b' ');
        let (Some(dev), Some(point), Some(fs)) = (f.next(), f.next(), f.next()) else {
            return;
        };
        // `None` when the options were cut; `read_only` then comes from `statvfs` alone.
        let options = f.next();
        if dev.is_empty() || point.is_empty() || fs.is_empty() {
            return;
        }
        if SKIPPED_FS.contains(&fs) || (!filter.include_tmpfs && fs == b"tmpfs") {
            return;
        }
        let mut raw = heapless::Vec::new();
        let point_fits = unescape(point, &mut raw);
        let Some(point) = core::str::from_utf8(&raw).ok().filter(|_| point_fits) else {
            self.omitted = self.omitted.saturating_add(1);
            return;
        };
        if is_skipped_point(point) {
            return;
        }
        let mut dev_raw = heapless::Vec::new();
        let dev_fits = unescape(dev, &mut dev_raw);
        let (device, dev_cut) = to_ascii_string(&dev_raw);
        let read_only = options.and_then(|o| o.split(|&b| b == b',').next()) == Some(b"ro");
        let mount = Mount {
            device,
            device_cut: dev_cut || !dev_fits,
            mount_point: MountPath::try_from(point).unwrap_or_default(),
            fs_type: to_ascii_string(fs).0,
            read_only,
            network: NETWORK_FS.contains(&fs),
            usage: None,
        };
        if let Some(old) = self
            .mounts
            .iter_mut()
            .find(|m| m.mount_point == mount.mount_point)
        {
            *old = mount;
        } else if self.mounts.push(mount).is_err() {
            self.omitted = self.omitted.saturating_add(1);
        }
    }
}

/// Parses the contents of `/proc/self/mounts` (or `/proc/mounts`), keeping what `filter`
/// allows. Never fails; [`Mount::usage`] is left `None`.
pub fn parse_mounts(data: &[u8], filter: &MountFilter) -> Mounts {
    let mut m = Mounts::default();
    for line in lines(data) {
        m.feed(line, filter);
    }
    m
}

/// Reads `/proc/self/mounts` and measures every kept mount with `statvfs`.
pub fn read_mounts(filter: &MountFilter) -> Result<Mounts, ReadError> {
    read_mounts_from("/proc/self/mounts", filter)
}

/// [`read_mounts`] from a mounts file at `path`, streamed through a [`LINE_BUF_SIZE`] buffer.
pub fn read_mounts_from(path: &str, filter: &MountFilter) -> Result<Mounts, ReadError> {
    let mut m = Mounts::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| m.feed(line, filter))?;
    for mount in &mut m.mounts {
        if mount.network && !filter.stat_network {
            continue;
        }
        if let Ok(s) = stat_mount(&mount.mount_point) {
            mount.read_only |= s.f_flag.contains(StatVfsMountFlags::RDONLY);
            mount.usage = Some(DiskUsage::from_statvfs(&s));
        }
    }
    Ok(m)
}

/// Measures the filesystem holding `path` (`statvfs`, retrying `EINTR`).
pub fn disk_usage(path: &str) -> Result<DiskUsage, ReadError> {
    stat_mount(path).map(|s| DiskUsage::from_statvfs(&s))
}

fn stat_mount(path: &str) -> Result<rustix::fs::StatVfs, ReadError> {
    loop {
        match statvfs(path) {
            Ok(s) => return Ok(s),
            Err(Errno::INTR) => continue,
            Err(Errno::NOENT | Errno::NOTDIR) => return Err(ReadError::Missing),
            Err(e) => return Err(ReadError::Read(e.raw_os_error())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::testfs::FakeRoot;

    /// A Raspberry Pi OS host running a container runtime.
    const PI_MOUNTS: &[u8] = b"/dev/root / ext4 rw,noatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=340460k,nr_inodes=85115,mode=755 0 0
proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=188152k,nr_inodes=819200,mode=755 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
/dev/mmcblk0p1 /boot vfat ro,relatime,fmask=0022,dmask=0022,codepage=437 0 0
/dev/sda1 /mnt/usb\\040stick ext4 rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime,lowerdir=/x 0 0
nas:/export /mnt/nas nfs4 rw,relatime,vers=4.2 0 0
/dev/loop0 /snap/core/1 squashfs ro,nodev,relatime 0 0
";

    fn points(m: &Mounts) -> std::vec::Vec<&str> {
        m.mounts.iter().map(|m| m.mount_point.as_str()).collect()
    }

    #[test]
    fn filters_pseudo_filesystems() {
        let m = parse_mounts(PI_MOUNTS, &MountFilter::default());
        assert_eq!(
            points(&m),
            ["/", "/run", "/boot", "/mnt/usb stick", "/mnt/nas"]
        );
        assert_eq!(m.omitted, 0);
        let boot = &m.mounts[2];
        assert_eq!(
            (boot.device.as_str(), boot.fs_type.as_str()),
            ("/dev/mmcblk0p1", "vfat")
        );
        assert!(boot.read_only);
        assert!(!m.mounts[0].read_only);
        assert!(m.mounts[4].network);
        assert!(m.mounts.iter().all(|m| m.usage.is_none()));
        let no_tmpfs = MountFilter {
            include_tmpfs: false,
            ..MountFilter::default()
        };
        assert!(!points(&parse_mounts(PI_MOUNTS, &no_tmpfs)).contains(&"/run"));
    }

    #[test]
    fn container_overlay_root_and_remount() {
        let data = b"overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/u,workdir=/w 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
/dev/vda /etc/hosts ext4 rw,relatime 0 0
/dev/vda /etc/hosts ext4 ro,relatime 0 0
";
        let m = parse_mounts(data, &MountFilter::default());
        assert_eq!(points(&m), ["/", "/etc/hosts"]);
        assert_eq!(m.mounts[0].fs_type.as_str(), "overlay");
        assert!(
            m.mounts[1].read_only,
            "the later mount on the same point wins"
        );
    }

    #[test]
    fn cut_and_malformed_lines() {
        // Cut inside the options: the mount is kept, read-only unknown (false until statvfs).
        let m = parse_mounts(
            b"overlay / overlay ro,lowerdir=/a:/b:/c",
            &MountFilter::default(),
        );
        assert_eq!(points(&m), ["/"]);
        assert!(!m.mounts[0].read_only);
        // Cut inside the fs type or the mount point: left out.
        assert!(
            parse_mounts(b"/dev/sda1 /data ex", &MountFilter::default())
                .mounts
                .is_empty()
        );
        assert!(
            parse_mounts(b"/dev/sda1 /da", &MountFilter::default())
                .mounts
                .is_empty()
        );
        // Missing fields, double spaces, empty file.
        let m = parse_mounts(
            b"/dev/sda1\n/dev/sda1 /data\n\n/dev/sda2  /x ext4 rw 0 0\n",
            &MountFilter::default(),
        );
        assert!(m.mounts.is_empty());
        assert_eq!(
            parse_mounts(b"", &MountFilter::default()),
            Mounts::default()
        );
    }

    #[test]
    fn escapes_and_long_points() {
        let mut out = heapless::Vec::new();
        assert!(unescape(b"a\\040b\\134c\\01", &mut out));
        assert_eq!(&out[..], b"a b\\c\\01");
        let mut out = heapless::Vec::new();
        assert!(
            unescape(b"\\777", &mut out),
            "out of byte range: kept as is"
        );
        assert_eq!(&out[..], b"\\777");
        let long = std::format!("/dev/sdb1 /{} ext4 rw 0 0\n", "d".repeat(MOUNT_PATH_LEN));
        let m = parse_mounts(long.as_bytes(), &MountFilter::default());
        assert!(m.mounts.is_empty());
        assert_eq!(m.omitted, 1);
        let long_dev = std::format!("{} /data ext4 rw 0 0\n", "x".repeat(MOUNT_PATH_LEN + 5));
        let m = parse_mounts(long_dev.as_bytes(), &MountFilter::default());
        assert!(m.mounts[0].device_cut);
        assert_eq!(m.mounts[0].device.len(), MOUNT_PATH_LEN);
    }

    #[test]
    fn skipped_points() {
        assert!(is_skipped_point("/proc"));
        assert!(is_skipped_point("/sys/fs/cgroup"));
        assert!(!is_skipped_point("/system"));
        assert!(!is_skipped_point("/var/lib/docker"));
        assert!(is_skipped_point("/var/lib/docker/overlay2/x/merged"));
    }

    #[test]
    fn capacity() {
        let mut data = std::string::String::new();
        for i in 0..MAX_MOUNTS + 4 {
            data.push_str(&std::format!("/dev/sd{i} /m{i} ext4 rw 0 0\n"));
        }
        let m = parse_mounts(data.as_bytes(), &MountFilter::default());
        assert_eq!((m.mounts.len(), m.omitted), (MAX_MOUNTS, 4));
    }

    #[test]
    fn reads_and_measures() {
        let fs = FakeRoot::new();
        let root = fs.root();
        let data = std::format!(
            "/dev/x {root} ext4 rw 0 0\n/dev/y {root}/gone ext4 rw 0 0\nsrv:/e {root} nfs rw 0 0\n"
        );
        let p = fs.file("mounts", data.as_bytes());
        let m = read_mounts_from(&p, &MountFilter::default()).unwrap();
        assert_eq!(m.mounts.len(), 2);
        // The nfs line replaced the first (same point) and is not measured by default.
        assert!(m.mounts[0].network && m.mounts[0].usage.is_none());
        assert!(
            m.mounts[1].usage.is_none(),
            "statvfs of a missing path fails quietly"
        );
        let m = read_mounts_from(
            &p,
            &MountFilter {
                stat_network: true,
                ..Default::default()
            },
        )
        .unwrap();
        let u = m.mounts[0].usage.unwrap();
        assert!(u.size_bytes > 0 && u.avail_bytes <= u.free_bytes && u.free_bytes <= u.size_bytes);
        assert_eq!(
            disk_usage(&std::format!("{root}/gone")),
            Err(ReadError::Missing)
        );
        let missing = std::format!("{root}/no-mounts");
        assert_eq!(
            read_mounts_from(&missing, &MountFilter::default()),
            Err(ReadError::Missing)
        );
    }
}
