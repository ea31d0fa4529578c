//! `cargo xtask`: the project's build, test and size-report driver.
//!
//! Invoked through the alias in `.cargo/config.toml` (`cargo xtask ...`). This file only parses
//! the command line and dispatches to the subcommand modules:
//!
//! - [`test`]: the full check pipeline (`cargo xtask test [--no-qemu] [--keep-going] [--jobs N]`),
//!   with [`testrun`] running the test executables of every layer side by side.
//! - [`build`]: a release build for one board (`cargo xtask build --board NAME [--example EX]`).
//! - [`size`] (with the [`elf`] reader): the section-size report (`cargo xtask size ELF`).
//! - [`qemu`] (with [`kernel`] and [`initramfs`]): the firmware as PID 1 on
//!   `qemu-system-aarch64` (`cargo xtask qemu`), and [`systest`], the system test on it
//!   (`cargo xtask systest`, also the last step of `cargo xtask test`).
//!
//! Plain std Rust, no external crates, so it builds on a fresh machine before anything else.

mod build;
mod cargo_json;
mod elf;
mod fuzz;
mod initramfs;
mod install;
mod kernel;
mod noalloc;
mod nostd;
mod process;
mod qemu;
mod size;
mod steps;
mod systest;
mod test;
mod testrun;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [--no-qemu] [--keep-going] [--jobs N]
        install missing targets/components/packages, then run fmt, clippy, doc,
        the no_std guard, cross builds, host tests and (unless --no-qemu) the
        test suite under qemu-aarch64 / qemu-arm user emulation, the fuzz smoke
        and the system test. The test executables of all layers run side by
        side, N at a time (default: 2 per CPU, or EDGELOOP_TEST_JOBS); their
        logs are kept in target/test-logs/.
        --keep-going runs every step even after one fails.
  build --board NAME [--example EX] [--features LIST]
        build an example (default: echo) with boards/NAME.toml and the
        `firmware` profile (release at opt-level z, no unwind tables),
        then a report of the binary's size and .text/.data/.bss.
  size ELF
        the section-size report for any ELF file (32/64-bit, any machine).
  qemu [--board NAME] [--example EX] [--port HOSTPORT]
        boot the firmware (default: status) as PID 1 of a minimal initramfs on
        qemu-system-aarch64 -M virt (board qemu-virt-aarch64), console on this
        terminal, http://127.0.0.1:HOSTPORT/ (default 8080) -> guest port 80.
  systest [--board NAME] [--example EX] [--port HOSTPORT]
        the system test: boot as above, check /, /api/status, /metrics over
        HTTP, POST /api/poweroff and expect QEMU to exit by itself.
  kernel
        fetch (as root) and cache the guest kernel and modules in
        target/qemu-kernel/; prints their paths.
  fuzz [--seconds N] [--target NAME]
        build the libFuzzer targets of fuzz/ (stable toolchain, RUSTC_BOOTSTRAP=1)
        and run each (or NAME) for N seconds (default 30); fails on any crash,
        keeping the input in fuzz/artifacts/NAME/. See SECURITY.md.
  help
        this text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("xtask: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    match cmd.as_str() {
        "test" => {
            let mut opts = test::Options::default();
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--no-qemu" => opts.no_qemu = true,
                    "--keep-going" => opts.keep_going = true,
                    "--jobs" => {
                        let n = it.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                        opts.jobs = Some(n.ok_or("`--jobs` needs a positive number")?);
                    }
                    other => return Err(unknown(other, "test")),
                }
            }
            Ok(test::run_all(&repo_root(), &opts))
        }
        "build" => {
            let opts = parse_build(rest)?;
            build::run(&repo_root(), &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        "size" => match rest {
            [path] => {
                size::print_report(Path::new(path))?;
                Ok(ExitCode::SUCCESS)
            }
            _ => Err("`size` takes exactly one ELF path".into()),
        },
        "qemu" => {
            let opts = qemu::parse_options(rest, "qemu")?;
            qemu::run(&repo_root(), &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        "systest" => {
            let opts = qemu::parse_options(rest, "systest")?;
            systest::run(&repo_root(), &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        "kernel" => {
            let k = kernel::ensure(&repo_root())?;
            println!("{}", k.image.display());
            for (_, m) in &k.modules {
                println!("{}", m.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        "fuzz" => fuzz::run(&repo_root(), &fuzz::parse_args(rest)?).map(|_| ExitCode::SUCCESS),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

/// Parses `--board NAME [--example EX] [--features LIST]` (also the `--flag=value` forms).
fn parse_build(rest: &[String]) -> Result<build::Options, String> {
    let mut board = None;
    let mut example = None;
    let mut features = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let slot = match flag {
            "--board" => &mut board,
            "--example" => &mut example,
            "--features" => &mut features,
            other => return Err(unknown(other, "build")),
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        *slot = Some(value);
    }
    Ok(build::Options {
        board: board.ok_or("`build` needs `--board NAME` (see boards/README.md)")?,
        example: example.unwrap_or_else(|| build::DEFAULT_EXAMPLE.to_string()),
        features,
    })
}

fn unknown(arg: &str, cmd: &str) -> String {
    format!("unknown option `{arg}` for `{cmd}`\n\n{USAGE}")
}

/// The workspace root: the parent of this package's manifest directory.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::parse_build;

    /// Command-line words, owned, as the parsers take them.
    pub(crate) fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn build_args_defaults_and_forms() {
        let o = parse_build(&args(&["--board", "stm32mp1"])).unwrap();
        assert_eq!((o.board.as_str(), o.example.as_str()), ("stm32mp1", "echo"));
        assert_eq!(o.features, None);
        let o = parse_build(&args(&["--example=status", "--board=x86_64-host"])).unwrap();
        assert_eq!(
            (o.board.as_str(), o.example.as_str()),
            ("x86_64-host", "status")
        );
    }

    #[test]
    fn build_args_errors() {
        assert!(parse_build(&args(&[])).is_err());
        assert!(parse_build(&args(&["--board"])).is_err());
        assert!(parse_build(&args(&["--board", "a", "--bogus", "b"])).is_err());
    }
}
