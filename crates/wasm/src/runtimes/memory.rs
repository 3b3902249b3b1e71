//! Each test's linear memory, over a buffer that stays mapped between tests.
//!
//! Every test runs in a fresh instance with a fresh memory, and wasmi allocates and zero-fills that memory on
//! instantiation. For an interpreter's memory the page faults of a fresh allocation are most of a test's cost: 73 MB
//! (Ruby's, once booted) cost ~27 ms to allocate and zero on this machine, against ~1.2 ms to zero the same memory
//! already mapped (BENCHMARKS.md). So a runtime's module is rewritten to import its memory
//! ([`super::binary::import_memory`]), and each test's memory is wasmi's [`Memory::new_static`] over a buffer leased
//! from the runtime's [`MemoryPool`]. wasmi zeroes the buffer up to the memory's size and zeroes whatever the memory
//! grows into, and instantiation writes the data segments, exactly as for a memory of its own: a test sees nothing of
//! the one that used the buffer before.
//!
//! A buffer is given back when its test's store is gone; the pool keeps [`MAX_IDLE`] and frees the rest, and tells the
//! system it may drop the pages of a kept buffer past what a test touches anyway, so a test that grew its memory far
//! does not leave that much resident. Only memories of [`POOLED_FROM_BYTES`] and more are pooled (Ruby's): the
//! system allocator keeps smaller ones mapped by itself.

use codecapsule_core::judge::Termination;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::Mutex;
use wasmi::{Memory, MemoryType, Store};

/// Buffers a pool keeps between tests: one per core of the machine the judge runs on (two tests at once).
const MAX_IDLE: usize = 2;
/// Memories smaller than this are not pooled: the system allocator (glibc) serves allocations up to 32 MiB from its
/// heap and reuses them after they are freed, pages still mapped, so they cost no faults in the first place
/// (measured: pooling CPython's 10 MiB and QuickJS's 2 MiB changed nothing but their resident memory, BENCHMARKS.md).
/// Larger ones it maps afresh and unmaps every time.
const POOLED_FROM_BYTES: usize = 32 << 20;
/// A WebAssembly page: buffers are whole pages.
const PAGE: usize = 64 << 10;
/// Alignment of a buffer. Not a page: the system allocator zeroes an over-aligned allocation by writing it, which
/// makes every page of it resident, where a plainly aligned large one comes zeroed from the system untouched.
const ALIGN: usize = 16;

/// The buffers of one runtime's test memories.
pub(super) struct MemoryPool {
    /// The memory's type, as the module declared it before it was made an import.
    pub ty: MemoryType,
    /// Bytes of a kept buffer that stay resident: what every test of the runtime touches (its snapshot's memory).
    keep_resident: usize,
    idle: Mutex<Vec<Buffer>>,
}

impl MemoryPool {
    /// A pool for memories of type `ty`; a kept buffer keeps its initial size resident.
    pub(super) fn new(ty: MemoryType) -> MemoryPool {
        let initial = usize::try_from(ty.minimum()).unwrap_or(0).saturating_mul(PAGE);
        MemoryPool { ty, keep_resident: initial, idle: Mutex::new(Vec::new()) }
    }

    /// Keeps at least `bytes` of a kept buffer resident: memory that every test touches (a snapshot's).
    pub(super) fn keep_resident(&mut self, bytes: usize) {
        self.keep_resident = self.keep_resident.max(bytes);
    }

    /// Whether tests get pooled buffers: when the memory every test touches is too large for the system allocator
    /// to keep mapped itself.
    pub(super) fn pools(&self) -> bool {
        self.keep_resident >= POOLED_FROM_BYTES
    }

    /// A buffer of at least `capacity` bytes (rounded up to whole pages) for one test: a kept one when one is large
    /// enough, else a new one. `None` when the runtime's memory is not pooled ([`MemoryPool::pools`]) or the system
    /// refuses the allocation.
    pub(super) fn lease(&self, capacity: usize) -> Option<Lease<'_>> {
        if !self.pools() {
            return None;
        }
        let capacity = capacity.max(PAGE).checked_next_multiple_of(PAGE)?;
        let kept = {
            let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            idle.iter().position(|buffer| buffer.capacity >= capacity).map(|at| idle.swap_remove(at))
        };
        let buffer = match kept {
            Some(buffer) => buffer,
            None => Buffer::allocate(capacity)?,
        };
        Some(Lease { pool: self, buffer: Some(buffer), lent: false })
    }

    fn give_back(&self, buffer: Buffer) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE {
            buffer.release_pages_past(self.keep_resident);
            idle.push(buffer);
        }
    }
}

/// One test's buffer, back in the pool when dropped.
pub(super) struct Lease<'pool> {
    pool: &'pool MemoryPool,
    buffer: Option<Buffer>,
    lent: bool,
}

impl Lease<'_> {
    /// The test's memory over the leased buffer, in `store`.
    ///
    /// # Safety
    ///
    /// `store` must be dropped before this lease: wasmi holds the buffer as `&'static mut [u8]` for the store's life,
    /// and the lease gives the buffer to the next test when it drops. (Called once per lease; a second call fails.)
    pub(super) unsafe fn memory<T>(&mut self, store: &mut Store<T>, ty: MemoryType) -> Result<Memory, Termination> {
        let buffer = self.buffer.as_ref().filter(|_| !self.lent);
        let buffer = buffer.ok_or_else(|| Termination::Internal("a leased buffer was lent twice".into()))?;
        self.lent = true;
        // SAFETY: the buffer is this lease's alone (taken out of the pool or just allocated), lent once, and by this
        // function's contract outlives the store that holds the slice.
        let bytes = unsafe { std::slice::from_raw_parts_mut(buffer.start.as_ptr(), buffer.capacity) };
        Memory::new_static(store, ty, bytes)
            .map_err(|err| Termination::MemoryLimit(format!("the runtime's memory does not fit the limits: {err}")))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer);
        }
    }
}

/// Memory allocated zeroed (so untouched pages cost nothing until used), freed when dropped.
struct Buffer {
    start: NonNull<u8>,
    capacity: usize,
}

// SAFETY: a buffer is plain memory owned by whoever holds it; nothing in it is tied to a thread.
unsafe impl Send for Buffer {}

impl Buffer {
    fn allocate(capacity: usize) -> Option<Buffer> {
        let layout = Layout::from_size_align(capacity, ALIGN).ok()?;
        // SAFETY: the layout's size is non-zero (leases ask for at least a page).
        let start = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Buffer { start, capacity })
    }

    /// Lets the system take back the pages past the first `keep` bytes; they read as zeroes if touched again, and
    /// wasmi zeroes what a memory grows into anyway, so nothing depends on it.
    fn release_pages_past(&self, keep: usize) {
        let keep = keep.next_multiple_of(PAGE).min(self.capacity);
        if keep < self.capacity {
            // SAFETY: the range lies inside this buffer, which nothing else uses while it is idle; MADV_DONTNEED on
            // private anonymous memory only drops its pages.
            unsafe { libc::madvise(self.start.as_ptr().add(keep).cast(), self.capacity - keep, libc::MADV_DONTNEED) };
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `allocate` with this very layout, and freed once.
        unsafe { dealloc(self.start.as_ptr(), Layout::from_size_align_unchecked(self.capacity, ALIGN)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer used by one store and written all over is handed to the next store, which must see zeroes and its
    /// own data segment only.
    #[test]
    fn a_leased_buffer_shows_the_next_test_a_fresh_memory() {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(
            &engine,
            r#"(module (import "codecapsule" "memory" (memory 1 4)) (data (i32.const 8) "\2a")
               (func (export "scribble") (drop (memory.grow (i32.const 2))) (memory.fill (i32.const 0) (i32.const 7) (i32.const 196608)))
               (func (export "sum") (result i32) (local $at i32) (local $sum i32)
                 (drop (memory.grow (i32.const 2)))
                 (block (loop (br_if 1 (i32.ge_u (local.get $at) (i32.mul (memory.size) (i32.const 65536))))
                   (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $at))))
                   (local.set $at (i32.add (local.get $at) (i32.const 1))) (br 0)))
                 (i32.add (local.get $sum) (i32.mul (memory.size) (i32.const 1000)))))"#,
        )
        .unwrap();
        let mut pool = MemoryPool::new(MemoryType::new(1, Some(4)));
        assert!(pool.lease(4 * PAGE).is_none(), "a small memory is not pooled");
        pool.keep_resident(POOLED_FROM_BYTES);
        let run = |export: &str| {
            let mut lease = pool.lease(4 * PAGE).unwrap();
            let mut store = wasmi::Store::new(&engine, ());
            // SAFETY: the store is dropped at the end of this closure, before the lease.
            let memory = unsafe { lease.memory(&mut store, pool.ty) }.unwrap();
            assert!(unsafe { lease.memory(&mut store, pool.ty) }.is_err(), "lent once");
            let mut linker = wasmi::Linker::new(&engine);
            linker.define("codecapsule", "memory", memory).unwrap();
            let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
            match export {
                "scribble" => {
                    instance.get_typed_func::<(), ()>(&store, "scribble").unwrap().call(&mut store, ()).unwrap();
                    0
                }
                _ => instance.get_typed_func::<(), i32>(&store, "sum").unwrap().call(&mut store, ()).unwrap(),
            }
        };
        assert_eq!(run("sum"), 3000 + 42, "three zeroed pages but for the data segment");
        run("scribble");
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "the buffer went back to the pool");
        assert_eq!(run("sum"), 3000 + 42, "the next store sees zeroes (grown too) and its data, not the scribbles");
    }
}
