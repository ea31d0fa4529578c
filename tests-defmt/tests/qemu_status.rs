//! The status firmware's defmt frames from the emulated device: `cargo xtask systest` boots the
//! firmware as PID 1 on `qemu-system-aarch64`, QEMU writes what the firmware sends to its
//! virtio-serial port `edgeloop.defmt` into a file, and this test decodes that file on the host
//! against the firmware ELF with `defmt-decoder`, prints every line, and checks them: no
//! malformed frame, timestamps that never go back, no `error` line, and in order the start-up
//! lines, `tcpserver`'s `listening`, the power-off request and, last, the power-off itself.
//!
//! The system test runs it with the paths in two variables; without them it is skipped with a
//! message (it is part of `cargo test -p tests-defmt`). By hand, after a system test:
//!
//! ```text
//! EDGELOOP_QEMU_DEFMT=target/qemu-systest/defmt.bin \
//! EDGELOOP_QEMU_FIRMWARE=target/aarch64-unknown-linux-musl/release/examples/status \
//!   cargo test -p tests-defmt --test qemu_status -- --nocapture
//! ```

mod common;

use common::{Line, assert_monotonic, decode, note};
use std::path::PathBuf;

/// The captured frames.
const CAPTURE: &str = "EDGELOOP_QEMU_DEFMT";
/// The firmware ELF they were logged by (unstripped: it holds the `.defmt` table).
const FIRMWARE: &str = "EDGELOOP_QEMU_FIRMWARE";

/// The lines the firmware must log, in this order (others may come between them): level and
/// message, where `#` stands for a decimal number.
const EXPECTED: [(&str, &str); 6] = [
    (
        "info",
        "status: defmt logs on virtio port edgeloop.defmt (/dev/vport#p#)",
    ),
    ("info", "status: PID 1, machine up"),
    ("info", "tcpserver: listening, # slots"),
    ("info", "status: listening on port 80"),
    ("info", "status: power-off requested after # requests"),
    ("info", "status: powering off"),
];

/// The numbers of `message` if it has the shape of `template` (`#`: one or more digits).
fn matches(template: &str, message: &str) -> Option<Vec<u64>> {
    let mut numbers = Vec::new();
    let mut rest = message;
    for (i, part) in template.split('#').enumerate() {
        if i > 0 {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            numbers.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
        }
        rest = rest.strip_prefix(part)?;
    }
    rest.is_empty().then_some(numbers)
}

/// Where each line of [`EXPECTED`] is in `lines` and the numbers it holds; panics naming the
/// first one missing.
fn find_expected(lines: &[Line]) -> Vec<(usize, Vec<u64>)> {
    let mut found = Vec::new();
    let mut from = 0;
    for (level, template) in EXPECTED {
        let hit = lines[from..].iter().enumerate().find_map(|(i, l)| {
            let numbers = matches(template, &l.message)?;
            (l.level == level).then_some((from + i, numbers))
        });
        let Some((at, numbers)) = hit else {
            panic!("no {level} line `{template}` after line {from} of the decoded log");
        };
        found.push((at, numbers));
        from = at + 1;
    }
    found
}

fn path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from)
}

#[test]
fn status_firmware_frames_from_the_virtio_port() {
    let (Some(capture), Some(elf)) = (path(CAPTURE), path(FIRMWARE)) else {
        note(&format!(
            "skipped: {CAPTURE} and {FIRMWARE} are not set (`cargo xtask systest` sets them)"
        ));
        return;
    };
    let stream = std::fs::read(&capture).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let lines = decode(&elf, &stream);
    note(&format!(
        "decoded {} defmt frames ({} bytes, none malformed) from {} against {}:",
        lines.len(),
        stream.len(),
        capture.display(),
        elf.display()
    ));
    for l in &lines {
        note(&format!(
            "  {:>4}.{:06} {:<5} {}",
            l.micros / 1_000_000,
            l.micros % 1_000_000,
            l.level,
            l.message
        ));
    }
    // The guest's monotonic clock starts at its boot; the system test lasts minutes at most.
    assert_monotonic(&lines, 0, 300_000_000);
    let errors: Vec<&Line> = lines.iter().filter(|l| l.level == "error").collect();
    assert!(errors.is_empty(), "error lines: {errors:#?}");
    let found = find_expected(&lines);
    // The first frame is the one that says where the frames go; none went to the port before.
    assert_eq!(found[0].0, 0, "{lines:#?}");
    let slots = found[2].1[0];
    assert!(slots > 0, "listening with {slots} slots");
    // GET /, /api/status and /metrics were answered before the power-off request.
    let requests = found[4].1[0];
    assert!(requests >= 3, "power-off after {requests} requests");
    // Nothing is lost at power-off: its line is the last one, complete.
    assert_eq!(found[5].0, lines.len() - 1, "{lines:#?}");
}

#[test]
fn templates_match_whole_messages() {
    assert_eq!(
        matches(
            "tcpserver: listening, # slots",
            "tcpserver: listening, 256 slots"
        ),
        Some(vec![256])
    );
    assert_eq!(
        matches("x (/dev/vport#p#)", "x (/dev/vport0p1)"),
        Some(vec![0, 1])
    );
    assert_eq!(matches("a # b", "a  b"), None);
    assert_eq!(matches("a # b", "a 1 b c"), None);
    assert_eq!(matches("powering off", "powering off!"), None);
    assert_eq!(matches("powering off", "powering off"), Some(vec![]));
}
