//! The firmware links no allocator: `nm` on the release firmware binaries must find no Rust
//! allocator symbol at all, and on musl targets no C allocator either.
//!
//! Static glibc (the armv7 target) is the one documented exception: its own start-up code
//! (`__libc_setup_tls`, stdio, locale) links `malloc`/`free` into every static binary whatever
//! the program calls. The check still proves edgeloop pulls in no Rust allocator there, and it
//! reports the glibc symbols instead of failing on them.

use std::path::Path;
use std::process::Command;

use crate::process::output;

/// Symbols of Rust's global allocator (present when anything uses `alloc`).
const RUST_ALLOC: &[&str] = &[
    "__rust_alloc",
    "__rust_dealloc",
    "__rust_realloc",
    "__rust_alloc_zeroed",
    "__rg_alloc",
    "__rdl_alloc",
    "__rust_alloc_error_handler",
];

/// The C allocator.
const C_ALLOC: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

/// Checks `elf`; `glibc` allows the C allocator (reported, not failed).
pub fn check(elf: &Path, glibc: bool) -> Result<String, String> {
    let out = output(Command::new("nm").arg(elf))?;
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let rust: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| RUST_ALLOC.iter().any(|a| n.starts_with(a)))
        .collect();
    let c: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| C_ALLOC.contains(n))
        .collect();
    let name = elf.display();
    if !rust.is_empty() {
        return Err(format!("{name} links a Rust allocator: {rust:?}"));
    }
    if !c.is_empty() && !glibc {
        return Err(format!("{name} links the C allocator: {c:?}"));
    }
    Ok(if c.is_empty() {
        format!("{name}: no allocator symbol")
    } else {
        format!("{name}: no Rust allocator; static glibc's own start-up brings {c:?}")
    })
}
