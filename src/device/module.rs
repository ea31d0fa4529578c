//! Loading a kernel module from a file, as `insmod` does, with `finit_module(2)`.

use rustix::fs::{Mode, OFlags, open};
use rustix::io::Errno;
use rustix::system::finit_module;

use super::DeviceError;

/// Loads the kernel module in the file at `path` (an uncompressed `.ko`), with no parameters.
///
/// A module that is already loaded (`EEXIST`) counts as loaded, so this can run again after a
/// restart of the firmware. Dependencies are not resolved: load them first, in order.
///
/// Errors: [`DeviceError::OpenModule`] when the file cannot be opened (a path longer than 255
/// bytes gives `ENAMETOOLONG`: nothing is allocated to hold it), [`DeviceError::LoadModule`]
/// when the kernel refuses it (`EPERM` without `CAP_SYS_MODULE`, `ENOEXEC` for a file that is
/// not a module of this kernel, `ENOENT` for an unknown symbol — a missing dependency).
pub fn load_module(path: &str) -> Result<(), DeviceError> {
    let fd = open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| DeviceError::OpenModule(e.raw_os_error()))?;
    match finit_module(&fd, c"", 0) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(DeviceError::LoadModule(e.raw_os_error())),
    }
}
