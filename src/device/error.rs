//! The device module's error types.

use core::fmt;

/// A failed device operation, with the `errno` the kernel returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DeviceError {
    /// Creating a mount point failed.
    MakeDir {
        /// The directory.
        path: &'static str,
        /// The errno.
        errno: i32,
    },
    /// Mounting a filesystem failed.
    Mount {
        /// The mount point.
        target: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The module file could not be opened (missing, or a path longer than 255 bytes).
    OpenModule(i32),
    /// The kernel refused the module (`finit_module`): wrong kernel version, bad signature,
    /// a missing dependency (`ENOENT`/unknown symbol), not a module (`ENOEXEC`), no privilege.
    LoadModule(i32),
    /// An interface name is empty, longer than 15 bytes, or contains a NUL.
    InvalidInterfaceName,
    /// The `AF_INET` datagram socket the network ioctls go through could not be created.
    Socket(i32),
    /// Setting the interface address (`SIOCSIFADDR`) failed; `ENODEV`: no such interface.
    SetAddress(i32),
    /// Setting the interface netmask (`SIOCSIFNETMASK`) failed.
    SetNetmask(i32),
    /// Reading the interface flags (`SIOCGIFFLAGS`) failed; `ENODEV`: no such interface.
    GetFlags(i32),
    /// Setting the interface flags (`SIOCSIFFLAGS`) failed.
    SetFlags(i32),
    /// Adding the default route (`SIOCADDRT`) failed; `ENETUNREACH`: the gateway is on no
    /// configured subnet.
    AddRoute(i32),
    /// A virtio port name is empty, longer than [`MAX_PORT_NAME`](super::MAX_PORT_NAME) bytes,
    /// or contains a NUL or a newline.
    InvalidPortName,
    /// `/sys/class/virtio-ports` could not be read; `ENOENT`: no `virtio_console` driver (or
    /// `/sys` not mounted).
    ListPorts(i32),
    /// No virtio port has the name asked for (the host gave it none, or not yet).
    NoSuchPort,
    /// The port's device node could not be opened; `ENOENT`: no devtmpfs on `/dev`, `EBUSY`:
    /// open already.
    OpenPort(i32),
}

impl DeviceError {
    /// The errno of the failed system call, if there was one.
    pub fn errno(&self) -> Option<i32> {
        match *self {
            DeviceError::MakeDir { errno, .. } | DeviceError::Mount { errno, .. } => Some(errno),
            DeviceError::OpenModule(e)
            | DeviceError::LoadModule(e)
            | DeviceError::Socket(e)
            | DeviceError::SetAddress(e)
            | DeviceError::SetNetmask(e)
            | DeviceError::GetFlags(e)
            | DeviceError::SetFlags(e)
            | DeviceError::AddRoute(e)
            | DeviceError::ListPorts(e)
            | DeviceError::OpenPort(e) => Some(e),
            DeviceError::InvalidInterfaceName
            | DeviceError::InvalidPortName
            | DeviceError::NoSuchPort => None,
        }
    }
}

/// The symbolic name of the errnos these operations usually return (for console messages).
fn errno_name(errno: i32) -> Option<&'static str> {
    use rustix::io::Errno;
    const NAMES: &[(Errno, &str)] = &[
        (Errno::PERM, "EPERM"),
        (Errno::NOENT, "ENOENT"),
        (Errno::NOEXEC, "ENOEXEC"),
        (Errno::BADF, "EBADF"),
        (Errno::ACCESS, "EACCES"),
        (Errno::BUSY, "EBUSY"),
        (Errno::EXIST, "EEXIST"),
        (Errno::NODEV, "ENODEV"),
        (Errno::NOTDIR, "ENOTDIR"),
        (Errno::INVAL, "EINVAL"),
        (Errno::NOSPC, "ENOSPC"),
        (Errno::ROFS, "EROFS"),
        (Errno::NAMETOOLONG, "ENAMETOOLONG"),
        (Errno::NOSYS, "ENOSYS"),
        (Errno::NOPKG, "ENOPKG"),
        (Errno::AFNOSUPPORT, "EAFNOSUPPORT"),
        (Errno::ADDRNOTAVAIL, "EADDRNOTAVAIL"),
        (Errno::NETUNREACH, "ENETUNREACH"),
        (Errno::KEYREJECTED, "EKEYREJECTED"),
    ];
    NAMES
        .iter()
        .find(|(e, _)| e.raw_os_error() == errno)
        .map(|(_, n)| *n)
}

struct Errno(i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match errno_name(self.0) {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeviceError::MakeDir { path, errno } => {
                write!(f, "cannot create {path}: {}", Errno(errno))
            }
            DeviceError::Mount { target, errno } => {
                write!(f, "cannot mount {target}: {}", Errno(errno))
            }
            DeviceError::OpenModule(e) => write!(f, "cannot open the module file: {}", Errno(e)),
            DeviceError::LoadModule(e) => write!(f, "the kernel refused the module: {}", Errno(e)),
            DeviceError::InvalidInterfaceName => {
                f.write_str("invalid interface name (1 to 15 bytes, no NUL)")
            }
            DeviceError::Socket(e) => write!(f, "cannot create the control socket: {}", Errno(e)),
            DeviceError::SetAddress(e) => write!(f, "cannot set the address: {}", Errno(e)),
            DeviceError::SetNetmask(e) => write!(f, "cannot set the netmask: {}", Errno(e)),
            DeviceError::GetFlags(e) => write!(f, "cannot read the flags: {}", Errno(e)),
            DeviceError::SetFlags(e) => write!(f, "cannot bring it up: {}", Errno(e)),
            DeviceError::AddRoute(e) => {
                write!(f, "cannot add the default route: {}", Errno(e))
            }
            DeviceError::InvalidPortName => write!(
                f,
                "invalid virtio port name (1 to {} bytes, no NUL or newline)",
                super::MAX_PORT_NAME
            ),
            DeviceError::ListPorts(e) => {
                write!(f, "cannot list the virtio ports: {}", Errno(e))
            }
            DeviceError::NoSuchPort => f.write_str("no virtio port has that name"),
            DeviceError::OpenPort(e) => write!(f, "cannot open the virtio port: {}", Errno(e)),
        }
    }
}

impl core::error::Error for DeviceError {}

/// A failed [`boot`](super::boot): the step (`"mount"`, the module path, the interface name,
/// `"default route"`) and its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BootError {
    /// What was being done.
    pub step: &'static str,
    /// Why it failed.
    pub error: DeviceError,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.error)
    }
}

impl core::error::Error for BootError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}
