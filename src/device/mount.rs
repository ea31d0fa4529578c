//! `/proc`, `/sys`, `/dev` and `/tmp` for a PID 1 that starts with a bare initramfs.

use core::ffi::CStr;

use rustix::fs::{Mode, mkdir, stat};
use rustix::io::Errno;
use rustix::mount::{MountFlags, mount};

use super::DeviceError;

/// One pseudo filesystem: where, what, how.
struct Pseudo {
    target: &'static str,
    fstype: &'static str,
    flags: MountFlags,
    data: Option<&'static CStr>,
    /// Whether a kernel without this filesystem type is fine (the directory stays as it is).
    optional: bool,
}

const SECURE: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

const PSEUDO: [Pseudo; 4] = [
    Pseudo {
        target: "/proc",
        fstype: "proc",
        flags: SECURE,
        data: None,
        optional: false,
    },
    Pseudo {
        target: "/sys",
        fstype: "sysfs",
        flags: SECURE,
        data: None,
        optional: false,
    },
    Pseudo {
        target: "/dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: Some(c"mode=0755"),
        optional: true,
    },
    Pseudo {
        target: "/tmp",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: Some(c"mode=1777"),
        optional: false,
    },
];

/// Mounts proc on `/proc`, sysfs on `/sys`, devtmpfs on `/dev` and tmpfs on `/tmp`, creating
/// the directories first.
///
/// A directory that is already a mount point (of anything) is left alone, so calling this twice,
/// or after the kernel mounted devtmpfs itself (`CONFIG_DEVTMPFS_MOUNT` with a root device), is
/// fine. A kernel without devtmpfs keeps the initramfs's own `/dev`.
pub fn mount_pseudo_filesystems() -> Result<(), DeviceError> {
    for fs in &PSEUDO {
        match mkdir(fs.target, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(DeviceError::MakeDir {
                    path: fs.target,
                    errno: e.raw_os_error(),
                });
            }
        }
        if is_mount_point(fs.target) {
            continue;
        }
        match mount(fs.fstype, fs.target, fs.fstype, fs.flags, fs.data) {
            Ok(()) | Err(Errno::BUSY) => {}
            Err(Errno::NODEV) if fs.optional => {}
            Err(e) => {
                return Err(DeviceError::Mount {
                    target: fs.target,
                    errno: e.raw_os_error(),
                });
            }
        }
    }
    Ok(())
}

/// Whether `dir` (a directory directly under `/`) is a mount point: it lives on another device
/// than `/`. Unknown counts as "not mounted" (mounting will then say what is wrong).
fn is_mount_point(dir: &str) -> bool {
    match (stat(dir), stat("/")) {
        (Ok(d), Ok(root)) => d.st_dev != root.st_dev,
        _ => false,
    }
}
