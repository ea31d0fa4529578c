//! The write side of a stream: `write` (copying), `write_static` (zero-copy) and `flush`.

use rustix::fd::BorrowedFd;
use rustix::io::{Errno, IoSlice};
use rustix::net::{SendAncillaryBuffer, SendFlags, send, sendmsg};

use super::StreamError;

/// Write-side state kept in the stream.
#[derive(Debug, Default)]
pub(crate) struct WriteState {
    pub(crate) buf: Option<&'static mut [u8]>,
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// A zero-copy tail sent after the buffered bytes (a static asset body).
    pub(crate) tail: &'static [u8],
    pub(crate) dead: bool,
    /// Bytes handed to the kernel over the stream's life (saturating).
    pub(crate) sent: u64,
    /// The stream closes once its pending output is sent, and the peer is done sending
    /// ([`IoStream::close_finished`]): every send carries `MSG_MORE`, so the kernel holds a last
    /// partial segment until the close and the FIN leaves with the last bytes of the answer.
    /// The close follows as soon as a flush completes, which pushes the held segment out.
    ///
    /// [`IoStream::close_finished`]: super::IoStream::close_finished
    pub(crate) last: bool,
}

impl WriteState {
    pub(crate) fn buffered(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub(crate) fn pending(&self) -> usize {
        self.buffered() + self.tail.len()
    }
}

/// The write half of an [`IoStream`](super::IoStream), from [`IoStream::split`](super::IoStream::split).
///
/// Writes are copied into the stream's write buffer (or, for `&'static` data, queued by
/// reference) and sent when the stream is flushed — by the server after each handler returns, or
/// explicitly with [`flush`](Self::flush). Nothing is ever silently truncated: data that does not
/// fit is an error and nothing of it is written.
#[derive(Debug)]
pub struct WriteHalf<'s> {
    pub(crate) fd: BorrowedFd<'s>,
    pub(crate) st: &'s mut WriteState,
}

impl<'s> WriteHalf<'s> {
    fn ensure_buffer(&mut self) -> Result<&mut [u8], StreamError> {
        self.st.buf.as_deref_mut().ok_or(StreamError::NoBuffer)
    }

    /// Free space for [`write`](Self::write): what fits now without flushing.
    pub fn room(&self) -> usize {
        if !self.st.tail.is_empty() || self.st.dead {
            return 0;
        }
        match self.st.buf.as_deref() {
            Some(b) => b.len() - self.st.buffered(),
            None => 0,
        }
    }

    /// Bytes waiting to be sent (buffered and queued by reference).
    pub fn pending(&self) -> usize {
        self.st.pending()
    }

    /// Copies all of `data` into the write buffer (Tornado's `write`).
    ///
    /// `Err(NoBuffer)` if the stream holds no write buffer (its server lends one while the
    /// connection is being served);
    /// `Err(WriteBufferFull)` when it does not fit in the free space (nothing is written: flush
    /// and retry, or use [`try_write`](Self::try_write)); `Err(WriteQueueBusy)` while a
    /// [`write_static`](Self::write_static) tail is queued; `Err(Closed)` on a closed stream.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StreamError> {
        if self.st.dead {
            return Err(StreamError::Closed);
        }
        if !self.st.tail.is_empty() {
            return Err(StreamError::WriteQueueBusy);
        }
        if data.is_empty() {
            return Ok(());
        }
        let (start, end) = (self.st.start as usize, self.st.end as usize);
        let buf = self.ensure_buffer()?;
        let pending = end - start;
        let total = pending
            .checked_add(data.len())
            .ok_or(StreamError::WriteBufferFull)?;
        if total > buf.len() {
            return Err(StreamError::WriteBufferFull);
        }
        let mut at = end;
        if end + data.len() > buf.len() {
            buf.copy_within(start..end, 0);
            at = pending;
            self.st.start = 0;
        }
        let dst = &mut self.ensure_buffer()?[at..at + data.len()];
        dst.copy_from_slice(data);
        self.st.end = (at + data.len()) as u32;
        Ok(())
    }

    /// Copies as much of `data` as fits and returns how much that was (0 when full).
    pub fn try_write(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        let n = data.len().min(self.room());
        if n > 0 {
            self.write(&data[..n])?;
        }
        Ok(n)
    }

    /// Queues `data` to be sent by reference after the buffered bytes, without copying (static
    /// assets from rodata). Only one tail can be queued: `Err(WriteQueueBusy)` until it drains.
    pub fn write_static(&mut self, data: &'static [u8]) -> Result<(), StreamError> {
        if self.st.dead {
            return Err(StreamError::Closed);
        }
        if !self.st.tail.is_empty() {
            return Err(StreamError::WriteQueueBusy);
        }
        self.st.tail = data;
        Ok(())
    }

    /// Sends what is pending until done or the socket would block. `Ok(true)` when everything
    /// has been handed to the kernel. Buffered bytes and the static tail go out in one
    /// `sendmsg` (head and body in one system call). `MSG_NOSIGNAL`: a reset peer is an
    /// `Err(Io(EPIPE))`, never a `SIGPIPE`.
    pub fn flush(&mut self) -> Result<bool, StreamError> {
        loop {
            if self.st.dead {
                return Err(StreamError::Closed);
            }
            let (s, e) = (self.st.start as usize, self.st.end as usize);
            let head: &[u8] = match self.st.buf.as_deref() {
                Some(b) => b.get(s..e).unwrap_or(&[]),
                None => &[],
            };
            let tail = self.st.tail;
            let flags = if self.st.last {
                SendFlags::NOSIGNAL | SendFlags::MORE
            } else {
                SendFlags::NOSIGNAL
            };
            let r = match (head.is_empty(), tail.is_empty()) {
                (true, true) => {
                    self.st.start = 0;
                    self.st.end = 0;
                    return Ok(true);
                }
                (false, true) => send(self.fd, head, flags),
                (true, false) => send(self.fd, tail, flags),
                (false, false) => sendmsg(
                    self.fd,
                    &[IoSlice::new(head), IoSlice::new(tail)],
                    &mut SendAncillaryBuffer::default(),
                    flags,
                ),
            };
            match r {
                Ok(n) => {
                    self.st.sent = self.st.sent.saturating_add(n as u64);
                    let from_head = n.min(head.len());
                    self.st.start += from_head as u32;
                    let from_tail = n - from_head;
                    self.st.tail = tail.get(from_tail..).unwrap_or(&[]);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(false),
                Err(e) => {
                    self.st.dead = true;
                    return Err(StreamError::Io(e.raw_os_error()));
                }
            }
        }
    }
}
