//! The timer heap: `call_later`, `call_at`, `remove_timeout` and periodic callbacks.
//!
//! Timers live in a fixed slab of [`MAX_TIMERS`] entries; a binary min-heap of slab indices
//! orders them by (deadline, insertion sequence), so timers with equal deadlines run in the order
//! they were added. Each slab entry knows its heap position, so `remove_timeout` is an O(log n)
//! true removal: a cancelled timer never lingers in the heap taking capacity. A [`TimeoutId`]
//! carries the slab generation, so removing an already-fired timer is a harmless no-op.

use core::time::Duration;

use super::{Callback, Error, Instant, Token};
use crate::config::MAX_TIMERS;

/// Identifies a scheduled timer, for [`IoLoop::remove_timeout`](super::IoLoop::remove_timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeoutId {
    index: u32,
    generation: u32,
}

struct Slot<C: 'static> {
    generation: u32,
    /// Heap position while scheduled; next free slot while free.
    link: u32,
    live: bool,
    deadline: Instant,
    seq: u64,
    period: Duration,
    callback: Option<Callback<C>>,
    token: Token,
}

impl<C: 'static> Clone for Slot<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C: 'static> Copy for Slot<C> {}

pub(crate) struct TimerHeap<C: 'static> {
    slots: [Slot<C>; MAX_TIMERS],
    heap: [u32; MAX_TIMERS],
    len: usize,
    free_head: u32,
    seq: u64,
}

const NIL: u32 = u32::MAX;

impl<C: 'static> TimerHeap<C> {
    pub(crate) const fn new() -> Self {
        let mut slots = [const {
            Slot {
                generation: 0,
                link: NIL,
                live: false,
                deadline: Instant::from_nanos(0),
                seq: 0,
                period: Duration::ZERO,
                callback: None,
                token: Token(0),
            }
        }; MAX_TIMERS];
        let mut i = 0;
        while i < MAX_TIMERS {
            slots[i].link = if i + 1 < MAX_TIMERS {
                (i + 1) as u32
            } else {
                NIL
            };
            i += 1;
        }
        TimerHeap {
            slots,
            heap: [0; MAX_TIMERS],
            len: 0,
            free_head: 0,
            seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Schedules `callback(token)` at `deadline`, repeating every `period` when it is non-zero.
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        period: Duration,
        callback: Callback<C>,
        token: Token,
    ) -> Result<TimeoutId, Error> {
        if self.free_head == NIL {
            return Err(Error::TimerHeapFull);
        }
        let idx = self.free_head;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let pos = self.len;
        let s = &mut self.slots[idx as usize];
        self.free_head = s.link;
        s.generation = s.generation.wrapping_add(1);
        s.live = true;
        s.deadline = deadline;
        s.seq = seq;
        s.period = period;
        s.callback = Some(callback);
        s.token = token;
        s.link = pos as u32;
        let id = TimeoutId {
            index: idx,
            generation: s.generation,
        };
        self.heap[pos] = idx;
        self.len += 1;
        self.sift_up(pos);
        Ok(id)
    }

    /// Cancels a timer; returns whether it was still scheduled.
    pub(crate) fn remove(&mut self, id: TimeoutId) -> bool {
        let Some(s) = self.slots.get(id.index as usize) else {
            return false;
        };
        if !s.live || s.generation != id.generation {
            return false;
        }
        let pos = s.link as usize;
        self.remove_at(pos);
        true
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            None
        } else {
            Some(self.slots[self.heap[0] as usize].deadline)
        }
    }

    /// Takes the earliest timer if it is due at `now`. A periodic timer is re-armed (keeping its
    /// id) at the first multiple of its period after `now`: missed runs are skipped, not queued,
    /// as in Tornado's `PeriodicCallback`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Callback<C>, Token)> {
        if self.len == 0 {
            return None;
        }
        let idx = self.heap[0] as usize;
        let s = self.slots[idx];
        if s.deadline > now {
            return None;
        }
        let cb = s.callback?;
        if s.period.is_zero() {
            self.remove_at(0);
        } else {
            let period = u64::try_from(s.period.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            let late = now.as_nanos().saturating_sub(s.deadline.as_nanos());
            let skips = late / period + 1;
            let next = s
                .deadline
                .as_nanos()
                .saturating_add(skips.saturating_mul(period));
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let slot = &mut self.slots[idx];
            slot.deadline = Instant::from_nanos(next);
            slot.seq = seq;
            self.sift_down(0);
        }
        Some((cb, s.token))
    }

    fn remove_at(&mut self, pos: usize) {
        let idx = self.heap[pos] as usize;
        let last = self.len - 1;
        self.len = last;
        if pos != last {
            self.heap[pos] = self.heap[last];
            self.slots[self.heap[pos] as usize].link = pos as u32;
            self.sift_down(pos);
            self.sift_up(pos);
        }
        let s = &mut self.slots[idx];
        s.live = false;
        s.callback = None;
        s.link = self.free_head;
        self.free_head = idx as u32;
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let sa = &self.slots[self.heap[a] as usize];
        let sb = &self.slots[self.heap[b] as usize];
        (sa.deadline, sa.seq) < (sb.deadline, sb.seq)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.slots[self.heap[a] as usize].link = a as u32;
        self.slots[self.heap[b] as usize].link = b as u32;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.less(pos, parent) {
                self.swap(pos, parent);
                pos = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let l = 2 * pos + 1;
            if l >= self.len {
                break;
            }
            let r = l + 1;
            let child = if r < self.len && self.less(r, l) {
                r
            } else {
                l
            };
            if self.less(child, pos) {
                self.swap(child, pos);
                pos = child;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioloop::IoLoop;

    fn nop(_: &mut (), _: &mut IoLoop<()>, _: Token) -> Result<(), Error> {
        Ok(())
    }

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn test_pop_in_deadline_then_insertion_order() {
        let mut h = TimerHeap::<()>::new();
        for (i, ms) in [30u64, 10, 20, 10, 5].iter().enumerate() {
            h.insert(at(*ms), Duration::ZERO, nop, Token(i as u64))
                .unwrap();
        }
        let mut order = std::vec::Vec::new();
        while let Some((_, t)) = h.pop_due(at(100)) {
            order.push(t.0);
        }
        assert_eq!(order, [4, 1, 3, 2, 0]);
    }

    #[test]
    fn test_not_due_is_not_popped() {
        let mut h = TimerHeap::<()>::new();
        h.insert(at(10), Duration::ZERO, nop, Token(0)).unwrap();
        assert!(h.pop_due(at(9)).is_none());
        assert!(h.pop_due(at(10)).is_some());
    }

    #[test]
    fn test_remove_middle_and_stale_id() {
        let mut h = TimerHeap::<()>::new();
        let a = h.insert(at(1), Duration::ZERO, nop, Token(1)).unwrap();
        let b = h.insert(at(2), Duration::ZERO, nop, Token(2)).unwrap();
        let c = h.insert(at(3), Duration::ZERO, nop, Token(3)).unwrap();
        assert!(h.remove(b));
        assert!(!h.remove(b), "second remove is a no-op");
        assert_eq!(h.pop_due(at(9)).map(|x| x.1), Some(Token(1)));
        assert!(!h.remove(a), "fired timer cannot be removed");
        assert_eq!(h.pop_due(at(9)).map(|x| x.1), Some(Token(3)));
        assert!(!h.remove(c));
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn test_full_heap_is_an_error_and_recovers() {
        let mut h = TimerHeap::<()>::new();
        for i in 0..MAX_TIMERS {
            h.insert(at(i as u64), Duration::ZERO, nop, Token(0))
                .unwrap();
        }
        assert_eq!(
            h.insert(at(0), Duration::ZERO, nop, Token(0)),
            Err(Error::TimerHeapFull)
        );
        assert!(h.pop_due(at(0)).is_some());
        assert!(h.insert(at(0), Duration::ZERO, nop, Token(0)).is_ok());
    }

    #[test]
    fn test_periodic_skips_missed_runs() {
        let mut h = TimerHeap::<()>::new();
        let id = h
            .insert(at(100), Duration::from_millis(100), nop, Token(7))
            .unwrap();
        // Woken 350 ms late: one run now, next at 500 (not at 200, 300, 400).
        assert!(h.pop_due(at(450)).is_some());
        assert!(h.pop_due(at(450)).is_none());
        assert_eq!(h.next_deadline(), Some(at(500)));
        assert!(h.remove(id), "periodic keeps its id");
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn test_random_removals_keep_heap_order() {
        let mut h = TimerHeap::<()>::new();
        let mut ids = std::vec::Vec::new();
        let mut x: u64 = 12345;
        for i in 0..MAX_TIMERS {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ids.push((
                h.insert(at(x % 1000), Duration::ZERO, nop, Token(i as u64))
                    .unwrap(),
                x % 1000,
            ));
        }
        for (k, (id, _)) in ids.iter().enumerate() {
            if k % 3 == 0 {
                assert!(h.remove(*id));
            }
        }
        let mut last = 0;
        let mut n = 0;
        while let Some((_, t)) = h.pop_due(at(10_000)) {
            let ms = ids[t.0 as usize].1;
            assert!(ms >= last);
            last = ms;
            n += 1;
        }
        assert_eq!(n, MAX_TIMERS - MAX_TIMERS.div_ceil(3));
    }
}
