//! Connections switched to another protocol after `101 Switching Protocols` (WebSocket).

use crate::ioloop::{Error, IoLoop};
use crate::iostream::StreamError;
use crate::tcpserver::{ConnId, TcpServer};

use super::conn::Phase;
use super::{HttpApp, HttpProtocol, HttpServer};

/// The bytes of an upgraded connection, lent to [`HttpApp::on_upgraded`]: the unconsumed input
/// (mutable, so frames can be unmasked in place) and the free space of the write buffer.
#[derive(Debug)]
pub struct Upgraded<'a> {
    input: &'a mut [u8],
    consumed: usize,
    out: &'a mut [u8],
    written: usize,
    eof: bool,
    close: bool,
}

impl<'a> Upgraded<'a> {
    /// The input not consumed yet.
    pub fn input(&mut self) -> &mut [u8] {
        &mut self.input[self.consumed..]
    }

    /// Marks `n` more input bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.consumed = (self.consumed + n).min(self.input.len());
    }

    /// Free space for [`write`](Self::write).
    pub fn room(&self) -> usize {
        self.out.len() - self.written
    }

    /// Queues `pieces` to be sent, all or nothing (`Err(WriteBufferFull)` if they do not fit).
    pub fn write(&mut self, pieces: &[&[u8]]) -> Result<(), StreamError> {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if len > self.room() {
            return Err(StreamError::WriteBufferFull);
        }
        for p in pieces {
            self.out[self.written..self.written + p.len()].copy_from_slice(p);
            self.written += p.len();
        }
        Ok(())
    }

    /// Whether the peer closed its side.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Closes the connection once what was written has been sent.
    pub fn close(&mut self) {
        self.close = true;
    }
}

pub(crate) fn on_ready<A: HttpApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    id: ConnId,
) -> Result<(), Error> {
    let srv = app.http();
    let Some(conn) = srv.tcp.conn(id) else {
        return Ok(());
    };
    let eof = conn.stream.is_eof();
    let Some(mut l) = conn.stream.lend() else {
        return Ok(());
    };
    if l.wstart > 0 {
        l.wbuf.copy_within(l.wstart..l.wend, 0);
        l.wend -= l.wstart;
        l.wstart = 0;
    }
    let mut io = Upgraded {
        input: &mut l.rbuf[l.rstart..l.rend],
        consumed: 0,
        out: &mut l.wbuf[l.wend..],
        written: 0,
        eof,
        close: false,
    };
    app.on_upgraded(lp, id, &mut io);
    let (consumed, written, close) = (io.consumed, io.written, io.close);
    l.rstart += consumed;
    l.wend += written;
    let srv = app.http();
    let Some(conn) = srv.tcp.conn(id) else {
        return Ok(());
    };
    conn.stream.restore(l);
    if close {
        conn.stream.close();
    }
    Ok(())
}

impl<A: HttpApp> HttpServer<A> {
    /// Writes to an upgraded connection from outside [`HttpApp::on_upgraded`] (a timer, a
    /// broadcast): all `pieces` or nothing. `Err(Stream(WriteBufferFull))` when they do not fit
    /// behind what is still unsent, `Err(Stream(NoBuffer))` when the pool is dry,
    /// `Err(NotRegistered)` when the connection is gone or not upgraded.
    pub fn upgraded_write(
        app: &mut A,
        lp: &mut IoLoop<A>,
        id: ConnId,
        pieces: &[&[u8]],
    ) -> Result<(), Error> {
        Self::write_out(app, lp, id, Phase::Upgraded, &[], pieces, &[])
    }

    /// Closes an upgraded connection once what was written has been sent.
    pub fn upgraded_close(app: &mut A, lp: &mut IoLoop<A>, id: ConnId) -> Result<(), Error> {
        let conn = app.http().tcp.conn(id).ok_or(Error::NotRegistered)?;
        conn.stream.close();
        TcpServer::<HttpProtocol<A>>::update(app, lp, id)
    }
}
