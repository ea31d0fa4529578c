//! The last few minutes of the headline figures, for the status page's sparklines.
//!
//! [`History`] is one fixed ring of [`HISTORY_LEN`] samples; [`Snapshot::refresh`] appends one
//! [`Sample`] per call (once a second in the status firmware, so the default keeps five
//! minutes). When the ring is full the oldest sample is overwritten. Iteration always runs
//! oldest → newest.
//!
//! A figure that could not be measured in a round (no `/proc/stat` in the container, the first
//! round of a rate, no temperature sensor) is stored as "unknown" and read back as `None`, so a
//! chart shows a gap rather than a made-up zero.
//!
//! [`Snapshot::refresh`]: super::snapshot::Snapshot::refresh

use crate::config::parse_or;

/// Samples kept by a [`History`] (one per refresh).
///
/// Default 300 (five minutes at one refresh a second). Set with `EDGELOOP_HISTORY_LEN`.
/// Cost: 24 bytes per sample.
pub const HISTORY_LEN: usize = parse_or(option_env!("EDGELOOP_HISTORY_LEN"), 300);

/// Stored for an unknown percentage.
const NO_PCT: u16 = u16::MAX;
/// Stored for an unknown rate.
const NO_RATE: u64 = u64::MAX;
/// Stored for an unknown temperature.
const NO_TEMP: i32 = i32::MIN;

/// One refresh worth of headline figures. Each is `None` when it was unknown that round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sample {
    /// CPU busy time over all cores, hundredths of a percent (`0..=10000`).
    pub cpu_busy: Option<u16>,
    /// Memory in use (`MemTotal - MemAvailable`), hundredths of a percent of `MemTotal`.
    pub mem_used: Option<u16>,
    /// Bytes received per second, summed over every interface except loopback.
    pub rx_bytes_per_s: Option<u64>,
    /// Bytes sent per second, summed over every interface except loopback.
    pub tx_bytes_per_s: Option<u64>,
    /// Hottest sensor, millidegrees Celsius.
    pub max_millicelsius: Option<i32>,
}

/// A sample as stored: sentinels instead of `Option`, 24 bytes instead of 48.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Packed {
    rx: u64,
    tx: u64,
    temp: i32,
    cpu: u16,
    mem: u16,
}

impl Packed {
    const EMPTY: Packed = Packed {
        rx: NO_RATE,
        tx: NO_RATE,
        temp: NO_TEMP,
        cpu: NO_PCT,
        mem: NO_PCT,
    };

    /// Packs a sample. Values that collide with a sentinel are clamped next to it (a rate of
    /// `u64::MAX` bytes/s or `i32::MIN` m°C is not a real reading).
    fn pack(s: &Sample) -> Packed {
        Packed {
            rx: s.rx_bytes_per_s.map_or(NO_RATE, |v| v.min(NO_RATE - 1)),
            tx: s.tx_bytes_per_s.map_or(NO_RATE, |v| v.min(NO_RATE - 1)),
            temp: s.max_millicelsius.map_or(NO_TEMP, |v| v.max(NO_TEMP + 1)),
            cpu: s.cpu_busy.map_or(NO_PCT, |v| v.min(NO_PCT - 1)),
            mem: s.mem_used.map_or(NO_PCT, |v| v.min(NO_PCT - 1)),
        }
    }

    fn unpack(self) -> Sample {
        Sample {
            cpu_busy: (self.cpu != NO_PCT).then_some(self.cpu),
            mem_used: (self.mem != NO_PCT).then_some(self.mem),
            rx_bytes_per_s: (self.rx != NO_RATE).then_some(self.rx),
            tx_bytes_per_s: (self.tx != NO_RATE).then_some(self.tx),
            max_millicelsius: (self.temp != NO_TEMP).then_some(self.temp),
        }
    }
}

/// A ring of the last [`HISTORY_LEN`] [`Sample`]s. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct History {
    ring: [Packed; HISTORY_LEN],
    /// Index of the oldest sample.
    start: usize,
    /// Samples stored, `0..=HISTORY_LEN`.
    len: usize,
    /// Samples ever pushed (so a client can tell a new sample from one it has seen).
    pushed: u64,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history (usable in a `static` initialiser).
    pub const fn new() -> Self {
        History {
            ring: [Packed::EMPTY; HISTORY_LEN],
            start: 0,
            len: 0,
            pushed: 0,
        }
    }

    /// Appends `sample` as the newest, dropping the oldest when the ring is full.
    pub fn push(&mut self, sample: &Sample) {
        let packed = Packed::pack(sample);
        if self.len < HISTORY_LEN {
            // start + len < 2 × HISTORY_LEN, so one subtraction wraps it.
            let mut at = self.start + self.len;
            if at >= HISTORY_LEN {
                at -= HISTORY_LEN;
            }
            self.ring[at] = packed;
            self.len += 1;
        } else {
            self.ring[self.start] = packed;
            self.start += 1;
            if self.start == HISTORY_LEN {
                self.start = 0;
            }
        }
        self.pushed = self.pushed.saturating_add(1);
    }

    /// Samples stored (at most [`HISTORY_LEN`]).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` before the first [`push`](Self::push).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Samples pushed since the history was created, including those since overwritten. The
    /// newest sample is number `pushed()` (counting from 1).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<Sample> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Sample `i`, counting from the oldest (`0`).
    pub fn get(&self, i: usize) -> Option<Sample> {
        if i >= self.len {
            return None;
        }
        let mut at = self.start + i;
        if at >= HISTORY_LEN {
            at -= HISTORY_LEN;
        }
        self.ring.get(at).map(|p| p.unpack())
    }

    /// Every sample, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Sample> + Clone + '_ {
        // `get` is `Some` for every index below `len`.
        (0..self.len).map(|i| self.get(i).unwrap_or_default())
    }

    /// Forgets every sample (the push count is kept).
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn cpu(v: u16) -> Sample {
        Sample {
            cpu_busy: Some(v),
            ..Sample::default()
        }
    }

    #[test]
    fn fills_then_wraps_oldest_first() {
        let mut h = History::new();
        assert!(h.is_empty());
        assert_eq!(h.latest(), None);
        for i in 0..3u16 {
            h.push(&cpu(i));
        }
        let got: Vec<_> = h.iter().map(|s| s.cpu_busy.unwrap()).collect();
        assert_eq!(got, [0, 1, 2]);
        for i in 3..(HISTORY_LEN as u16 + 5) {
            h.push(&cpu(i));
        }
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h.pushed(), HISTORY_LEN as u64 + 5);
        let got: Vec<_> = h.iter().map(|s| s.cpu_busy.unwrap()).collect();
        let want: Vec<_> = (5..HISTORY_LEN as u16 + 5).collect();
        assert_eq!(got, want);
        assert_eq!(h.latest().unwrap().cpu_busy, Some(HISTORY_LEN as u16 + 4));
        assert_eq!(h.get(HISTORY_LEN), None);
        assert_eq!(h.iter().len(), HISTORY_LEN);
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.pushed(), HISTORY_LEN as u64 + 5);
    }

    #[test]
    fn unknown_values_round_trip_and_sentinels_clamp() {
        let mut h = History::new();
        h.push(&Sample::default());
        assert_eq!(h.latest(), Some(Sample::default()));
        let full = Sample {
            cpu_busy: Some(u16::MAX),
            mem_used: Some(10_000),
            rx_bytes_per_s: Some(u64::MAX),
            tx_bytes_per_s: Some(0),
            max_millicelsius: Some(i32::MIN),
        };
        h.push(&full);
        let back = h.latest().unwrap();
        assert_eq!(back.cpu_busy, Some(u16::MAX - 1));
        assert_eq!(back.mem_used, Some(10_000));
        assert_eq!(back.rx_bytes_per_s, Some(u64::MAX - 1));
        assert_eq!(back.tx_bytes_per_s, Some(0));
        assert_eq!(back.max_millicelsius, Some(i32::MIN + 1));
    }

    #[test]
    fn packed_is_small() {
        assert_eq!(core::mem::size_of::<Packed>(), 24);
    }
}
