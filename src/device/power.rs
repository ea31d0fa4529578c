//! Process 1, and turning the machine off.

use rustix::event::{Timespec, poll};
use rustix::process::{Pid, getpid};
use rustix::system::{RebootCommand, reboot};

/// Whether this process is PID 1 (the init process of its PID namespace): the firmware was
/// started by the kernel as `/init`, not from a shell.
pub fn is_pid1() -> bool {
    getpid() == Pid::INIT
}

/// Flushes the filesystems and powers the machine off (`sync`, then
/// `reboot(LINUX_REBOOT_CMD_POWER_OFF)`). Does not return.
///
/// On QEMU started with `-no-reboot`, QEMU exits with status 0. If power-off is refused
/// (`EPERM`: not privileged) or unsupported, halting is tried, and if that fails too the process
/// exits with status 1 — for PID 1 that makes the kernel panic, which with `panic=-1` resets the
/// machine (and `-no-reboot` ends QEMU).
///
/// Called by a privileged process that is not PID 1 this really turns the host off: call it
/// only when [`is_pid1`].
pub fn power_off() -> ! {
    rustix::fs::sync();
    let _ = reboot(RebootCommand::PowerOff);
    let _ = reboot(RebootCommand::Halt);
    // SAFETY: `_exit` ends the process without running anything else; there is nothing left
    // to clean up (rustix has no public exit call, so libc's is used).
    unsafe { libc::_exit(1) }
}

/// Sleeps about `ms` milliseconds (a `poll` on no descriptors; no signal handling needed).
pub(super) fn sleep_ms(ms: u32) {
    let t = Timespec {
        tv_sec: i64::from(ms / 1000),
        // At most 999_999_999: fits every target's `Nsecs` (an `i32` `c_long` on 32-bit libc).
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    };
    let _ = poll(&mut [], Some(&t));
}
