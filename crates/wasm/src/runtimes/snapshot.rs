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

use wasmi::Val;

/// What the snapshot restores into a fresh instance.
#[derive(Clone)]
pub struct Snapshot {
    /// Linear memory's size in bytes when the snapshot was taken.
    pub memory_size: usize,
    /// The parts of that memory that differ from a freshly instantiated module's, in address order: all a restore
    /// needs to write, since every test starts from a fresh instance.
    pub dirty: Vec<Run>,
    /// Export name and value of each mutable global.
    pub globals: Vec<(String, Val)>,
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

/// The first bytes of a snapshot file, with its format's version: bumped whenever what a snapshot holds or how the
/// module is rewritten before it runs changes (super::binary), so that an older file is not restored.
const FILE_MAGIC: &[u8; 8] = b"CCSNAP\x00\x01";
/// The largest memory a snapshot file may describe: wasm32's 4 GiB.
const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// Why a snapshot file cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotFileError {
    /// It was taken of another module or another launch (a stale file), or in another format.
    #[error("it was taken of {0}; run `make packs` to compute it again")]
    Stale(&'static str),
    /// It does not parse.
    #[error("it is malformed: {0}")]
    Malformed(&'static str),
}

impl Snapshot {
    /// The snapshot as a file of the pack, bound to the module (its SHA-256, hex) and the launch it was taken with
    /// (`launch_digest`: the SHA-256 of the manifest's `launch`).
    pub fn encode(&self, module_sha256: &str, launch_digest: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.dirty.iter().map(|run| run.bytes.len() + 16).sum::<usize>() + 256);
        out.extend_from_slice(FILE_MAGIC);
        let module = module_sha256.to_ascii_lowercase();
        out.extend_from_slice(&(module.len() as u32).to_le_bytes());
        out.extend_from_slice(module.as_bytes());
        out.extend_from_slice(launch_digest);
        out.extend_from_slice(&(self.memory_size as u64).to_le_bytes());
        out.extend_from_slice(&self.start_guard.map_or(u64::MAX, u64::from).to_le_bytes());
        out.extend_from_slice(&(self.globals.len() as u32).to_le_bytes());
        for (name, value) in &self.globals {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            let (kind, bits): (u8, u64) = match value {
                Val::I32(value) => (0, *value as u32 as u64),
                Val::I64(value) => (1, *value as u64),
                Val::F32(value) => (2, u64::from(value.to_bits())),
                Val::F64(value) => (3, value.to_bits()),
                // Mutable globals of the runtimes' modules are numbers; a reference cannot be snapshotted.
                _ => (u8::MAX, 0),
            };
            out.push(kind);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        out.extend_from_slice(&(self.dirty.len() as u32).to_le_bytes());
        for run in &self.dirty {
            out.extend_from_slice(&(run.at as u64).to_le_bytes());
            out.extend_from_slice(&(run.bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&run.bytes);
        }
        out
    }

    /// Reads a file written by [`Snapshot::encode`], checking that it was taken of this module and launch and that
    /// every part of it lies inside the memory it describes.
    pub fn decode(bytes: &[u8], module_sha256: &str, launch_digest: &[u8; 32]) -> Result<Snapshot, SnapshotFileError> {
        let mut file = File { bytes };
        if file.take(8)? != FILE_MAGIC {
            return Err(SnapshotFileError::Stale("another format (or is not a snapshot)"));
        }
        let length = file.u32()? as usize;
        if !file.take(length)?.eq_ignore_ascii_case(module_sha256.as_bytes()) {
            return Err(SnapshotFileError::Stale("another module"));
        }
        if file.take(32)? != launch_digest {
            return Err(SnapshotFileError::Stale("another launch (arguments or warm-up)"));
        }
        let memory_size = file.u64()?;
        if memory_size > MAX_MEMORY_BYTES {
            return Err(SnapshotFileError::Malformed("its memory is larger than 4 GiB"));
        }
        let start_guard = match file.u64()? {
            u64::MAX => None,
            at => Some(u32::try_from(at).map_err(|_| SnapshotFileError::Malformed("the start flag lies past 4 GiB"))?),
        };
        let mut globals = Vec::new();
        for _ in 0..file.u32()? {
            let length = file.u32()? as usize;
            let name = std::str::from_utf8(file.take(length)?)
                .map_err(|_| SnapshotFileError::Malformed("a global's name is not UTF-8"))?
                .to_string();
            let kind = file.take(1)?[0];
            let bits = file.u64()?;
            let value = match kind {
                0 => Val::I32(bits as u32 as i32),
                1 => Val::I64(bits as i64),
                2 => Val::F32(wasmi::F32::from_bits(bits as u32)),
                3 => Val::F64(wasmi::F64::from_bits(bits)),
                _ => return Err(SnapshotFileError::Malformed("a global is not a number")),
            };
            globals.push((name, value));
        }
        let mut dirty = Vec::new();
        for _ in 0..file.u32()? {
            let at = file.u64()?;
            let length = file.u64()?;
            if at.checked_add(length).is_none_or(|end| end > memory_size) {
                return Err(SnapshotFileError::Malformed("a part lies outside its memory"));
            }
            dirty.push(Run { at: at as usize, bytes: file.take(length as usize)?.to_vec() });
        }
        if !file.bytes.is_empty() {
            return Err(SnapshotFileError::Malformed("bytes follow its last part"));
        }
        Ok(Snapshot { memory_size: memory_size as usize, dirty, globals, start_guard })
    }
}

/// A snapshot file being read.
struct File<'a> {
    bytes: &'a [u8],
}

impl<'a> File<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], SnapshotFileError> {
        if length > self.bytes.len() {
            return Err(SnapshotFileError::Malformed("it ends early"));
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, SnapshotFileError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, SnapshotFileError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
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
    fn a_snapshot_file_round_trips_and_is_bound_to_its_module_and_launch() {
        let snapshot = Snapshot {
            memory_size: 3 * CHUNK,
            dirty: vec![Run { at: 0, bytes: vec![1, 2, 3] }, Run { at: 2 * CHUNK, bytes: vec![9; CHUNK] }],
            globals: vec![("g0".into(), Val::I32(-5)), ("g1".into(), Val::F64(wasmi::F64::from(2.5)))],
            start_guard: Some(1024),
        };
        let launch = [7u8; 32];
        let file = snapshot.encode("AB12", &launch);
        let read = Snapshot::decode(&file, "ab12", &launch).unwrap();
        assert_eq!(
            (read.memory_size, read.start_guard, read.dirty.clone()),
            (3 * CHUNK, Some(1024), snapshot.dirty.clone())
        );
        assert_eq!(format!("{:?}", read.globals), format!("{:?}", snapshot.globals));

        assert_eq!(Snapshot::decode(&file, "cd34", &launch).err(), Some(SnapshotFileError::Stale("another module")));
        assert!(matches!(Snapshot::decode(&file, "ab12", &[0; 32]), Err(SnapshotFileError::Stale(_))));
        for cut in [0, 7, 14, 40, 90, file.len() - 1] {
            assert!(Snapshot::decode(&file[..cut], "ab12", &launch).is_err(), "cut at {cut}");
        }
        let mut outside = snapshot.clone();
        outside.dirty.push(Run { at: 3 * CHUNK - 1, bytes: vec![0; 2] });
        let file = outside.encode("ab12", &launch);
        assert_eq!(
            Snapshot::decode(&file, "ab12", &launch).err(),
            Some(SnapshotFileError::Malformed("a part lies outside its memory"))
        );
    }

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
