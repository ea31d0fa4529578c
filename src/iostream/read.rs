//! The read side of a stream: `read_until`, `read_bytes`, `read_until_close`.

use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};

use super::StreamError;

/// Read-side state kept in the stream (small: a buffer reference and two offsets).
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    pub(crate) buf: Option<&'static mut [u8]>,
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// The loop reported readiness that has not been drained yet.
    pub(crate) may_read: bool,
    pub(crate) eof: bool,
    pub(crate) eof_delivered: bool,
    pub(crate) starved: bool,
    pub(crate) dead: bool,
    /// The owner asked not to read for now.
    pub(crate) paused: bool,
    /// Bytes received over the stream's life (saturating).
    pub(crate) received: u64,
}

impl ReadState {
    pub(crate) fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub(crate) fn is_full(&self) -> bool {
        match self.buf.as_deref() {
            Some(b) => self.len() == b.len(),
            None => false,
        }
    }
}

/// The read half of an [`IoStream`](super::IoStream), from [`IoStream::split`](super::IoStream::split).
///
/// Reads are poll-style, for a level-triggered loop: each returns `Ok(Some(data))` when it can be
/// satisfied from the buffer (reading from the socket when the loop said it is readable), or
/// `Ok(None)` when more bytes must arrive first — call again on the next readable event. Returned
/// data is consumed: it stays valid until the next call on the stream.
#[derive(Debug)]
pub struct ReadHalf<'s> {
    pub(crate) fd: BorrowedFd<'s>,
    pub(crate) st: &'s mut ReadState,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => Some(0),
        [b] => hay.iter().position(|x| x == b),
        _ => hay.windows(needle.len()).position(|w| w == needle),
    }
}

impl<'s> ReadHalf<'s> {
    /// Reads from the socket into the free end of the buffer (at most one `recv`), returning the
    /// number of bytes added. `Ok(0)` means nothing could be read now: not readable, end of
    /// stream, buffer full, or no buffer (the stream is then marked as starved).
    pub fn fill(&mut self) -> Result<usize, StreamError> {
        let st = &mut *self.st;
        if st.dead {
            return Err(StreamError::Closed);
        }
        if st.eof || !st.may_read {
            return Ok(0);
        }
        let Some(buf) = st.buf.as_deref_mut() else {
            st.starved = true;
            return Ok(0);
        };
        if st.start == st.end {
            st.start = 0;
            st.end = 0;
        } else if st.end as usize == buf.len() && st.start > 0 {
            buf.copy_within(st.start as usize..st.end as usize, 0);
            st.end -= st.start;
            st.start = 0;
        }
        let free = match buf.get_mut(st.end as usize..) {
            Some(f) if !f.is_empty() => f,
            _ => return Ok(0),
        };
        let space = free.len();
        loop {
            match recv(self.fd, &mut *free, RecvFlags::empty()).map(|(n, _)| n) {
                Ok(0) => {
                    st.eof = true;
                    st.may_read = false;
                    return Ok(0);
                }
                Ok(n) => {
                    st.end += n as u32;
                    st.received = st.received.saturating_add(n as u64);
                    if n < space {
                        // A short read drained the socket; level-triggered epoll reports more.
                        st.may_read = false;
                    }
                    return Ok(n);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => {
                    st.may_read = false;
                    return Ok(0);
                }
                Err(e) => {
                    st.dead = true;
                    st.may_read = false;
                    return Err(StreamError::Io(e.raw_os_error()));
                }
            }
        }
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        match self.st.buf.as_deref() {
            Some(b) => b
                .get(self.st.start as usize..self.st.end as usize)
                .unwrap_or(&[]),
            None => &[],
        }
    }

    /// The buffered bytes, mutable (for in-place decoding, e.g. de-chunking a body).
    pub fn buffered_mut(&mut self) -> &mut [u8] {
        let (s, e) = (self.st.start as usize, self.st.end as usize);
        match self.st.buf.as_deref_mut() {
            Some(b) => b.get_mut(s..e).unwrap_or(&mut []),
            None => &mut [],
        }
    }

    /// Marks the first `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.st.len()) as u32;
        self.st.start += n;
        if self.st.start == self.st.end {
            self.st.start = 0;
            self.st.end = 0;
        }
    }

    /// Whether the peer has closed its side (end of stream was read).
    pub fn is_eof(&self) -> bool {
        self.st.eof
    }

    /// The size of the read buffer held, or 0 when none is held.
    pub fn capacity(&self) -> usize {
        self.st.buf.as_deref().map_or(0, |b| b.len())
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.st.start as usize;
        self.st.start += n as u32;
        let b = self.st.buf.as_deref()?;
        b.get(s..s + n)
    }

    fn unsatisfiable(&mut self) -> StreamError {
        self.st.dead = true;
        StreamError::Unsatisfiable
    }

    /// Reads up to and including `delimiter` (Tornado's `read_until`).
    ///
    /// `Err(Unsatisfiable)` (and the stream closes) when the delimiter is not within the first
    /// `max_bytes` bytes or the buffer fills without it; `Err(Closed)` at end of stream without it.
    pub fn read_until(
        &mut self,
        delimiter: &[u8],
        max_bytes: usize,
    ) -> Result<Option<&[u8]>, StreamError> {
        loop {
            let data = self.buffered();
            if let Some(pos) = find(data, delimiter) {
                let n = pos + delimiter.len();
                if n > max_bytes {
                    return Err(self.unsatisfiable());
                }
                return Ok(self.take(n));
            }
            let len = data.len();
            if len >= max_bytes || self.st.is_full() {
                return Err(self.unsatisfiable());
            }
            if self.st.eof || self.st.dead {
                return Err(StreamError::Closed);
            }
            if self.fill()? == 0 && !self.st.eof {
                return Ok(None);
            }
        }
    }

    /// Reads exactly `n` bytes, or with `partial` any 1..=`n` bytes that are available
    /// (Tornado's `read_bytes(n, partial)`).
    ///
    /// Without `partial`, `n` larger than the buffer is `Err(Unsatisfiable)`: read large bodies
    /// in pieces with `partial`. `Err(Closed)` at end of stream with too few bytes.
    pub fn read_bytes(&mut self, n: usize, partial: bool) -> Result<Option<&[u8]>, StreamError> {
        if n == 0 {
            return Ok(Some(&[]));
        }
        loop {
            let avail = self.st.len();
            if avail >= n || (partial && avail > 0) {
                return Ok(self.take(avail.min(n)));
            }
            let cap = self.capacity();
            if !partial && cap > 0 && n > cap {
                return Err(self.unsatisfiable());
            }
            if self.st.eof || self.st.dead {
                return Err(StreamError::Closed);
            }
            if self.fill()? == 0 && !self.st.eof {
                return Ok(None);
            }
        }
    }

    /// Reads everything until the peer closes (Tornado's `read_until_close`): `Ok(Some(data))`
    /// once, at end of stream; `Err(Unsatisfiable)` if the buffer fills first.
    pub fn read_until_close(&mut self) -> Result<Option<&[u8]>, StreamError> {
        loop {
            if self.st.eof {
                if self.st.eof_delivered {
                    return Err(StreamError::Closed);
                }
                self.st.eof_delivered = true;
                let n = self.st.len();
                return Ok(Some(self.take(n).unwrap_or(&[])));
            }
            if self.st.dead {
                return Err(StreamError::Closed);
            }
            if self.st.is_full() {
                return Err(self.unsatisfiable());
            }
            if self.fill()? == 0 && !self.st.eof {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn test_find_single_and_multi() {
        assert_eq!(find(b"abc\r\n", b"\r\n"), Some(3));
        assert_eq!(find(b"abc", b"\n"), None);
        assert_eq!(find(b"a\nb", b"\n"), Some(1));
        assert_eq!(find(b"", b"\r\n"), None);
    }
}
