//! `cargo xtask test`: the whole check pipeline, the single command CI runs (`.ci/run`).
//!
//! Steps, in order: install prerequisites; `cargo fmt --check`; clippy on the workspace and on the
//! library with `defmt,status`; rustdoc with warnings denied; the no_std guard; release builds of
//! the library and the firmware for each cross target (and `nm`: no allocator); then the tests in
//! three layers — the host, and unless `--no-qemu` the same suite cross-compiled for
//! `aarch64-unknown-linux-musl` under `qemu-aarch64` and for `armv7-unknown-linux-gnueabihf` under
//! `qemu-arm`, with `EDGELOOP_TEST_RUNNER` naming the emulator so tests that spawn child binaries
//! can prefix them. Every layer's test executables are built first and then run side by side
//! ([`crate::testrun`]). Then the fuzz smoke (every libFuzzer target for 10 s), and last the system
//! test ([`crate::systest`]: the firmware as PID 1 on qemu-system-aarch64).
//!
//! The `defmt` feature is never enabled for test binaries: its symbols only resolve through the
//! firmware linker script, so host and QEMU test binaries would fail to link.

use crate::cargo_json;
use crate::install::{self, CROSS_TARGETS};
use crate::nostd;
use crate::process::{cargo, output, run};
use crate::steps::Steps;
use crate::testrun::{self, Job};
use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

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
    /// Test executables run at once (default: [`testrun::default_jobs`]).
    pub jobs: Option<usize>,
}

/// The emulator that runs binaries of `triple` (matches the `runner` in `.cargo/config.toml`).
fn emulator(triple: &str) -> &'static str {
    if triple.starts_with("aarch64") {
        "qemu-aarch64"
    } else {
        "qemu-arm"
    }
}

/// The features every layer's edgeloop tests are built with.
const TEST_FEATURES: &str = "status,json,websocket";

/// `$CARGO_TARGET_DIR`, else `target/` under the workspace root.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The layer's name in job names and log paths: `host`, or the emulator and target triple.
fn layer_name(triple: Option<&str>) -> String {
    match triple {
        None => "host".into(),
        Some(t) => format!("{} ({t})", emulator(t)),
    }
}

/// `cargo test --no-run` for a layer; returns the test executables it built.
fn build_tests(
    root: &Path,
    triple: Option<&str>,
    args: &[&str],
) -> Result<Vec<cargo_json::Executable>, String> {
    let mut cmd = cargo(root);
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .args(args);
    if let Some(t) = triple {
        cmd.args(["--target", t]);
    }
    println!("$ {}", crate::process::describe(&cmd));
    let exes = cargo_json::executables(&output(&mut cmd)?);
    if exes.is_empty() {
        return Err(format!(
            "`{}` built no test executable",
            crate::process::describe(&cmd)
        ));
    }
    Ok(exes)
}

/// Builds what one layer's tests need and returns its jobs: edgeloop's tests (features
/// [`TEST_FEATURES`]), the WebSocket package's, and the defmt decoding test; on the host also
/// xtask's own. An emulated layer first builds the firmware examples and `defmt_hello` for its
/// target (the tests start them as child processes through `EDGELOOP_TEST_RUNNER`).
fn build_layer(root: &Path, triple: Option<&str>) -> Result<Vec<Job>, String> {
    let layer = layer_name(triple);
    let runner = triple.map(emulator);
    let mut env: Vec<(&str, OsString)> = Vec::new();
    if let Some(t) = triple {
        let firmware = |features: &str, which: &[&str]| {
            run(cargo(root)
                .args(["build", "--features", features])
                .args(which)
                .args(["--target", t]))
        };
        firmware("firmware,status", &["--examples"])?;
        firmware("firmware,defmt", &["--example", "defmt_hello"])?;
        env.push(("EDGELOOP_TEST_RUNNER", emulator(t).into()));
        // Dynamically linked executables (none today but doctests) find their loader here.
        env.push(("QEMU_LD_PREFIX", sysroot(t).into()));
    }
    let mut jobs = Vec::new();
    let mut add =
        |exes: Vec<cargo_json::Executable>, runner: Option<&str>, env: &[(&str, OsString)]| {
            for exe in &exes {
                jobs.push(testrun::executable_job(&layer, exe, runner, env));
            }
        };
    add(
        build_tests(root, triple, &["--features", TEST_FEATURES])?,
        runner,
        &env,
    );
    // The WebSocket tests live in their own package (tungstenite needs httparse with std,
    // which would leak into the firmware builds as a dev-dependency of the main crate).
    add(
        build_tests(root, triple, &["--package", "edgeloop-websocket-tests"])?,
        runner,
        &env,
    );
    // The defmt decoder runs on the host; on an emulated layer it starts the target's
    // defmt_hello through the emulator.
    let mut defmt_env = env.clone();
    if let Some(t) = triple {
        let elf = target_dir(root).join(t).join("debug/examples/defmt_hello");
        defmt_env.push(("EDGELOOP_DEFMT_HELLO", elf.into()));
    }
    add(
        build_tests(root, None, &["--package", "tests-defmt"])?,
        None,
        &defmt_env,
    );
    if triple.is_none() {
        add(
            build_tests(root, None, &["--package", "xtask"])?,
            None,
            &env,
        );
    }
    Ok(jobs)
}

/// `cargo test --doc` for a layer (doctests under the emulator are linked dynamically: rustdoc
/// ignores the target's crt-static rustflags, so qemu gets the cross sysroot for their loader).
fn doctest_command(root: &Path, triple: Option<&str>) -> Command {
    let mut cmd = cargo(root);
    cmd.args(["test", "--doc", "--features", TEST_FEATURES]);
    if let Some(t) = triple {
        cmd.args(["--target", t])
            .env("EDGELOOP_TEST_RUNNER", emulator(t))
            .env("QEMU_LD_PREFIX", sysroot(t));
    }
    cmd
}

/// Runs the pipeline; the exit code is non-zero when any step failed.
pub fn run_all(root: &Path, opts: &Options) -> ExitCode {
    // Filled by the "build tests" steps, run by "run tests".
    let jobs: RefCell<Vec<Job>> = RefCell::new(Vec::new());
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

    // Every layer's test executables are built first, then run side by side (crate::testrun).
    let layers: &[Option<&str>] = if opts.no_qemu {
        &[None]
    } else {
        &[None, Some(CROSS_TARGETS[0]), Some(CROSS_TARGETS[1])]
    };
    for &triple in layers {
        let jobs = &jobs;
        let name = match triple {
            None => "build tests (host)".to_string(),
            Some(t) => format!("build tests and firmware ({t}, for {})", emulator(t)),
        };
        steps.add(name, move || {
            let layer_jobs = build_layer(root, triple)?;
            jobs.borrow_mut().extend(layer_jobs);
            Ok(())
        });
    }

    steps.add(
        if opts.no_qemu {
            "run tests (host)"
        } else {
            "run tests (host, qemu-aarch64, qemu-arm side by side)"
        },
        || {
            let mut all = jobs.take();
            // Doctests build while they run (rustdoc): one job, one cargo at a time.
            let doc: Vec<Command> = layers.iter().map(|t| doctest_command(root, *t)).collect();
            all.push(Job {
                layer: "doctests".into(),
                name: "doctests (every layer)".into(),
                commands: doc,
            });
            testrun::run(
                all,
                opts.jobs.unwrap_or_else(testrun::default_jobs),
                &target_dir(root).join("test-logs"),
            )
        },
    );

    // Every libFuzzer target of fuzz/ for 10 s (about a minute of build on a fresh machine).
    steps.add("fuzz smoke (10 s per target)", || {
        let opts = crate::fuzz::Options {
            seconds: 10,
            target: None,
        };
        crate::fuzz::run(root, &opts).map(|_| ())
    });

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
