//! Handlers reserved in the table before they join the epoll set.

use std::boxed::Box;

use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::*;

#[derive(Default)]
struct Seen {
    calls: u32,
}

fn on_ready(ctx: &mut Seen, _: &mut IoLoop<Seen>, _: Token, _: Ready) -> Result<(), Error> {
    ctx.calls += 1;
    Ok(())
}

/// A connected pair of non-blocking Unix stream sockets; the first is readable at once.
fn readable_pair() -> (OwnedFd, OwnedFd) {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::io::write(&b, b"x").unwrap();
    (a, b)
}

fn spin(lp: &mut IoLoop<Seen>, seen: &mut Seen) {
    lp.run_once(seen, Some(Duration::ZERO)).unwrap();
}

/// A loop with the readable end of a pair reserved under `token` (and the pair).
fn reserved(token: u64) -> (Box<IoLoop<Seen>>, OwnedFd, OwnedFd) {
    let mut lp = Box::new(IoLoop::<Seen>::new());
    let (a, b) = readable_pair();
    lp.reserve_handler(&a, on_ready, Token(token)).unwrap();
    (lp, a, b)
}

#[test]
fn test_reserved_handler_reports_nothing_until_updated() {
    let (mut lp, a, _b) = reserved(7);
    let mut seen = Seen::default();
    assert_eq!(lp.handler_count(), 1);
    assert_eq!(lp.interest(&a), Ok(Interest::NONE));
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 0, "a reserved fd is not in the epoll set");
    // The first update adds it, whatever the interest.
    lp.update_handler(&a, Interest::READ).unwrap();
    assert_eq!(lp.interest(&a), Ok(Interest::READ));
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 1);
    // From then on it is an ordinary registration.
    lp.update_handler(&a, Interest::NONE).unwrap();
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 1);
    lp.update_handler(&a, Interest::READ).unwrap();
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 2);
    lp.remove_handler(&a).unwrap();
    assert_eq!(lp.handler_count(), 0);
}

#[test]
fn test_reserved_handler_can_be_removed_or_forgotten_unarmed() {
    let (mut lp, a, _b) = reserved(1);
    let mut seen = Seen::default();
    assert_eq!(
        lp.reserve_handler(&a, on_ready, Token(2)),
        Err(Error::AlreadyRegistered)
    );
    lp.remove_handler(&a).unwrap();
    assert_eq!(lp.interest(&a), Err(Error::NotRegistered));
    // Reserved again after removal, then forgotten (the caller closes it): never in epoll.
    lp.reserve_handler(&a, on_ready, Token(3)).unwrap();
    lp.forget_handler(&a).unwrap();
    drop(a);
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 0);
    // A fresh registration of the same fd number works as usual.
    let (c, _d) = readable_pair();
    lp.add_handler(&c, on_ready, Token(4), Interest::READ)
        .unwrap();
    spin(&mut lp, &mut seen);
    assert_eq!(seen.calls, 1);
}
