//! virtio-serial ports found by the name the host gave them: a binary-clean channel beside the
//! serial console, like a second UART (QEMU: `-device virtserialport,name=NAME`).
//!
//! The `virtio_console` driver makes a character device for each port, `/dev/vportNpM`
//! (devtmpfs; `N` is the virtio device's index, `M` the port's number on it), and once the host
//! has announced the port's name, a `name` attribute holding it (with a newline) in
//! `/sys/class/virtio-ports/vportNpM/`. udev would link `/dev/virtio-ports/NAME` to the device;
//! a PID 1 without udev looks the name up itself, which is what [`find_virtio_port`] does.
//!
//! The names arrive over the device's control queue a little after the driver is loaded, so the
//! search retries for a while; a kernel without the driver (no `/sys/class/virtio-ports`)
//! answers at once.

use core::ffi::CStr;
use core::mem::MaybeUninit;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir, open, openat};
use rustix::io::{Errno, read};

use super::DeviceError;
use super::power::sleep_ms;

/// Where the driver lists its ports.
const PORTS: &str = "/sys/class/virtio-ports";
/// The longest port name looked for (the host may use longer ones; they are never matched).
pub const MAX_PORT_NAME: usize = 63;
/// `/dev/` plus the longest `vport<u32>p<u32>`.
const PATH_CAPACITY: usize = 32;
/// How often [`find_virtio_port`] looks again while it waits.
const POLL_MS: u32 = 10;

/// A virtio-serial port found by [`find_virtio_port`]: the path of its device node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VirtioPort {
    path: heapless::String<PATH_CAPACITY>,
}

impl VirtioPort {
    /// The device node, `/dev/vportNpM`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Opens the port for reading and writing (blocking, close-on-exec, never a controlling
    /// terminal).
    ///
    /// Writes block until the host has taken the data, so nothing written is lost. Errors:
    /// [`DeviceError::OpenPort`] — `ENOENT` without devtmpfs (no node in `/dev`), `EBUSY` when
    /// the port is open already (a port has one user at a time).
    pub fn open(&self) -> Result<OwnedFd, DeviceError> {
        open(
            self.path(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| DeviceError::OpenPort(e.raw_os_error()))
    }
}

/// Finds the virtio-serial port the host named `name`, waiting up to about `wait_ms`
/// milliseconds for it to appear (0: look once).
///
/// Errors: [`DeviceError::InvalidPortName`] for an empty name, one longer than
/// [`MAX_PORT_NAME`] bytes, or one with a NUL or a newline (nothing is read);
/// [`DeviceError::ListPorts`] at once when `/sys/class/virtio-ports` cannot be read (`ENOENT`:
/// no `virtio_console` driver, or `/sys` not mounted — a board without virtio);
/// [`DeviceError::NoSuchPort`] when no port had that name by the end of the wait.
pub fn find_virtio_port(name: &str, wait_ms: u32) -> Result<VirtioPort, DeviceError> {
    find_port_in(PORTS, name, wait_ms)
}

/// [`find_virtio_port`] with the list of ports in `ports` (tests use a directory of their own).
pub(super) fn find_port_in(
    ports: &str,
    name: &str,
    wait_ms: u32,
) -> Result<VirtioPort, DeviceError> {
    if name.is_empty() || name.len() > MAX_PORT_NAME || name.contains(['\0', '\n']) {
        return Err(DeviceError::InvalidPortName);
    }
    let mut waited = 0;
    loop {
        if let Some(port) = scan(ports, name.as_bytes())? {
            return Ok(port);
        }
        if waited >= wait_ms {
            return Err(DeviceError::NoSuchPort);
        }
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
}

/// One pass over the ports listed in `ports`: the one named `name`, if any.
fn scan(ports: &str, name: &[u8]) -> Result<Option<VirtioPort>, DeviceError> {
    let list = |e: Errno| DeviceError::ListPorts(e.raw_os_error());
    let dir = open(
        ports,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(list)?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut entries = RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(list)?;
        let port = entry.file_name().to_bytes();
        if !port.starts_with(b"vport") {
            continue;
        }
        // A name too long for the path buffer is not a `vportNpM`.
        let Some(found) = device_path(port) else {
            continue;
        };
        if has_name(&dir, port, name) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Whether the port directory `port` (an entry of `dir`) holds a `name` attribute equal to
/// `name` (the kernel adds a newline). A port whose name has not arrived has no attribute yet.
fn has_name(dir: &impl AsFd, port: &[u8], name: &[u8]) -> bool {
    // `<port>/name` and its NUL.
    let mut path = [0u8; PATH_CAPACITY + 6];
    let Some(rest) = path.get_mut(..port.len() + 6) else {
        return false;
    };
    rest[..port.len()].copy_from_slice(port);
    rest[port.len()..port.len() + 5].copy_from_slice(b"/name");
    let Ok(path) = CStr::from_bytes_with_nul(rest) else {
        return false;
    };
    let Ok(fd) = openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return false;
    };
    let mut text = [0u8; MAX_PORT_NAME + 2];
    match read(&fd, &mut text) {
        Ok(n) if n < text.len() => names_match(&text[..n], name),
        _ => false,
    }
}

/// Whether the attribute text `shown` (the name and a newline) is `name`.
fn names_match(shown: &[u8], name: &[u8]) -> bool {
    shown.strip_suffix(b"\n").unwrap_or(shown) == name
}

/// `/dev/<port>`, or `None` when it does not fit [`PATH_CAPACITY`] (or is not UTF-8).
fn device_path(port: &[u8]) -> Option<VirtioPort> {
    let port = core::str::from_utf8(port).ok()?;
    let mut path = heapless::String::new();
    path.push_str("/dev/").ok()?;
    path.push_str(port).ok()?;
    Some(VirtioPort { path })
}
