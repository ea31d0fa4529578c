//! The fixed buffer pool that streams borrow from while they have bytes in flight.

use core::cell::RefCell;

use crate::config::MAX_BUFFERS;

/// Errors building a [`BufferPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PoolError {
    /// `buffer_size` was zero or larger than the region.
    BadBufferSize,
    /// The region holds more buffers than [`MAX_BUFFERS`] free-list entries.
    TooManyBuffers,
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PoolError::BadBufferSize => f.write_str("buffer size is zero or exceeds the region"),
            PoolError::TooManyBuffers => f.write_str("region holds more than MAX_BUFFERS buffers"),
        }
    }
}

impl core::error::Error for PoolError {}

/// A fixed set of equal-size byte buffers carved from one `'static` region.
///
/// Streams take a read and a write buffer when they become active and give them back when they
/// are idle (nothing buffered either way), so thousands of idle keep-alive connections cost only
/// their small stream state. When the pool is empty, a stream that needs a buffer is parked by its
/// server (its `EPOLLIN` is switched off) until another stream gives buffers back.
///
/// The pool is single-threaded (`!Sync`); it belongs to the loop's thread. Sharing it between the
/// streams of one server is by `&'static BufferPool`.
pub struct BufferPool {
    free: RefCell<heapless::Vec<&'static mut [u8], MAX_BUFFERS>>,
    buffer_size: usize,
    capacity: usize,
}

impl core::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BufferPool")
            .field("buffer_size", &self.buffer_size)
            .field("capacity", &self.capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl BufferPool {
    /// Carves `region` into `region.len() / buffer_size` buffers (a remainder is unused).
    pub fn new(region: &'static mut [u8], buffer_size: usize) -> Result<Self, PoolError> {
        if buffer_size == 0 || buffer_size > region.len() {
            return Err(PoolError::BadBufferSize);
        }
        let mut free = heapless::Vec::new();
        for chunk in region.chunks_exact_mut(buffer_size) {
            free.push(chunk).map_err(|_| PoolError::TooManyBuffers)?;
        }
        let capacity = free.len();
        Ok(BufferPool {
            free: RefCell::new(free),
            buffer_size,
            capacity,
        })
    }

    /// Takes a buffer, or `None` when all are lent out.
    #[inline]
    pub fn take(&self) -> Option<&'static mut [u8]> {
        self.free.try_borrow_mut().ok()?.pop()
    }

    /// Takes two buffers at once (a stream's read and write buffer), or none at all.
    #[inline]
    pub fn take_pair(&self) -> Option<(&'static mut [u8], &'static mut [u8])> {
        let mut free = self.free.try_borrow_mut().ok()?;
        if free.len() < 2 {
            return None;
        }
        let a = free.pop()?;
        let b = free.pop()?;
        Some((a, b))
    }

    /// Returns a buffer taken from this pool.
    #[inline]
    pub fn give(&self, buf: &'static mut [u8]) {
        if let Ok(mut free) = self.free.try_borrow_mut() {
            // Cannot overflow: only buffers from this pool come back, and it held them all.
            let _ = free.push(buf);
        }
    }

    /// Buffers currently free.
    pub fn available(&self) -> usize {
        self.free.try_borrow().map(|f| f.len()).unwrap_or(0)
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes per buffer.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(n: usize) -> &'static mut [u8] {
        std::boxed::Box::leak(std::vec![0u8; n].into_boxed_slice())
    }

    #[test]
    fn test_pool_carves_and_recycles() {
        let p = BufferPool::new(region(1000), 300).unwrap();
        assert_eq!(p.capacity(), 3);
        let a = p.take().unwrap();
        assert_eq!(a.len(), 300);
        let (b, c) = p.take_pair().unwrap();
        assert!(p.take().is_none());
        p.give(a);
        assert!(p.take_pair().is_none(), "pair needs two free buffers");
        p.give(b);
        p.give(c);
        assert_eq!(p.available(), 3);
    }

    #[test]
    fn test_pool_rejects_bad_sizes() {
        assert_eq!(
            BufferPool::new(region(10), 0).unwrap_err(),
            PoolError::BadBufferSize
        );
        assert_eq!(
            BufferPool::new(region(10), 11).unwrap_err(),
            PoolError::BadBufferSize
        );
        assert_eq!(
            BufferPool::new(region(MAX_BUFFERS + 1), 1).unwrap_err(),
            PoolError::TooManyBuffers
        );
    }
}
