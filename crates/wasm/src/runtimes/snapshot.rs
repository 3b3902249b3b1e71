//! Snapshots of a language runtime after its start-up, so that every test starts from a booted interpreter.
//!
//! The runtime (a WASI command such as CPython) is run once with a warm-up program that loads what every test needs
//! (CPython: tools/runtime_drivers/python.py, which runs each program and leaves without finalising) and leaves
//! through `os._exit(0)`; WASI's `proc_exit` ends the call at once, without finalisation, so linear memory holds the
//! fully initialised interpreter. The parts of that memory that differ from a freshly instantiated module's
//! ([`dirty_runs`]) and the module's mutable globals (the shadow-stack pointer) are the snapshot. Each test
//! instantiates the module afresh, writes those parts back and calls `_start` again with the test's arguments: the interpreter finds itself initialised and only reconfigures (`Py_InitializeFromConfig` on an
//! initialised runtime), then runs the program. The shadow stack keeps the dead frames of the warm-up run below the
//! restored stack pointer, so nothing the interpreter still points at is overwritten.
//!
//! Two module facts make this work, and both are read from the binary rather than assumed (see [`super::binary`]):
//! - mutable globals are not exported by such builds: `expose_mutable_globals` adds exports for them;
//! - wasi-libc's `_start` refuses a second call through a static flag (`if (started) trap; started = 1`):
//!   `start_guard` finds that flag in `_start`'s first instructions, and the restore clears it.
//!
//! A module where either cannot be found is run from scratch every test instead (the loader says so).
//!
//! A reactor (Ruby's, see [`super::ruby`]) is snapshotted the same way after its exports booted Ruby and evaluated
//! its driver; those calls have returned, so its stack is empty, and it has no `_start` to re-arm: each test calls
//! the driver's entry point instead.

/// What the snapshot restores into a fresh instance.
#[derive(Clone)]
pub struct Snapshot {
    /// Linear memory's size in bytes when the snapshot was taken.
    pub memory_size: usize,
    /// The parts of that memory that differ from a freshly instantiated module's, in address order: all a restore
    /// needs to write, since every test starts from a fresh instance.
    pub dirty: Vec<Run>,
    /// Export name and value of each mutable global.
    pub globals: Vec<(String, wasmi::Val)>,
    /// Address of `_start`'s run-once flag, cleared on restore (a command's; a reactor has none).
    pub start_guard: Option<u32>,
}

/// Bytes of memory at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Where the bytes start.
    pub at: usize,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Granularity of the comparison: a page of the host's memory.
const CHUNK: usize = 4096;

/// The runs of `now` that differ from `fresh` (a freshly instantiated memory, shorter when memory grew since: what
/// lies past it is zero when fresh), compared chunk by chunk, adjacent chunks merged. CPython's booted interpreter
/// differs from its instantiated memory in a part of its 10 MiB only, so a restore writes that part and the snapshot
/// keeps only that much.
pub fn dirty_runs(fresh: &[u8], now: &[u8]) -> Vec<Run> {
    // Ranges first, then one allocation per run: grown chunk by chunk, the runs left the allocator fragmented and
    // the process ~13 MB more resident.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for start in (0..now.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(now.len());
        let chunk = &now[start..end];
        let unchanged = match fresh.get(start..end) {
            Some(before) => before == chunk,
            None => chunk.iter().all(|byte| *byte == 0) && fresh.len() <= start,
        };
        if unchanged {
            continue;
        }
        match ranges.last_mut() {
            Some((_, last_end)) if *last_end == start => *last_end = end,
            _ => ranges.push((start, end)),
        }
    }
    ranges.into_iter().map(|(start, end)| Run { at: start, bytes: now[start..end].to_vec() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_runs_rebuild_the_memory_from_a_fresh_one() {
        let fresh: Vec<u8> = (0..5 * CHUNK).map(|at| (at % 7) as u8).collect();
        let mut now = fresh.clone();
        now[CHUNK + 5] = 0xff; // one chunk changed
        now[3 * CHUNK] = 0xee; // two adjacent chunks changed
        now[4 * CHUNK + 1] = 0xdd;
        now.extend(vec![0u8; 2 * CHUNK]); // grown, still zero
        now.extend(vec![1u8; CHUNK / 2]); // grown and written, a partial last chunk
        let runs = dirty_runs(&fresh, &now);
        let starts: Vec<usize> = runs.iter().map(|run| run.at).collect();
        assert_eq!(starts, vec![CHUNK, 3 * CHUNK, 7 * CHUNK]);
        assert_eq!(runs[1].bytes.len(), 2 * CHUNK, "adjacent chunks merged");
        let mut rebuilt = fresh.clone();
        rebuilt.resize(now.len(), 0);
        for run in &runs {
            rebuilt[run.at..run.at + run.bytes.len()].copy_from_slice(&run.bytes);
        }
        assert_eq!(rebuilt, now);
        assert!(dirty_runs(&fresh, &fresh).is_empty());
    }
}
