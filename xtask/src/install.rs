//! Prerequisites: rustup targets and components, and the Debian packages for cross-linking and
//! QEMU user emulation. Each is checked first and installed only when missing. Debian packages
//! are installed only when running as root; otherwise the exact command is printed and the step
//! fails, so a developer machine is never changed behind its owner's back.

use crate::process::{self, which};
use std::path::Path;
use std::process::Command;

/// The cross targets the test pipeline builds and runs under QEMU.
pub const CROSS_TARGETS: [&str; 2] = [
    "aarch64-unknown-linux-musl",
    "armv7-unknown-linux-gnueabihf",
];

/// How to tell whether a package is already there.
enum Probe {
    /// A command on `PATH`.
    Command(&'static str),
    /// A file it installs.
    File(&'static str),
}

/// A Debian package and how to detect it without asking dpkg (works on non-Debian hosts too,
/// when the same tools were installed another way).
pub struct Package {
    name: &'static str,
    probes: &'static [Probe],
}

/// `qemu-aarch64` and `qemu-arm` (user-mode emulation; no binfmt registration needed).
pub const QEMU_USER: Package = Package {
    name: "qemu-user",
    probes: &[Probe::Command("qemu-aarch64"), Probe::Command("qemu-arm")],
};

/// `qemu-system-aarch64` (Debian ships it in `qemu-system-arm`): the system test's machine.
pub const QEMU_SYSTEM: Package = Package {
    name: "qemu-system-arm",
    probes: &[Probe::Command("qemu-system-aarch64")],
};

/// The armv7 linker named in `.cargo/config.toml`.
pub const GCC_ARMHF: Package = Package {
    name: "gcc-arm-linux-gnueabihf",
    probes: &[Probe::Command("arm-linux-gnueabihf-gcc")],
};

/// The static glibc that `+crt-static` links into armv7 binaries.
pub const LIBC_ARMHF: Package = Package {
    name: "libc6-dev-armhf-cross",
    probes: &[Probe::File("/usr/arm-linux-gnueabihf/lib/libc.a")],
};

/// Packages needed to link binaries for `triple` (aarch64/x86_64 musl link with rust-lld alone).
pub fn link_packages(triple: &str) -> Vec<&'static Package> {
    if triple.starts_with("armv7") || triple.starts_with("arm-") {
        vec![&GCC_ARMHF, &LIBC_ARMHF]
    } else {
        Vec::new()
    }
}

impl Package {
    fn present(&self) -> bool {
        self.probes.iter().all(|p| match p {
            Probe::Command(c) => which(c).is_some(),
            Probe::File(f) => Path::new(f).exists(),
        })
    }
}

fn rustup() -> Result<Command, String> {
    if which("rustup").is_none() {
        return Err(
            "`rustup` is not on PATH: install rustup (https://rustup.rs), or add the \
                    needed targets/components to your toolchain by hand"
                .into(),
        );
    }
    Ok(Command::new("rustup"))
}

/// Installed entries of `rustup <kind> list --installed` (`kind` is `target` or `component`).
fn installed(kind: &str) -> Result<Vec<String>, String> {
    let out = process::output(rustup()?.args([kind, "list", "--installed"]))?;
    Ok(out.lines().map(|l| l.trim().to_string()).collect())
}

/// Adds the rustup targets in `wanted` that are not installed yet.
pub fn ensure_targets(wanted: &[&str]) -> Result<(), String> {
    let have = installed("target")?;
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|t| !have.iter().any(|h| h == t))
        .collect();
    if missing.is_empty() {
        println!("rustup targets present: {}", wanted.join(", "));
        return Ok(());
    }
    process::run(rustup()?.args(["target", "add"]).args(&missing))
}

/// Adds the rustup components (`rustfmt`, `clippy`) in `wanted` that are not installed yet.
pub fn ensure_components(wanted: &[&str]) -> Result<(), String> {
    let have = installed("component")?;
    // Installed components are listed with their host triple: `clippy-x86_64-unknown-linux-gnu`.
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|c| {
            !have
                .iter()
                .any(|h| h == c || h.strip_prefix(c).is_some_and(|r| r.starts_with('-')))
        })
        .collect();
    if missing.is_empty() {
        println!("rustup components present: {}", wanted.join(", "));
        return Ok(());
    }
    process::run(rustup()?.args(["component", "add"]).args(&missing))
}

/// Installs the packages in `wanted` whose probes fail, with apt-get, when running as root.
pub fn ensure_packages(wanted: &[&Package]) -> Result<(), String> {
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|p| !p.present())
        .map(|p| p.name)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        let names: Vec<&str> = wanted.iter().map(|p| p.name).collect();
        if !names.is_empty() {
            println!("system packages present: {}", names.join(", "));
        }
        return Ok(());
    }
    let list = missing.join(" ");
    let command = format!("apt-get update && apt-get install -y --no-install-recommends {list}");
    if which("apt-get").is_none() {
        return Err(format!(
            "missing system packages ({list}) and no apt-get here: install the equivalents \
             (qemu user-mode emulators, an arm-linux-gnueabihf gcc and its static glibc)"
        ));
    }
    if !is_root() {
        return Err(format!(
            "missing system packages: {list}\n  run as root:  {command}\n  \
             (or: sudo sh -c '{command}') and re-run"
        ));
    }
    println!("installing missing system packages: {list}");
    process::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("update"),
    )?;
    process::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    match wanted.iter().find(|p| !p.present()) {
        Some(p) => Err(format!("`{}` still missing after apt-get install", p.name)),
        None => Ok(()),
    }
}

/// Whether the effective user id is 0 (read from `/proc/self/status`, no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::{Package, Probe, link_packages};

    #[test]
    fn probes() {
        let there = Package {
            name: "x",
            probes: &[Probe::Command("sh"), Probe::File("/")],
        };
        let absent = Package {
            name: "y",
            probes: &[Probe::Command("sh"), Probe::File("/no/such/file/edgeloop")],
        };
        assert!(there.present());
        assert!(!absent.present());
    }

    #[test]
    fn arm_needs_gcc() {
        assert_eq!(link_packages("armv7-unknown-linux-gnueabihf").len(), 2);
        assert!(link_packages("aarch64-unknown-linux-musl").is_empty());
    }
}
