//! Runtime packs: the manifest of a pack, how its program is launched, and the store packs are read from (a directory
//! or a bucket over HTTP(S)).

use super::RuntimeError;
use codecapsule_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A pack's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The language the pack serves (must match the index).
    pub language: String,
    /// The runtime's name and version, as answered in `engine.runtime`.
    pub runtime: String,
    /// The runtime's version.
    pub version: String,
    /// The module's file name in the pack.
    pub module: String,
    /// The module's SHA-256, hex.
    pub sha256: String,
    /// Where the module came from (registry package), for people.
    pub source: String,
    /// How a program is run.
    pub launch: Launch,
    /// Fuel per millisecond of time limit: wasmi's fuel overcharges interpreters, so it is calibrated per runtime.
    pub fuel_per_ms: u64,
    /// The snapshot computed ahead of time (`make packs`, see [`super::bake`]), so that loading need not run the
    /// warm-up; without, the warm-up runs at load.
    #[serde(default)]
    pub snapshot: Option<SnapshotFile>,
}

/// A snapshot file in the pack.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFile {
    /// Its file name in the pack.
    pub file: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// How a program is run by the runtime.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Launch {
    /// A WASI command: `_start` with `args`, where `{source}` is the program. With `warm_up`, a snapshot is taken
    /// after running these arguments, which must end the program through `proc_exit(0)` (see [`snapshot`]).
    Command {
        /// The arguments, one of them holding `{source}`.
        args: Vec<String>,
        /// The arguments of the warm-up run a snapshot is taken after.
        warm_up: Option<Vec<String>>,
        /// How the program is compiled once for all of a submission's tests, when the runtime can (with a warm-up).
        #[serde(default)]
        compile_once: Option<CompileOnce>,
    },
    /// QuickJS-NG's WASI reactor: `_initialize`, then `qjs_init_argv(argc, argv)` evaluates the program in `args`.
    QuickjsReactor {
        /// The arguments, one of them holding `{source}`.
        args: Vec<String>,
    },
    /// ruby.wasm's reactor (see [`ruby`](super::ruby)): `_initialize` and `ruby-init(args)` boot Ruby, `warm_up`
    /// is evaluated, and the snapshot is taken there. Each test restores it and evaluates `run`, where `{source}`
    /// stands for the program's text in hexadecimal (a Ruby string literal that needs no escaping); `run` must leave
    /// through `exit!`.
    RubyReactor {
        /// `ruby-init`'s arguments, the program name first.
        args: Vec<String>,
        /// Ruby source evaluated once before the snapshot: the driver `run` calls.
        warm_up: String,
        /// The Ruby expression each test evaluates, holding `{source}` once.
        run: String,
        /// How the program is compiled once for all of a submission's tests.
        #[serde(default)]
        compile_once: Option<EvalOnce>,
    },
}

/// A runtime's way of compiling a submission's program once: a run from the snapshot with `compile`'s arguments (one
/// holding `{source}`) that compiles it, keeps it in memory and leaves through `proc_exit(0)`, or prints the parse
/// error as running the program would; each test then starts from the memory it left, with `run`'s arguments.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompileOnce {
    /// The arguments of the run that compiles the program.
    pub compile: Vec<String>,
    /// The arguments of each test after it (without the program).
    pub run: Vec<String>,
    /// When it pays: see [`worth_compiling_once`].
    pub worth_from_bytes: usize,
}

/// Ruby's reactor's way of compiling a submission's program once: `compile` (holding `{source}`, as `run` does) is
/// evaluated from the snapshot and returns with the program compiled in memory, or prints the parse error as running
/// the program would and leaves; each test then starts from the memory it left and evaluates `run`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvalOnce {
    /// The Ruby expression that compiles the program.
    pub compile: String,
    /// The Ruby expression each test evaluates after it (without the program).
    pub run: String,
    /// When it pays: see [`worth_compiling_once`].
    pub worth_from_bytes: usize,
}

/// Whether compiling a program of `source_bytes` once for `tests` tests pays: the compile run costs about a test and a
/// snapshot of the memory it leaves (CPython ~7 ms, Ruby ~36 ms: its memory is 73 MB), and saves every later test
/// compiling the program again (CPython ~16 µs a byte, Ruby ~5 µs), so it is done when the bytes compiled again,
/// (tests - 1) x the program's, reach the manifest's `worth_from_bytes`.
pub fn worth_compiling_once(source_bytes: usize, tests: usize, worth_from_bytes: usize) -> bool {
    tests.saturating_sub(1).saturating_mul(source_bytes) >= worth_from_bytes
}

impl Launch {
    /// What a snapshot taken with this launch is bound to: the SHA-256 of the launch as JSON.
    pub(super) fn digest(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).expect("a launch is plain data");
        Sha256::digest(&json).into()
    }

    /// The lists of texts that take the program: in each, exactly one must hold `{source}`.
    pub(super) fn source_slots(&self) -> Vec<Vec<&str>> {
        fn texts(list: &[String]) -> Vec<&str> {
            list.iter().map(String::as_str).collect()
        }
        match self {
            Launch::Command { args, compile_once, .. } => {
                std::iter::once(texts(args)).chain(compile_once.iter().map(|once| texts(&once.compile))).collect()
            }
            Launch::QuickjsReactor { args } => vec![texts(args)],
            Launch::RubyReactor { run, compile_once, .. } => std::iter::once(vec![run.as_str()])
                .chain(compile_once.iter().map(|once| vec![once.compile.as_str()]))
                .collect(),
        }
    }
}

/// Where packs are read from.
#[derive(Debug, Clone)]
pub enum PackSource {
    /// A local directory (RUNTIME_PACKS_DIR).
    Directory(PathBuf),
    /// A bucket's base URL (RUNTIME_PACKS_URL), read over HTTP(S).
    Url(String),
}

impl PackSource {
    /// RUNTIME_PACKS_URL, else RUNTIME_PACKS_DIR, else `$OBJECTS_DIR/runtimes` (default
    /// `.data/objects/runtimes`).
    pub fn from_env() -> Result<PackSource, ConfigError> {
        if let Some(url) = config::read("RUNTIME_PACKS_URL") {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    var: "RUNTIME_PACKS_URL",
                    value: url,
                    expected: "an http(s) URL: the packs bucket's public base URL".into(),
                });
            }
            return Ok(PackSource::Url(url.trim_end_matches('/').to_string()));
        }
        let directory = config::read("RUNTIME_PACKS_DIR").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(config::read("OBJECTS_DIR").unwrap_or_else(|| ".data/objects".into())).join("runtimes")
        });
        Ok(PackSource::Directory(directory))
    }

    pub(super) fn describe(&self) -> String {
        match self {
            PackSource::Directory(directory) => directory.display().to_string(),
            PackSource::Url(url) => url.clone(),
        }
    }

    /// Whether anything is there: the dev host and functions register the judge only then.
    pub fn has_index(&self) -> bool {
        match self {
            PackSource::Directory(directory) => directory.join("index.json").is_file(),
            PackSource::Url(_) => true,
        }
    }

    pub(super) async fn read(&self, key: &str, max_bytes: usize) -> Result<Vec<u8>, RuntimeError> {
        let fetch_error = |reason: String| RuntimeError::Fetch { key: key.to_string(), reason };
        let bytes = match self {
            PackSource::Directory(directory) => {
                tokio::fs::read(directory.join(key)).await.map_err(|err| fetch_error(err.to_string()))?
            }
            PackSource::Url(url) => {
                let url = format!("{url}/{key}");
                let response = reqwest::get(&url).await.map_err(|err| fetch_error(err.to_string()))?;
                if !response.status().is_success() {
                    return Err(fetch_error(format!("GET {url} answered {}", response.status())));
                }
                response.bytes().await.map(|bytes| bytes.to_vec()).map_err(|err| fetch_error(err.to_string()))?
            }
        };
        if bytes.len() > max_bytes {
            return Err(fetch_error(format!("{} bytes, more than the {max_bytes} accepted", bytes.len())));
        }
        Ok(bytes)
    }
}
