//! The server's event handlers: accepting (with back-off and rejection), connection
//! readiness (buffers, parking, flushing) and the bookkeeping after the protocol ran.

use core::net::SocketAddr;
use core::time::Duration;

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{SendFlags, SocketFlags};

use super::{ACCEPT_BACKOFF_MS, ACCEPT_BATCH, ConnId, Connection, Pause, Protocol, TcpServer};
use crate::fmt;
use crate::ioloop::{Error, Interest, IoLoop, Ready, Token};
use crate::iostream::{IoStream, StreamError};

pub(super) fn resume_after_backoff<P: Protocol>(
    ctx: &mut P::Ctx,
    lp: &mut IoLoop<P::Ctx>,
    _: Token,
) -> Result<(), Error> {
    let srv = P::server(ctx);
    if let Pause::Backoff(_) = srv.pause {
        if let Some(fd) = srv.listener.as_ref() {
            let _ = lp.update_handler(fd, Interest::READ);
        }
        srv.pause = Pause::No;
    }
    Ok(())
}

pub(super) fn accept_ready<P: Protocol>(
    ctx: &mut P::Ctx,
    lp: &mut IoLoop<P::Ctx>,
    _: Token,
    _: Ready,
) -> Result<(), Error> {
    for round in 0..ACCEPT_BATCH {
        let srv = P::server(ctx);
        if !srv.has_free_slot() && P::REJECT_RESPONSE.is_none() {
            // This wake-up means a client waits (on the first round at least): the protocol may
            // free a slot for it. Otherwise leave it in the kernel backlog, not accepted.
            if round > 0 || !P::on_slots_full(ctx, lp) {
                let srv = P::server(ctx);
                srv.stats.slot_pauses += 1;
                srv.pause_accepting(lp, Pause::SlotsFull);
                return Ok(());
            }
        }
        let srv = P::server(ctx);
        let Some(listener) = srv.listener.as_ref() else {
            return Ok(());
        };
        let (fd, peer) = match rustix::net::acceptfrom_with(
            listener,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        ) {
            Ok(x) => x,
            Err(Errno::AGAIN) => return Ok(()),
            Err(Errno::INTR | Errno::CONNABORTED | Errno::PROTO) => continue,
            Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                srv.stats.accept_errors += 1;
                fmt::warning!(
                    "tcpserver: accept failed (errno {}), backing off",
                    e.raw_os_error()
                );
                let delay = Duration::from_millis(ACCEPT_BACKOFF_MS as u64);
                match lp.call_later(delay, resume_after_backoff::<P>, Token(0)) {
                    Ok(id) => srv.pause_accepting(lp, Pause::Backoff(id)),
                    // No timer free: resume only when a connection closes.
                    Err(_) => srv.pause_accepting(lp, Pause::SlotsFull),
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if !srv.has_free_slot() && !P::on_slots_full(ctx, lp) {
            // Every slot busy, none freed: answer and close (REJECT_RESPONSE is set here).
            let srv = P::server(ctx);
            srv.stats.rejected += 1;
            reject(&fd, P::REJECT_RESPONSE.unwrap_or_default());
            continue;
        }
        let srv = P::server(ctx);
        let index = srv.free_head as usize;
        let slot = &mut srv.slots[index];
        let id = ConnId::new(index, slot.generation);
        // TCP_NODELAY comes from the listener. With deferred accepting the request is already
        // here: the connection is served below and enters the epoll set only if it must wait.
        let eager = srv.defer_accept;
        let registered = if eager {
            lp.reserve_handler(&fd, conn_ready::<P>, id.token())
        } else {
            lp.add_handler(&fd, conn_ready::<P>, id.token(), Interest::READ)
        };
        if let Err(e) = registered {
            srv.stats.rejected += 1;
            fmt::warning!("tcpserver: cannot register connection: {}", e);
            continue; // `fd` drops here: the client sees the connection close.
        }
        srv.free_head = slot.next_free;
        slot.conn = Some(Connection {
            stream: IoStream::new(fd),
            state: P::Conn::default(),
            peer: peer.and_then(|a| SocketAddr::try_from(a).ok()),
        });
        srv.stats.accepted += 1;
        srv.stats.active += 1;
        if let Err(e) = P::on_connect(ctx, lp, id) {
            fmt::warning!("tcpserver: on_connect failed: {}", e);
            TcpServer::<P>::close(ctx, lp, id);
            continue;
        }
        if eager {
            let r = conn_ready::<P>(ctx, lp, id.token(), Ready::READABLE);
            lp.report(r);
        }
    }
    Ok(())
}

/// Sets `TCP_DEFER_ACCEPT` on a listener: connections reach the accept queue once the client
/// sent data, or after `secs` of silence.
pub(super) fn set_defer_accept(fd: &OwnedFd, secs: usize) -> Result<(), Error> {
    use rustix::fd::AsRawFd;
    let value = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    let len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: rustix has no TCP_DEFER_ACCEPT. `fd` is an open socket borrowed for the call;
    // `value` is a c_int that outlives the call and `len` is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const value).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(Error::Io(crate::ioloop::last_errno()));
    }
    Ok(())
}

/// Runs the protocol for a connection that was just unparked.
pub(super) fn resume<P: Protocol>(
    ctx: &mut P::Ctx,
    lp: &mut IoLoop<P::Ctx>,
    token: Token,
) -> Result<(), Error> {
    conn_ready::<P>(ctx, lp, token, Ready::from_bits(0))
}

/// Sends `bytes` to a client that cannot be served and closes it gracefully: the request it
/// already sent is read and dropped first, so closing sends a FIN after the answer instead of a
/// reset that could destroy the answer before the client reads it.
pub(super) fn reject(fd: &OwnedFd, bytes: &[u8]) {
    let _ = rustix::net::send(fd, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT);
    let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Write);
    let mut scratch = [0u8; 1024];
    for _ in 0..8 {
        match rustix::net::recv(fd, &mut scratch, rustix::net::RecvFlags::DONTWAIT) {
            Ok((n, _)) if n > 0 => {}
            _ => break,
        }
    }
}

pub(super) fn conn_ready<P: Protocol>(
    ctx: &mut P::Ctx,
    lp: &mut IoLoop<P::Ctx>,
    token: Token,
    ready: Ready,
) -> Result<(), Error> {
    let id = ConnId::from_token(token);
    {
        let srv = P::server(ctx);
        let parked = srv.slots.get(id.index()).is_some_and(|s| s.parked);
        let pool = srv.pool;
        let Some(conn) = srv.conn(id) else {
            return Ok(());
        };
        let s = &mut conn.stream;
        if ready.is_readable() || ready.is_hup() || ready.is_error() {
            s.set_readable();
        }
        if parked {
            if ready.is_hup() || ready.is_error() {
                s.abort();
                return finish::<P>(ctx, lp, id, Ok(()));
            }
            if ready.is_writable() && s.is_writing() {
                if s.flush().is_err() {
                    return finish::<P>(ctx, lp, id, Ok(()));
                }
                let want = if s.is_writing() {
                    Interest::WRITE
                } else {
                    Interest::NONE
                };
                let fd = s.fd();
                let _ = lp.update_handler(fd, want);
                if s.release_idle_buffers(pool) {
                    srv.unpark(lp);
                }
            }
            return Ok(());
        }
        if !s.acquire_buffers(pool) {
            let freed = P::on_pool_dry(ctx, lp, id);
            let srv = P::server(ctx);
            let pool = srv.pool;
            let Some(conn) = srv.conn(id) else {
                return Ok(());
            };
            if !freed || !conn.stream.acquire_buffers(pool) {
                srv.park(lp, id);
                return Ok(());
            }
        }
        let srv = P::server(ctx);
        let Some(conn) = srv.conn(id) else {
            return Ok(());
        };
        let s = &mut conn.stream;
        if s.is_writing() {
            let _ = s.flush();
        }
        if s.closed() {
            return finish::<P>(ctx, lp, id, Ok(()));
        }
    }
    let r = P::on_ready(ctx, lp, id, ready);
    finish::<P>(ctx, lp, id, r)
}

/// After the protocol ran: flush, re-arm, give back idle buffers, or close.
/// Rounds of "output drained, input waiting → run the protocol again" in one event.
const RESUME_ROUNDS: usize = 16;

/// End of stream, or a reset surfacing through the protocol, is the normal way a connection
/// ends, not a failure to log; the stream is already marked closed.
fn normal_end(r: Result<(), Error>) -> Result<(), Error> {
    match r {
        Err(Error::Stream(StreamError::Closed | StreamError::Io(_))) => Ok(()),
        other => other,
    }
}

pub(super) fn finish<P: Protocol>(
    ctx: &mut P::Ctx,
    lp: &mut IoLoop<P::Ctx>,
    id: ConnId,
    r: Result<(), Error>,
) -> Result<(), Error> {
    let mut r = normal_end(r);
    // Output that drained at once while input still waits in the buffer means the protocol
    // stopped for lack of output room, and no event will come to resume it (the peer may have
    // nothing more to send): run it again, a bounded number of times, then in a callback.
    for round in 0..=RESUME_ROUNDS {
        let Some(conn) = P::server(ctx).conn(id) else {
            return r;
        };
        let s = &mut conn.stream;
        if r.is_err() {
            s.abort();
        }
        let was_writing = s.is_writing();
        if was_writing && !s.closed() {
            let _ = s.flush();
        }
        let stalled = r.is_ok()
            && was_writing
            && !s.is_writing()
            && s.read_buffered() > 0
            && !s.closed()
            && !s.is_closing();
        if !stalled {
            break;
        }
        if round == RESUME_ROUNDS {
            let _ = lp.add_callback(resume::<P>, id.token());
            break;
        }
        r = normal_end(P::on_ready(ctx, lp, id, Ready::WRITABLE));
    }
    let srv = P::server(ctx);
    let pool = srv.pool;
    let Some(conn) = srv.conn(id) else {
        return r;
    };
    let s = &mut conn.stream;
    // A full read buffer that the protocol neither consumed nor paused, with nothing to send:
    // no event could ever make progress, so the connection is closed rather than left hanging.
    let stuck = s.read_buffer_full() && !s.is_writing() && !s.is_reading_paused();
    let done = s.closed() || ((s.is_eof() || s.is_closing()) && !s.is_writing()) || stuck;
    if done {
        P::on_close(ctx, lp, id);
        let srv = P::server(ctx);
        srv.release(lp, id);
        return r;
    }
    let want = s.desired_interest();
    let fd = s.fd();
    let res = lp.update_handler(fd, want);
    let released = s.release_idle_buffers(pool);
    if let Err(e) = res {
        s.abort();
        P::on_close(ctx, lp, id);
        P::server(ctx).release(lp, id);
        return Err(e);
    }
    if released && srv.stats.parked > 0 {
        srv.unpark(lp);
    }
    r
}
