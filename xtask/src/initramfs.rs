//! The system test's initramfs: a newc ("new ASCII") cpio archive, written here without any
//! external tool, holding the firmware as `/init` and the kernel modules it loads.
//!
//! newc format (see the kernel's `Documentation/driver-api/early-userspace/buffer-format.rst`):
//! each entry is a 110-byte ASCII header — the magic `070701` and 13 fields of 8 hex digits
//! (`ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize
//! check`) — then the path and its NUL (`namesize` counts the NUL), padded with NULs to a
//! multiple of 4 bytes from the entry's start, then the data, padded to 4. The archive ends with
//! an entry named `TRAILER!!!`. The kernel takes it uncompressed, so no gzip is needed.
//!
//! Layout built by [`build`]:
//!
//! ```text
//! /dev  /dev/console (char 5:1)  /proc  /sys  /tmp  /lib  /lib/modules
//! /init                      the firmware (0755)
//! /lib/modules/NAME.ko       the modules, uncompressed (0644)
//! ```
//!
//! Paths are stored without the leading `/`, timestamps and owners are 0, so the same inputs
//! give the same bytes.

use std::fs;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFMT: u32 = 0o170_000;

/// A newc cpio archive being written in memory.
#[derive(Debug)]
pub struct Cpio {
    out: Vec<u8>,
    next_ino: u32,
}

impl Default for Cpio {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Cpio {
            out: Vec::new(),
            next_ino: 1,
        }
    }

    /// Adds a directory (its parent must have been added before, or be the root).
    pub fn dir(&mut self, path: &str, perm: u32) {
        self.entry(path, S_IFDIR | (perm & 0o7777), 2, (0, 0), &[]);
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, (0, 0), data);
    }

    /// Adds a character device node.
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(TRAILER, 0, 0, 1, (0, 0), 0);
        self.out
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        let name = path.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len()).expect("cpio newc entries are limited to 4 GiB");
        self.header(name, ino, mode, nlink, rdev, size);
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn header(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, rdev: (u32, u32), size: u32) {
        assert!(
            !name.is_empty() && !name.contains('\0'),
            "bad cpio name {name:?}"
        );
        let namesize = u32::try_from(name.len() + 1).expect("name too long");
        self.out.extend_from_slice(MAGIC);
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [
            ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0,
        ];
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
    }

    /// NULs up to the next multiple of 4 (entries start at offset 0, so this aligns both the
    /// name's end, counted from the 110-byte header's start, and the data's end).
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

/// One entry read back by [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

impl Entry {
    #[cfg(test)]
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// Reads a newc archive back (a strict checker: magic, hex fields, padding, NUL-terminated
/// names, the trailer last, nothing after it but padding). The trailer is not returned.
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let total = bytes.len();
    let mut entries = Vec::new();
    loop {
        let at = total - bytes.len();
        if bytes.len() < 110 {
            return Err(format!("truncated header at offset {at}"));
        }
        if &bytes[..6] != MAGIC {
            return Err(format!("bad magic at offset {at}"));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let hex = std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i])
                .map_err(|_| format!("non-ASCII header at offset {at}"))?;
            *v = u32::from_str_radix(hex, 16)
                .map_err(|_| format!("bad hex field {i} at offset {at}"))?;
        }
        let [
            _ino,
            mode,
            _uid,
            _gid,
            _nlink,
            _mtime,
            size,
            _,
            _,
            rmaj,
            rmin,
            namesize,
            check,
        ] = f;
        if check != 0 {
            return Err(format!("non-zero check field at offset {at}"));
        }
        let namesize = namesize as usize;
        let name_end = 110 + namesize;
        if namesize == 0 || bytes.len() < name_end || bytes[name_end - 1] != 0 {
            return Err(format!("bad name at offset {at}"));
        }
        let name = std::str::from_utf8(&bytes[110..name_end - 1])
            .map_err(|_| format!("non-UTF-8 name at offset {at}"))?
            .to_string();
        let data_start = name_end.next_multiple_of(4);
        let data_end = data_start + size as usize;
        let next = data_end.next_multiple_of(4);
        if bytes.len() < next {
            return Err(format!("truncated data of {name} at offset {at}"));
        }
        if bytes[name_end..data_start]
            .iter()
            .chain(&bytes[data_end..next])
            .any(|&b| b != 0)
        {
            return Err(format!("non-NUL padding around {name}"));
        }
        let data = bytes[data_start..data_end].to_vec();
        bytes = &bytes[next..];
        if name == TRAILER {
            if bytes.iter().any(|&b| b != 0) {
                return Err("data after the trailer".into());
            }
            return Ok(entries);
        }
        entries.push(Entry {
            name,
            mode,
            rdev: (rmaj, rmin),
            data,
        });
    }
}

/// Writes the system test's initramfs to `out`: the layout in the module docs, with `init` as
/// `/init` and each `(name, path)` of `modules` as `/lib/modules/NAME.ko`. Returns its size.
pub fn build(init: &Path, modules: &[(&str, PathBuf)], out: &Path) -> Result<usize, String> {
    let read = |p: &Path| fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let mut cpio = Cpio::new();
    cpio.dir("dev", 0o755);
    cpio.char_device("dev/console", 0o600, 5, 1);
    for d in ["proc", "sys", "tmp", "lib", "lib/modules"] {
        cpio.dir(d, if d == "tmp" { 0o1777 } else { 0o755 });
    }
    cpio.file("init", 0o755, &read(init)?);
    for (name, path) in modules {
        cpio.file(&format!("lib/modules/{name}.ko"), 0o644, &read(path)?);
    }
    let bytes = cpio.finish();
    // Self-check: the archive reads back, with an executable /init.
    let entries = parse(&bytes)?;
    if !entries
        .iter()
        .any(|e| e.name == "init" && e.is_file() && e.mode & 0o111 != 0)
    {
        return Err("initramfs self-check: no executable /init".into());
    }
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::{Cpio, build, parse};
    use crate::process::which;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut c = Cpio::new();
        c.dir("/dev", 0o755);
        c.char_device("dev/console", 0o600, 5, 1);
        c.dir("lib", 0o755);
        c.file("/init", 0o755, b"\x7fELF....");
        // Lengths 0..=5 exercise every padding case of names and data.
        for n in 0..=5usize {
            c.file(
                &format!("lib/f{}", "x".repeat(n)),
                0o644,
                &vec![b'a' + n as u8; n],
            );
        }
        c.finish()
    }

    #[test]
    fn header_is_newc() {
        let bytes = sample();
        assert_eq!(&bytes[..6], b"070701");
        // First entry: ino 1, a directory 0755, nlink 2, namesize 4 ("dev\0").
        assert_eq!(
            std::str::from_utf8(&bytes[6..110]).unwrap(),
            concat!(
                "00000001", "000041ED", "00000000", "00000000", "00000002", "00000000", "00000000",
                "00000000", "00000000", "00000000", "00000000", "00000004", "00000000"
            )
        );
        assert_eq!(&bytes[110..114], b"dev\0"); // 110 + 4 = 114 -> padded to 116
        assert_eq!(&bytes[114..116], b"\0\0");
        assert_eq!(&bytes[116..122], b"070701");
        assert_eq!(bytes.len() % 4, 0);
        let tail = String::from_utf8_lossy(&bytes[bytes.len() - 16..]).into_owned();
        assert!(tail.contains("TRAILER!!!"), "{tail:?}");
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let entries = parse(&sample()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "dev/console",
                "lib",
                "init",
                "lib/f",
                "lib/fx",
                "lib/fxx",
                "lib/fxxx",
                "lib/fxxxx",
                "lib/fxxxxx"
            ]
        );
        assert!(entries[0].is_dir());
        assert_eq!(entries[1].mode, 0o020_600);
        assert_eq!(entries[1].rdev, (5, 1));
        assert!(entries[3].is_file());
        assert_eq!(entries[3].mode & 0o777, 0o755);
        assert_eq!(entries[3].data, b"\x7fELF....");
        for (n, e) in entries[4..].iter().enumerate() {
            assert_eq!(e.data, vec![b'a' + n as u8; n]);
        }
    }

    #[test]
    fn reader_rejects_damage() {
        let good = sample();
        assert!(parse(&good[..good.len() - 4]).is_err()); // no trailer
        let mut bad = good.clone();
        bad[0] = b'1';
        assert!(parse(&bad).is_err());
        let mut bad = good.clone();
        bad.extend_from_slice(b"junk");
        assert!(parse(&bad).is_err());
        assert!(parse(&Cpio::new().finish()).unwrap().is_empty());
    }

    /// GNU cpio, when installed, lists the archive the same way.
    #[test]
    fn gnu_cpio_agrees() {
        if which("cpio").is_none() {
            eprintln!("skipped: no `cpio` on PATH");
            return;
        }
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&sample()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 10, "{listing}");
        assert!(lines[0].starts_with("drwxr-xr-x") && lines[0].ends_with(" dev"));
        assert!(lines[1].starts_with("crw-------") && lines[1].ends_with(" dev/console"));
        assert!(lines[3].starts_with("-rwxr-xr-x") && lines[3].ends_with(" init"));
        assert!(lines[9].ends_with(" lib/fxxxxx"));
    }

    #[test]
    fn builds_the_systest_layout() {
        let dir = std::env::temp_dir().join(format!("edgeloop-initramfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let init = dir.join("fw");
        let ko = dir.join("virtio.ko");
        std::fs::write(&init, b"firmware").unwrap();
        std::fs::write(&ko, b"module").unwrap();
        let out = dir.join("out/initrd.cpio");
        let size = build(&init, &[("virtio", ko)], &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(size, bytes.len());
        let entries = parse(&bytes).unwrap();
        let find = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(find("init").data, b"firmware");
        assert_eq!(find("init").mode, 0o100_755);
        assert_eq!(find("lib/modules/virtio.ko").data, b"module");
        assert_eq!(find("tmp").mode, 0o041_777);
        for d in ["dev", "proc", "sys", "lib", "lib/modules"] {
            assert!(find(d).is_dir(), "{d}");
        }
        // Parents come before children.
        let pos = |n: &str| entries.iter().position(|e| e.name == n).unwrap();
        assert!(
            pos("lib") < pos("lib/modules") && pos("lib/modules") < pos("lib/modules/virtio.ko")
        );
    }
}
