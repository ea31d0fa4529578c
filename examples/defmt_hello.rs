//! defmt logging from a firmware: a few lines with values, then exit 0.
//!
//! With the `firmware` and `defmt` features the library links its defmt logger
//! (`edgeloop::defmt_logger`): binary frames on stderr, each stamped with microseconds of the
//! monotonic clock. Read them with the unstripped ELF:
//!
//! ```text
//! cargo build --features firmware,defmt --example defmt_hello
//! target/debug/examples/defmt_hello 2>log.bin
//! defmt-print -e target/debug/examples/defmt_hello < log.bin
//! ```
//!
//! `tests-defmt/tests/defmt_log.rs` decodes this output and checks every line.

#![no_std]
#![no_main]

use edgeloop::defmt_logger::dropped_frames;
use edgeloop::firmware::Args;

edgeloop::firmware_main!(run);

/// A sensor sample, formatted by the derived `defmt::Format`.
#[derive(defmt::Format)]
struct Reading {
    sensor: u8,
    deci_celsius: i16,
    ok: bool,
}

/// Logs while it is being formatted: a line started inside another line. The logger drops the
/// inner one (and counts it) and the outer line stays intact.
struct Nosy;

impl defmt::Format for Nosy {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::info!("nested line: dropped");
        defmt::write!(f, "nosy");
    }
}

fn run(args: Args) -> i32 {
    defmt::info!("defmt_hello: {=usize} argument(s)", args.len());
    if let Some(first) = args.get(0) {
        defmt::info!("first argument: {=str}", first);
    }
    let reading = Reading {
        sensor: 3,
        deci_celsius: -125,
        ok: true,
    };
    defmt::info!("reading {}", reading);
    defmt::warn!("fan at {=u8}%, board at {=f32} C", 85, 71.5);
    defmt::error!(
        "flags {=u8:#b}, bytes {=[u8]:x}",
        0b1010_0101,
        [0xde, 0xad, 0xbe, 0xef]
    );
    // Longer than the logger's 256-byte buffer, and full of zeros for rzcobs to compress.
    let block: [u8; 300] = core::array::from_fn(|i| (i % 256) as u8);
    defmt::info!("block of {=usize}: {=[u8]:x}", block.len(), block);
    defmt::debug!("not built: DEFMT_LOG=info drops debug lines");
    defmt::info!("value {}", Nosy);
    defmt::info!("dropped frames: {=u32}", dropped_frames());
    defmt::info!("bye, exit code {=i32}", 0);
    0
}
