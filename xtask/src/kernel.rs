//! The guest kernel of the system test: Debian's arm64 *cloud* kernel and the seven modules that
//! give it a virtio network card and a virtio-serial port (the firmware's defmt channel), fetched
//! once and cached under `target/qemu-kernel/`.
//!
//! Why this kernel: it is a signed, maintained distribution kernel that boots on QEMU's `virt`
//! machine, its `vmlinuz` is an uncompressed ARM64 `Image` that `-kernel` takes as is, and it is
//! one `apt-get download` away on any Debian host. It has no `CONFIG_IP_PNP` (no `ip=dhcp`) and
//! builds virtio-net and the virtio console (`CONFIG_VIRTIO_CONSOLE=m`) as modules, so the
//! firmware loads them itself (see `edgeloop::device`), in the order of [`MODULES`] (there is no
//! `modules.dep` to resolve it).
//!
//! Cold path (as root): `dpkg --add-architecture arm64` (if missing), `apt-get update`, the
//! kernel package named by the `linux-image-cloud-arm64` meta package's dependency,
//! `apt-get download`, `dpkg -x`, then the image and the modules (decompressed if the package
//! ships them as `.ko.xz` / `.ko.zst`) are copied to the cache and the `.deb` is deleted. Warm
//! path: the cache is complete (its `version` stamp is written last), nothing is run. A cache
//! that lacks a module of [`MODULES`] (one written before the module was added) is fetched
//! again.

use crate::process::{self, which};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtio-net modules, then `virtio_console` (virtio-serial ports: needs `virtio` and
/// `virtio_ring`), in the order they must be loaded (each needs some of the ones before it:
/// `modinfo -F depends`; checked against the modules' own `depends=` by [`ensure`]). The same
/// list, as paths, is `edgeloop::device::QEMU_VIRT`'s.
pub const MODULES: [&str; 7] = [
    "virtio_ring",
    "virtio",
    "virtio_mmio",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_console",
];

/// The meta package whose dependency names the current cloud kernel.
const META: &str = "linux-image-cloud-arm64";

/// A cached guest kernel: the image for `-kernel` and the uncompressed modules.
#[derive(Debug)]
pub struct Kernel {
    /// The Debian kernel ABI version, e.g. `6.1.0-28-cloud-arm64`.
    pub version: String,
    /// The ARM64 `Image` (Debian names it `vmlinuz`).
    pub image: PathBuf,
    /// `(name, path)` of each module of [`MODULES`], in load order, uncompressed.
    pub modules: Vec<(&'static str, PathBuf)>,
}

/// The cache directory: `<root>/target/qemu-kernel`.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join("target").join("qemu-kernel")
}

/// The cached kernel, fetching it first when the cache is incomplete.
pub fn ensure(root: &Path) -> Result<Kernel, String> {
    let dir = cache_dir(root);
    let k = match cached(&dir) {
        Some(k) => {
            println!("guest kernel {} (cached in {})", k.version, dir.display());
            k
        }
        None => {
            fetch(&dir)?;
            cached(&dir)
                .ok_or_else(|| format!("kernel cache {} incomplete after fetch", dir.display()))?
        }
    };
    check_order(&k)?;
    Ok(k)
}

/// Checks that every module's dependencies come before it in [`MODULES`] (the firmware loads
/// them in that order: see `edgeloop::device::QEMU_VIRT`).
fn check_order(k: &Kernel) -> Result<(), String> {
    for (i, (name, path)) in k.modules.iter().enumerate() {
        let ko = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for dep in module_depends(&ko) {
            match MODULES.iter().position(|m| *m == dep) {
                Some(j) if j < i => {}
                Some(_) => {
                    return Err(format!(
                        "kernel {}: module {name} needs {dep}, which comes after it in \
                         xtask/src/kernel.rs MODULES (fix the order there and in \
                         edgeloop::device::QEMU_VIRT)",
                        k.version
                    ));
                }
                None => {
                    return Err(format!(
                        "kernel {}: module {name} needs {dep}, which is not in \
                         xtask/src/kernel.rs MODULES (add it there and to \
                         edgeloop::device::QEMU_VIRT)",
                        k.version
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The `depends=` list of a kernel module's `.modinfo` (NUL-separated `key=value` strings).
pub fn module_depends(ko: &[u8]) -> Vec<String> {
    ko.split(|&b| b == 0)
        .find_map(|s| s.strip_prefix(b"depends="))
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel in `dir`, if the stamp and every file are there.
fn cached(dir: &Path) -> Option<Kernel> {
    let version = fs::read_to_string(dir.join("version")).ok()?;
    let version = version.trim().to_string();
    let image = dir.join("vmlinuz");
    let modules: Vec<(&'static str, PathBuf)> = MODULES
        .iter()
        .map(|m| (*m, dir.join("modules").join(format!("{m}.ko"))))
        .collect();
    let complete =
        !version.is_empty() && image.is_file() && modules.iter().all(|(_, p)| p.is_file());
    complete.then_some(Kernel {
        version,
        image,
        modules,
    })
}

/// The shell commands the cold path runs (printed for a non-root user to run by hand).
fn manual_commands(dir: &Path) -> String {
    format!(
        "  dpkg --add-architecture arm64 && apt-get update\n  \
         V=$(apt-cache depends {META}:arm64 | sed -n 's/^ *Depends: linux-image-\\(.*-cloud-arm64\\).*/\\1/p' | head -n1)\n  \
         cd /tmp && apt-get download linux-image-$V:arm64 && dpkg -x linux-image-${{V}}_*_arm64.deb /tmp/k\n  \
         then re-run `cargo xtask systest` as root, or copy /tmp/k/boot/vmlinuz-$V to {d}/vmlinuz,\n  \
         the modules {m} (uncompressed, as NAME.ko) from /tmp/k/lib/modules/$V to {d}/modules/,\n  \
         and write $V to {d}/version",
        d = dir.display(),
        m = MODULES.join(" "),
    )
}

fn fetch(dir: &Path) -> Result<(), String> {
    if !crate::install::is_root() {
        return Err(format!(
            "the guest kernel is not cached in {} and fetching it needs root \
             (dpkg/apt-get); run as root, or by hand:\n{}",
            dir.display(),
            manual_commands(dir)
        ));
    }
    for tool in ["dpkg", "apt-get", "apt-cache"] {
        if which(tool).is_none() {
            return Err(format!(
                "`{tool}` not found: the guest kernel comes from Debian's archive; on a \
                 non-Debian host place it by hand:\n{}",
                manual_commands(dir)
            ));
        }
    }
    println!(
        "fetching the guest kernel (Debian {META}) into {}",
        dir.display()
    );
    let foreign = process::output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if !foreign.lines().any(|l| l.trim() == "arm64") {
        process::run(Command::new("dpkg").args(["--add-architecture", "arm64"]))?;
    }
    // `apt-get update` also when arm64 was there: the candidate may be stale or missing.
    process::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["update", "-q"]),
    )?;
    let depends =
        process::output(Command::new("apt-cache").args(["depends", &format!("{META}:arm64")]))?;
    let version = kernel_version(&depends)
        .ok_or_else(|| format!("no kernel package among the dependencies of {META}:\n{depends}"))?;
    println!("current cloud kernel: {version}");

    let work = dir.join("download");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    // apt-get drops to the `_apt` user for downloads: let it write there.
    let _ = set_mode(&work, 0o777);
    let package = format!("linux-image-{version}:arm64");
    process::run(
        Command::new("apt-get")
            .current_dir(&work)
            .args(["download", "-q", &package]),
    )?;
    let deb = fs::read_dir(&work)
        .map_err(|e| format!("cannot list {}: {e}", work.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download left no .deb in {}", work.display()))?;
    let tree = work.join("x");
    process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&tree))?;

    let image = find_file(&tree, &|name| name == format!("vmlinuz-{version}"))
        .ok_or_else(|| format!("no boot/vmlinuz-{version} in {}", deb.display()))?;
    let modules_dir = dir.join("modules");
    fs::create_dir_all(&modules_dir)
        .map_err(|e| format!("cannot create {}: {e}", modules_dir.display()))?;
    for m in MODULES {
        let found = find_file(&tree, &|name| module_file_name(name) == Some(m))
            .ok_or_else(|| format!("module {m} not found in {}", deb.display()))?;
        let out = modules_dir.join(format!("{m}.ko"));
        unpack_module(&found, &out)?;
    }
    copy(&image, &dir.join("vmlinuz"))?;
    fs::remove_dir_all(&work).map_err(|e| format!("cannot remove {}: {e}", work.display()))?;
    // The stamp goes last: a cache with a stamp is complete.
    fs::write(dir.join("version"), format!("{version}\n"))
        .map_err(|e| format!("cannot write the kernel stamp: {e}"))
}

/// The kernel ABI version (`6.1.0-28-cloud-arm64`) from `apt-cache depends` output of the
/// meta package: the first `Depends: linux-image-*-cloud-arm64` that is not the meta itself.
pub fn kernel_version(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let line = line.trim().trim_start_matches('|');
        let dep = line.strip_prefix("Depends:")?.trim();
        let dep = dep.trim_start_matches('<').trim_end_matches('>');
        let dep = dep.split(':').next()?; // drop `:arm64`
        let version = dep.strip_prefix("linux-image-")?;
        let ok =
            version.ends_with("-cloud-arm64") && version.starts_with(|c: char| c.is_ascii_digit());
        ok.then(|| version.to_string())
    })
}

/// The module name of a kernel module file name (`virtio_net.ko`, `virtio_net.ko.xz`,
/// `virtio_net.ko.zst`), or `None` for other files.
pub fn module_file_name(file: &str) -> Option<&str> {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
}

/// The first regular file under `dir` (recursively) whose file name satisfies `want`.
fn find_file(dir: &Path, want: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if let Some(found) = find_file(&path, want) {
                return Some(found);
            }
        } else if kind.is_file() && e.file_name().to_str().is_some_and(want) {
            return Some(path);
        }
    }
    None
}

/// Copies a module to `out`, decompressing `.ko.xz` / `.ko.zst` / `.ko.gz` with the matching
/// command-line tool (the guest's `finit_module` gets plain ELF objects).
fn unpack_module(src: &Path, out: &Path) -> Result<(), String> {
    let name = src.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else if name.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    let Some(tool) = tool else {
        return copy(src, out);
    };
    if which(tool).is_none() {
        return Err(format!(
            "{} is compressed and `{tool}` is not installed (apt-get install {})",
            src.display(),
            if tool == "xz" { "xz-utils" } else { tool }
        ));
    }
    let data = Command::new(tool)
        .arg("-dc")
        .arg(src)
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if !data.status.success() {
        return Err(format!(
            "{tool} -dc {} failed ({})",
            src.display(),
            data.status
        ));
    }
    fs::write(out, data.stdout).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn copy(src: &Path, dst: &Path) -> Result<(), String> {
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::{kernel_version, module_depends, module_file_name};

    #[test]
    fn version_from_apt_cache_depends() {
        let out =
            "linux-image-cloud-arm64:arm64\n  Depends: linux-image-6.1.0-28-cloud-arm64:arm64\n";
        assert_eq!(kernel_version(out).as_deref(), Some("6.1.0-28-cloud-arm64"));
        let out = "linux-image-cloud-arm64\n |Depends: <linux-image-6.12.9-cloud-arm64>\n  \
                   Depends: linux-image-6.12.8-cloud-arm64\n";
        assert_eq!(kernel_version(out).as_deref(), Some("6.12.9-cloud-arm64"));
        assert_eq!(kernel_version("x\n  Depends: libc6\n"), None);
        assert_eq!(
            kernel_version("  Depends: linux-image-cloud-arm64-unsigned\n"),
            None
        );
    }

    #[test]
    fn module_dependencies_from_modinfo() {
        let ko = b"\x7fELF...\0license=GPL\0depends=virtio_ring,virtio\0intree=Y\0";
        assert_eq!(module_depends(ko), ["virtio_ring", "virtio"]);
        assert!(module_depends(b"\0depends=\0name=failover\0").is_empty());
        assert!(module_depends(b"no modinfo").is_empty());
    }

    /// The firmware loads what the initramfs holds, in the same order.
    #[test]
    fn modules_are_the_firmware_plan() {
        let device = concat!(env!("CARGO_MANIFEST_DIR"), "/../src/device/mod.rs");
        let text = std::fs::read_to_string(device).unwrap();
        let plan: Vec<&str> = text
            .split("\"/lib/modules/")
            .skip(1)
            .filter_map(|rest| rest.split_once(".ko\""))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(plan, super::MODULES, "edgeloop::device::QEMU_VIRT");
    }

    #[test]
    fn module_names() {
        assert_eq!(module_file_name("virtio_net.ko"), Some("virtio_net"));
        assert_eq!(module_file_name("failover.ko.xz"), Some("failover"));
        assert_eq!(module_file_name("virtio.ko.zst"), Some("virtio"));
        assert_eq!(module_file_name("modules.order"), None);
    }
}
