//! Glue for firmware-style binaries: `#![no_std]`, `#![no_main]`, no allocator.
//!
//! [`firmware_main!`](crate::firmware_main) defines the C `main` the libc start-up code calls
//! (libc is linked for its start-up code only; all I/O goes through rustix), a panic handler that
//! reports on stderr and exits with status 101, and the no-op unwinding personality that debug
//! builds of `core` reference. The binary keeps only its own logic:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! edgeloop::firmware_main!(run);
//! fn run(args: edgeloop::firmware::Args) -> i32 { 0 }
//! ```
//!
//! Build such binaries with `panic = "abort"` (the crate's profiles do); `cargo test` builds
//! every target with unwinding, so the examples that use this require the `firmware` feature.

use core::ffi::{CStr, c_char, c_int};

use rustix::fd::BorrowedFd;

/// The process's command-line arguments (program name excluded), as UTF-8 strings.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
}

impl Args {
    /// Wraps `main`'s arguments.
    ///
    /// # Safety
    /// `argv` must point to `argc` valid NUL-terminated strings that live for the whole process
    /// (what the C runtime passes to `main`).
    pub unsafe fn from_raw(argc: c_int, argv: *const *const c_char) -> Self {
        Args {
            argc: usize::try_from(argc).unwrap_or(0),
            argv,
        }
    }

    /// The number of arguments after the program name.
    pub fn len(&self) -> usize {
        self.argc.saturating_sub(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i` (0 is the first after the program name); `None` if absent or not UTF-8.
    pub fn get(&self, i: usize) -> Option<&'static str> {
        if i >= self.len() || self.argv.is_null() {
            return None;
        }
        // SAFETY: `from_raw`'s contract: `argv[1..argc]` are valid C strings for the process's
        // whole life, and `i + 1 < argc` was checked above.
        let s = unsafe { CStr::from_ptr(*self.argv.add(i + 1)) };
        s.to_str().ok()
    }

    /// Iterates the arguments; a non-UTF-8 argument is yielded as `"\u{FFFD}"`.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or("\u{FFFD}"))
    }
}

/// Standard output.
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: fd 1 stays open for the life of a normally started process; we never close it.
    unsafe { rustix::stdio::stdout() }
}

/// Standard error.
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: fd 2 stays open for the life of a normally started process; we never close it.
    unsafe { rustix::stdio::stderr() }
}

/// Writes every part to `fd`, retrying short writes and `EINTR`; errors are ignored (there is
/// nowhere left to report them).
pub fn write_all(fd: BorrowedFd<'_>, parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            match rustix::io::write(fd, rest) {
                Ok(0) => return,
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// Formats `args` into a fixed buffer and writes it to `fd` (at most 512 bytes; longer text is
/// cut and ends with `…`).
pub fn write_fmt(fd: BorrowedFd<'_>, args: core::fmt::Arguments<'_>) {
    let mut s: heapless::String<512> = heapless::String::new();
    if core::fmt::write(&mut s, args).is_err() {
        s.truncate(509);
        let _ = s.push_str("…");
    }
    write_all(fd, &[s.as_bytes()]);
}

/// Ends the process at once with `code` (no destructors run: there is no `std` to run them).
pub fn exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process; nothing in this program relies on cleanup.
    unsafe { libc::_exit(code) }
}

/// The panic handler body used by [`firmware_main!`](crate::firmware_main).
pub fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    write_fmt(stderr(), format_args!("panic: {info}\n"));
    exit(101)
}

/// Defines `main`, the panic handler and the unwinding personality of a firmware binary that
/// runs `$entry(args: Args) -> i32`. See the [module docs](crate::firmware).
#[macro_export]
macro_rules! firmware_main {
    ($entry:path) => {
        // libc provides the process entry point and calls `main`; nothing else of it is used.
        #[link(name = "c")]
        unsafe extern "C" {}

        #[unsafe(no_mangle)]
        extern "C" fn main(
            argc: ::core::ffi::c_int,
            argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            // SAFETY: these are the arguments the C runtime passed to `main`.
            let args = unsafe { $crate::firmware::Args::from_raw(argc, argv) };
            $entry(args)
        }

        #[panic_handler]
        fn panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::firmware::on_panic(info)
        }

        /// Debug builds of `core` reference the unwinding personality even with
        /// `panic = "abort"`; nothing ever unwinds, so it is never called.
        #[unsafe(no_mangle)]
        extern "C" fn rust_eh_personality() {}
    };
}
