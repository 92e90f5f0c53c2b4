//! Device memory: a caching allocator so that the training loop allocates nothing from the
//! driver after its first step. Buffers are grouped in size classes (at most 1/8 wasted); a
//! dropped [`CudaStorage`] returns its buffer to the free list of its class, and the next
//! request of that class takes it back. All work runs in order on one stream, so a buffer
//! freed while kernels that use it are still queued can be handed out at once: whatever
//! writes it next is queued after them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, result as drv};

use super::device::{backend_err, drv_err};
use crate::Result;

/// Elements of the size class that holds `len` elements.
pub(crate) fn size_class(len: usize) -> usize {
    let len = len.max(1);
    if len <= 1024 {
        return len.div_ceil(64) * 64;
    }
    let top = usize::BITS - 1 - len.leading_zeros();
    let step = 1usize << (top - 3);
    len.div_ceil(step) * step
}

/// The caching allocator of one device.
pub(crate) struct Pool {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    free: Mutex<HashMap<usize, Vec<CudaSlice<f32>>>>,
    /// Elements held in the free lists.
    cached: AtomicUsize,
    /// Elements handed out and not yet returned.
    in_use: AtomicUsize,
    /// Buffers obtained from the driver so far.
    driver_allocs: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(ctx: Arc<CudaContext>, stream: Arc<CudaStream>) -> Arc<Self> {
        Arc::new(Pool {
            ctx,
            stream,
            free: Mutex::new(HashMap::new()),
            cached: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            driver_allocs: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Vec<CudaSlice<f32>>>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of `len` elements (contents undefined).
    pub(crate) fn alloc(self: &Arc<Self>, len: usize) -> Result<CudaStorage> {
        let cap = size_class(len);
        let cached = self.lock().get_mut(&cap).and_then(Vec::pop);
        let buf = match cached {
            Some(b) => {
                self.cached.fetch_sub(cap, Ordering::Relaxed);
                b
            }
            None => self.fresh(cap)?,
        };
        let (ptr, _) = buf.device_ptr(&self.stream);
        self.in_use.fetch_add(cap, Ordering::Relaxed);
        Ok(CudaStorage {
            buf: Some(buf),
            ptr,
            len,
            pool: self.clone(),
        })
    }

    /// Asks the driver for a new buffer; on failure frees the cached ones and tries again.
    fn fresh(&self, cap: usize) -> Result<CudaSlice<f32>> {
        self.driver_allocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the contents are undefined until written; every caller writes before reading.
        match unsafe { self.stream.alloc::<f32>(cap) } {
            Ok(b) => Ok(b),
            Err(first) => {
                self.release_cached();
                // SAFETY: as above.
                unsafe { self.stream.alloc::<f32>(cap) }.map_err(|e| {
                    backend_err(format!(
                        "out of GPU memory allocating {:.1} MiB ({:.1} MiB in use; first \
                         attempt: {first}; retry after freeing the cache: {e})",
                        (cap * 4) as f64 / 1048576.0,
                        (self.in_use.load(Ordering::Relaxed) * 4) as f64 / 1048576.0,
                    ))
                })
            }
        }
    }

    fn give_back(&self, buf: CudaSlice<f32>) {
        let cap = buf.len();
        self.in_use.fetch_sub(cap, Ordering::Relaxed);
        self.cached.fetch_add(cap, Ordering::Relaxed);
        self.lock().entry(cap).or_default().push(buf);
    }

    /// Returns every cached buffer to the driver.
    pub(crate) fn release_cached(&self) {
        let drained: Vec<CudaSlice<f32>> = self.lock().drain().flat_map(|(_, v)| v).collect();
        self.cached.store(0, Ordering::Relaxed);
        drop(drained);
    }

    /// Bytes held in the free lists.
    pub(crate) fn cached_bytes(&self) -> usize {
        self.cached.load(Ordering::Relaxed) * 4
    }

    /// Bytes handed out to live storages.
    pub(crate) fn in_use_bytes(&self) -> usize {
        self.in_use.load(Ordering::Relaxed) * 4
    }

    /// Buffers obtained from the driver so far.
    pub(crate) fn driver_allocations(&self) -> usize {
        self.driver_allocs.load(Ordering::Relaxed)
    }

    /// A device-to-device copy of `src` into a new buffer.
    fn duplicate(self: &Arc<Self>, src: &CudaStorage) -> Result<CudaStorage> {
        let dst = self.alloc(src.len)?;
        if src.len > 0 {
            self.ctx
                .bind_to_thread()
                .map_err(drv_err("binding the CUDA context"))?;
            // SAFETY: both buffers hold at least `len` elements; the copy is stream-ordered.
            unsafe {
                drv::memcpy_dtod_async(dst.ptr, src.ptr, src.len * 4, self.stream.cu_stream())
            }
            .map_err(drv_err("copying a device buffer"))?;
        }
        Ok(dst)
    }
}

/// A buffer of f32 on a CUDA device (the CUDA backend's storage). Cloning copies the data on
/// the device (it panics only if the GPU is out of memory even after freeing the cache, since
/// `Clone` cannot return an error); dropping returns the buffer to the device's pool.
pub struct CudaStorage {
    buf: Option<CudaSlice<f32>>,
    ptr: u64,
    len: usize,
    pool: Arc<Pool>,
}

impl CudaStorage {
    /// Number of f32 elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the storage holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Device address of the first element.
    pub(crate) fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Device address of element `offset` (which must be within the buffer).
    pub(crate) fn ptr_at(&self, offset: usize) -> u64 {
        self.ptr + 4 * offset as u64
    }
}

impl Clone for CudaStorage {
    fn clone(&self) -> Self {
        self.pool
            .duplicate(self)
            .unwrap_or_else(|e| panic!("cloning a CUDA buffer of {} values: {e}", self.len))
    }
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.pool.give_back(buf);
        }
    }
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaStorage({} values)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_waste_at_most_an_eighth() {
        for len in (0..5000).chain([1 << 20, (1 << 20) + 1, 3_000_001, 123_456_789]) {
            let c = size_class(len);
            assert!(c >= len.max(1), "{len} -> {c}");
            if len > 1024 {
                assert!((c - len) * 8 <= len, "{len} -> {c}");
            }
        }
        assert_eq!(size_class(1025), 1152);
        assert_eq!(size_class(0), 64);
    }
}
