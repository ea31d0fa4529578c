//! Buffered non-blocking sockets (Tornado's `tornado.iostream`).
//!
//! An [`IoStream`] wraps one non-blocking socket and two fixed-size buffers borrowed from a
//! [`BufferPool`]: a read buffer that `read_until` / `read_bytes` / `read_until_close` parse from
//! in place, and a write buffer that `write` copies into (plus one zero-copy `&'static [u8]`
//! tail for static assets). Buffers are held only while bytes are in flight; an idle stream is
//! about a hundred bytes of state.
//!
//! Reads and writes are poll-style rather than callback-style (no closures can be stored without
//! a heap): on each readiness event the owner calls the read operation again, and gets
//! `Ok(None)` while the data is not there yet. [`TcpServer`](crate::tcpserver::TcpServer) does
//! the bookkeeping around this: it marks the stream readable, lends it buffers (or parks it when
//! the pool is empty), flushes after the protocol handler returns, keeps the epoll interest in
//! step (WRITE only while something is pending; no READ while the output is full), gives idle
//! buffers back and closes the stream when it is done.

mod error;
mod pool;
mod read;
mod write;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

pub use error::StreamError;
pub use pool::{BufferPool, PoolError};
pub use read::ReadHalf;
pub use write::WriteHalf;

use crate::ioloop::Interest;
use read::ReadState;
use write::WriteState;

/// A stream's two buffers, lent out by [`IoStream::lend`] so a protocol can parse from the read
/// buffer and write into the write buffer while it also holds `&mut` to its application (the
/// buffers are `&'static mut`, so they borrow nothing). Give them back with
/// [`IoStream::restore`].
#[derive(Debug)]
pub struct Lent {
    /// The read buffer; unconsumed bytes are `rbuf[rstart..rend]`.
    pub rbuf: &'static mut [u8],
    /// Start of the unconsumed bytes.
    pub rstart: usize,
    /// End of the unconsumed bytes.
    pub rend: usize,
    /// The write buffer; bytes waiting to be sent are `wbuf[wstart..wend]`.
    pub wbuf: &'static mut [u8],
    /// Start of the pending output.
    pub wstart: usize,
    /// End of the pending output; new output goes after it.
    pub wend: usize,
}

/// A non-blocking socket with pooled read and write buffers (Tornado's `IOStream`).
///
/// See the [module docs](self) for the buffer and readiness model. The stream does not keep a
/// reference to its pool (that keeps it `Send` and small): whoever owns it lends and takes back
/// buffers with [`acquire_buffers`](Self::acquire_buffers) and
/// [`release_idle_buffers`](Self::release_idle_buffers).
#[derive(Debug)]
pub struct IoStream {
    fd: OwnedFd,
    rd: ReadState,
    wr: WriteState,
    closing: bool,
}

impl IoStream {
    /// Wraps a connected, non-blocking socket. It holds no buffer until
    /// [`acquire_buffers`](Self::acquire_buffers) lends it a pair.
    pub fn new(fd: OwnedFd) -> Self {
        IoStream {
            fd,
            rd: ReadState::default(),
            wr: WriteState::default(),
            closing: false,
        }
    }

    /// The socket.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The read and write halves, usable at the same time (read a request, write its answer).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        let fd = self.fd.as_fd();
        (
            ReadHalf {
                fd,
                st: &mut self.rd,
            },
            WriteHalf {
                fd,
                st: &mut self.wr,
            },
        )
    }

    /// The read half alone.
    pub fn reader(&mut self) -> ReadHalf<'_> {
        self.split().0
    }

    /// The write half alone.
    pub fn writer(&mut self) -> WriteHalf<'_> {
        self.split().1
    }

    /// See [`ReadHalf::read_until`].
    pub fn read_until(
        &mut self,
        delimiter: &[u8],
        max_bytes: usize,
    ) -> Result<Option<&[u8]>, StreamError> {
        let fd = self.fd.as_fd();
        ReadHalf {
            fd,
            st: &mut self.rd,
        }
        .read_until_owned(delimiter, max_bytes)
    }

    /// See [`ReadHalf::read_bytes`].
    pub fn read_bytes(&mut self, n: usize, partial: bool) -> Result<Option<&[u8]>, StreamError> {
        let fd = self.fd.as_fd();
        ReadHalf {
            fd,
            st: &mut self.rd,
        }
        .read_bytes_owned(n, partial)
    }

    /// See [`ReadHalf::read_until_close`].
    pub fn read_until_close(&mut self) -> Result<Option<&[u8]>, StreamError> {
        let fd = self.fd.as_fd();
        ReadHalf {
            fd,
            st: &mut self.rd,
        }
        .read_until_close_owned()
    }

    /// See [`WriteHalf::write`].
    pub fn write(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.writer().write(data)
    }

    /// See [`WriteHalf::write_static`].
    pub fn write_static(&mut self, data: &'static [u8]) -> Result<(), StreamError> {
        self.writer().write_static(data)
    }

    /// See [`WriteHalf::flush`].
    pub fn flush(&mut self) -> Result<bool, StreamError> {
        self.writer().flush()
    }

    /// Records that the loop reported the socket readable (or hung up): the next read operation
    /// may call `recv`.
    pub fn set_readable(&mut self) {
        self.rd.may_read = true;
    }

    /// Takes a read and a write buffer from the pool if the stream lacks them. `false` when the
    /// pool cannot provide them (the stream should then be parked).
    pub fn acquire_buffers(&mut self, pool: &BufferPool) -> bool {
        match (self.rd.buf.is_some(), self.wr.buf.is_some()) {
            (true, true) => true,
            (false, false) => match pool.take_pair() {
                Some((a, b)) => {
                    self.rd.buf = Some(a);
                    self.wr.buf = Some(b);
                    self.rd.starved = false;
                    true
                }
                None => false,
            },
            (false, true) => match pool.take() {
                Some(a) => {
                    self.rd.buf = Some(a);
                    self.rd.starved = false;
                    true
                }
                None => false,
            },
            (true, false) => match pool.take() {
                Some(b) => {
                    self.wr.buf = Some(b);
                    true
                }
                None => false,
            },
        }
    }

    /// Lends both buffers out (see [`Lent`]). `None` unless the stream holds both and no
    /// zero-copy tail is queued (new output could not be ordered after it).
    pub fn lend(&mut self) -> Option<Lent> {
        if !self.wr.tail.is_empty() || self.rd.buf.is_none() || self.wr.buf.is_none() {
            return None;
        }
        let rbuf = self.rd.buf.take()?;
        let wbuf = self.wr.buf.take()?;
        Some(Lent {
            rbuf,
            rstart: self.rd.start as usize,
            rend: self.rd.end as usize,
            wbuf,
            wstart: self.wr.start as usize,
            wend: self.wr.end as usize,
        })
    }

    /// Takes back buffers lent by [`lend`](Self::lend), with their offsets as the borrower left
    /// them (offsets are clamped to the buffers).
    pub fn restore(&mut self, l: Lent) {
        let re = l.rend.min(l.rbuf.len());
        let rs = l.rstart.min(re);
        let we = l.wend.min(l.wbuf.len());
        let ws = l.wstart.min(we);
        self.rd.start = rs as u32;
        self.rd.end = re as u32;
        if rs == re {
            self.rd.start = 0;
            self.rd.end = 0;
        }
        self.wr.start = ws as u32;
        self.wr.end = we as u32;
        self.rd.buf = Some(l.rbuf);
        self.wr.buf = Some(l.wbuf);
    }

    /// Whether both buffers are held.
    pub fn has_buffers(&self) -> bool {
        self.rd.buf.is_some() && self.wr.buf.is_some()
    }

    /// Gives back the buffers that hold nothing (read side fully consumed, write side fully
    /// sent). Returns whether any buffer went back to the pool.
    pub fn release_idle_buffers(&mut self, pool: &BufferPool) -> bool {
        let mut released = false;
        if self.rd.len() == 0 {
            if let Some(b) = self.rd.buf.take() {
                pool.give(b);
                self.rd.start = 0;
                self.rd.end = 0;
                released = true;
            }
        }
        if self.wr.pending() == 0 {
            if let Some(b) = self.wr.buf.take() {
                pool.give(b);
                self.wr.start = 0;
                self.wr.end = 0;
                released = true;
            }
        }
        released
    }

    /// Whether output is waiting to be sent.
    pub fn is_writing(&self) -> bool {
        self.wr.pending() > 0
    }

    /// Bytes buffered for reading and not consumed yet.
    pub fn read_buffered(&self) -> usize {
        self.rd.len()
    }

    /// Stops reading from the socket (no `EPOLLIN`) until [`resume_reading`](Self::resume_reading),
    /// e.g. while the answer to a request is pending and the buffer holds later requests. A
    /// reset is still noticed (hang-ups are always reported); an orderly close is not, until
    /// reading resumes.
    pub fn pause_reading(&mut self) {
        self.rd.paused = true;
    }

    /// Undoes [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&mut self) {
        self.rd.paused = false;
    }

    /// Whether reading is paused.
    pub fn is_reading_paused(&self) -> bool {
        self.rd.paused
    }

    /// Whether the read buffer is full of unconsumed bytes.
    pub fn read_buffer_full(&self) -> bool {
        self.rd.is_full()
    }

    /// Whether the peer closed its side (end of stream read).
    pub fn is_eof(&self) -> bool {
        self.rd.eof
    }

    /// Whether the stream is closed (Tornado's `closed()`): reset, failed, unsatisfiable read,
    /// or [`abort`](Self::abort)ed. A graceful [`close`](Self::close) counts once its output has
    /// drained.
    pub fn closed(&self) -> bool {
        self.rd.dead || self.wr.dead || (self.closing && self.wr.pending() == 0)
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Closes gracefully: reads stop, pending output is still sent, then the server closes the
    /// socket.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// [`close`](Self::close) for a conversation the peer has finished — its last request was
    /// read whole and it may send nothing more (an HTTP request with `Connection: close`).
    ///
    /// When nothing more has come from the peer (nothing buffered, nothing in the kernel's
    /// receive queue: one `FIONREAD`), the pending output is sent with `MSG_MORE`, so the FIN
    /// leaves in the same segment as the last bytes: two segments fewer per connection and
    /// about a third less server CPU per `Connection: close` request. Otherwise it is exactly
    /// `close`: closing a socket with unread input resets the connection, and output the
    /// kernel was still holding back would be lost with it, so the output goes out at once.
    /// (Bytes that arrive between this check and the close, from a peer that broke its word,
    /// can still reset the connection before the held segment leaves.)
    pub fn close_finished(&mut self) {
        self.closing = true;
        self.wr.last =
            self.read_buffered() == 0 && rustix::io::ioctl_fionread(self.fd.as_fd()) == Ok(0);
    }

    /// Closes at once, discarding pending output.
    pub fn abort(&mut self) {
        self.rd.dead = true;
        self.wr.dead = true;
    }

    /// Bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.rd.received
    }

    /// Bytes handed to the kernel so far.
    pub fn bytes_sent(&self) -> u64 {
        self.wr.sent
    }

    /// The epoll interest this stream needs now: READ unless closing, at end of stream, holding
    /// a full read buffer, or blocked on a full write buffer; WRITE while output is pending.
    pub fn desired_interest(&self) -> Interest {
        let mut i = Interest::NONE;
        let wr_full = match self.wr.buf.as_deref() {
            Some(b) => self.wr.buffered() == b.len() || !self.wr.tail.is_empty(),
            None => !self.wr.tail.is_empty(),
        };
        if !self.closing
            && !self.rd.eof
            && !self.rd.dead
            && !self.rd.paused
            && !self.rd.is_full()
            && !wr_full
        {
            i = i.with(Interest::READ);
        }
        if self.wr.pending() > 0 {
            i = i.with(Interest::WRITE);
        }
        i
    }
}

impl IoStream {
    /// Gives both buffers back, whatever they hold (before dropping the stream).
    pub fn release_all_buffers(&mut self, pool: &BufferPool) {
        if let Some(b) = self.rd.buf.take() {
            pool.give(b);
        }
        if let Some(b) = self.wr.buf.take() {
            pool.give(b);
        }
        self.rd.start = 0;
        self.rd.end = 0;
        self.wr.start = 0;
        self.wr.end = 0;
    }

    /// Whether the stream holds any buffer. A stream must give its buffers back
    /// ([`release_all_buffers`](Self::release_all_buffers)) before it is dropped, or they are
    /// lost to the pool; [`TcpServer`](crate::tcpserver::TcpServer) always does.
    pub fn holds_buffers(&self) -> bool {
        self.rd.buf.is_some() || self.wr.buf.is_some()
    }
}

// `IoStream::read_*` return data borrowed from the stream itself, so they go through these
// by-value variants of the half's methods (same code, the half's lifetime is the stream's).
impl<'s> ReadHalf<'s> {
    fn read_until_owned(
        mut self,
        delimiter: &[u8],
        max_bytes: usize,
    ) -> Result<Option<&'s [u8]>, StreamError> {
        let r = self.read_until(delimiter, max_bytes)?.map(|d| d.len());
        Ok(r.map(|n| self.last_taken(n)))
    }

    fn read_bytes_owned(
        mut self,
        n: usize,
        partial: bool,
    ) -> Result<Option<&'s [u8]>, StreamError> {
        let r = self.read_bytes(n, partial)?.map(|d| d.len());
        Ok(r.map(|n| self.last_taken(n)))
    }

    fn read_until_close_owned(mut self) -> Result<Option<&'s [u8]>, StreamError> {
        let r = self.read_until_close()?.map(|d| d.len());
        Ok(r.map(|n| self.last_taken(n)))
    }

    /// The `n` bytes just consumed, borrowed for the half's whole lifetime.
    fn last_taken(self, n: usize) -> &'s [u8] {
        let st: &'s ReadState = self.st;
        let s = st.start as usize;
        match st.buf.as_deref() {
            Some(b) => b.get(s.saturating_sub(n)..s).unwrap_or(&[]),
            None => &[],
        }
    }
}
