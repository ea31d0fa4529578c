//! `cargo xtask build --board NAME [--example EX] [--features LIST]`: a build of one example with
//! the `firmware` profile (release optimised for size, see [`PROFILE`]), without unwind tables,
//! and with the board's cargo config fragment (`boards/NAME.toml`: target, CPU, capacities),
//! followed by the size report of the produced binary.
//!
//! The binary's path is taken from cargo's JSON artifact messages, so it is right whatever the
//! target directory; diagnostics are still rendered normally on stderr.

use crate::cargo_json;
use crate::install;
use crate::process::{self, cargo};
use crate::size;
use std::fs;
use std::path::Path;

/// The example built when `--example` is not given (the status firmware will replace it).
pub const DEFAULT_EXAMPLE: &str = "echo";

/// Options of `cargo xtask build`.
pub struct Options {
    pub board: String,
    pub example: String,
    pub features: Option<String>,
}

/// Builds `opts.example` for `opts.board` and prints where the binary is and how big it is.
pub fn run(root: &Path, opts: &Options) -> Result<(), String> {
    let config = board_file(root, &opts.board)?;
    let text =
        fs::read_to_string(root.join(&config)).map_err(|e| format!("cannot read {config}: {e}"))?;
    let triple =
        build_target(&text).ok_or_else(|| format!("{config} has no `[build] target = \"...\"`"))?;
    println!("board {} -> target {triple}", opts.board);
    install::ensure_targets(&[triple.as_str()])?;
    install::ensure_packages(&install::link_packages(&triple))?;

    let mut cmd = cargo(root);
    cmd.args([
        "build",
        "--profile",
        PROFILE,
        "--config",
        &config,
        "--config",
        &no_unwind_tables(root, &triple, &text),
        "--example",
        &opts.example,
    ]);
    // Every example is a `firmware_main!` binary.
    let features = match &opts.features {
        Some(f) => format!("firmware,{f}"),
        None => "firmware".to_string(),
    };
    cmd.args(["--features", &features]);
    cmd.arg("--message-format=json-render-diagnostics");
    println!("$ {}", process::describe(&cmd));
    let json = process::output(&mut cmd).map_err(|e| {
        format!(
            "build of example `{}` for board `{}` failed: {e}",
            opts.example, opts.board
        )
    })?;
    let binary = cargo_json::executable(&json, &opts.example).ok_or_else(|| {
        format!(
            "cargo reported no executable for example `{}`",
            opts.example
        )
    })?;
    println!();
    size::print_report(&binary)
}

/// The cargo profile of firmware images: `release` optimised for size (`Cargo.toml`).
pub const PROFILE: &str = "firmware";

/// A `--config` value that builds without unwind tables: `-C force-unwind-tables=no` for the
/// crates and, when the board links with rust-lld (the musl boards), `boards/no-unwind-tables.ld`
/// to drop the `.eh_frame` of the precompiled ones too. Firmware panics abort, so nothing reads
/// them. Only for firmware builds: tests unwind. (GNU ld with gcc's static `crtbeginT.o`, the
/// armv7 glibc boards, needs `.eh_frame` to link: `__EH_FRAME_BEGIN__` lives there.)
fn no_unwind_tables(root: &Path, triple: &str, board_toml: &str) -> String {
    let mut flags = String::from("\"-C\", \"force-unwind-tables=no\"");
    if board_toml.contains("linker = \"rust-lld\"") {
        let script = root.join("boards/no-unwind-tables.ld");
        let arg = format!("link-arg=-T{}", script.to_string_lossy());
        flags.push_str(&format!(", \"-C\", {arg:?}"));
    }
    format!("target.{triple}.rustflags=[{flags}]")
}

/// `boards/NAME.toml`, relative to the root, after checking it exists.
fn board_file(root: &Path, board: &str) -> Result<String, String> {
    let valid = !board.is_empty()
        && board
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let rel = format!("boards/{board}.toml");
    if valid && root.join(&rel).is_file() {
        return Ok(rel);
    }
    let mut known: Vec<String> = fs::read_dir(root.join("boards"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    Err(format!(
        "unknown board `{board}`; boards: {}",
        known.join(", ")
    ))
}

/// The `target` of the `[build]` table in a board's TOML (a line-level reader: the board files
/// keep `target = "..."` on one line).
pub fn build_target(toml: &str) -> Option<String> {
    let mut table = String::new();
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(h) = line.strip_prefix('[') {
            table = h.trim_end_matches(']').trim().to_string();
            continue;
        }
        if table != "build" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == "target"
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::build_target;

    #[test]
    fn reads_board_target() {
        let toml = "# board\n[build]\ntarget = \"aarch64-unknown-linux-musl\" # 64-bit\n\
                    [target.aarch64-unknown-linux-musl]\ntarget = \"nope\"\n";
        assert_eq!(
            build_target(toml).as_deref(),
            Some("aarch64-unknown-linux-musl")
        );
        assert_eq!(build_target("[env]\ntarget = \"x\"\n"), None);
    }
}
