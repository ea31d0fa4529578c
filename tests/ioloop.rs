//! The event loop against the real kernel: real epoll, sockets, pipes, eventfds, signals and the
//! real monotonic clock. No mocks.
//!
//! Every test is bounded in time: the loop is driven with `run_once(ctx, Some(wait))` until a
//! condition holds or a deadline passes, and the one test that calls `start()` arms a watchdog
//! timer that stops it. Timing thresholds are generous (2-core CI machines running other builds)
//! and are multiplied by [`slow()`] under QEMU user emulation (`EDGELOOP_TEST_RUNNER` set).
//!
//! Signals: only SIGUSR1 and SIGUSR2 are used, and only ever sent to a specific thread
//! (`raise`/`pthread_kill`), never to the process, since other test threads do not block them.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use edgeloop::config::{MAX_CALLBACKS, MAX_HANDLERS, MAX_REMOTE_CALLBACKS, MAX_TIMERS};
use edgeloop::ioloop::{
    Error, Instant, Interest, IoLoop, PeriodicCallback, Ready, Remote, Signal, Token,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Timing scale: 1 natively, 4 under QEMU user emulation (which is 5-10x slower, but most of
/// our thresholds are far from what an unloaded machine needs).
fn slow() -> u32 {
    if std::env::var_os("EDGELOOP_TEST_RUNNER").is_some()
        || option_env!("EDGELOOP_TEST_RUNNER").is_some()
    {
        4
    } else {
        1
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A generous bound, scaled for emulation.
fn margin(d: Duration) -> Duration {
    d * slow()
}

/// A fresh loop on the heap (the struct is large), with its epoll instance created.
fn new_loop<C: 'static>() -> Box<IoLoop<C>> {
    let mut lp = Box::new(IoLoop::new());
    lp.open().expect("epoll_create");
    lp
}

/// Runs the loop until `done` holds or `limit` has passed; returns whether `done` held.
/// Every `run_once` must succeed.
fn run_until<C: 'static>(
    lp: &mut IoLoop<C>,
    ctx: &mut C,
    limit: Duration,
    mut done: impl FnMut(&C, &IoLoop<C>) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done(ctx, lp) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        lp.run_once(ctx, Some(deadline.saturating_duration_since(now)))
            .expect("run_once failed");
    }
}

/// Runs the loop for `d` (however many iterations that takes).
fn run_for<C: 'static>(lp: &mut IoLoop<C>, ctx: &mut C, d: Duration) {
    let _ = run_until(lp, ctx, d, |_, _| false);
}

fn since(later: Instant, earlier: Instant) -> Duration {
    later.saturating_duration_since(earlier)
}

/// The fd of a std socket as the loop's `AsFd` type.
///
/// edgeloop takes `impl rustix::fd::AsFd`; rustix is built without its `std` feature, so that
/// trait is rustix's own polyfill, not `std::os::fd::AsFd`, and std sockets do not implement it.
fn bfd<T: AsRawFd>(owner: &T) -> rustix::fd::BorrowedFd<'_> {
    // SAFETY: the borrow cannot outlive `owner`, which keeps the descriptor open.
    unsafe { rustix::fd::BorrowedFd::borrow_raw(owner.as_raw_fd()) }
}

/// A connected, non-blocking Unix stream pair: `.0` is watched by the loop, `.1` is the peer.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads everything currently buffered on a non-blocking stream.
fn drain(s: &mut UnixStream) -> usize {
    let mut buf = [0u8; 256];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return total,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    // SAFETY: timespec is plain data; clock_gettime fills it in.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A `pthread_t` that can be moved to another thread (it is a pointer on musl).
#[derive(Clone, Copy)]
struct ThreadHandle(libc::pthread_t);
// SAFETY: a pthread_t is only an identifier; every user joins its helper before the target
// thread exits, so the identifier stays valid while it is used.
unsafe impl Send for ThreadHandle {}
impl ThreadHandle {
    fn current() -> Self {
        // SAFETY: pthread_self has no preconditions.
        ThreadHandle(unsafe { libc::pthread_self() })
    }
    fn kill(self, sig: libc::c_int) -> libc::c_int {
        // SAFETY: the target thread is alive (see the Send impl).
        unsafe { libc::pthread_kill(self.0, sig) }
    }
}

/// Blocks or unblocks `sig` for the calling thread.
fn set_signal_blocked(sig: libc::c_int, blocked: bool) {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let how = if blocked {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        assert_eq!(
            libc::pthread_sigmask(how, &set, std::ptr::null_mut()),
            0,
            "pthread_sigmask"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1-3. One-shot timers
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Fired {
    log: Vec<(u64, Instant)>,
}

fn record_fire(ctx: &mut Fired, _: &mut IoLoop<Fired>, t: Token) -> Result<(), Error> {
    ctx.log.push((t.0, Instant::now()));
    Ok(())
}

fn tokens(log: &[(u64, Instant)]) -> Vec<u64> {
    log.iter().map(|(t, _)| *t).collect()
}

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    // Shuffled, distinct delays 5..60 ms (scheduling them takes microseconds, so deadline order
    // is delay order). Some are only 1 ms apart: waking for one must not run its neighbour a
    // little early.
    let delays_ms: [u64; 16] = [35, 5, 60, 21, 20, 50, 10, 45, 6, 25, 55, 15, 40, 41, 30, 11];
    let mut lp = new_loop::<Fired>();
    let mut ctx = Fired::default();
    let mut scheduled = Vec::new();
    for (i, d) in delays_ms.iter().enumerate() {
        let at = Instant::now();
        lp.call_later(ms(*d), record_fire, Token(i as u64)).unwrap();
        scheduled.push(at);
    }
    assert_eq!(lp.timer_count(), delays_ms.len());

    let all = run_until(&mut lp, &mut ctx, margin(ms(5_000)), |c, _| {
        c.log.len() == delays_ms.len()
    });
    assert!(
        all,
        "only {} of {} timers fired",
        ctx.log.len(),
        delays_ms.len()
    );

    let mut expected: Vec<u64> = (0..delays_ms.len() as u64).collect();
    expected.sort_by_key(|i| delays_ms[*i as usize]);
    assert_eq!(
        tokens(&ctx.log),
        expected,
        "timers fired out of deadline order"
    );

    for (tok, fired) in &ctx.log {
        let i = *tok as usize;
        let due = scheduled[i] + ms(delays_ms[i]);
        assert!(
            *fired >= due,
            "timer {i} ({} ms) fired {:?} early",
            delays_ms[i],
            since(due, *fired)
        );
    }
    // Firing times are non-decreasing too.
    assert!(ctx.log.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(lp.timer_count(), 0);
    assert_eq!(lp.stats().timers_fired, delays_ms.len() as u64);
    assert_eq!(lp.stats().handler_errors, 0);
}

/// A past deadline: one second ago (the monotonic clock counts from boot).
fn past() -> Instant {
    Instant::from_nanos(Instant::now().as_nanos().saturating_sub(1_000_000_000))
}

#[test]
fn call_at_past_instant_runs_on_next_iteration_without_waiting() {
    let mut lp = new_loop::<Fired>();
    let mut ctx = Fired::default();
    lp.call_at(past(), record_fire, Token(1)).unwrap();
    lp.call_at(Instant::from_nanos(0), record_fire, Token(2))
        .unwrap();
    assert!(
        ctx.log.is_empty(),
        "call_at must not run the callback synchronously"
    );

    let t0 = Instant::now();
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    let took = since(Instant::now(), t0);
    // Instant 0 is earlier than one second ago: deadline order.
    assert_eq!(tokens(&ctx.log), [2, 1]);
    assert!(
        took < margin(ms(1_000)),
        "a due timer must not wait for max_wait ({took:?})"
    );
    assert_eq!(lp.stats().iterations, 1);
    assert_eq!(lp.timer_count(), 0);
}

fn schedule_past_from_timer(
    ctx: &mut Fired,
    lp: &mut IoLoop<Fired>,
    t: Token,
) -> Result<(), Error> {
    ctx.log.push((t.0, Instant::now()));
    lp.call_at(past(), record_fire, Token(t.0 + 1))?;
    // Not run re-entrantly from inside this callback.
    assert_eq!(ctx.log.len(), 1);
    Ok(())
}

#[test]
fn call_at_past_instant_from_a_timer_runs_by_next_iteration_without_waiting() {
    let mut lp = new_loop::<Fired>();
    let mut ctx = Fired::default();
    lp.call_later(ms(5), schedule_past_from_timer, Token(10))
        .unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| !c
        .log
        .is_empty()));
    let t0 = Instant::now();
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    assert!(since(Instant::now(), t0) < margin(ms(1_000)));
    assert_eq!(tokens(&ctx.log), [10, 11]);
    assert_eq!(lp.timer_count(), 0);
}

#[test]
fn equal_deadlines_run_in_insertion_order() {
    let mut lp = new_loop::<Fired>();
    let mut ctx = Fired::default();
    let when = Instant::now() + ms(20);
    let mut ids = Vec::new();
    let mut expected_late = Vec::new();
    for i in 0..20u64 {
        ids.push(lp.call_at(when, record_fire, Token(i)).unwrap());
        if i % 4 == 0 {
            // A later deadline interleaved in insertion order must still come after.
            lp.call_at(when + ms(1), record_fire, Token(1000 + i))
                .unwrap();
            expected_late.push(1000 + i);
        }
    }
    // Removing from the middle of the heap must not disturb the order of the rest.
    assert!(lp.remove_timeout(ids[3]));
    assert!(lp.remove_timeout(ids[7]));
    assert!(lp.remove_timeout(ids[16]));
    let total = 20 - 3 + expected_late.len();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(3_000)), |c, _| c
        .log
        .len()
        == total));

    let mut expected: Vec<u64> = (0..20).filter(|i| ![3, 7, 16].contains(i)).collect();
    expected.extend(expected_late);
    assert_eq!(tokens(&ctx.log), expected);
    for (_, fired) in &ctx.log {
        assert!(*fired >= when);
    }
}

#[test]
fn remove_timeout_cancels_pending_timer_once() {
    let mut lp = new_loop::<Fired>();
    let mut ctx = Fired::default();
    let a = lp.call_later(ms(20), record_fire, Token(1)).unwrap();
    let b = lp.call_later(ms(40), record_fire, Token(2)).unwrap();
    assert_eq!(lp.timer_count(), 2);
    assert!(lp.remove_timeout(a), "pending timeout: removed");
    assert!(!lp.remove_timeout(a), "second removal is a no-op");
    assert_eq!(lp.timer_count(), 1);

    // A new timer probably reuses a's slot: a's stale id must not cancel it.
    let c = lp.call_later(ms(10), record_fire, Token(3)).unwrap();
    assert!(
        !lp.remove_timeout(a),
        "stale id must not cancel a newer timer"
    );
    assert_ne!(a, c);

    assert!(run_until(&mut lp, &mut ctx, margin(ms(3_000)), |c, _| c
        .log
        .len()
        == 2));
    run_for(&mut lp, &mut ctx, ms(60));
    assert_eq!(
        tokens(&ctx.log),
        [3, 2],
        "the cancelled timer must never run"
    );
    assert!(
        !lp.remove_timeout(b),
        "removing a fired timeout returns false"
    );
    assert!(
        !lp.remove_timeout(c),
        "removing a fired timeout returns false"
    );
    assert_eq!(lp.timer_count(), 0);
    assert_eq!(lp.stats().timers_fired, 2);
}

#[derive(Default)]
struct Canceller {
    victim: Option<edgeloop::ioloop::TimeoutId>,
    removed: Option<bool>,
    log: Vec<u64>,
}

fn cancel_victim(ctx: &mut Canceller, lp: &mut IoLoop<Canceller>, t: Token) -> Result<(), Error> {
    ctx.log.push(t.0);
    if let Some(id) = ctx.victim.take() {
        ctx.removed = Some(lp.remove_timeout(id));
    }
    Ok(())
}

#[test]
fn remove_timeout_inside_callback_cancels_timer_due_in_same_iteration() {
    let mut lp = new_loop::<Canceller>();
    let mut ctx = Canceller::default();
    let when = Instant::now() + ms(10);
    // Same deadline: the first runs first (insertion order) and cancels the second, which is
    // already due in this very iteration.
    lp.call_at(when, cancel_victim, Token(1)).unwrap();
    ctx.victim = Some(lp.call_at(when, cancel_victim, Token(2)).unwrap());
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| !c
        .log
        .is_empty()));
    run_for(&mut lp, &mut ctx, ms(50));
    assert_eq!(ctx.log, [1], "a timer cancelled while due must not run");
    assert_eq!(ctx.removed, Some(true));
    assert_eq!(lp.timer_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. PeriodicCallback
// ---------------------------------------------------------------------------------------------

struct Periodic {
    pc: PeriodicCallback<Periodic>,
    runs: Vec<Instant>,
    stop_after: Option<usize>,
    block_for: Duration,
    block: Option<(Instant, Instant)>,
}

impl Periodic {
    fn new(interval: Duration) -> Self {
        Periodic {
            pc: PeriodicCallback::new(periodic_tick, Token(0), interval),
            runs: Vec::new(),
            stop_after: None,
            block_for: Duration::ZERO,
            block: None,
        }
    }
}

fn periodic_tick(ctx: &mut Periodic, lp: &mut IoLoop<Periodic>, _: Token) -> Result<(), Error> {
    ctx.runs.push(Instant::now());
    if ctx.stop_after == Some(ctx.runs.len()) {
        ctx.pc.stop(lp);
    }
    Ok(())
}

fn blocker(ctx: &mut Periodic, _: &mut IoLoop<Periodic>, _: Token) -> Result<(), Error> {
    let start = Instant::now();
    thread::sleep(ctx.block_for);
    ctx.block = Some((start, Instant::now()));
    Ok(())
}

#[test]
fn periodic_callback_runs_repeatedly_at_its_interval() {
    let interval = ms(20);
    let mut lp = new_loop::<Periodic>();
    let mut ctx = Periodic::new(interval);
    assert!(!ctx.pc.is_running());
    let t0 = Instant::now();
    ctx.pc.start(&mut lp).unwrap();
    assert!(ctx.pc.is_running());
    assert_eq!(ctx.pc.interval(), interval);
    assert_eq!(lp.timer_count(), 1);

    assert!(run_until(&mut lp, &mut ctx, margin(ms(5_000)), |c, _| c
        .runs
        .len()
        >= 5));
    // The k-th run (1-based) is never before t0 + k * interval: missed runs are skipped, never
    // bunched, so it cannot run more often than its grid.
    for (k, at) in ctx.runs.iter().enumerate() {
        let due = t0 + interval * (k as u32 + 1);
        assert!(
            *at >= due,
            "run {} fired {:?} early",
            k + 1,
            since(due, *at)
        );
    }
    assert_eq!(
        lp.timer_count(),
        1,
        "a periodic callback occupies one timer slot"
    );

    ctx.pc.stop(&mut lp);
    assert!(!ctx.pc.is_running());
    assert_eq!(lp.timer_count(), 0);
    let n = ctx.runs.len();
    run_for(&mut lp, &mut ctx, ms(100));
    assert_eq!(ctx.runs.len(), n, "no run after stop()");
    // Stopping a stopped one is harmless; restarting works.
    ctx.pc.stop(&mut lp);
    ctx.pc.start(&mut lp).unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| c
        .runs
        .len()
        > n));
    ctx.pc.stop(&mut lp);
}

#[test]
fn periodic_callback_stop_from_inside_its_own_callback() {
    let mut lp = new_loop::<Periodic>();
    let mut ctx = Periodic::new(ms(10));
    ctx.stop_after = Some(3);
    ctx.pc.start(&mut lp).unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(3_000)), |c, _| c
        .runs
        .len()
        >= 3));
    run_for(&mut lp, &mut ctx, ms(100));
    assert_eq!(
        ctx.runs.len(),
        3,
        "the periodic callback ran after stopping itself"
    );
    assert!(!ctx.pc.is_running());
    assert_eq!(lp.timer_count(), 0, "its timer slot is freed");
}

#[test]
fn periodic_callback_skips_missed_runs_when_loop_is_blocked_and_keeps_its_grid() {
    let p = margin(ms(50));
    let mut lp = new_loop::<Periodic>();
    let mut ctx = Periodic::new(p);
    ctx.block_for = p * 5; // 250 ms natively: five runs missed
    let t0 = Instant::now();
    ctx.pc.start(&mut lp).unwrap();
    // Block between the 3rd and 4th run.
    lp.call_later(p * 7 / 2, blocker, Token(0)).unwrap();
    run_for(&mut lp, &mut ctx, p * 13);
    ctx.pc.stop(&mut lp);

    let (block_start, block_end) = ctx.block.expect("the blocking callback ran");
    assert!(since(block_end, block_start) >= p * 5);
    // The grid: run k is due at first + k * p. `first` is computed inside start(), a hair after
    // t0, so cells computed from t0 are exact up to microseconds (never an earlier cell).
    let first = t0 + p;
    let p_ns = p.as_nanos() as u64;
    let cell = |at: Instant| at.as_nanos().saturating_sub(first.as_nanos()) / p_ns;
    let offset = |at: Instant| at.as_nanos().saturating_sub(first.as_nanos()) % p_ns;
    let runs = &ctx.runs;
    assert!(
        runs.iter().all(|r| *r >= first),
        "a run before the first deadline"
    );
    assert!(
        !runs.iter().any(|r| *r > block_start && *r < block_end),
        "nothing can run while the loop is blocked"
    );

    // Missed runs are skipped, not queued: never two runs in one grid cell.
    let cells: Vec<u64> = runs.iter().map(|r| cell(*r)).collect();
    assert!(
        cells.windows(2).all(|w| w[0] < w[1]),
        "runs bunched up (missed runs replayed?): cells {cells:?}"
    );

    let after: Vec<Instant> = runs.iter().copied().filter(|r| *r >= block_end).collect();
    assert!(
        after.len() >= 3,
        "too few runs after the block: {}",
        after.len()
    );
    // Right after the block: one catch-up run, not five.
    let next_grid = Instant::from_nanos(first.as_nanos() + (cell(block_end) + 1) * p_ns);
    let catch_up = after.iter().filter(|r| **r < next_grid).count();
    assert!(
        catch_up <= 1,
        "{catch_up} runs between the block's end and the next grid point"
    );
    let burst = after.iter().filter(|r| **r < block_end + p * 2).count();
    assert!(
        burst <= 3,
        "{burst} runs within two periods after the block"
    );

    // Later runs stay on the original grid (t0 + k * p), not on block_end + k * p: the block
    // ends half a period off the grid, so a drifting schedule would be ~p/2 late every time.
    // Take the best of the later runs, which tolerates the odd scheduling delay.
    let best = after[1..].iter().map(|r| offset(*r)).min().unwrap();
    assert!(
        Duration::from_nanos(best) < p * 3 / 10,
        "runs after the block are {:?} off the original grid",
        Duration::from_nanos(best)
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Timer heap full
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Count {
    n: usize,
}

fn count_up(ctx: &mut Count, _: &mut IoLoop<Count>, _: Token) -> Result<(), Error> {
    ctx.n += 1;
    Ok(())
}

#[test]
fn timer_heap_full_is_an_error_and_loop_recovers() {
    let mut lp = new_loop::<Count>();
    let mut ctx = Count::default();
    for i in 0..MAX_TIMERS {
        lp.call_later(ms(5 + (i % 20) as u64), count_up, Token(i as u64))
            .unwrap_or_else(|e| panic!("timer {i} of {MAX_TIMERS}: {e}"));
    }
    assert_eq!(lp.timer_count(), MAX_TIMERS);
    assert_eq!(
        lp.call_later(ms(1), count_up, Token(0)),
        Err(Error::TimerHeapFull)
    );
    assert_eq!(
        lp.call_at(Instant::now(), count_up, Token(0)),
        Err(Error::TimerHeapFull)
    );
    assert_eq!(
        lp.call_every(Instant::now(), ms(1), count_up, Token(0)),
        Err(Error::TimerHeapFull)
    );
    let mut pc = PeriodicCallback::new(count_up, Token(0), ms(1));
    assert_eq!(pc.start(&mut lp), Err(Error::TimerHeapFull));
    assert!(!pc.is_running());
    assert_eq!(lp.timer_count(), MAX_TIMERS);
    // Other queues are unaffected.
    lp.add_callback(count_up, Token(0)).unwrap();

    assert!(run_until(&mut lp, &mut ctx, margin(ms(5_000)), |c, _| c.n
        == MAX_TIMERS + 1));
    assert_eq!(lp.timer_count(), 0);
    assert_eq!(lp.stats().timers_fired, MAX_TIMERS as u64);

    // Scheduling works again, up to full capacity.
    lp.call_later(ms(1), count_up, Token(0)).unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| c.n
        == MAX_TIMERS + 2));
    for _ in 0..MAX_TIMERS {
        lp.call_later(ms(1), count_up, Token(0)).unwrap();
    }
    assert_eq!(
        lp.call_later(ms(1), count_up, Token(0)),
        Err(Error::TimerHeapFull)
    );
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| c.n
        == 2 * MAX_TIMERS + 2));
    assert_eq!(lp.stats().handler_errors, 0);
}

#[test]
fn timer_due_in_thirty_days_does_not_break_the_wait() {
    let (a, mut b) = pair();
    b.write_all(b"x").unwrap();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    lp.add_handler(bfd(&ctx.a), io_ready, Token(1), Interest::READ)
        .unwrap();
    // A monthly job: the loop's wait is bounded by it (and here by max_wait, 60 days).
    lp.call_later(Duration::from_secs(30 * 86_400), io_nop, Token(0))
        .unwrap();
    // The fd is readable, so the wait returns at once, however long it was allowed to be.
    let r = lp.run_once(&mut ctx, Some(Duration::from_secs(60 * 86_400)));
    assert_eq!(r, Ok(()), "a far timer broke epoll_wait");
    assert_eq!(ctx.calls.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 6. Handler table
// ---------------------------------------------------------------------------------------------

struct Io {
    a: UnixStream,
    /// Whether the handler reads what is pending (otherwise level-triggered epoll reports the
    /// fd again on every iteration).
    drain: bool,
    calls: Vec<(Token, Ready)>,
}

impl Io {
    fn new(a: UnixStream) -> Self {
        Io {
            a,
            drain: true,
            calls: Vec::new(),
        }
    }
}

fn io_ready(ctx: &mut Io, _: &mut IoLoop<Io>, t: Token, r: Ready) -> Result<(), Error> {
    ctx.calls.push((t, r));
    if ctx.drain {
        drain(&mut ctx.a);
    }
    Ok(())
}

fn io_nop(_: &mut Io, _: &mut IoLoop<Io>, _: Token) -> Result<(), Error> {
    Ok(())
}

#[test]
fn add_handler_is_called_when_fd_becomes_readable() {
    let (a, mut b) = pair();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    ctx.drain = false;
    lp.add_handler(bfd(&ctx.a), io_ready, Token(42), Interest::READ)
        .unwrap();
    assert_eq!(lp.handler_count(), 1);
    assert_eq!(lp.interest(bfd(&ctx.a)), Ok(Interest::READ));

    // Nothing to read: no call.
    lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    assert!(ctx.calls.is_empty());

    b.write_all(b"ping").unwrap();
    let t0 = Instant::now();
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    assert!(
        since(Instant::now(), t0) < margin(ms(1_000)),
        "readiness must wake the wait"
    );
    assert_eq!(ctx.calls.len(), 1);
    let (tok, ready) = ctx.calls[0];
    assert_eq!(tok, Token(42));
    assert!(ready.is_readable());
    assert!(!ready.is_writable(), "WRITE was not asked for");
    assert!(!ready.is_error() && !ready.is_hup());
    assert_eq!(lp.stats().events, 1);

    // Level-triggered: unread data is reported again.
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.len(), 2);
    // Once drained, quiet.
    assert_eq!(drain(&mut ctx.a), 4);
    lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    assert_eq!(ctx.calls.len(), 2);

    // The peer closing is reported (end of stream: readable, and a hang-up).
    drop(b);
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| c
        .calls
        .len()
        > 2));
    let r = ctx.calls[2].1;
    assert!(
        r.is_readable() || r.is_hup(),
        "peer close reported as {r:?}"
    );
    lp.remove_handler(bfd(&ctx.a)).unwrap();
    assert_eq!(lp.handler_count(), 0);
}

#[test]
fn add_handler_with_write_interest_reports_writable() {
    let (a, _b) = pair();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    lp.add_handler(bfd(&ctx.a), io_ready, Token(1), Interest::WRITE)
        .unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.len(), 1);
    assert!(ctx.calls[0].1.is_writable());
    assert!(!ctx.calls[0].1.is_readable());
    lp.remove_handler(bfd(&ctx.a)).unwrap();
}

#[test]
fn update_handler_to_none_stops_calls_and_back_to_read_resumes() {
    let (a, mut b) = pair();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    ctx.drain = false;
    lp.add_handler(bfd(&ctx.a), io_ready, Token(7), Interest::READ)
        .unwrap();
    b.write_all(b"x").unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.len(), 1);

    lp.update_handler(bfd(&ctx.a), Interest::NONE).unwrap();
    assert_eq!(lp.interest(bfd(&ctx.a)), Ok(Interest::NONE));
    for _ in 0..3 {
        lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    }
    assert_eq!(
        ctx.calls.len(),
        1,
        "no calls with Interest::NONE while data is pending"
    );
    // Setting the same interest again is a no-op.
    lp.update_handler(bfd(&ctx.a), Interest::NONE).unwrap();

    lp.update_handler(bfd(&ctx.a), Interest::READ).unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(
        ctx.calls.len(),
        2,
        "READ again: the pending data is reported"
    );
    assert_eq!(
        ctx.calls[1].0,
        Token(7),
        "the token survives update_handler"
    );

    lp.update_handler(bfd(&ctx.a), Interest::READ_WRITE)
        .unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    let r = ctx.calls.last().unwrap().1;
    assert!(r.is_readable() && r.is_writable());
    lp.remove_handler(bfd(&ctx.a)).unwrap();
}

#[test]
fn remove_handler_stops_calls() {
    let (a, mut b) = pair();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    ctx.drain = false;
    lp.add_handler(bfd(&ctx.a), io_ready, Token(7), Interest::READ)
        .unwrap();
    b.write_all(b"x").unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.len(), 1);

    lp.remove_handler(bfd(&ctx.a)).unwrap();
    assert_eq!(lp.handler_count(), 0);
    for _ in 0..3 {
        lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    }
    assert_eq!(ctx.calls.len(), 1, "no calls after remove_handler");
    assert_eq!(lp.remove_handler(bfd(&ctx.a)), Err(Error::NotRegistered));
    assert_eq!(
        lp.update_handler(bfd(&ctx.a), Interest::READ),
        Err(Error::NotRegistered)
    );
    assert_eq!(lp.interest(bfd(&ctx.a)), Err(Error::NotRegistered));

    // The fd can be registered again afterwards.
    lp.add_handler(bfd(&ctx.a), io_ready, Token(8), Interest::READ)
        .unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.last().unwrap().0, Token(8));
    lp.remove_handler(bfd(&ctx.a)).unwrap();
}

#[test]
fn add_handler_twice_is_already_registered() {
    let (a, mut b) = pair();
    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    lp.add_handler(bfd(&ctx.a), io_ready, Token(1), Interest::READ)
        .unwrap();
    assert_eq!(
        lp.add_handler(bfd(&ctx.a), io_ready, Token(2), Interest::WRITE),
        Err(Error::AlreadyRegistered)
    );
    assert_eq!(lp.handler_count(), 1);
    // The first registration is intact.
    assert_eq!(lp.interest(bfd(&ctx.a)), Ok(Interest::READ));
    b.write_all(b"x").unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.len(), 1);
    assert_eq!(ctx.calls[0].0, Token(1));
    lp.remove_handler(bfd(&ctx.a)).unwrap();
}

/// Makes sure this process may open fd number `MAX_HANDLERS`; false if it cannot.
fn allow_fd_number(n: usize) -> bool {
    // SAFETY: rlimit is plain data filled in by getrlimit.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rl` is a valid, exclusively borrowed rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return false;
    }
    let want = (n + 16) as libc::rlim_t;
    if rl.rlim_cur >= want {
        return true;
    }
    if rl.rlim_max < want {
        return false;
    }
    rl.rlim_cur = want;
    // SAFETY: `rl` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) == 0 }
}

#[test]
fn fd_beyond_max_handlers_is_handler_table_full_and_loop_keeps_serving() {
    let (a, mut b) = pair();
    if !allow_fd_number(MAX_HANDLERS) {
        println!("SKIPPED: RLIMIT_NOFILE cannot be raised above MAX_HANDLERS ({MAX_HANDLERS})");
        return;
    }
    // SAFETY: F_DUPFD with a valid fd returns a new descriptor (>= the argument) or -1.
    let raw = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_DUPFD, MAX_HANDLERS as libc::c_int) };
    assert!(raw >= 0, "F_DUPFD: {}", std::io::Error::last_os_error());
    // SAFETY: fcntl returned a fresh descriptor that nothing else owns.
    let big = unsafe { OwnedFd::from_raw_fd(raw) };
    assert!(raw as usize >= MAX_HANDLERS);

    let mut lp = new_loop::<Io>();
    let mut ctx = Io::new(a);
    lp.add_handler(bfd(&ctx.a), io_ready, Token(1), Interest::READ)
        .unwrap();
    assert_eq!(
        lp.add_handler(bfd(&big), io_ready, Token(2), Interest::READ),
        Err(Error::HandlerTableFull)
    );
    assert_eq!(lp.handler_count(), 1);
    assert_eq!(lp.remove_handler(bfd(&big)), Err(Error::NotRegistered));
    assert_eq!(
        lp.update_handler(bfd(&big), Interest::NONE),
        Err(Error::NotRegistered)
    );

    // The loop keeps serving its other handler (and the big fd, never registered with epoll,
    // produces nothing although it refers to the same readable socket).
    b.write_all(b"x").unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    assert_eq!(ctx.calls.len(), 1);
    assert_eq!(ctx.calls[0].0, Token(1));
    lp.remove_handler(bfd(&ctx.a)).unwrap();
}

struct Reuse {
    streams: Vec<Option<UnixStream>>,
    peers: Vec<UnixStream>,
    calls: Vec<Token>,
    old_fd: i32,
    new_fd: i32,
}

/// The first handler to run removes and closes the other stream, then registers a brand-new
/// socket (which the kernel usually gives the just-freed fd number). The other stream's event,
/// already taken from the kernel in this batch, must be dropped and must not reach the newcomer.
fn reuse_ready(ctx: &mut Reuse, lp: &mut IoLoop<Reuse>, t: Token, _: Ready) -> Result<(), Error> {
    ctx.calls.push(t);
    if ctx.calls.len() == 1 && t.0 < 2 {
        let other = 1 - t.0 as usize;
        let s = ctx.streams[other].take().unwrap();
        lp.remove_handler(bfd(&s))?;
        ctx.old_fd = s.as_raw_fd();
        drop(s);
        let (n, peer) = pair();
        ctx.new_fd = n.as_raw_fd();
        lp.add_handler(bfd(&n), reuse_ready, Token(99), Interest::READ)?;
        ctx.streams.push(Some(n));
        ctx.peers.push(peer);
    }
    if let Some(s) = ctx.streams[t.0.min(2) as usize].as_mut() {
        drain(s);
    }
    Ok(())
}

#[test]
fn remove_handler_during_iteration_drops_the_already_taken_event() {
    let (a0, mut b0) = pair();
    let (a1, mut b1) = pair();
    let mut lp = new_loop::<Reuse>();
    lp.add_handler(bfd(&a0), reuse_ready, Token(0), Interest::READ)
        .unwrap();
    lp.add_handler(bfd(&a1), reuse_ready, Token(1), Interest::READ)
        .unwrap();
    let mut ctx = Reuse {
        streams: vec![Some(a0), Some(a1)],
        peers: Vec::new(),
        calls: Vec::new(),
        old_fd: -1,
        new_fd: -1,
    };
    b0.write_all(b"x").unwrap();
    b1.write_all(b"x").unwrap();
    // Let both become readable before the wait so they come back in one batch.
    thread::sleep(ms(5));
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(
        ctx.calls.len(),
        1,
        "removed fd's pending event was dispatched: {:?}",
        ctx.calls
    );
    assert!(!ctx.calls.contains(&Token(99)));
    if ctx.old_fd != ctx.new_fd {
        println!(
            "note: fd {} was not reused (got {})",
            ctx.old_fd, ctx.new_fd
        );
    }
    // The newcomer works normally.
    ctx.peers[0].write_all(b"y").unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.calls.last(), Some(&Token(99)));
    assert_eq!(lp.handler_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Handler and callback errors
// ---------------------------------------------------------------------------------------------

struct Errs {
    bad: UnixStream,
    good: UnixStream,
    good_calls: usize,
    bad_calls: usize,
    timer_ok: bool,
}

fn failing_handler(ctx: &mut Errs, _: &mut IoLoop<Errs>, _: Token, _: Ready) -> Result<(), Error> {
    ctx.bad_calls += 1;
    drain(&mut ctx.bad);
    Err(Error::App(7))
}

fn good_handler(ctx: &mut Errs, _: &mut IoLoop<Errs>, _: Token, _: Ready) -> Result<(), Error> {
    ctx.good_calls += 1;
    drain(&mut ctx.good);
    Ok(())
}

fn failing_callback(_: &mut Errs, _: &mut IoLoop<Errs>, _: Token) -> Result<(), Error> {
    Err(Error::App(7))
}

fn ok_timer(ctx: &mut Errs, _: &mut IoLoop<Errs>, _: Token) -> Result<(), Error> {
    ctx.timer_ok = true;
    Ok(())
}

#[test]
fn handler_and_callback_errors_are_counted_and_loop_continues() {
    let (bad, mut bad_peer) = pair();
    let (good, mut good_peer) = pair();
    let mut lp = new_loop::<Errs>();
    let mut ctx = Errs {
        bad,
        good,
        good_calls: 0,
        bad_calls: 0,
        timer_ok: false,
    };
    lp.add_handler(bfd(&ctx.bad), failing_handler, Token(0), Interest::READ)
        .unwrap();
    lp.add_handler(bfd(&ctx.good), good_handler, Token(1), Interest::READ)
        .unwrap();
    assert_eq!(lp.stats().last_error, None);

    // A failing handler, with another fd ready in the same batch.
    bad_peer.write_all(b"x").unwrap();
    good_peer.write_all(b"x").unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| {
        c.bad_calls == 1 && c.good_calls == 1
    }));
    assert_eq!(lp.stats().handler_errors, 1);
    assert_eq!(lp.stats().last_error, Some(Error::App(7)));
    assert!(
        lp.handler_count() == 2,
        "a failing handler stays registered"
    );

    // A failing add_callback callback and a failing timer.
    lp.add_callback(failing_callback, Token(0)).unwrap();
    lp.call_later(ms(1), failing_callback, Token(0)).unwrap();
    lp.call_later(ms(5), ok_timer, Token(0)).unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| c.timer_ok));
    assert_eq!(lp.stats().handler_errors, 3);
    assert_eq!(lp.stats().last_error, Some(Error::App(7)));

    // Still serving I/O, including the handler that failed before.
    good_peer.write_all(b"y").unwrap();
    bad_peer.write_all(b"y").unwrap();
    assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| {
        c.bad_calls == 2 && c.good_calls == 2
    }));
    assert_eq!(lp.stats().handler_errors, 4);
}

// ---------------------------------------------------------------------------------------------
// 8. add_callback
// ---------------------------------------------------------------------------------------------

struct Cbs {
    log: Vec<(u64, u64)>, // (token, iteration it ran in)
    io: UnixStream,
    io_log: Vec<u64>,
    respawn: bool,
}

impl Cbs {
    fn new(io: UnixStream) -> Self {
        Cbs {
            log: Vec::new(),
            io,
            io_log: Vec::new(),
            respawn: false,
        }
    }
}

fn log_cb(ctx: &mut Cbs, lp: &mut IoLoop<Cbs>, t: Token) -> Result<(), Error> {
    ctx.log.push((t.0, lp.stats().iterations));
    Ok(())
}

fn spawn_cb(ctx: &mut Cbs, lp: &mut IoLoop<Cbs>, t: Token) -> Result<(), Error> {
    ctx.log.push((t.0, lp.stats().iterations));
    lp.add_callback(log_cb, Token(t.0 + 1))
}

fn respawning_cb(ctx: &mut Cbs, lp: &mut IoLoop<Cbs>, t: Token) -> Result<(), Error> {
    ctx.log.push((t.0, lp.stats().iterations));
    if ctx.respawn {
        lp.add_callback(respawning_cb, t)?;
    }
    Ok(())
}

fn cbs_io(ctx: &mut Cbs, lp: &mut IoLoop<Cbs>, _: Token, _: Ready) -> Result<(), Error> {
    ctx.io_log.push(lp.stats().iterations);
    drain(&mut ctx.io);
    Ok(())
}

#[test]
fn add_callback_runs_on_next_iteration() {
    let mut lp = new_loop::<Cbs>();
    let mut ctx = Cbs::new(pair().0);
    lp.add_callback(log_cb, Token(1)).unwrap();
    lp.add_callback(spawn_cb, Token(10)).unwrap();
    assert!(ctx.log.is_empty(), "add_callback never runs synchronously");

    // Iteration 0 runs both (FIFO); the callback added by spawn_cb waits for iteration 1, and
    // its presence makes iteration 0 poll instead of waiting.
    let t0 = Instant::now();
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    assert!(
        since(Instant::now(), t0) < margin(ms(1_000)),
        "a queued callback must make the wait zero"
    );
    assert_eq!(ctx.log, [(1, 0), (10, 0)]);
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    assert_eq!(ctx.log, [(1, 0), (10, 0), (11, 1)]);
    assert_eq!(lp.stats().callbacks_run, 3);
}

#[test]
fn self_readding_callback_runs_once_per_iteration_without_starving_io() {
    let (a, mut peer) = pair();
    let mut lp = new_loop::<Cbs>();
    let mut ctx = Cbs::new(a);
    ctx.respawn = true;
    lp.add_handler(bfd(&ctx.io), cbs_io, Token(0), Interest::READ)
        .unwrap();
    lp.add_callback(respawning_cb, Token(5)).unwrap();

    let t0 = Instant::now();
    for i in 0..20u64 {
        if i == 5 || i == 12 {
            peer.write_all(b"x").unwrap();
        }
        lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
        assert_eq!(ctx.log.len() as u64, i + 1, "exactly one run per iteration");
    }
    assert!(
        since(Instant::now(), t0) < margin(ms(2_000)),
        "a pending callback must never let the loop block"
    );
    let iters: Vec<u64> = ctx.log.iter().map(|(_, it)| *it).collect();
    assert_eq!(iters, (0..20).collect::<Vec<u64>>());
    // The readable fd was served in the very iteration its data arrived in.
    assert_eq!(ctx.io_log, [5, 12]);

    ctx.respawn = false;
    lp.run_once(&mut ctx, Some(ms(10))).unwrap();
    lp.run_once(&mut ctx, Some(ms(10))).unwrap();
    assert_eq!(ctx.log.len(), 21);
    assert_eq!(lp.stats().callbacks_run, 21);
}

#[test]
fn callback_queue_full_when_max_callbacks_are_queued() {
    let mut lp = new_loop::<Cbs>();
    let mut ctx = Cbs::new(pair().0);
    for i in 0..MAX_CALLBACKS {
        lp.add_callback(log_cb, Token(i as u64)).unwrap();
    }
    assert_eq!(
        lp.add_callback(log_cb, Token(999)),
        Err(Error::CallbackQueueFull)
    );
    lp.run_once(&mut ctx, Some(ms(10))).unwrap();
    assert_eq!(
        ctx.log.len(),
        MAX_CALLBACKS,
        "all queued callbacks run in one iteration"
    );
    assert!(
        ctx.log.iter().enumerate().all(|(i, (t, _))| *t == i as u64),
        "FIFO"
    );
    assert_eq!(lp.stats().callbacks_run, MAX_CALLBACKS as u64);
    assert_eq!(lp.stats().handler_errors, 0);
    lp.add_callback(log_cb, Token(1000)).unwrap();
    lp.run_once(&mut ctx, Some(ms(10))).unwrap();
    assert_eq!(ctx.log.last().unwrap().0, 1000);
}

// ---------------------------------------------------------------------------------------------
// 9. Remote (cross-thread callbacks)
// ---------------------------------------------------------------------------------------------

struct RemoteCtx {
    loop_thread: thread::ThreadId,
    seen: Vec<u64>,
    off_thread: usize,
    watchdog_fired: bool,
}

impl RemoteCtx {
    fn new() -> Self {
        RemoteCtx {
            loop_thread: thread::current().id(),
            seen: Vec::new(),
            off_thread: 0,
            watchdog_fired: false,
        }
    }
}

fn remote_cb(ctx: &mut RemoteCtx, _: &mut IoLoop<RemoteCtx>, t: Token) -> Result<(), Error> {
    if thread::current().id() != ctx.loop_thread {
        ctx.off_thread += 1;
    }
    ctx.seen.push(t.0);
    Ok(())
}

fn watchdog(ctx: &mut RemoteCtx, lp: &mut IoLoop<RemoteCtx>, _: Token) -> Result<(), Error> {
    ctx.watchdog_fired = true;
    lp.stop();
    Ok(())
}

/// Queues through the remote, retrying while its queue is full; gives up at `give_up`.
fn push_retrying(
    remote: &Remote<RemoteCtx>,
    give_up: std::time::Instant,
    mut push: impl FnMut(&Remote<RemoteCtx>) -> Result<(), Error>,
) -> u64 {
    let mut retries = 0;
    loop {
        match push(remote) {
            Ok(()) => return retries,
            Err(Error::CallbackQueueFull) => {
                assert!(
                    std::time::Instant::now() < give_up,
                    "remote queue stayed full"
                );
                retries += 1;
                thread::sleep(Duration::from_micros(100));
            }
            Err(e) => panic!("remote add_callback: {e}"),
        }
    }
}

#[test]
fn remote_callbacks_from_another_thread_run_on_loop_thread_and_remote_stop_ends_start() {
    const N: u64 = 1000;
    let remote: &'static Remote<RemoteCtx> = Box::leak(Box::new(Remote::new().unwrap()));
    let mut lp = new_loop::<RemoteCtx>();
    let mut ctx = RemoteCtx::new();
    lp.set_remote(remote).unwrap();
    assert_eq!(lp.handler_count(), 1, "the remote's eventfd is a handler");
    let limit = margin(Duration::from_secs(20));
    let wd = lp.call_later(limit, watchdog, Token(0)).unwrap();

    let producer = thread::spawn(move || {
        let give_up = std::time::Instant::now() + limit;
        let mut retries = 0;
        for i in 0..N {
            retries += push_retrying(remote, give_up, |r| r.add_callback(remote_cb, Token(i)));
        }
        retries += push_retrying(remote, give_up, |r| r.stop());
        retries
    });

    let t0 = Instant::now();
    lp.start(&mut ctx).unwrap();
    let took = since(Instant::now(), t0);
    let retries = producer.join().expect("producer thread");

    assert!(
        !ctx.watchdog_fired,
        "start() only returned through the watchdog"
    );
    assert!(!lp.is_running());
    assert_eq!(ctx.seen.len() as u64, N);
    assert_eq!(
        ctx.seen,
        (0..N).collect::<Vec<u64>>(),
        "FIFO from a single producer"
    );
    assert_eq!(
        ctx.off_thread, 0,
        "remote callbacks must run on the loop thread"
    );
    assert_eq!(lp.stats().callbacks_run, N + 1, "N callbacks and the stop");
    assert_eq!(lp.stats().handler_errors, 0);
    assert!(lp.remove_timeout(wd), "the watchdog is still pending");
    println!(
        "remote: {N} callbacks in {took:?}, {retries} full-queue retries, {} iterations",
        lp.stats().iterations
    );
}

#[test]
fn remote_queue_full_is_callback_queue_full_and_drains_in_one_wakeup() {
    let remote: &'static Remote<RemoteCtx> = Box::leak(Box::new(Remote::new().unwrap()));
    let mut n = 0u64;
    while remote.add_callback(remote_cb, Token(n)).is_ok() {
        n += 1;
        assert!(n <= 1 << 16, "remote queue never fills");
    }
    assert_eq!(n as usize, MAX_REMOTE_CALLBACKS);
    assert_eq!(
        remote.add_callback(remote_cb, Token(0)),
        Err(Error::CallbackQueueFull)
    );

    // Attached afterwards: the eventfd is already signalled, so the first wait returns at once.
    let mut lp = new_loop::<RemoteCtx>();
    let mut ctx = RemoteCtx::new();
    lp.set_remote(remote).unwrap();
    let t0 = Instant::now();
    lp.run_once(&mut ctx, Some(ms(5_000))).unwrap();
    assert!(since(Instant::now(), t0) < margin(ms(1_000)));
    assert_eq!(ctx.seen, (0..n).collect::<Vec<u64>>());
    // The wake-up was consumed: the loop goes quiet (allowing one spurious wake-up, which an
    // implementation that bounds the work per wake-up may need).
    lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    let events = lp.stats().events;
    assert!(events <= 2);
    lp.run_once(&mut ctx, Some(ms(30))).unwrap();
    assert_eq!(
        lp.stats().events,
        events,
        "the remote's eventfd stays readable"
    );
    assert_eq!(ctx.seen.len() as u64, n, "nothing else ran");
    remote.add_callback(remote_cb, Token(777)).unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert_eq!(ctx.seen.last(), Some(&777));
}

struct Requeue {
    remote: &'static Remote<Requeue>,
    runs: usize,
}

const REQUEUES: usize = 10_000;

fn requeue_via_remote(ctx: &mut Requeue, _: &mut IoLoop<Requeue>, t: Token) -> Result<(), Error> {
    ctx.runs += 1;
    if ctx.runs < REQUEUES {
        ctx.remote.add_callback(requeue_via_remote, t)?;
    }
    Ok(())
}

#[test]
fn remote_callback_requeued_through_remote_waits_for_next_iteration() {
    let remote: &'static Remote<Requeue> = Box::leak(Box::new(Remote::new().unwrap()));
    let mut lp = new_loop::<Requeue>();
    let mut ctx = Requeue { remote, runs: 0 };
    lp.set_remote(remote).unwrap();
    remote.add_callback(requeue_via_remote, Token(0)).unwrap();
    lp.run_once(&mut ctx, Some(ms(1_000))).unwrap();
    assert!(
        ctx.runs <= MAX_REMOTE_CALLBACKS,
        "{} remote callbacks ran inside one iteration",
        ctx.runs
    );
    // The rest still runs, over the following iterations.
    assert!(run_until(&mut lp, &mut ctx, margin(ms(10_000)), |c, _| c
        .runs
        == REQUEUES));
}

// ---------------------------------------------------------------------------------------------
// 10. Signals through signalfd
// ---------------------------------------------------------------------------------------------

struct Sig {
    got: Vec<(Signal, thread::ThreadId)>,
}

fn on_signal(ctx: &mut Sig, _: &mut IoLoop<Sig>, s: Signal) -> Result<(), Error> {
    ctx.got.push((s, thread::current().id()));
    Ok(())
}

#[test]
fn signal_user1_is_delivered_to_handler_on_the_loop() {
    // A dedicated thread: handle_signals blocks SIGUSR1 for the calling thread (and threads it
    // spawns later), which must not leak into the test harness's threads.
    thread::spawn(|| {
        let me = thread::current().id();
        let mut lp = new_loop::<Sig>();
        let mut ctx = Sig { got: Vec::new() };
        lp.handle_signals(&[Signal::User1], on_signal).unwrap();
        assert_eq!(lp.handler_count(), 1, "the signalfd is a handler");
        assert_eq!(Signal::from_number(libc::SIGUSR1), Some(Signal::User1));
        assert_eq!(Signal::User1.number(), libc::SIGUSR1);

        // raise() targets this thread, where SIGUSR1 is now blocked: it stays pending and is
        // read from the signalfd by the loop.
        // SAFETY: raising a blocked signal has no side effect beyond making it pending.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        assert!(ctx.got.is_empty(), "the handler only runs on the loop");
        assert!(run_until(&mut lp, &mut ctx, margin(ms(2_000)), |c, _| !c
            .got
            .is_empty()));
        assert_eq!(ctx.got, [(Signal::User1, me)]);

        // Sent by another thread while the loop waits in epoll: wakes it.
        let target = ThreadHandle::current();
        let sender = thread::spawn(move || {
            thread::sleep(ms(50));
            target.kill(libc::SIGUSR1)
        });
        let t0 = Instant::now();
        let got = run_until(&mut lp, &mut ctx, margin(ms(5_000)), |c, _| {
            c.got.len() == 2
        });
        let rc = sender.join().unwrap();
        assert_eq!(rc, 0, "pthread_kill");
        assert!(
            got,
            "signal sent from another thread never reached the handler"
        );
        assert!(since(Instant::now(), t0) < margin(ms(2_000)));
        assert_eq!(ctx.got[1], (Signal::User1, me));
        assert_eq!(lp.stats().handler_errors, 0);
        // Nothing else pending.
        lp.run_once(&mut ctx, Some(ms(30))).unwrap();
        assert_eq!(ctx.got.len(), 2);
    })
    .join()
    .expect("signal test thread panicked");
}

// ---------------------------------------------------------------------------------------------
// 11. EINTR
// ---------------------------------------------------------------------------------------------

static SIGUSR2_SEEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigusr2(_: libc::c_int) {
    SIGUSR2_SEEN.fetch_add(1, Ordering::Relaxed);
}

/// Stops and joins the signal sender even when an assertion fails, so it never signals a
/// thread that has exited.
struct Sender {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<usize>>,
}

impl Sender {
    fn finish(&mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().map_or(0, |h| h.join().unwrap())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.finish();
    }
}

#[test]
fn epoll_wait_interrupted_by_signals_still_fires_timer_on_time() {
    thread::spawn(|| {
        // A no-op handler without SA_RESTART: epoll_wait returns EINTR on every signal.
        // SAFETY: sigaction is plain data; the handler only touches an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigusr2 as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
        }
        set_signal_blocked(libc::SIGUSR2, false);

        let mut lp = new_loop::<Fired>();
        let mut ctx = Fired::default();
        let delay = ms(100);
        let target = ThreadHandle::current();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let mut sender = Sender {
            stop,
            handle: Some(thread::spawn(move || {
                let mut sent = 0;
                while !stop2.load(Ordering::Relaxed) {
                    assert_eq!(target.kill(libc::SIGUSR2), 0, "pthread_kill");
                    sent += 1;
                    thread::sleep(ms(1));
                }
                sent
            })),
        };
        // Let the storm start before the wait.
        thread::sleep(ms(5));

        let seen_before = SIGUSR2_SEEN.load(Ordering::Relaxed);
        let scheduled = Instant::now();
        lp.call_later(delay, record_fire, Token(1)).unwrap();
        let deadline = scheduled + margin(ms(5_000));
        let mut errors = Vec::new();
        while ctx.log.is_empty() && Instant::now() < deadline {
            // Long max_wait: only the timer (or a signal) ends each wait.
            if let Err(e) = lp.run_once(&mut ctx, Some(ms(2_000))) {
                errors.push(e);
            }
        }
        let sent = sender.finish();
        let seen = SIGUSR2_SEEN.load(Ordering::Relaxed) - seen_before;

        assert!(errors.is_empty(), "run_once returned errors: {errors:?}");
        assert_eq!(ctx.log.len(), 1, "the timer was lost");
        let fired = ctx.log[0].1;
        assert!(
            fired >= scheduled + delay,
            "fired {:?} early",
            since(scheduled + delay, fired)
        );
        assert!(
            since(fired, scheduled) < delay + margin(ms(1_000)),
            "fired {:?} after scheduling",
            since(fired, scheduled)
        );
        assert!(seen > 0, "no SIGUSR2 reached the loop thread ({sent} sent)");
        println!(
            "EINTR: {sent} signals sent, {seen} handled, {} iterations, fired after {:?}",
            lp.stats().iterations,
            since(fired, scheduled)
        );
        assert!(
            lp.stats().iterations > 1,
            "epoll_wait was never interrupted"
        );
        assert_eq!(lp.stats().handler_errors, 0);
    })
    .join()
    .expect("EINTR test thread panicked");
}

// ---------------------------------------------------------------------------------------------
// 12. Idle means idle
// ---------------------------------------------------------------------------------------------

struct Idle {
    sock: std::net::TcpStream,
    calls: usize,
}

fn idle_ready(ctx: &mut Idle, _: &mut IoLoop<Idle>, _: Token, _: Ready) -> Result<(), Error> {
    ctx.calls += 1;
    Ok(())
}

#[test]
fn idle_loop_with_idle_socket_uses_no_cpu() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut lp = new_loop::<Idle>();
    let mut ctx = Idle {
        sock: server,
        calls: 0,
    };
    lp.add_handler(bfd(&ctx.sock), idle_ready, Token(0), Interest::READ)
        .unwrap();

    let idle = Duration::from_secs(2);
    let cpu0 = thread_cpu_time();
    let t0 = Instant::now();
    let end = t0 + idle;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        lp.run_once(&mut ctx, Some(end.saturating_duration_since(now).min(idle)))
            .unwrap();
    }
    let cpu = thread_cpu_time().saturating_sub(cpu0);
    let wall = since(Instant::now(), t0);
    let iterations = lp.stats().iterations;
    println!("idle: {wall:?} wall, {cpu:?} CPU, {iterations} iterations");

    assert_eq!(ctx.calls, 0, "an idle socket must not be reported");
    assert!(wall >= idle);
    assert!(
        cpu < margin(ms(50)),
        "idle loop burned {cpu:?} of CPU in {wall:?}"
    );
    assert!(iterations <= 3, "idle loop spun {iterations} times");
    drop(client);
}
