//! Reading small `/proc` and `/sys` files without allocation.
//!
//! Everything here reads into a buffer owned by the caller (normally on the stack) with plain
//! `open`/`read` system calls through rustix: no libc, no heap. `EINTR` is retried, short reads
//! are continued until end of file, and a file larger than the buffer is never silently cut:
//!
//! * [`read_file`] fails with [`ReadError::TooLarge`];
//! * [`read_prefix`] returns what fitted and says whether that was the whole file;
//! * [`read_lines`] streams the file through the buffer line by line, so the file may be any
//!   size; only a single line longer than the buffer is cut, and it is then passed on marked
//!   incomplete ([`Line::complete`] is `false`).
//!
//! [`lines`] splits a whole buffer the same way [`read_lines`] streams a file, so a parser can
//! be fed either. Field and number helpers are in [`ascii`](super::ascii).

use core::fmt;
use core::mem::MaybeUninit;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir, open};
use rustix::io::{Errno, read};

use super::ascii::is_blank;
use crate::config::parse_or;

/// Size of the stack buffer that [`read_lines`] streams a file through, in bytes: the longest
/// line that can be parsed whole.
///
/// Default 512 (the longest line a reader here needs whole is a `/proc/net/dev` row of 16
/// 20-digit counters, about 360 bytes). Set with `EDGELOOP_STATUS_LINE_BUF`. Longer lines (the
/// `intr` line of `/proc/stat`, long mount options) are handled: only their start is used.
pub const LINE_BUF_SIZE: usize = parse_or(option_env!("EDGELOOP_STATUS_LINE_BUF"), 512);

/// Size of the stack buffer for single-value files (`/sys/class/net/*/mtu`,
/// `/sys/class/thermal/*/temp`, `/proc/uptime`, ...), in bytes.
///
/// Default 128. Set with `EDGELOOP_STATUS_VALUE_BUF`. A file larger than this reads as unknown.
pub const VALUE_BUF_SIZE: usize = parse_or(option_env!("EDGELOOP_STATUS_VALUE_BUF"), 128);

/// Longest path the readers build (for example
/// `/sys/class/hwmon/hwmon3/temp12_label`), in bytes, including a custom root given to the
/// `*_at` readers.
///
/// Default 128. Set with `EDGELOOP_STATUS_PATH_LEN`. A longer path fails with
/// [`ReadError::PathTooLong`].
pub const PATH_LEN: usize = parse_or(option_env!("EDGELOOP_STATUS_PATH_LEN"), 128);

/// Size of the stack buffer that directory entries are read into by [`for_each_dir_entry`]
/// (`getdents64` records of about 24 bytes plus the name).
///
/// Default 1024. Set with `EDGELOOP_STATUS_DIR_BUF`. Must hold at least one entry (a name of up
/// to 255 bytes needs 280 bytes); large directories are read in several calls.
pub const DIR_BUF_SIZE: usize = parse_or(option_env!("EDGELOOP_STATUS_DIR_BUF"), 1024);

/// A path built by the readers, at most [`PATH_LEN`] bytes.
pub type PathBuf = heapless::String<PATH_LEN>;

/// Why a status value could not be read. The caller shows it as "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadError {
    /// The file or directory does not exist (`ENOENT`/`ENOTDIR`): normal in containers and on
    /// boards without that driver.
    Missing,
    /// `open` (or `socket`) failed with this errno.
    Open(i32),
    /// `read` (or `getdents64`, `send`, `recv`, `statvfs`) failed with this errno.
    Read(i32),
    /// The file is larger than the buffer it has to fit in.
    TooLarge,
    /// A path built from the parts given is longer than [`PATH_LEN`].
    PathTooLong,
    /// The file was read but its contents are not in the expected format.
    Malformed,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing => f.write_str("file not present"),
            ReadError::Open(e) => write!(f, "open failed (errno {e})"),
            ReadError::Read(e) => write!(f, "read failed (errno {e})"),
            ReadError::TooLarge => f.write_str("file larger than its buffer"),
            ReadError::PathTooLong => f.write_str("path longer than PATH_LEN"),
            ReadError::Malformed => f.write_str("unexpected file contents"),
        }
    }
}

impl core::error::Error for ReadError {}

impl ReadError {
    /// Maps an `open` errno: "not there" errors become [`ReadError::Missing`].
    pub(crate) fn from_open(e: Errno) -> Self {
        if e == Errno::NOENT || e == Errno::NOTDIR {
            ReadError::Missing
        } else {
            ReadError::Open(e.raw_os_error())
        }
    }
}

/// Opens `path` read-only (`O_CLOEXEC | O_NOCTTY | O_NONBLOCK`), retrying `EINTR`.
pub(crate) fn open_read(path: &str, extra: OFlags) -> Result<OwnedFd, ReadError> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK | extra;
    loop {
        match open(path, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ReadError::from_open(e)),
        }
    }
}

/// One `read`, retrying `EINTR`.
fn read_some(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, ReadError> {
    loop {
        match read(fd.as_fd(), &mut *buf) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ReadError::Read(e.raw_os_error())),
        }
    }
}

/// The start of a file, as returned by [`read_prefix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// The bytes read, at most the buffer's length.
    pub data: &'a [u8],
    /// `true` when `data` is the whole file (end of file was reached).
    pub complete: bool,
}

/// Reads `path` into `buf` until end of file or until `buf` is full, and tells which.
///
/// Use this when the start of a file is enough (`/proc/self/stat`).
pub fn read_prefix<'a>(path: &str, buf: &'a mut [u8]) -> Result<Prefix<'a>, ReadError> {
    let fd = open_read(path, OFlags::empty())?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = read_some(&fd, &mut buf[filled..])?;
        if n == 0 {
            return Ok(Prefix {
                data: &buf[..filled],
                complete: true,
            });
        }
        filled += n;
    }
    // Buffer full: the file is whole only if nothing follows.
    let mut probe = [0u8; 1];
    let complete = read_some(&fd, &mut probe)? == 0;
    Ok(Prefix {
        data: &buf[..filled],
        complete,
    })
}

/// Reads the whole of `path` into `buf` and returns the bytes read.
///
/// Fails with [`ReadError::TooLarge`] when the file does not fit.
pub fn read_file<'a>(path: &str, buf: &'a mut [u8]) -> Result<&'a [u8], ReadError> {
    let prefix = read_prefix(path, buf)?;
    if prefix.complete {
        Ok(prefix.data)
    } else {
        Err(ReadError::TooLarge)
    }
}

/// Streams `path` through `buf` and calls `f` with every line (without its `\n`).
///
/// A line longer than `buf` is passed once with the bytes that fitted and
/// [`Line::complete`] `false`, and the rest of it is skipped. A last line without `\n` is also
/// passed as incomplete (the file may have been cut). An empty `buf` fails with
/// [`ReadError::TooLarge`].
pub fn read_lines<F>(path: &str, buf: &mut [u8], mut f: F) -> Result<(), ReadError>
where
    F: FnMut(Line<'_>),
{
    if buf.is_empty() {
        return Err(ReadError::TooLarge);
    }
    let fd = open_read(path, OFlags::empty())?;
    let mut start = 0; // first byte of the pending (unfinished) line
    let mut end = 0; // end of valid data
    let mut skipping = false; // discarding the tail of an over-long line
    loop {
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            // A whole buffer without a newline: pass its start on, skip the rest of the line.
            if !skipping {
                f(Line {
                    text: &buf[..end],
                    complete: false,
                });
            }
            skipping = true;
            end = 0;
        }
        let n = read_some(&fd, &mut buf[end..])?;
        if n == 0 {
            if end > 0 && !skipping {
                f(Line {
                    text: &buf[..end],
                    complete: false,
                });
            }
            return Ok(());
        }
        let mut pos = end;
        end += n;
        while let Some(i) = buf[pos..end].iter().position(|&b| b == b'\n') {
            let nl = pos + i;
            if skipping {
                skipping = false;
            } else {
                f(Line {
                    text: &buf[start..nl],
                    complete: true,
                });
            }
            start = nl + 1;
            pos = start;
        }
    }
}

/// Calls `f` with the name of every entry of directory `path` except `.` and `..`.
///
/// Uses `getdents64` through [`rustix::fs::RawDir`] with a [`DIR_BUF_SIZE`] stack buffer
/// (`rustix::fs::Dir` needs rustix's `alloc` feature, which this crate does not enable). Entries
/// come in the kernel's order, not sorted.
pub fn for_each_dir_entry<F>(path: &str, mut f: F) -> Result<(), ReadError>
where
    F: FnMut(&[u8]),
{
    let fd = open_read(path, OFlags::DIRECTORY)?;
    let mut buf = [MaybeUninit::<u8>::uninit(); DIR_BUF_SIZE];
    let mut dir = RawDir::new(fd, &mut buf);
    while let Some(entry) = dir.next() {
        match entry {
            Ok(entry) => {
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    f(name);
                }
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ReadError::Read(e.raw_os_error())),
        }
    }
    Ok(())
}

/// Concatenates `parts` into a [`PathBuf`], or fails with [`ReadError::PathTooLong`].
pub fn join_path(parts: &[&str]) -> Result<PathBuf, ReadError> {
    let mut path = PathBuf::new();
    for part in parts {
        path.push_str(part).map_err(|_| ReadError::PathTooLong)?;
    }
    Ok(path)
}

/// One line of a text file, without its `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes (only its start when `complete` is `false`).
    pub text: &'a [u8],
    /// `false` when the line was cut: longer than the read buffer, or the last line of a file
    /// that does not end in `\n`. Its last field may then be cut too.
    pub complete: bool,
}

impl<'a> Line<'a> {
    /// The part of the line whose fields are known to be whole: all of a complete line; for a
    /// cut line, everything before its last space or tab (empty when there is none).
    pub fn settled(&self) -> &'a [u8] {
        if self.complete {
            return self.text;
        }
        match self.text.iter().rposition(|&b| is_blank(b)) {
            Some(i) => &self.text[..i],
            None => &[],
        }
    }
}

/// Iterator over the lines of a buffer, see [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let text = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(Line {
                    text,
                    complete: true,
                })
            }
            None => {
                let text = self.rest;
                self.rest = &[];
                Some(Line {
                    text,
                    complete: false,
                })
            }
        }
    }
}

/// Splits a whole file's contents into lines; a last line without `\n` is marked incomplete.
pub fn lines(data: &[u8]) -> Lines<'_> {
    Lines { rest: data }
}

#[cfg(test)]
mod tests {

    use super::*;
    use std::vec::Vec;

    #[test]
    fn lines_marks_unterminated_last_line() {
        let got: Vec<_> = lines(b"a b\nc\nd").collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Line {
                text: b"a b",
                complete: true
            }
        );
        assert_eq!(
            got[1],
            Line {
                text: b"c",
                complete: true
            }
        );
        assert_eq!(
            got[2],
            Line {
                text: b"d",
                complete: false
            }
        );
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(
            lines(b"\n").next(),
            Some(Line {
                text: b"",
                complete: true
            })
        );
    }

    #[test]
    fn settled_drops_cut_field() {
        let cut = Line {
            text: b"intr 129725 0 0 12",
            complete: false,
        };
        assert_eq!(cut.settled(), b"intr 129725 0 0");
        let none = Line {
            text: b"intr",
            complete: false,
        };
        assert_eq!(none.settled(), b"");
        let whole = Line {
            text: b"a 1",
            complete: true,
        };
        assert_eq!(whole.settled(), b"a 1");
    }

    #[test]
    fn join_path_bounds() {
        assert_eq!(
            join_path(&["/sys", "/class"]).unwrap().as_str(),
            "/sys/class"
        );
        let long =
            ["/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; 4];
        assert_eq!(join_path(&long), Err(ReadError::PathTooLong));
    }

    #[test]
    fn error_display() {
        assert_eq!(
            std::format!("{}", ReadError::Open(13)),
            "open failed (errno 13)"
        );
        assert_eq!(std::format!("{}", ReadError::Missing), "file not present");
    }
}

#[cfg(test)]
mod file_tests {

    use super::*;
    use crate::status::testfs::FakeRoot;
    use std::vec::Vec;

    fn collect(path: &str, buf: &mut [u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        read_lines(path, buf, |l| out.push((l.text.to_vec(), l.complete))).unwrap();
        out
    }

    #[test]
    fn read_lines_streams_through_small_buffer() {
        let fs = FakeRoot::new();
        let p = fs.file("stat", b"cpu 1 2\nintr 1 2 3 4 5 6 7 8 9\nctxt 9\ntail");
        let got = collect(&p, &mut [0u8; 10]);
        assert_eq!(
            got,
            [
                (b"cpu 1 2".to_vec(), true),
                (b"intr 1 2 3".to_vec(), false),
                (b"ctxt 9".to_vec(), true),
                (b"tail".to_vec(), false),
            ]
        );
        // A big buffer sees the same lines whole.
        let got = collect(&p, &mut [0u8; 512]);
        assert_eq!(got[1], (b"intr 1 2 3 4 5 6 7 8 9".to_vec(), true));
    }

    #[test]
    fn read_lines_line_exactly_buffer_sized() {
        let fs = FakeRoot::new();
        let p = fs.file("f", b"0123456789\nab\n");
        let got = collect(&p, &mut [0u8; 10]);
        assert_eq!(
            got,
            [(b"0123456789".to_vec(), false), (b"ab".to_vec(), true)]
        );
        let got = collect(&p, &mut [0u8; 11]);
        assert_eq!(
            got,
            [(b"0123456789".to_vec(), true), (b"ab".to_vec(), true)]
        );
    }

    #[test]
    fn read_lines_empty_and_missing() {
        let fs = FakeRoot::new();
        let p = fs.file("empty", b"");
        assert!(collect(&p, &mut [0u8; 4]).is_empty());
        let missing = std::format!("{}/nope", fs.root());
        assert_eq!(
            read_lines(&missing, &mut [0u8; 4], |_| {}),
            Err(ReadError::Missing)
        );
        assert_eq!(read_lines(&p, &mut [], |_| {}), Err(ReadError::TooLarge));
    }

    #[test]
    fn read_file_and_prefix() {
        let fs = FakeRoot::new();
        let p = fs.file("v", b"1500\n");
        assert_eq!(read_file(&p, &mut [0u8; 5]), Ok(&b"1500\n"[..]));
        assert_eq!(read_file(&p, &mut [0u8; 4]), Err(ReadError::TooLarge));
        let mut buf = [0u8; 3];
        let pre = read_prefix(&p, &mut buf).unwrap();
        assert_eq!(
            pre,
            Prefix {
                data: b"150",
                complete: false
            }
        );
        // A directory cannot be read as a file.
        assert_eq!(
            read_file(&fs.root(), &mut [0u8; 8]),
            Err(ReadError::Read(21))
        );
    }

    #[test]
    fn dir_listing() {
        let fs = FakeRoot::new();
        fs.file("a/x", b"");
        fs.file("a/y", b"");
        let mut names = Vec::new();
        let dir = std::format!("{}/a", fs.root());
        for_each_dir_entry(&dir, |n| names.push(n.to_vec())).unwrap();
        names.sort();
        assert_eq!(names, [b"x".to_vec(), b"y".to_vec()]);
        let missing = std::format!("{}/b", fs.root());
        assert_eq!(
            for_each_dir_entry(&missing, |_| {}),
            Err(ReadError::Missing)
        );
        let file = std::format!("{}/a/x", fs.root());
        assert_eq!(for_each_dir_entry(&file, |_| {}), Err(ReadError::Missing));
    }
}
