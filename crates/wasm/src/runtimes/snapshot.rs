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
//! Two module facts make this work, and both are read from the binary rather than assumed:
//! - mutable globals are not exported by such builds: [`expose_mutable_globals`] adds exports for them;
//! - wasi-libc's `_start` refuses a second call through a static flag (`if (started) trap; started = 1`):
//!   [`start_guard`] finds that flag in `_start`'s first instructions, and the restore clears it.
//!
//! A module where either cannot be found is run from scratch every test instead (the loader says so).
//!
//! A reactor (Ruby's, see [`super::ruby`]) is snapshotted the same way after its exports booted Ruby and evaluated
//! its driver; those calls have returned, so its stack is empty, and it has no `_start` to re-arm: each test calls
//! the driver's entry point instead.

/// Prefix of the export names given to mutable globals.
pub const GLOBAL_EXPORT_PREFIX: &str = "__codecapsule_global_";

const SECTION_IMPORT: u8 = 2;
const SECTION_GLOBAL: u8 = 6;
const SECTION_EXPORT: u8 = 7;
const SECTION_CODE: u8 = 10;

/// Why a module's binary could not be read for snapshotting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BinaryError(String);

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

/// The module with an export added for every mutable global it defines, and the names given to them.
pub fn expose_mutable_globals(module: &[u8]) -> Result<(Vec<u8>, Vec<String>), BinaryError> {
    let sections = sections(module)?;
    let imported_globals = match sections.iter().find(|section| section.id == SECTION_IMPORT) {
        Some(section) => count_imported_globals(section.body)?,
        None => 0,
    };
    let mutable = match sections.iter().find(|section| section.id == SECTION_GLOBAL) {
        Some(section) => mutable_globals(section.body, imported_globals)?,
        None => Vec::new(),
    };
    let names: Vec<String> = mutable.iter().map(|index| format!("{GLOBAL_EXPORT_PREFIX}{index}")).collect();
    let mut extra_exports = Vec::new();
    for (index, name) in mutable.iter().zip(&names) {
        write_leb(&mut extra_exports, name.len() as u64);
        extra_exports.extend_from_slice(name.as_bytes());
        extra_exports.push(0x03); // export kind: global
        write_leb(&mut extra_exports, u64::from(*index));
    }

    let mut out = module[..8].to_vec();
    let mut exported = false;
    for section in &sections {
        let body = if section.id == SECTION_EXPORT {
            exported = true;
            let mut reader = Reader::new(section.body);
            let count = reader.leb()?;
            let mut body = Vec::new();
            write_leb(&mut body, count + mutable.len() as u64);
            body.extend_from_slice(&section.body[reader.position..]);
            body.extend_from_slice(&extra_exports);
            body
        } else {
            section.body.to_vec()
        };
        out.push(section.id);
        write_leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    if !exported {
        return Err(BinaryError("the module has no export section (it exports neither memory nor _start)".into()));
    }
    Ok((out, names))
}

/// The address of the flag with which `_start` refuses to run twice: among `_start`'s first instructions, a load
/// `i32.const A; i32.load offset=O` of the word that is then set with `i32.const A; i32.const 1; i32.store`. A plain
/// wasi-libc `_start` opens with it; one instrumented by Asyncify (Ruby) has its state checks around it.
pub fn start_guard(module: &[u8]) -> Result<u32, BinaryError> {
    let sections = sections(module)?;
    let imported_functions = match sections.iter().find(|section| section.id == SECTION_IMPORT) {
        Some(section) => count_imported_functions(section.body)?,
        None => 0,
    };
    let export = sections
        .iter()
        .find(|section| section.id == SECTION_EXPORT)
        .ok_or_else(|| BinaryError("the module has no exports".into()))?;
    let start = find_function_export(export.body, "_start")?
        .ok_or_else(|| BinaryError("the module exports no `_start` function".into()))?;
    let local_index =
        start.checked_sub(imported_functions).ok_or_else(|| BinaryError("`_start` is an imported function".into()))?;
    let code = sections
        .iter()
        .find(|section| section.id == SECTION_CODE)
        .ok_or_else(|| BinaryError("the module has no code section".into()))?;
    let body = function_body(code.body, local_index)?;

    let mut reader = Reader::new(body);
    let local_groups = reader.leb()?;
    for _ in 0..local_groups {
        reader.leb()?;
        reader.byte()?;
    }
    let opening = &body[reader.position..body.len().min(reader.position + START_GUARD_WINDOW)];
    (0..opening.len())
        .filter(|&at| opening[at] == 0x41)
        .find_map(|at| guard_at(opening, at))
        .ok_or_else(|| BinaryError("`_start` does not open with wasi-libc's run-once check".into()))
}

/// How far into `_start` the run-once check is looked for.
const START_GUARD_WINDOW: usize = 128;

/// The flag's address when `opening[at..]` loads a constant address that `opening` later sets to 1.
fn guard_at(opening: &[u8], at: usize) -> Option<u32> {
    let mut ops = Reader::new(&opening[at..]);
    ops.byte().ok()?; // i32.const
    let address = ops.sleb32().ok()?;
    if ops.byte().ok()? != 0x28 {
        return None; // not an i32.load
    }
    ops.leb().ok()?; // alignment
    let offset = u32::try_from(ops.leb().ok()?).ok()?;
    let mut store = vec![0x41];
    write_sleb32(&mut store, address);
    store.extend_from_slice(&[0x41, 0x01, 0x36]);
    let after = &opening[at + ops.position..];
    after.windows(store.len()).any(|window| window == store).then(|| (address as u32).checked_add(offset))?
}

struct Section<'a> {
    id: u8,
    body: &'a [u8],
}

fn sections(module: &[u8]) -> Result<Vec<Section<'_>>, BinaryError> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err(BinaryError("not a WebAssembly binary".into()));
    }
    let mut reader = Reader::new(&module[8..]);
    let mut sections = Vec::new();
    while reader.position < reader.bytes.len() {
        let id = reader.byte()?;
        let size = reader.leb()? as usize;
        let body = reader.take(size)?;
        sections.push(Section { id, body });
    }
    Ok(sections)
}

/// Walks the import section, calling `each` with every import's kind byte.
fn each_import(body: &[u8], mut each: impl FnMut(u8)) -> Result<(), BinaryError> {
    let mut reader = Reader::new(body);
    for _ in 0..reader.leb()? {
        let module_name = reader.leb()? as usize;
        reader.take(module_name)?;
        let name = reader.leb()? as usize;
        reader.take(name)?;
        let kind = reader.byte()?;
        match kind {
            0x00 => {
                reader.leb()?;
            }
            0x01 => {
                reader.byte()?;
                reader.limits()?;
            }
            0x02 => reader.limits()?,
            0x03 => {
                reader.byte()?;
                reader.byte()?;
            }
            other => return Err(BinaryError(format!("unknown import kind {other:#x}"))),
        }
        each(kind);
    }
    Ok(())
}

fn count_imported_globals(body: &[u8]) -> Result<u32, BinaryError> {
    let mut count = 0;
    each_import(body, |kind| count += u32::from(kind == 0x03))?;
    Ok(count)
}

fn count_imported_functions(body: &[u8]) -> Result<u32, BinaryError> {
    let mut count = 0;
    each_import(body, |kind| count += u32::from(kind == 0x00))?;
    Ok(count)
}

/// Indices of the mutable globals the module defines.
fn mutable_globals(body: &[u8], imported: u32) -> Result<Vec<u32>, BinaryError> {
    let mut reader = Reader::new(body);
    let mut mutable = Vec::new();
    for position in 0..reader.leb()? as u32 {
        reader.byte()?; // value type
        if reader.byte()? == 1 {
            mutable.push(imported + position);
        }
        // Constant expression: the constant instructions LLVM emits, then `end`.
        loop {
            match reader.byte()? {
                0x0b => break,
                0x41 | 0x42 | 0x23 => {
                    reader.leb()?;
                }
                0x43 => {
                    reader.take(4)?;
                }
                0x44 => {
                    reader.take(8)?;
                }
                other => return Err(BinaryError(format!("unsupported instruction {other:#x} in a global's value"))),
            }
        }
    }
    Ok(mutable)
}

fn find_function_export(body: &[u8], wanted: &str) -> Result<Option<u32>, BinaryError> {
    let mut reader = Reader::new(body);
    for _ in 0..reader.leb()? {
        let length = reader.leb()? as usize;
        let name = reader.take(length)?;
        let kind = reader.byte()?;
        let index = reader.leb()? as u32;
        if kind == 0x00 && name == wanted.as_bytes() {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

fn function_body(code: &[u8], wanted: u32) -> Result<&[u8], BinaryError> {
    let mut reader = Reader::new(code);
    let count = reader.leb()?;
    for index in 0..count {
        let size = reader.leb()? as usize;
        let body = reader.take(size)?;
        if index == u64::from(wanted) {
            return Ok(body);
        }
    }
    Err(BinaryError(format!("function {wanted} has no body")))
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn byte(&mut self) -> Result<u8, BinaryError> {
        let byte = self.peek().ok_or_else(|| BinaryError("the module ends in the middle of a section".into()))?;
        self.position += 1;
        Ok(byte)
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], BinaryError> {
        let end = self.position.checked_add(length).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| BinaryError("a section or item runs past its end".into()))?;
        let taken = &self.bytes[self.position..end];
        self.position = end;
        Ok(taken)
    }

    fn leb(&mut self) -> Result<u64, BinaryError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BinaryError("an integer is longer than 64 bits".into()))
    }

    fn sleb32(&mut self) -> Result<i32, BinaryError> {
        let mut value = 0i64;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            value |= i64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                return i32::try_from(value).map_err(|_| BinaryError("an i32 constant is out of range".into()));
            }
            if shift >= 35 {
                return Err(BinaryError("an i32 constant is longer than 5 bytes".into()));
            }
        }
    }

    /// Table or memory limits: flags, minimum, and a maximum when flagged.
    fn limits(&mut self) -> Result<(), BinaryError> {
        let flags = self.byte()?;
        self.leb()?;
        if flags & 1 == 1 {
            self.leb()?;
        }
        Ok(())
    }
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_sleb32(out: &mut Vec<u8>, value: i32) {
    let mut value = i64::from(value);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command shaped like wasi-libc's crt1: a run-once flag at 1024, one mutable global (the stack pointer).
    const COMMAND: &str = r#"(module
        (memory (export "memory") 1)
        (global $sp (mut i32) (i32.const 4096))
        (global $answer i32 (i32.const 42))
        (func (export "_start")
          (block
            (if (i32.eqz (i32.load (i32.const 1024)))
              (then (i32.store (i32.const 1024) (i32.const 1)) (global.set $sp (i32.const 2048)) (return))))
          unreachable))"#;

    fn command() -> Vec<u8> {
        wat::parse_str(COMMAND).unwrap()
    }

    #[test]
    fn the_run_once_flag_of_start_is_found() {
        assert_eq!(start_guard(&command()), Ok(1024));
    }

    #[test]
    fn the_flag_is_found_behind_asyncify_state_checks() {
        let module = wat::parse_str(
            r#"(module
            (memory (export "memory") 1)
            (global $state (mut i32) (i32.const 0))
            (func (export "_start") (local $started i32)
              (if (i32.eqz (global.get $state)) (then (local.set $started (i32.load (i32.const 2048)))))
              (if (i32.eqz (local.get $started)) (then (i32.store (i32.const 2048) (i32.const 1))))))"#,
        )
        .unwrap();
        assert_eq!(start_guard(&module), Ok(2048));
    }

    #[test]
    fn a_start_without_the_check_is_refused() {
        let module = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start") nop))"#).unwrap();
        assert!(start_guard(&module).is_err());
    }

    #[test]
    fn mutable_globals_are_exported_and_the_module_stays_valid() {
        let (module, names) = expose_mutable_globals(&command()).unwrap();
        assert_eq!(names, vec![format!("{GLOBAL_EXPORT_PREFIX}0")], "only the mutable global");
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, &module[..]).expect("still valid");
        assert!(matches!(module.get_export(&names[0]), Some(wasmi::ExternType::Global(_))));
        assert!(module.get_export("_start").is_some(), "existing exports kept");
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

    #[test]
    fn signed_constants_round_trip() {
        for value in [0, 1, 63, 64, -1, -64, -65, 4_728_656, i32::MAX, i32::MIN] {
            let mut bytes = Vec::new();
            write_sleb32(&mut bytes, value);
            assert_eq!(Reader::new(&bytes).sleb32(), Ok(value));
        }
    }

    #[test]
    fn truncated_binaries_are_errors_not_panics() {
        let module = command();
        for cut in [0, 4, 9, 20, module.len() - 1] {
            let _ = expose_mutable_globals(&module[..cut]);
            let _ = start_guard(&module[..cut]);
        }
    }
}
