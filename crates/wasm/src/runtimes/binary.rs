//! Reading and rewriting a runtime module's binary before it is compiled: what snapshots and pooled memories need
//! that such builds do not offer (see [`super::snapshot`] and [`super::memory`]).
//!
//! - [`expose_mutable_globals`]: an export for every mutable global (the shadow-stack pointer), so that a snapshot can
//!   read and restore them;
//! - [`start_guard`]: where wasi-libc's `_start` keeps its run-once flag, so that a restore can clear it;
//! - [`import_memory`]: the module's own memory turned into an import, so that each test's memory can be a buffer
//!   that stays mapped between tests.
//!
//! Only the sections these need are parsed; everything else is copied byte for byte. A module they cannot read is an
//! error, never a panic: the caller then runs the runtime without the feature.

/// Prefix of the export names given to mutable globals.
pub const GLOBAL_EXPORT_PREFIX: &str = "__codecapsule_global_";

/// Where a module rewritten by [`import_memory`] imports its memory from.
pub const MEMORY_IMPORT: (&str, &str) = ("codecapsule", "memory");

const SECTION_CUSTOM: u8 = 0;
const SECTION_IMPORT: u8 = 2;
const SECTION_MEMORY: u8 = 5;
const SECTION_GLOBAL: u8 = 6;
const SECTION_EXPORT: u8 = 7;
const SECTION_CODE: u8 = 10;

/// Why a module's binary could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BinaryError(String);

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

/// A memory's limits in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Pages at instantiation.
    pub minimum: u32,
    /// Pages it may grow to, when bounded.
    pub maximum: Option<u32>,
}

/// The module with the one memory it defines turned into an import of [`MEMORY_IMPORT`] with the same limits, and
/// those limits. The memory keeps index 0, so exports, data segments and instructions stay as they are.
pub fn import_memory(module: &[u8]) -> Result<(Vec<u8>, MemoryLimits), BinaryError> {
    let sections = sections(module)?;
    let imports = sections.iter().find(|section| section.id == SECTION_IMPORT);
    if let Some(section) = imports {
        let mut memories = 0;
        each_import(section.body, |kind| memories += u32::from(kind == 0x02))?;
        if memories > 0 {
            return Err(BinaryError("the module imports its memory already".into()));
        }
    }
    let memory = sections
        .iter()
        .find(|section| section.id == SECTION_MEMORY)
        .ok_or_else(|| BinaryError("the module defines no memory".into()))?;
    let mut reader = Reader::new(memory.body);
    let count = reader.leb()?;
    if count != 1 {
        return Err(BinaryError(format!("the module defines {count} memories; only one can be imported")));
    }
    let limits_start = reader.position;
    if reader.peek().is_some_and(|flags| flags > 1) {
        return Err(BinaryError("the module's memory is shared or 64-bit".into()));
    }
    let (minimum, maximum) = reader.limits()?;
    let pages = |value: u64| u32::try_from(value).map_err(|_| BinaryError("a memory limit past 2^32 pages".into()));
    let limits = MemoryLimits { minimum: pages(minimum)?, maximum: maximum.map(pages).transpose()? };

    let mut entry = Vec::new();
    for name in [MEMORY_IMPORT.0, MEMORY_IMPORT.1] {
        write_leb(&mut entry, name.len() as u64);
        entry.extend_from_slice(name.as_bytes());
    }
    entry.push(0x02); // import kind: memory
    entry.extend_from_slice(&memory.body[limits_start..reader.position]);

    let mut out = module[..8].to_vec();
    let mut write = |id: u8, body: &[u8]| {
        out.push(id);
        write_leb(&mut out, body.len() as u64);
        out.extend_from_slice(body);
    };
    let mut imported = false;
    for section in &sections {
        match section.id {
            SECTION_MEMORY => continue,
            SECTION_IMPORT => {
                let mut reader = Reader::new(section.body);
                let count = reader.leb()?;
                let mut body = Vec::new();
                write_leb(&mut body, count + 1);
                body.extend_from_slice(&section.body[reader.position..]);
                body.extend_from_slice(&entry);
                write(SECTION_IMPORT, &body);
                imported = true;
                continue;
            }
            // No import section: a new one goes where the binary format puts it, before the first known section
            // that follows imports.
            id if !imported && id != SECTION_CUSTOM && id > SECTION_IMPORT => {
                let mut body = Vec::new();
                write_leb(&mut body, 1);
                body.extend_from_slice(&entry);
                write(SECTION_IMPORT, &body);
                imported = true;
            }
            _ => {}
        }
        write(section.id, section.body);
    }
    Ok((out, limits))
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
            0x02 => {
                reader.limits()?;
            }
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
    fn limits(&mut self) -> Result<(u64, Option<u64>), BinaryError> {
        let flags = self.byte()?;
        let minimum = self.leb()?;
        let maximum = if flags & 1 == 1 { Some(self.leb()?) } else { None };
        Ok((minimum, maximum))
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
    fn the_memory_becomes_an_import_with_its_limits_and_its_data() {
        let with_imports = wat::parse_str(
            r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
            (memory (export "memory") 2 5)
            (data (i32.const 70000) "hi")
            (func (export "peek") (result i32) (i32.load8_u (i32.const 70001))))"#,
        )
        .unwrap();
        let without_imports = wat::parse_str(
            r#"(module (memory (export "memory") 3) (data (i32.const 0) "\2a") (func (export "peek") (result i32)
            (i32.load8_u (i32.const 0))))"#,
        )
        .unwrap();
        for (module, limits, peeked) in [
            (with_imports, MemoryLimits { minimum: 2, maximum: Some(5) }, i32::from(b'i')),
            (without_imports, MemoryLimits { minimum: 3, maximum: None }, 42),
        ] {
            let (rewritten, found) = import_memory(&module).unwrap();
            assert_eq!(found, limits);
            let engine = wasmi::Engine::default();
            let rewritten = wasmi::Module::new(&engine, &rewritten[..]).expect("still valid");
            let imported: Vec<_> =
                rewritten.imports().map(|import| (import.module().to_string(), import.name().to_string())).collect();
            assert_eq!(imported.last(), Some(&(MEMORY_IMPORT.0.to_string(), MEMORY_IMPORT.1.to_string())));
            let mut store = wasmi::Store::new(&engine, ());
            let memory =
                wasmi::Memory::new(&mut store, wasmi::MemoryType::new(limits.minimum, limits.maximum)).unwrap();
            let mut linker = wasmi::Linker::new(&engine);
            linker.define(MEMORY_IMPORT.0, MEMORY_IMPORT.1, memory).unwrap();
            linker.func_wrap("wasi_snapshot_preview1", "proc_exit", |_: i32| {}).unwrap();
            let instance = linker.instantiate_and_start(&mut store, &rewritten).unwrap();
            let peek = instance.get_typed_func::<(), i32>(&store, "peek").unwrap();
            assert_eq!(peek.call(&mut store, ()).unwrap(), peeked, "the data segments land in the imported memory");
            assert_eq!(memory.size(&store), u64::from(limits.minimum));
        }
    }

    #[test]
    fn a_module_that_cannot_import_its_memory_says_why() {
        let imports_one = wat::parse_str(r#"(module (import "env" "memory" (memory 1)))"#).unwrap();
        assert!(import_memory(&imports_one).unwrap_err().to_string().contains("already"));
        let none = wat::parse_str("(module)").unwrap();
        assert!(import_memory(&none).unwrap_err().to_string().contains("no memory"));
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
            let _ = import_memory(&module[..cut]);
        }
    }
}
