//! `cargo xtask test`: the whole check pipeline, the single command CI runs (`.ci/run`).
//!
//! Steps, in order: install prerequisites; `cargo fmt --check`; clippy on the workspace and on the
//! library with `defmt,status`; rustdoc with warnings denied; the no_std guard; release builds of
//! the library for each cross target (with and without `status`); host tests; and, unless
//! `--no-qemu`, the test suite cross-compiled and run under QEMU user emulation, with
//! `EDGELOOP_TEST_RUNNER` naming the emulator so tests that spawn child binaries can prefix them,
//! and last the system test ([`crate::systest`]: the firmware as PID 1 on qemu-system-aarch64).
//!
//! The `defmt` feature is never enabled for test binaries: its symbols only resolve through the
//! firmware linker script, so host and QEMU test binaries would fail to link.

use crate::install::{self, CROSS_TARGETS};
use crate::nostd;
use crate::process::{cargo, run};
use crate::steps::Steps;
use std::path::Path;
use std::process::ExitCode;

/// The Debian cross sysroot holding `triple`'s dynamic loader and libc (for dynamically linked
/// test binaries under qemu-user; static ones ignore it).
fn sysroot(triple: &str) -> &'static str {
    match triple {
        "armv7-unknown-linux-gnueabihf" => "/usr/arm-linux-gnueabihf",
        "aarch64-unknown-linux-gnu" => "/usr/aarch64-linux-gnu",
        _ => "/",
    }
}

/// Options of `cargo xtask test`.
#[derive(Default)]
pub struct Options {
    /// Skip the QEMU step (and installing qemu-user).
    pub no_qemu: bool,
    /// Run every step even after one fails.
    pub keep_going: bool,
}

/// The emulator that runs binaries of `triple` (matches the `runner` in `.cargo/config.toml`).
fn emulator(triple: &str) -> &'static str {
    if triple.starts_with("aarch64") {
        "qemu-aarch64"
    } else {
        "qemu-arm"
    }
}

/// Runs the pipeline; the exit code is non-zero when any step failed.
pub fn run_all(root: &Path, opts: &Options) -> ExitCode {
    let mut steps = Steps::default();

    steps.add("install prerequisites", || {
        install::ensure_components(&["rustfmt", "clippy"])?;
        install::ensure_targets(&CROSS_TARGETS)?;
        let mut packages = Vec::new();
        if !opts.no_qemu {
            packages.push(&install::QEMU_USER);
        }
        for t in CROSS_TARGETS {
            packages.extend(install::link_packages(t));
        }
        install::ensure_packages(&packages)
    });

    steps.add("fmt", || run(cargo(root).args(["fmt", "--all", "--check"])));

    steps.add("clippy (workspace, all targets)", || {
        run(cargo(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            "edgeloop/status,edgeloop/json,edgeloop/device,edgeloop/websocket",
            "--",
            "-D",
            "warnings",
        ]))
    });

    steps.add(
        "clippy (lib, features defmt,status,device,firmware)",
        || {
            run(cargo(root).args([
                "clippy",
                "--lib",
                "--features",
                "defmt,status,device,firmware",
                "--",
                "-D",
                "warnings",
            ]))
        },
    );

    steps.add("clippy (firmware examples)", || {
        run(cargo(root).args([
            "clippy",
            "--examples",
            "--features",
            "firmware,status,device",
            "--",
            "-D",
            "warnings",
        ]))
    });

    steps.add(
        "doc (features status,firmware,device,json,websocket, warnings denied)",
        || {
            run(cargo(root).env("RUSTDOCFLAGS", "-D warnings").args([
                "doc",
                "--no-deps",
                "--features",
                "status,firmware,device,json,websocket",
            ]))
        },
    );

    steps.add("no_std guard", || nostd::check(root));

    for triple in CROSS_TARGETS {
        for features in [None, Some("status")] {
            let name = match features {
                None => format!("build lib release ({triple})"),
                Some(f) => format!("build lib release +{f} ({triple})"),
            };
            steps.add(name, move || {
                let mut cmd = cargo(root);
                cmd.args(["build", "--lib", "--release", "--target", triple]);
                if let Some(f) = features {
                    cmd.args(["--features", f]);
                }
                run(&mut cmd)
            });
        }
    }

    for triple in CROSS_TARGETS {
        steps.add(
            format!("build firmware examples release ({triple})"),
            move || {
                run(cargo(root).args([
                    "build",
                    "--release",
                    "--features",
                    "firmware,status",
                    "--examples",
                    "--target",
                    triple,
                ]))
            },
        );
    }

    steps.add("no allocator in the release firmware (nm)", move || {
        for triple in CROSS_TARGETS {
            for example in ["status", "hello_world", "echo"] {
                let elf = root
                    .join("target")
                    .join(triple)
                    .join("release/examples")
                    .join(example);
                let elf = match std::env::var_os("CARGO_TARGET_DIR") {
                    Some(dir) => Path::new(&dir)
                        .join(triple)
                        .join("release/examples")
                        .join(example),
                    None => elf,
                };
                println!(
                    "{}",
                    crate::noalloc::check(&elf, triple.ends_with("gnueabihf"))?
                );
            }
        }
        Ok(())
    });

    // The tests spawn the firmware examples as real processes; `cargo test` cannot build them
    // (it compiles every target with unwinding panics), so they are built first.
    steps.add("build firmware examples (host, for the tests)", || {
        run(cargo(root).args(["build", "--features", "firmware,status", "--examples"]))
    });

    // defmt_hello alone: with --examples every firmware would log binary frames on stderr.
    steps.add("build defmt example (host, for the decode test)", || {
        run(cargo(root).args([
            "build",
            "--features",
            "firmware,defmt",
            "--example",
            "defmt_hello",
        ]))
    });

    steps.add("clippy (defmt example)", || {
        run(cargo(root).args([
            "clippy",
            "--example",
            "defmt_hello",
            "--features",
            "firmware,defmt",
            "--",
            "-D",
            "warnings",
        ]))
    });

    steps.add("host tests (features status,json,websocket)", || {
        run(cargo(root).args(["test", "--features", "status,json,websocket"]))
    });

    // The WebSocket tests live in their own package (tungstenite needs httparse with std,
    // which would leak into the firmware builds as a dev-dependency of the main crate).
    steps.add("websocket tests (package edgeloop-websocket-tests)", || {
        run(cargo(root).args(["test", "--package", "edgeloop-websocket-tests"]))
    });

    // Decodes a real run's defmt frames (its own package: defmt-decoder needs std crates).
    steps.add("defmt decode test (package tests-defmt)", || {
        run(cargo(root).args(["test", "--package", "tests-defmt"]))
    });

    steps.add("xtask unit tests", || {
        run(cargo(root).args(["test", "--package", "xtask"]))
    });

    // Every libFuzzer target of fuzz/ for 10 s (about a minute of build on a fresh machine).
    steps.add("fuzz smoke (10 s per target)", || {
        let opts = crate::fuzz::Options {
            seconds: 10,
            target: None,
        };
        crate::fuzz::run(root, &opts).map(|_| ())
    });

    if !opts.no_qemu {
        for triple in CROSS_TARGETS {
            let qemu = emulator(triple);
            steps.add(format!("tests under {qemu} ({triple})"), move || {
                run(cargo(root).args([
                    "build",
                    "--features",
                    "firmware,status",
                    "--examples",
                    "--target",
                    triple,
                ]))?;
                // Doctests are linked dynamically (rustdoc ignores the target's crt-static
                // rustflags): point qemu at the cross sysroot for their loader and libc.
                run(cargo(root)
                    .env("EDGELOOP_TEST_RUNNER", qemu)
                    .env("QEMU_LD_PREFIX", sysroot(triple))
                    .args([
                        "test",
                        "--features",
                        "status,json,websocket",
                        "--target",
                        triple,
                    ]))?;
                run(cargo(root)
                    .env("EDGELOOP_TEST_RUNNER", qemu)
                    .env("QEMU_LD_PREFIX", sysroot(triple))
                    .args([
                        "test",
                        "--package",
                        "edgeloop-websocket-tests",
                        "--target",
                        triple,
                    ]))?;
                // defmt frames from the emulated firmware, decoded on the host.
                run(cargo(root).args([
                    "build",
                    "--features",
                    "firmware,defmt",
                    "--example",
                    "defmt_hello",
                    "--target",
                    triple,
                ]))?;
                let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| root.join("target"), std::path::PathBuf::from);
                let elf = target_dir.join(triple).join("debug/examples/defmt_hello");
                run(cargo(root)
                    .env("EDGELOOP_TEST_RUNNER", qemu)
                    .env("QEMU_LD_PREFIX", sysroot(triple))
                    .env("EDGELOOP_DEFMT_HELLO", elf)
                    .args(["test", "--package", "tests-defmt"]))
            });
        }
    }

    if !opts.no_qemu {
        let name = "system test (firmware as PID 1 on qemu-system-aarch64)";
        steps.add(name, || {
            crate::systest::run(root, &crate::qemu::Options::default())
        });
    }

    if steps.run(opts.keep_going) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::emulator;

    #[test]
    fn emulators_match_cargo_config_runners() {
        assert_eq!(emulator("aarch64-unknown-linux-musl"), "qemu-aarch64");
        assert_eq!(emulator("armv7-unknown-linux-gnueabihf"), "qemu-arm");
    }
}
