//! What a firmware needs when it is PID 1: pseudo filesystems, kernel modules, network
//! interfaces, a default route, power-off.
//!
//! On a real edge device, and in the system test on QEMU's `virt` machine, the firmware can be
//! the *only* program: the kernel unpacks an initramfs that holds the firmware as `/init` (plus
//! the kernel modules it needs) and starts it as process 1. Nothing else runs before it: no
//! init system, no `mount`, no `modprobe`, no `ip`. This module does those jobs with a handful of
//! system calls, without allocating and without libc for anything but process exit.
//!
//! # The boot sequence
//!
//! [`boot`] runs it from a [`BootPlan`]; each step is also a public function:
//!
//! 1. [`is_pid1`] — decide whether to do any of this. A firmware started from a shell (on a
//!    development host, under `qemu-aarch64`) must leave the machine alone.
//! 2. [`mount_pseudo_filesystems`] — `/proc` (proc), `/sys` (sysfs), `/dev` (devtmpfs, when the
//!    kernel has it) and `/tmp` (tmpfs), creating the mount points; one that is already a mount
//!    point is left as it is.
//! 3. [`load_module`] for each module, in dependency order (there is no `modprobe` and no
//!    `modules.dep`): `finit_module(2)` on an uncompressed `.ko` file. A module that is already
//!    loaded, or built into the kernel, counts as loaded. [`boot`] retries a module refused for
//!    an unknown symbol (`ENOENT`) after the rest of the list, so a misordered list still loads.
//! 4. [`interface_up`] for `lo` and each network card: address and netmask
//!    (`SIOCSIFADDR`, `SIOCSIFNETMASK`), then the `IFF_UP` flag (`SIOCGIFFLAGS`/`SIOCSIFFLAGS`).
//!    There is no DHCP client: addresses are static.
//! 5. [`set_default_route`], when the device must reach beyond its subnet (`SIOCADDRT`).
//! 6. Not part of [`boot`], optional: [`find_virtio_port`] finds a virtio-serial port by the
//!    name the host gave it (`/sys/class/virtio-ports/*/name`), a binary channel beside the
//!    console. The status firmware sends its defmt frames to the one named [`DEFMT_PORT`] when
//!    there is one (`edgeloop::defmt_logger::set_output`), and to stderr otherwise.
//! 7. Serve. To stop, [`power_off`]: `sync`, then `reboot(RB_POWER_OFF)`. PID 1 must never
//!    return or exit — the kernel panics when init dies.
//!
//! [`QEMU_VIRT`] is the plan of the system test (`cargo xtask systest`): Debian's arm64 cloud
//! kernel on `qemu-system-aarch64 -M virt` with a `virtio-net-device` on QEMU's user network
//! (guest `10.0.2.15/24`, gateway `10.0.2.2`) and a `virtio-serial-device` whose port
//! [`DEFMT_PORT`] carries the defmt frames to a file on the host.
//!
//! ```no_run
//! use edgeloop::device;
//!
//! if device::is_pid1() {
//!     if let Err(e) = device::boot(&device::QEMU_VIRT) {
//!         // Report on the console (stdout of PID 1 is /dev/console) and serve what still works.
//!         let _ = e;
//!     }
//! }
//! // ... listen on 0.0.0.0:80, and on a power-off request:
//! # fn stop() -> ! {
//! device::power_off()
//! # }
//! ```
//!
//! # Kernel configuration assumed
//!
//! - `CONFIG_BLK_DEV_INITRD` and an uncompressed (or gzip) newc initramfs; `rdinit=/init` on the
//!   command line when the kernel would otherwise look for a root device.
//! - `CONFIG_PROC_FS`, `CONFIG_SYSFS`, `CONFIG_TMPFS`; `CONFIG_DEVTMPFS` for `/dev` (optional:
//!   without it `/dev` keeps what the initramfs holds — at least `/dev/console`).
//! - `CONFIG_MODULES` when drivers are modules; modules must be plain ELF `.ko` files unless the
//!   kernel decompresses in-kernel (`CONFIG_MODULE_DECOMPRESS`, Linux ≥ 6.2, not used here).
//!   With `CONFIG_MODULE_SIG_FORCE`, modules must carry the kernel's signature (Debian's do).
//! - `CONFIG_INET` and the network card's driver (`virtio_net` and its dependencies on QEMU).
//! - For [`find_virtio_port`]: `CONFIG_VIRTIO_CONSOLE` (`virtio_console` on QEMU) and
//!   devtmpfs, which makes the ports' `/dev/vportNpM` nodes.
//! - Power-off needs a way to turn the machine off: PSCI on arm64 (QEMU `virt` has it, and QEMU
//!   started with `-no-reboot` then exits).
//!
//! Everything here needs the privileges PID 1 has (`CAP_SYS_ADMIN`, `CAP_SYS_MODULE`,
//! `CAP_NET_ADMIN`, `CAP_SYS_BOOT`). Called elsewhere, each function returns its error
//! (`EPERM`, ...) instead — except [`power_off`], which really powers the machine off when
//! allowed to: keep it behind [`is_pid1`].

mod error;
mod module;
mod mount;
mod net;
mod port;
mod power;

use core::net::Ipv4Addr;

pub use error::{BootError, DeviceError};
pub use module::load_module;
pub use mount::mount_pseudo_filesystems;
pub use net::{interface_is_up, interface_up, set_default_route};
pub use port::{MAX_PORT_NAME, VirtioPort, find_virtio_port};
pub use power::{is_pid1, power_off};

/// One network interface of a [`BootPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// The kernel's name for it (`lo`, `eth0`; at most 15 bytes).
    pub name: &'static str,
    /// The IPv4 address and netmask to give it, or `None` to only bring it up.
    pub address: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// What [`boot`] does: modules to load, interfaces to configure, the default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootPlan {
    /// Paths of the `.ko` files to load, in dependency order.
    pub modules: &'static [&'static str],
    /// Interfaces to configure and bring up, in order.
    pub interfaces: &'static [Interface],
    /// The default gateway, if any (it must be on the subnet of one of the interfaces).
    pub gateway: Option<Ipv4Addr>,
}

/// The system test's plan: the six virtio-net modules of Debian's arm64 cloud kernel and
/// `virtio_console` for the virtio-serial port [`DEFMT_PORT`] (placed in `/lib/modules` by
/// `cargo xtask`'s initramfs, in the order of its `xtask/src/kernel.rs` `MODULES`), `lo` as
/// `127.0.0.1/8`, `eth0` as QEMU user networking's guest `10.0.2.15/24`, and its gateway
/// `10.0.2.2`.
pub const QEMU_VIRT: BootPlan = BootPlan {
    modules: &[
        "/lib/modules/virtio_ring.ko",
        "/lib/modules/virtio.ko",
        "/lib/modules/virtio_mmio.ko",
        "/lib/modules/failover.ko",
        "/lib/modules/net_failover.ko",
        "/lib/modules/virtio_net.ko",
        "/lib/modules/virtio_console.ko",
    ],
    interfaces: &[
        Interface {
            name: "lo",
            address: Some((Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 0))),
        },
        Interface {
            name: "eth0",
            address: Some((Ipv4Addr::new(10, 0, 2, 15), Ipv4Addr::new(255, 255, 255, 0))),
        },
    ],
    gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
};

/// The name of the virtio-serial port that carries a firmware's defmt frames on QEMU (`cargo
/// xtask qemu` and `systest` start QEMU with `-device virtserialport,name=edgeloop.defmt`).
pub const DEFMT_PORT: &str = "edgeloop.defmt";

/// Runs the boot sequence of the [module docs](self): mounts, modules, interfaces, route.
///
/// Stops at the first failure and says which step failed. A network card whose driver was just
/// loaded may register a moment later: an interface that does not exist yet is retried for up
/// to one second.
pub fn boot(plan: &BootPlan) -> Result<(), BootError> {
    mount_pseudo_filesystems().map_err(|error| BootError {
        step: "mount",
        error,
    })?;
    load_modules(plan.modules)?;
    for iface in plan.interfaces {
        let mut tries = 0;
        loop {
            match interface_up(iface.name, iface.address) {
                Err(e) if e.errno() == Some(rustix::io::Errno::NODEV.raw_os_error()) => {
                    tries += 1;
                    if tries >= 20 {
                        return Err(BootError {
                            step: iface.name,
                            error: e,
                        });
                    }
                    power::sleep_ms(50);
                }
                Err(error) => {
                    return Err(BootError {
                        step: iface.name,
                        error,
                    });
                }
                Ok(()) => break,
            }
        }
    }
    if let Some(gw) = plan.gateway {
        set_default_route(gw).map_err(|error| BootError {
            step: "default route",
            error,
        })?;
    }
    Ok(())
}

/// Loads `modules` in order; one refused for an unknown symbol (`ENOENT`: a dependency that
/// comes later in the list) is retried after the others, until a pass makes no progress.
fn load_modules(modules: &[&'static str]) -> Result<(), BootError> {
    // One bit per module: at most 64 (more is a plan error, reported on the 65th).
    let mut loaded: u64 = 0;
    let all = if modules.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << modules.len()) - 1
    };
    loop {
        let mut progress = false;
        let mut deferred = None;
        for (i, &path) in modules.iter().enumerate() {
            if i >= 64 {
                return Err(BootError {
                    step: path,
                    error: DeviceError::LoadModule(rustix::io::Errno::TOOBIG.raw_os_error()),
                });
            }
            if loaded & (1 << i) != 0 {
                continue;
            }
            match load_module(path) {
                Ok(()) => {
                    loaded |= 1 << i;
                    progress = true;
                }
                Err(error @ DeviceError::LoadModule(e))
                    if e == rustix::io::Errno::NOENT.raw_os_error() =>
                {
                    deferred.get_or_insert(BootError { step: path, error });
                }
                Err(error) => return Err(BootError { step: path, error }),
            }
        }
        if loaded == all {
            return Ok(());
        }
        if !progress {
            // Nothing loaded in a whole pass: the first refusal is the answer.
            return Err(deferred.unwrap_or(BootError {
                step: "modules",
                error: DeviceError::LoadModule(rustix::io::Errno::NOENT.raw_os_error()),
            }));
        }
    }
}

#[cfg(test)]
mod tests;
