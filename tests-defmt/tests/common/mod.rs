//! What the decoding tests share: decoding a captured stream against a firmware ELF.

use std::io::Write;
use std::path::Path;

/// Writes past libtest's output capture, so a skip is visible without `--nocapture`.
pub fn note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// One decoded frame: level, message and timestamp (µs).
#[derive(Debug)]
pub struct Line {
    pub level: String,
    pub message: String,
    pub micros: u64,
}

/// Parses a `{=u64:us}` timestamp as the decoder displays it (`seconds.micros`).
fn parse_micros(shown: &str) -> u64 {
    let (secs, frac) = shown
        .split_once('.')
        .unwrap_or_else(|| panic!("timestamp {shown:?} is not `s.uuuuuu`"));
    assert_eq!(frac.len(), 6, "timestamp {shown:?}");
    let secs: u64 = secs.parse().expect("timestamp seconds");
    let frac: u64 = frac.parse().expect("timestamp microseconds");
    secs * 1_000_000 + frac
}

/// Decodes every frame of `stream` against the ELF at `path`; a malformed frame, or bytes after
/// the last frame, fail the test.
pub fn decode(path: &Path, stream: &[u8]) -> Vec<Line> {
    let elf = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table = defmt_decoder::Table::parse(&elf)
        .unwrap_or_else(|e| panic!("{}: bad defmt table: {e}", path.display()))
        .unwrap_or_else(|| panic!("{}: no .defmt section", path.display()));
    assert!(table.has_timestamp(), "the ELF defines no defmt timestamp");
    assert_eq!(
        stream.last(),
        Some(&0),
        "the stream does not end with a frame separator: {stream:?}"
    );
    let mut decoder = table.new_stream_decoder();
    decoder.received(stream);
    let mut lines = Vec::new();
    loop {
        match decoder.decode() {
            Ok(frame) => {
                let shown = frame
                    .display_timestamp()
                    .expect("every frame has a timestamp")
                    .to_string();
                lines.push(Line {
                    level: frame.level().map_or("none", |l| l.as_str()).to_owned(),
                    message: frame.display_message().to_string(),
                    micros: parse_micros(&shown),
                });
            }
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                panic!("malformed frame after {lines:#?}")
            }
        }
    }
    lines
}

/// Checks that the timestamps never go back and lie within `[start, end]` µs.
pub fn assert_monotonic(lines: &[Line], start: u64, end: u64) {
    let mut previous = start;
    for line in lines {
        assert!(
            (previous..=end).contains(&line.micros),
            "timestamp of {line:?} not monotonic within [{previous}, {end}] µs"
        );
        previous = line.micros;
    }
}
