//! Memory and swap from `/proc/meminfo`, in bytes.
//!
//! node_exporter equivalent: `node_memory_<Field>_bytes` (for example
//! `node_memory_MemAvailable_bytes`). Each field is `None` when its line is absent: kernels
//! before 3.14 (still found on old Raspberry Pi images) have no `MemAvailable`, and some
//! container runtimes show a reduced file.

use super::ascii::{fields, parse_u64, split_key};
use super::read::{LINE_BUF_SIZE, Line, ReadError, lines, read_lines};

/// `/proc/meminfo` values in bytes (the file's `kB` is KiB, multiplied by 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MemInfo {
    /// `MemTotal`: usable RAM.
    pub total: Option<u64>,
    /// `MemFree`: completely unused RAM.
    pub free: Option<u64>,
    /// `MemAvailable`: estimate of RAM available for new work without swapping (3.14+).
    pub available: Option<u64>,
    /// `Buffers`: block device buffers.
    pub buffers: Option<u64>,
    /// `Cached`: page cache (includes `Shmem`).
    pub cached: Option<u64>,
    /// `SwapCached`: swapped-out memory also still in RAM.
    pub swap_cached: Option<u64>,
    /// `Active`: recently used memory.
    pub active: Option<u64>,
    /// `Inactive`: less recently used memory, reclaimable first.
    pub inactive: Option<u64>,
    /// `SwapTotal`: swap space.
    pub swap_total: Option<u64>,
    /// `SwapFree`: unused swap space.
    pub swap_free: Option<u64>,
    /// `Dirty`: waiting to be written back.
    pub dirty: Option<u64>,
    /// `Writeback`: being written back.
    pub writeback: Option<u64>,
    /// `AnonPages`: anonymous (not file-backed) pages mapped by processes.
    pub anon_pages: Option<u64>,
    /// `Mapped`: files mapped into processes.
    pub mapped: Option<u64>,
    /// `Shmem`: shared memory and tmpfs.
    pub shmem: Option<u64>,
    /// `Slab`: kernel slab caches.
    pub slab: Option<u64>,
    /// `SReclaimable`: reclaimable part of `Slab`.
    pub slab_reclaimable: Option<u64>,
    /// `SUnreclaim`: unreclaimable part of `Slab`.
    pub slab_unreclaimable: Option<u64>,
    /// `KernelStack`: kernel stacks.
    pub kernel_stack: Option<u64>,
    /// `PageTables`: page tables.
    pub page_tables: Option<u64>,
    /// `CommitLimit`: allocation limit under strict overcommit.
    pub commit_limit: Option<u64>,
    /// `Committed_AS`: memory currently promised to processes.
    pub committed_as: Option<u64>,
}

impl MemInfo {
    /// Takes one `/proc/meminfo` line. Unknown keys, cut lines and unreadable values are
    /// ignored.
    pub fn feed(&mut self, line: Line<'_>) {
        if !line.complete {
            return;
        }
        let Some((key, rest)) = split_key(line.text) else {
            return;
        };
        let slot = match key {
            b"MemTotal" => &mut self.total,
            b"MemFree" => &mut self.free,
            b"MemAvailable" => &mut self.available,
            b"Buffers" => &mut self.buffers,
            b"Cached" => &mut self.cached,
            b"SwapCached" => &mut self.swap_cached,
            b"Active" => &mut self.active,
            b"Inactive" => &mut self.inactive,
            b"SwapTotal" => &mut self.swap_total,
            b"SwapFree" => &mut self.swap_free,
            b"Dirty" => &mut self.dirty,
            b"Writeback" => &mut self.writeback,
            b"AnonPages" => &mut self.anon_pages,
            b"Mapped" => &mut self.mapped,
            b"Shmem" => &mut self.shmem,
            b"Slab" => &mut self.slab,
            b"SReclaimable" => &mut self.slab_reclaimable,
            b"SUnreclaim" => &mut self.slab_unreclaimable,
            b"KernelStack" => &mut self.kernel_stack,
            b"PageTables" => &mut self.page_tables,
            b"CommitLimit" => &mut self.commit_limit,
            b"Committed_AS" => &mut self.committed_as,
            _ => return,
        };
        *slot = parse_kib_value(rest);
    }

    /// Memory in use the way `free` and most dashboards count it:
    /// `MemTotal - MemFree - Buffers - Cached` (saturating). `None` if any part is unknown.
    pub fn used(&self) -> Option<u64> {
        Some(
            self.total?
                .saturating_sub(self.free?)
                .saturating_sub(self.buffers?)
                .saturating_sub(self.cached?),
        )
    }

    /// `MemAvailable`, or on kernels without it the classic estimate
    /// `MemFree + Buffers + Cached`.
    pub fn available_or_estimate(&self) -> Option<u64> {
        self.available.or_else(|| {
            Some(
                self.free?
                    .saturating_add(self.buffers?)
                    .saturating_add(self.cached?),
            )
        })
    }

    /// Swap in use, `SwapTotal - SwapFree` (saturating).
    pub fn swap_used(&self) -> Option<u64> {
        Some(self.swap_total?.saturating_sub(self.swap_free?))
    }
}

/// Parses `"  16384 kB"` into bytes, or a bare count (`HugePages_Total:  0`). Any other unit,
/// extra fields or overflow give `None`.
fn parse_kib_value(rest: &[u8]) -> Option<u64> {
    let mut f = fields(rest);
    let n = parse_u64(f.next()?)?;
    let value = match f.next() {
        Some(b"kB") => n.checked_mul(1024)?,
        Some(_) => return None,
        None => n,
    };
    if f.next().is_some() {
        return None;
    }
    Some(value)
}

/// Parses the contents of `/proc/meminfo`. Never fails: unknown fields stay `None`.
pub fn parse_meminfo(data: &[u8]) -> MemInfo {
    let mut m = MemInfo::default();
    for line in lines(data) {
        m.feed(line);
    }
    m
}

/// Reads `/proc/meminfo`.
pub fn read_meminfo() -> Result<MemInfo, ReadError> {
    read_meminfo_from("/proc/meminfo")
}

/// Reads a meminfo file at `path`, streamed through a [`LINE_BUF_SIZE`] buffer. Fails with
/// [`ReadError::Malformed`] when it has no readable `MemTotal`.
pub fn read_meminfo_from(path: &str) -> Result<MemInfo, ReadError> {
    let mut m = MemInfo::default();
    let mut buf = [0u8; LINE_BUF_SIZE];
    read_lines(path, &mut buf, |line| m.feed(line))?;
    if m.total.is_none() {
        return Err(ReadError::Malformed);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// Raspberry Pi 3 on a 3.18 kernel: no MemAvailable yet.
    const PI_OLD: &[u8] = b"MemTotal:         947732 kB
MemFree:          602292 kB
Buffers:           20656 kB
Cached:           219620 kB
SwapCached:            0 kB
Active:           183780 kB
Inactive:         123956 kB
SwapTotal:        102396 kB
SwapFree:         102396 kB
Dirty:                24 kB
Shmem:              6924 kB
Slab:              20912 kB
CmaTotal:           8192 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn parses_modern_meminfo() {
        let m = parse_meminfo(
            b"MemTotal:        3884428 kB\nMemFree:         2621780 kB\nMemAvailable:    3385516 kB\n\
              Buffers:           34608 kB\nCached:           835788 kB\nSwapTotal:             0 kB\n\
              SwapFree:              0 kB\nSReclaimable:      34420 kB\nSUnreclaim:        25260 kB\n\
              Committed_AS:     785852 kB\n",
        );
        assert_eq!(m.total, Some(3_884_428 * 1024));
        assert_eq!(m.available, Some(3_385_516 * 1024));
        assert_eq!(m.slab_unreclaimable, Some(25_260 * 1024));
        assert_eq!(m.committed_as, Some(785_852 * 1024));
        assert_eq!(m.swap_used(), Some(0));
        assert_eq!(
            m.used(),
            Some((3_884_428 - 2_621_780 - 34_608 - 835_788) * 1024)
        );
        assert_eq!(m.available_or_estimate(), m.available);
        assert_eq!(m.dirty, None);
    }

    #[test]
    fn old_kernel_estimate() {
        let m = parse_meminfo(PI_OLD);
        assert_eq!(m.total, Some(947_732 * 1024));
        assert_eq!(m.available, None);
        assert_eq!(
            m.available_or_estimate(),
            Some((602_292 + 20_656 + 219_620) * 1024)
        );
        assert_eq!(m.swap_total, Some(102_396 * 1024));
        assert!(m.total.unwrap() > 900 * MIB);
    }

    #[test]
    fn truncated_and_malformed() {
        // Cut in the middle of MemFree's value: MemFree unknown, MemTotal fine.
        let m = parse_meminfo(b"MemTotal:  1000 kB\nMemFree:    60");
        assert_eq!(m.total, Some(1_024_000));
        assert_eq!(m.free, None);
        // Cut between the value and its unit: still unknown (not read as bytes).
        assert_eq!(parse_meminfo(b"MemFree:   602292 k").free, None);
        assert_eq!(parse_meminfo(b"MemFree:   602292").free, None);
        // Odd units, junk, overflow.
        let m = parse_meminfo(
            b"MemTotal: 5 MB\nMemFree: x kB\nBuffers: 18446744073709551615 kB\nCached\nShmem: 1 kB 2\n",
        );
        assert_eq!(m, MemInfo::default());
        assert_eq!(m.used(), None);
        assert_eq!(m.available_or_estimate(), None);
        // A bare count is taken as is.
        assert_eq!(parse_meminfo(b"Slab:   7\n").slab, Some(7));
    }

    #[test]
    fn reader_requires_total() {
        let fs = crate::status::testfs::FakeRoot::new();
        let p = fs.file("meminfo", b"MemFree: 1 kB\n");
        assert_eq!(read_meminfo_from(&p), Err(ReadError::Malformed));
        let p = fs.file("meminfo2", PI_OLD);
        assert_eq!(read_meminfo_from(&p).unwrap(), parse_meminfo(PI_OLD));
    }
}
