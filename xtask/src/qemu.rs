//! `cargo xtask qemu [--board NAME] [--example EX] [--port HOSTPORT]`: the firmware as PID 1 of
//! a minimal initramfs on an emulated `virt` machine, with its console on this terminal.
//!
//! Steps (shared with [`crate::systest`]): a release build of the example for the board
//! (`boards/NAME.toml`, features `firmware,device,status,defmt` plus the example's
//! `required-features`), the guest kernel from the cache ([`crate::kernel`]), an initramfs with
//! the firmware as `/init` ([`crate::initramfs`]), then
//!
//! ```text
//! qemu-system-aarch64 -M virt -cpu cortex-a53 -m 256 -nographic -no-reboot
//!   -kernel vmlinuz -initrd initrd.cpio
//!   -append "console=ttyAMA0 rdinit=/init panic=-1 quiet"
//!   -netdev user,id=n,hostfwd=tcp:127.0.0.1:PORT-:80 -device virtio-net-device,netdev=n
//!   -device virtio-serial-device -chardev file,id=defmt,path=WORK/defmt.bin
//!   -device virtserialport,chardev=defmt,name=edgeloop.defmt
//! ```
//!
//! The guest is `10.0.2.15` on QEMU's user network; host port `PORT` on 127.0.0.1 reaches its
//! port 80. `-no-reboot` turns the guest's power-off (or a kernel panic, with `panic=-1`) into
//! QEMU's exit. Ctrl-A X quits QEMU from the terminal.
//!
//! The defmt channel: a virtio-serial controller on the `virt` machine's virtio-mmio bus with
//! one port named [`DEFMT_PORT`], whose output QEMU writes, byte for byte, to `defmt.bin` in the
//! work directory (`target/qemu/` here, `target/qemu-systest/` for the system test). The
//! firmware finds the port by that name (`edgeloop::device::find_virtio_port`: it is
//! `/dev/vport0p1` or so in the guest) and sends its defmt frames there instead of to the serial
//! console, whose tty would turn each `\n` into `\r\n` and mix kernel messages into them. Read
//! the frames with `defmt-print -e <firmware ELF> < target/qemu/defmt.bin`, or live with
//! `tail -c +1 -f target/qemu/defmt.bin | defmt-print -e <firmware ELF>`.
//!
//! Verified with QEMU 7.2 (Debian 12) and the 6.1 cloud kernel: `-M virt` takes
//! `virtio-serial-device` (the virtio-mmio transport; `virtio-serial-pci` is the PCI one), the
//! kernel needs the `virtio_console` module (depends on `virtio`, `virtio_ring`), and the guest
//! sees the port as `/dev/vport0p1` — QEMU numbers `virtserialport`s from 1, port 0 being kept
//! for a `virtconsole` — with its name in `/sys/class/virtio-ports/vport0p1/name`. QEMU creates
//! (and truncates) the `-chardev file` at start.

use crate::initramfs;
use crate::install;
use crate::kernel::{self, Kernel};
use crate::process::{self, cargo};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The board the system test boots by default.
pub const DEFAULT_BOARD: &str = "qemu-virt-aarch64";
/// The firmware the system test boots by default (it serves the status page).
pub const DEFAULT_EXAMPLE: &str = "status";
/// The host port `cargo xtask qemu` forwards to the guest's port 80 by default.
pub const DEFAULT_PORT: u16 = 8080;
/// The name of the virtio-serial port for defmt frames; the firmware looks for the same name
/// (`edgeloop::device::DEFMT_PORT`).
pub const DEFMT_PORT: &str = "edgeloop.defmt";
/// The file, in the work directory, that receives the frames of the port [`DEFMT_PORT`].
pub const DEFMT_FILE: &str = "defmt.bin";
/// Features every firmware booted as PID 1 is built with.
const BASE_FEATURES: [&str; 4] = ["firmware", "device", "status", "defmt"];

/// Options of `cargo xtask qemu`.
#[derive(Debug, Clone)]
pub struct Options {
    pub board: String,
    pub example: String,
    /// The host port (`None`: [`DEFAULT_PORT`] for `qemu`, a free one for `systest`).
    pub port: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            board: DEFAULT_BOARD.into(),
            example: DEFAULT_EXAMPLE.into(),
            port: None,
        }
    }
}

/// Parses `[--board NAME] [--example EX] [--port N]` (also `--flag=value`).
pub fn parse_options(rest: &[String], cmd: &str) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if !matches!(flag, "--board" | "--example" | "--port") {
            return Err(format!("unknown option `{a}` for `{cmd}`"));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        match flag {
            "--board" => opts.board = value,
            "--example" => opts.example = value,
            _ => {
                opts.port = value
                    .parse()
                    .ok()
                    .filter(|&p: &u16| p != 0)
                    .map(Some)
                    .ok_or_else(|| format!("`--port {value}`: not a port number"))?;
            }
        }
    }
    Ok(opts)
}

/// Everything a boot needs.
#[derive(Debug)]
pub struct Guest {
    /// The firmware ELF (the initramfs's `/init`).
    pub firmware: PathBuf,
    pub kernel: Kernel,
    /// The uncompressed newc initramfs.
    pub initrd: PathBuf,
    /// Where QEMU writes what the firmware sends to the virtio-serial port [`DEFMT_PORT`].
    pub defmt: PathBuf,
}

/// Builds the firmware, fetches (or finds) the kernel, writes the initramfs into `work`.
pub fn prepare(root: &Path, board: &str, example: &str, work: &Path) -> Result<Guest, String> {
    let triple = board_target(root, board)?;
    if !triple.starts_with("aarch64") {
        return Err(format!(
            "board `{board}` targets {triple}: only aarch64 boards boot on \
             qemu-system-aarch64 -M virt (use --board {DEFAULT_BOARD})"
        ));
    }
    if !root
        .join("examples")
        .join(format!("{example}.rs"))
        .is_file()
    {
        return Err(format!(
            "no firmware example `{example}` (examples/{example}.rs does not exist)"
        ));
    }
    install::ensure_targets(&[triple.as_str()])?;
    install::ensure_packages(&[&install::QEMU_SYSTEM])?;
    let firmware = build_firmware(root, board, example)?;
    let kernel = kernel::ensure(root)?;
    let initrd = work.join(format!("initrd-{example}.cpio"));
    let size = initramfs::build(&firmware, &kernel.modules, &initrd)?;
    println!(
        "initramfs {} ({} KiB: /init = {}, {} modules)",
        initrd.display(),
        size / 1024,
        firmware.display(),
        kernel.modules.len()
    );
    Ok(Guest {
        firmware,
        kernel,
        initrd,
        defmt: work.join(DEFMT_FILE),
    })
}

/// The target triple of `boards/NAME.toml`.
fn board_target(root: &Path, board: &str) -> Result<String, String> {
    let valid = !board.is_empty()
        && board
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let file = root.join("boards").join(format!("{board}.toml"));
    if !valid || !file.is_file() {
        return Err(format!(
            "unknown board `{board}` (no boards/{board}.toml; the system test uses \
             {DEFAULT_BOARD})"
        ));
    }
    let text =
        fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    crate::build::build_target(&text)
        .ok_or_else(|| format!("boards/{board}.toml has no `[build] target = \"...\"`"))
}

/// Release build of `example` for `board`; returns the ELF's path.
fn build_firmware(root: &Path, board: &str, example: &str) -> Result<PathBuf, String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let mut features: Vec<String> = BASE_FEATURES.iter().map(|s| s.to_string()).collect();
    for f in required_features(&manifest, example) {
        if !features.contains(&f) {
            features.push(f);
        }
    }
    let mut cmd = cargo(root);
    cmd.args([
        "build",
        "--release",
        "--config",
        &format!("boards/{board}.toml"),
        "--example",
        example,
        "--features",
        &features.join(","),
        "--message-format=json-render-diagnostics",
    ]);
    println!("$ {}", process::describe(&cmd));
    let json = process::output(&mut cmd)
        .map_err(|e| format!("build of `{example}` for `{board}` failed: {e}"))?;
    crate::cargo_json::executable(&json, example)
        .ok_or_else(|| format!("cargo reported no executable for example `{example}`"))
}

/// The `required-features` of `[[example]] name = "<example>"` in a Cargo.toml (a line-level
/// reader for the forms this repository uses; arrays may span lines).
pub fn required_features(manifest: &str, example: &str) -> Vec<String> {
    let mut tables = Vec::new();
    let mut current: Option<String> = None;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[example]]") && !in_array(current.as_deref()) {
            tables.extend(current.take());
            continue;
        }
        if t.starts_with("[[example]]") {
            tables.extend(current.take());
            current = Some(String::new());
            continue;
        }
        if let Some(c) = current.as_mut() {
            c.push_str(line.split('#').next().unwrap_or(""));
            c.push('\n');
        }
    }
    tables.extend(current);
    let name_line = format!("\"{example}\"");
    for table in tables {
        let is_it = table.lines().any(|l| {
            l.split_once('=')
                .is_some_and(|(k, v)| k.trim() == "name" && v.trim() == name_line)
        });
        if !is_it {
            continue;
        }
        let Some(start) = table.find("required-features") else {
            return Vec::new();
        };
        let rest = &table[start..];
        let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
            return Vec::new();
        };
        return rest[open + 1..close]
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    Vec::new()
}

/// Whether the text so far ends inside an unclosed `[` array (a multi-line value).
fn in_array(table: Option<&str>) -> bool {
    table.is_some_and(|t| t.matches('[').count() > t.matches(']').count())
}

/// Where the serial console goes.
#[derive(Debug, Clone, Copy)]
pub enum Console<'a> {
    /// This terminal (`-nographic`: console and QEMU monitor on stdio, Ctrl-A X quits).
    Terminal,
    /// A file (no monitor, no display).
    File(&'a Path),
}

/// The `qemu-system-aarch64` command line that boots `guest`, forwarding 127.0.0.1:`port` to
/// the guest's port 80.
pub fn command(guest: &Guest, port: u16, console: Console<'_>) -> Command {
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-M", "virt", "-cpu", "cortex-a53", "-m", "256"]);
    match console {
        Console::Terminal => {
            cmd.arg("-nographic");
        }
        Console::File(log) => {
            cmd.args(["-display", "none", "-monitor", "none", "-serial"])
                .arg(format!("file:{}", log.display()));
        }
    }
    cmd.arg("-no-reboot")
        .arg("-kernel")
        .arg(&guest.kernel.image)
        .arg("-initrd")
        .arg(&guest.initrd)
        .args([
            "-append",
            "console=ttyAMA0 rdinit=/init panic=-1 quiet",
            "-netdev",
            &format!("user,id=n,hostfwd=tcp:127.0.0.1:{port}-:80"),
            "-device",
            "virtio-net-device,netdev=n",
            "-device",
            "virtio-serial-device",
            "-chardev",
        ])
        .arg(format!(
            "file,id=defmt,path={}",
            qemu_option_value(&guest.defmt.to_string_lossy())
        ))
        .args([
            "-device",
            &format!("virtserialport,chardev=defmt,name={DEFMT_PORT}"),
        ]);
    cmd
}

/// `value` as it must be written inside a QEMU `key=value,...` option list: commas doubled.
fn qemu_option_value(value: &str) -> String {
    value.replace(',', ",,")
}

/// `cargo xtask qemu`: builds, then boots with the console on this terminal until the guest
/// powers off (or Ctrl-A X).
pub fn run(root: &Path, opts: &Options) -> Result<(), String> {
    let work = root.join("target").join("qemu");
    let guest = prepare(root, &opts.board, &opts.example, &work)?;
    let port = opts.port.unwrap_or(DEFAULT_PORT);
    println!(
        "\nbooting `{}` as PID 1 on {}: http://127.0.0.1:{}/ reaches the guest's port 80.\n\
         defmt frames -> {} (virtio port {DEFMT_PORT}); read them live with\n  \
         tail -c +1 -f {} | defmt-print -e {}\n\
         Quit with Ctrl-A X (or POST /api/poweroff).\n",
        opts.example,
        opts.board,
        port,
        guest.defmt.display(),
        guest.defmt.display(),
        guest.firmware.display()
    );
    process::run(&mut command(&guest, port, Console::Terminal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::args;

    #[test]
    fn options() {
        let o = parse_options(&[], "qemu").unwrap();
        assert_eq!(
            (o.board.as_str(), o.example.as_str(), o.port),
            (DEFAULT_BOARD, "status", None)
        );
        let o = parse_options(&args(&["--example=echo", "--port", "9000"]), "qemu").unwrap();
        assert_eq!((o.example.as_str(), o.port), ("echo", Some(9000)));
        assert!(parse_options(&args(&["--port", "0"]), "qemu").is_err());
        assert!(parse_options(&args(&["--port", "x"]), "qemu").is_err());
        assert!(parse_options(&args(&["--bogus"]), "qemu").is_err());
        assert!(parse_options(&args(&["--board"]), "qemu").is_err());
    }

    #[test]
    fn reads_required_features() {
        let toml = r#"
[features]
x = []

[[example]]
name = "echo"
required-features = ["firmware"]

[[example]]
name = "status"   # the status page
required-features = [
    "firmware",
    "status", # comment
]

[profile.release]
lto = true
"#;
        assert_eq!(required_features(toml, "echo"), ["firmware"]);
        assert_eq!(required_features(toml, "status"), ["firmware", "status"]);
        assert!(required_features(toml, "nope").is_empty());
    }

    #[test]
    fn command_line() {
        let guest = Guest {
            firmware: "fw".into(),
            kernel: Kernel {
                version: "v".into(),
                image: "/k/vmlinuz".into(),
                modules: Vec::new(),
            },
            initrd: "/w/initrd.cpio".into(),
            defmt: "/w/a,b/defmt.bin".into(),
        };
        let line = process::describe(&command(&guest, 1234, Console::File(Path::new("/l/c.log"))));
        assert_eq!(
            line,
            "qemu-system-aarch64 -M virt -cpu cortex-a53 -m 256 -display none -monitor none \
             -serial file:/l/c.log -no-reboot -kernel /k/vmlinuz -initrd /w/initrd.cpio \
             -append 'console=ttyAMA0 rdinit=/init panic=-1 quiet' \
             -netdev user,id=n,hostfwd=tcp:127.0.0.1:1234-:80 -device virtio-net-device,netdev=n \
             -device virtio-serial-device -chardev file,id=defmt,path=/w/a,,b/defmt.bin \
             -device virtserialport,chardev=defmt,name=edgeloop.defmt"
        );
        let line = process::describe(&command(&guest, 8080, Console::Terminal));
        assert!(line.contains(" -nographic -no-reboot "), "{line}");
    }

    /// The firmware looks for the port under the name QEMU gives it.
    #[test]
    fn defmt_port_is_the_firmware_s() {
        let device = concat!(env!("CARGO_MANIFEST_DIR"), "/../src/device/mod.rs");
        let text = std::fs::read_to_string(device).unwrap();
        let line = format!("pub const DEFMT_PORT: &str = \"{DEFMT_PORT}\";");
        assert!(text.contains(&line), "{device} has no `{line}`");
    }
}
