//! ruby.wasm's reactor: the module npm's `@ruby/<version>-wasm-wasi` ships, driven through its exports.
//!
//! The module speaks wit-bindgen's canonical ABI from before the component model:
//! - exports are named with their WIT signatures (`rb-eval-string-protect: func(str: string) -> ...`), found here by
//!   the name before the colon;
//! - a string is a (pointer, length) pair of UTF-8 the caller allocates with `cabi_realloc`; Ruby reads them as C
//!   strings, so each carries a NUL the length includes (as ruby.wasm's own JavaScript host sends them);
//! - a list of strings is an array of such pairs; a tuple result comes back through a return area whose address the
//!   call returns.
//!
//! Its imports beyond WASI are the canonical ABI's resource table (`canonical_abi.resource_*`) and the `js` library's
//! calls into a JavaScript host (`rb-js-abi-host.*`). Nothing outside the module holds a Ruby value, so a handle is
//! the value itself; there is no JavaScript host, so the `js` library's calls trap with a message that says so.

use super::binary::MEMORY_IMPORT;
use crate::{Session, TestContext};
use codecapsule_core::judge::Termination;
use std::fmt::Write;
use wasmi::{Caller, Error, ExternType, Instance, Linker, Memory, Module, Store, Val};

/// The canonical ABI's allocator: `cabi_realloc(old_pointer, old_size, align, new_size) -> pointer`.
const REALLOC: &str = "cabi_realloc";
/// The resource-table imports' module.
const CANONICAL_ABI: &str = "canonical_abi";

/// Defines the module's imports beyond WASI and its memory in `linker`: the resource table and the JavaScript host's
/// calls.
pub(super) fn define_imports(linker: &mut Linker<TestContext>, module: &Module) -> Result<(), String> {
    for import in module.imports() {
        let (namespace, name) = (import.module(), import.name());
        // WASI is the linker's already; the memory is each test's (see `super::memory`).
        if namespace == "wasi_snapshot_preview1" || (namespace, name) == MEMORY_IMPORT {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            return Err(format!("import `{namespace}.{name}` is not a function"));
        };
        let defined = if namespace == CANONICAL_ABI && name.starts_with("resource_drop_") {
            linker.func_new(namespace, name, ty.clone(), |_: Caller<'_, TestContext>, _: &[Val], _: &mut [Val]| Ok(()))
        } else if namespace == CANONICAL_ABI && (name.starts_with("resource_new_") || name.starts_with("resource_get_"))
        {
            // (representation) -> handle and (handle) -> representation: the same number both ways.
            linker.func_new(
                namespace,
                name,
                ty.clone(),
                |_: Caller<'_, TestContext>, params: &[Val], results: &mut [Val]| {
                    results[0] = params[0].clone();
                    Ok(())
                },
            )
        } else {
            let call = name.split(':').next().unwrap_or(name);
            let message = format!(
                "the program called `{call}`, which needs a JavaScript host (Ruby's `js` library); programs are \
                 judged without one"
            );
            linker.func_new(namespace, name, ty.clone(), move |_: Caller<'_, TestContext>, _: &[Val], _: &mut [Val]| {
                Err(Error::new(message.clone()))
            })
        };
        defined.map_err(|err| format!("import `{namespace}.{name}`: {err}"))?;
    }
    Ok(())
}

/// Runs the reactor's constructors, then `ruby-init(args)`: Ruby booted, its options (`args`, the program name
/// first) processed, RubyGems loaded unless disabled.
pub(super) fn boot(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    args: &[String],
) -> Result<(), Termination> {
    session.call(store, &export(store, instance, "_initialize")?, &[], &mut [])?;
    let mut pairs = Vec::with_capacity(args.len() * 8);
    for arg in args {
        let (pointer, length) = write_string(store, session, instance, arg)?;
        pairs.extend_from_slice(&pointer.to_le_bytes());
        pairs.extend_from_slice(&length.to_le_bytes());
    }
    let list = write_bytes(store, session, instance, &pairs, 4)?;
    let init = export(store, instance, "ruby-init")?;
    session.call(store, &init, &[Val::I32(list as i32), Val::I32(args.len() as i32)], &mut [])
}

/// Evaluates `code` at Ruby's top level with `rb_eval_string_protect` and answers its state: 0 when it returned
/// normally, else the tag of what escaped it (an exception, a `throw`).
pub(super) fn eval(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    code: &str,
) -> Result<i32, Termination> {
    let (pointer, length) = write_string(store, session, instance, code)?;
    let eval = export(store, instance, "rb-eval-string-protect")?;
    let mut return_area = [Val::I32(0)];
    session.call(store, &eval, &[Val::I32(pointer as i32), Val::I32(length as i32)], &mut return_area)?;
    // The return area holds (value handle, state), two i32s.
    let mut state = [0u8; 4];
    let at = return_area[0].i32().unwrap_or(0) as u32 as usize + 4;
    memory(store, instance)?
        .read(&*store, at, &mut state)
        .map_err(|err| Termination::Internal(format!("reading rb-eval-string-protect's result: {err}")))?;
    Ok(i32::from_le_bytes(state))
}

/// `text` as the characters of a Ruby string literal that needs no escaping: its UTF-8 bytes in hexadecimal, which
/// the driver turns back with `[hex].pack("H*")`.
pub(super) fn hex(text: &str) -> String {
    text.bytes().fold(String::with_capacity(text.len() * 2), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// An export by its name before the colon of its WIT signature (or its whole name, for the plain ones).
fn export(store: &Store<TestContext>, instance: &Instance, name: &str) -> Result<wasmi::Func, Termination> {
    instance
        .exports(store)
        .find(|export| export.name().split(':').next() == Some(name))
        .and_then(|export| export.into_func())
        .ok_or_else(|| Termination::Internal(format!("the Ruby module exports no `{name}`")))
}

fn memory(store: &Store<TestContext>, instance: &Instance) -> Result<Memory, Termination> {
    instance
        .get_memory(store, "memory")
        .ok_or_else(|| Termination::Internal("the Ruby module exports no memory".into()))
}

/// Copies `text` and a NUL into guest memory: its (pointer, length with the NUL).
fn write_string(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    text: &str,
) -> Result<(u32, u32), Termination> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    let pointer = write_bytes(store, session, instance, &bytes, 1)?;
    Ok((pointer, bytes.len() as u32))
}

/// Allocates `bytes.len()` bytes aligned to `align` with `cabi_realloc` and copies `bytes` there.
fn write_bytes(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    bytes: &[u8],
    align: i32,
) -> Result<u32, Termination> {
    let size = i32::try_from(bytes.len()).map_err(|_| Termination::Internal("a string past 2 GiB".into()))?;
    let realloc = export(store, instance, REALLOC)?;
    let mut pointer = [Val::I32(0)];
    session.call(store, &realloc, &[Val::I32(0), Val::I32(0), Val::I32(align), Val::I32(size)], &mut pointer)?;
    let pointer = pointer[0].i32().unwrap_or(0) as u32;
    if pointer == 0 {
        return Err(Termination::MemoryLimit("Ruby could not allocate the program's text".into()));
    }
    memory(store, instance)?
        .write(&mut *store, pointer as usize, bytes)
        .map_err(|err| Termination::Internal(format!("writing into Ruby's memory: {err}")))?;
    Ok(pointer)
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn hex_spells_every_byte_of_the_text() {
        assert_eq!(hex("a\"\\é\n"), "61225cc3a90a");
        assert_eq!(hex(""), "");
    }
}
