//! Interpreted languages judged in WebAssembly: CPython, Ruby and QuickJS built for WASI, run by wasmi.
//!
//! A language's runtime comes in a *pack*: a manifest and a module file in the packs store, a local directory
//! (RUNTIME_PACKS_DIR, default `.data/objects/runtimes`, filled by `make packs`) or a bucket read over
//! HTTPS (RUNTIME_PACKS_URL: an R2 public bucket or custom domain, or any S3 bucket URL). `index.json` maps a
//! language to its pack; `<pack>/manifest.json` says which module, its SHA-256, how a program is passed, and the fuel a
//! millisecond of the runtime is worth. A module whose hash differs from its manifest is refused.
//!
//! Loaded runtimes (compiled module, snapshot, calibration) are cached across requests, least recently used first out
//! past RUNTIME_CACHE_MB (default 384) of estimated footprint. A runtime loads on its language's first request.
//!
//! Per test: a fresh store and instance (no state crosses tests), the program in the WASI arguments, the test's input
//! on stdin, the same capped outputs, fuel slices, wall deadline and memory limiter as compiled modules. The runtime's
//! own start-up (measured once at load: fuel, time, linear memory) is granted on top of the test's limits and reported
//! as `engine.startup_ms`, so a limit is the program's, not the interpreter's. A runtime that can be snapshotted
//! (see [`snapshot`]) starts every test from its booted state.
//!
//! Files by job: `packs` (manifests and the packs store), `launch` (a loaded runtime and how a test starts on it),
//! `binary` (rewriting a runtime's module before it is compiled), `snapshot` (a booted interpreter's memory, and its
//! file), `bake` (snapshots computed ahead of time into the packs),
//! `memory` (each test's memory over a pooled buffer), `ruby` (ruby.wasm's reactor ABI), `cache` (the loaded
//! runtimes of the process), `judge` (the [`codecapsule_core::judge::Judge`] over them).

mod bake;
mod binary;
mod cache;
mod functions;
mod judge;
mod launch;
mod memory;
mod packs;
mod ruby;
mod snapshot;

pub use bake::{Baked, bake_snapshots};
pub use cache::RuntimePacks;
pub use judge::RuntimeJudge;
pub use launch::{Calibration, LoadedRuntime};
pub use packs::{Launch, Manifest, PackSource, SnapshotFile};

use codecapsule_core::model::Language;

/// The languages packs may serve.
pub const LANGUAGES: [Language; 3] = [Language::Python, Language::Javascript, Language::Ruby];

/// Why a language runtime cannot be used. Each becomes a judge_unavailable problem that names the pack.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("no runtime pack serves {language}: {where_} has none (run `make packs`, or set RUNTIME_PACKS_DIR)")]
    /// The index names no pack for the language.
    NoPack {
        /// The language asked for.
        language: Language,
        /// The packs store that was read.
        where_: String,
    },
    #[error("cannot read {key} from the packs store: {reason}")]
    /// An object of the store could not be read.
    Fetch {
        /// The object read.
        key: String,
        /// Why it could not be read.
        reason: String,
    },
    #[error("{key} is not a valid runtime manifest: {reason}")]
    /// A manifest or the index is malformed.
    Manifest {
        /// The manifest or index.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error(
        "pack {pack} is refused: {module} has SHA-256 {actual}, its manifest says {expected}; the file was altered \
         or truncated: fetch the pack again (`make packs`)"
    )]
    /// The module is not the one its manifest names.
    HashMismatch {
        /// The pack.
        pack: String,
        /// The module's file name.
        module: String,
        /// The SHA-256 in the manifest.
        expected: String,
        /// The SHA-256 of the bytes read.
        actual: String,
    },
    #[error("pack {pack}: the module does not load: {reason}")]
    /// wasmi refused the module.
    Module {
        /// The pack.
        pack: String,
        /// wasmi's reason.
        reason: String,
    },
    #[error("pack {pack}: the runtime does not start: {reason}")]
    /// The runtime's warm-up or calibration run failed.
    Start {
        /// The pack.
        pack: String,
        /// How the start failed.
        reason: String,
    },
    #[error("loading the {language} runtime stopped unexpectedly; it has been logged, retry the request")]
    /// The thread that compiled the runtime panicked.
    LoadCrashed {
        /// The language whose runtime was loading.
        language: Language,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_their_launch_and_refuse_unknown_fields() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "language": "python", "runtime": "cpython", "version": "3.12.0", "module": "python.wasm",
            "sha256": "00", "source": "pypi", "fuel_per_ms": 10,
            "launch": {"kind": "command", "args": ["python", "-c", "{source}"], "warm_up": ["python", "-c", "x"]}
        }))
        .unwrap();
        assert!(matches!(manifest.launch, Launch::Command { warm_up: Some(_), .. }));
        let unknown = serde_json::from_value::<Manifest>(serde_json::json!({
            "language": "python", "runtime": "cpython", "version": "3.12.0", "module": "python.wasm",
            "sha256": "00", "source": "pypi", "fuel_per_ms": 10, "extra": 1,
            "launch": {"kind": "command", "args": []}
        }));
        assert!(unknown.is_err());
    }
}
