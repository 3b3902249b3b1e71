//! Interpreted languages judged in WebAssembly: CPython, Ruby and QuickJS built for WASI, run by wasmi.
//!
//! A language's runtime comes in a *pack*: a manifest and a module file in the packs store, a local directory
//! (RUNTIME_PACKS_DIR, default `.data/objects/runtimes`, filled by `make packs`) or, with the `remote` feature, a bucket
//! read over HTTPS (RUNTIME_PACKS_URL: an R2 public bucket or custom domain, or any S3 bucket URL). `index.json` maps a
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

mod snapshot;

use super::{MAX_RECURSION_DEPTH, MAX_STACK_BYTES, RunSetup, Session, TestContext, WASMI_VERSION, run_test};
use codecapsule_core::config::{self, ConfigError};
use codecapsule_core::judge::{
    Code, Judge, JudgeError, Outcome, Submission, Termination, TestCase, TestIo, compilation_failed, millis,
    python_parse_failure, run_tests,
};
use codecapsule_core::model::{CompileReport, EngineInfo, JudgeReport, Language, Limits};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use snapshot::Snapshot;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmi::{CompilationMode, Config, Engine, Instance, Module, Store, Val};

/// The languages packs may serve.
pub const LANGUAGES: [Language; 3] = [Language::Python, Language::Javascript, Language::Ruby];
/// Where `{source}` stands in a manifest's arguments.
const SOURCE_PLACEHOLDER: &str = "{source}";
/// Default cap of the loaded-runtime cache.
const DEFAULT_CACHE_MB: u64 = 384;
/// What a loaded module costs in memory per byte of module, estimated with a margin: loading CPython's 26 MB module
/// added 62 MB of resident memory with its 10 MiB snapshot, Ruby's 24 MB module 24 MB (BENCHMARKS.md).
const COMPILED_BYTES_PER_MODULE_BYTE: usize = 4;
/// Limits of the warm-up and calibration runs, which run the runtime's own start-up.
const LOAD_LIMITS: Limits = Limits { time_ms: 10_000, memory_mb: 512, output_kb: 64 };
/// Largest manifest or index accepted, and largest module.
const MAX_MANIFEST_BYTES: usize = 64 << 10;
const MAX_RUNTIME_MODULE_BYTES: usize = 64 << 20;

/// Why a language runtime cannot be used. Each becomes a judge_unavailable problem that names the pack.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("no runtime pack serves {language}: {where_} has none (run `make packs`, or set RUNTIME_PACKS_DIR)")]
    NoPack { language: Language, where_: String },
    #[error("cannot read {key} from the packs store: {reason}")]
    Fetch { key: String, reason: String },
    #[error("{key} is not a valid runtime manifest: {reason}")]
    Manifest { key: String, reason: String },
    #[error(
        "pack {pack} is refused: {module} has SHA-256 {actual}, its manifest says {expected}; the file was altered \
         or truncated: fetch the pack again (`make packs`)"
    )]
    HashMismatch { pack: String, module: String, expected: String, actual: String },
    #[error("pack {pack}: the module does not load: {reason}")]
    Module { pack: String, reason: String },
    #[error("pack {pack}: the runtime does not start: {reason}")]
    Start { pack: String, reason: String },
}

/// A pack's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub language: String,
    /// The runtime's name and version, as answered in `engine.runtime`.
    pub runtime: String,
    pub version: String,
    /// The module's file name in the pack.
    pub module: String,
    pub sha256: String,
    /// Where the module came from (registry package), for people.
    pub source: String,
    pub launch: Launch,
    /// Fuel per millisecond of time limit: wasmi's fuel overcharges interpreters, so it is calibrated per runtime.
    pub fuel_per_ms: u64,
}

/// How a program is run by the runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Launch {
    /// A WASI command: `_start` with `args`, where `{source}` is the program. With `warm_up`, a snapshot is taken
    /// after running these arguments, which must end the program through `proc_exit(0)` (see [`snapshot`]).
    Command { args: Vec<String>, warm_up: Option<Vec<String>> },
    /// QuickJS-NG's WASI reactor: `_initialize`, then `qjs_init_argv(argc, argv)` evaluates the program in `args`.
    QuickjsReactor { args: Vec<String> },
}

impl Launch {
    fn args(&self) -> &[String] {
        match self {
            Launch::Command { args, .. } | Launch::QuickjsReactor { args } => args,
        }
    }
}

/// Where packs are read from.
#[derive(Debug, Clone)]
pub enum PackSource {
    Directory(PathBuf),
    Url(String),
}

impl PackSource {
    /// RUNTIME_PACKS_URL (with the `remote` feature), else RUNTIME_PACKS_DIR, else `$OBJECTS_DIR/runtimes` (default
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

    fn describe(&self) -> String {
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

    fn read(&self, key: &str, max_bytes: usize) -> Result<Vec<u8>, RuntimeError> {
        let fetch_error = |reason: String| RuntimeError::Fetch { key: key.to_string(), reason };
        let bytes = match self {
            PackSource::Directory(directory) => {
                std::fs::read(directory.join(key)).map_err(|err| fetch_error(err.to_string()))?
            }
            PackSource::Url(url) => {
                let url = format!("{url}/{key}");
                let fetch = async {
                    let response = reqwest::get(&url).await.map_err(|err| err.to_string())?;
                    if !response.status().is_success() {
                        return Err(format!("GET {url} answered {}", response.status()));
                    }
                    response.bytes().await.map(|bytes| bytes.to_vec()).map_err(|err| err.to_string())
                };
                // Judging runs on a blocking thread of the Tokio runtime; outside one (benches) a small runtime is made.
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => handle.block_on(fetch),
                    Err(_) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime.block_on(fetch),
                        Err(err) => Err(err.to_string()),
                    },
                }
                .map_err(fetch_error)?
            }
        };
        if bytes.len() > max_bytes {
            return Err(fetch_error(format!("{} bytes, more than the {max_bytes} accepted", bytes.len())));
        }
        Ok(bytes)
    }
}

/// A runtime ready to judge: compiled once, snapshotted and calibrated.
pub struct LoadedRuntime {
    pub pack: String,
    pub manifest: Manifest,
    engine: Engine,
    module: Module,
    snapshot: Option<Snapshot>,
    /// Why there is no snapshot (logged at load).
    snapshot_unavailable: Option<String>,
    /// What running an empty program costs: granted on top of every test's limits.
    pub startup: Calibration,
    footprint: usize,
}

/// The runtime's own cost per test, measured at load on an empty program.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub fuel: u64,
    pub time: Duration,
    pub memory_bytes: usize,
}

impl LoadedRuntime {
    fn load(source: &PackSource, language: Language) -> Result<LoadedRuntime, RuntimeError> {
        let index_bytes = source.read("index.json", MAX_MANIFEST_BYTES)?;
        let index: HashMap<String, String> = serde_json::from_slice(&index_bytes)
            .map_err(|err| RuntimeError::Manifest { key: "index.json".into(), reason: err.to_string() })?;
        let pack = index
            .get(language.as_str())
            .filter(|pack| !pack.is_empty() && !pack.contains("..") && !pack.contains('/'))
            .ok_or_else(|| RuntimeError::NoPack { language, where_: source.describe() })?
            .clone();
        let manifest_key = format!("{pack}/manifest.json");
        let manifest: Manifest = serde_json::from_slice(&source.read(&manifest_key, MAX_MANIFEST_BYTES)?)
            .map_err(|err| RuntimeError::Manifest { key: manifest_key.clone(), reason: err.to_string() })?;
        let invalid = |reason: String| RuntimeError::Manifest { key: manifest_key.clone(), reason };
        if manifest.language != language.as_str() {
            return Err(invalid(format!("it is for {}, the index lists it for {language}", manifest.language)));
        }
        if manifest.launch.args().iter().filter(|arg| arg.contains(SOURCE_PLACEHOLDER)).count() != 1 {
            return Err(invalid(format!("exactly one argument must hold {SOURCE_PLACEHOLDER}")));
        }
        if manifest.fuel_per_ms == 0 || manifest.module.contains('/') {
            return Err(invalid("fuel_per_ms must be positive and module a file name".into()));
        }

        let bytes = source.read(&format!("{pack}/{}", manifest.module), MAX_RUNTIME_MODULE_BYTES)?;
        let actual = format!("{:x}", Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(RuntimeError::HashMismatch {
                pack,
                module: manifest.module.clone(),
                expected: manifest.sha256.clone(),
                actual,
            });
        }

        // Snapshots need the mutable globals exported and `_start`'s run-once flag found; without, tests boot.
        let mut snapshot_unavailable = None;
        let mut prepared = None;
        if let Launch::Command { warm_up: Some(_), .. } = &manifest.launch {
            match snapshot::expose_mutable_globals(&bytes)
                .and_then(|(module, globals)| snapshot::start_guard(&bytes).map(|guard| (module, globals, guard)))
            {
                Ok(found) => prepared = Some(found),
                Err(err) => snapshot_unavailable = Some(format!("the module cannot be snapshotted: {err}")),
            }
        } else {
            snapshot_unavailable = Some("the pack has no warm-up to snapshot".into());
        }
        let module_bytes = prepared.as_ref().map(|(module, ..)| module.as_slice()).unwrap_or(&bytes);
        let engine = Engine::new(&runtime_config());
        let module = Module::new(&engine, module_bytes)
            .map_err(|err| RuntimeError::Module { pack: pack.clone(), reason: err.to_string() })?;
        let mut runtime = LoadedRuntime {
            footprint: bytes.len() * COMPILED_BYTES_PER_MODULE_BYTE,
            pack,
            manifest,
            engine,
            module,
            snapshot: None,
            snapshot_unavailable,
            startup: Calibration { fuel: 0, time: Duration::ZERO, memory_bytes: 0 },
        };
        if let (Some((_, globals, guard)), Launch::Command { warm_up: Some(warm_up), .. }) =
            (prepared, &runtime.manifest.launch)
        {
            let snapshot = runtime.take_snapshot(warm_up.clone(), globals, guard)?;
            runtime.footprint += snapshot.memory.len();
            runtime.snapshot = Some(snapshot);
        }
        runtime.startup = runtime.calibrate()?;
        Ok(runtime)
    }

    fn start_error(&self, reason: String) -> RuntimeError {
        RuntimeError::Start { pack: self.pack.clone(), reason }
    }

    /// Runs the warm-up to its `proc_exit(0)` and keeps memory and mutable globals.
    fn take_snapshot(&self, args: Vec<String>, globals: Vec<String>, guard: u32) -> Result<Snapshot, RuntimeError> {
        let setup = RunSetup { args: &args, fuel_per_ms: self.manifest.fuel_per_ms, ..RunSetup::plain(&LOAD_LIMITS) };
        let mut taken = None;
        let outcome = run_test(&self.engine, &setup, |store, session| {
            let instance = session.instantiate(store, &self.module)?;
            let ended = call_start(store, session, &instance);
            if !matches!(ended, Termination::Exited(0)) {
                return Ok(ended);
            }
            let memory = instance
                .get_memory(&*store, "memory")
                .ok_or_else(|| Termination::Internal("the runtime exports no memory".into()))?;
            let mut values = Vec::new();
            for name in &globals {
                let global = instance
                    .get_global(&*store, name)
                    .ok_or_else(|| Termination::Internal(format!("global export {name} is missing")))?;
                values.push((name.clone(), global.get(&*store)));
            }
            taken = Some(Snapshot { memory: memory.data(&*store).to_vec(), globals: values, start_guard: guard });
            Ok(ended)
        });
        taken.ok_or_else(|| {
            self.start_error(format!(
                "the warm-up did not end with exit status 0 ({:?}); stderr: {}",
                outcome.termination,
                String::from_utf8_lossy(&outcome.stderr)
            ))
        })
    }

    /// Runs an empty program to measure what the runtime itself costs per test.
    fn calibrate(&self) -> Result<Calibration, RuntimeError> {
        let args = self.args_with("");
        let setup = RunSetup { args: &args, fuel_per_ms: self.manifest.fuel_per_ms, ..RunSetup::plain(&LOAD_LIMITS) };
        let outcome = run_test(&self.engine, &setup, |store, session| self.launch(store, session, &args));
        match outcome.termination {
            Termination::Exited(0) => Ok(Calibration {
                fuel: outcome.fuel.unwrap_or(0),
                time: Duration::from_secs_f64(outcome.time_ms / 1000.0),
                memory_bytes: usize::try_from(outcome.memory_kb * 1024).unwrap_or(usize::MAX),
            }),
            other => Err(self.start_error(format!(
                "an empty program did not run cleanly ({other:?}); stderr: {}",
                String::from_utf8_lossy(&outcome.stderr)
            ))),
        }
    }

    fn args_with(&self, source: &str) -> Vec<String> {
        self.manifest.launch.args().iter().map(|arg| arg.replace(SOURCE_PLACEHOLDER, source)).collect()
    }

    /// Instantiates the runtime for one test and runs the program its arguments hold.
    fn launch(
        &self,
        store: &mut Store<TestContext>,
        session: &mut Session,
        args: &[String],
    ) -> Result<Termination, Termination> {
        let instance = session.instantiate(store, &self.module)?;
        match &self.manifest.launch {
            Launch::Command { .. } => {
                if let Some(snapshot) = &self.snapshot {
                    restore(store, &instance, snapshot)?;
                }
                Ok(call_start(store, session, &instance))
            }
            Launch::QuickjsReactor { .. } => run_quickjs_reactor(store, session, &instance, args),
        }
    }

    /// Runs one test.
    fn run(&self, test: &TestCase, source: &str, limits: &Limits) -> Outcome {
        let stdin = match &test.io {
            TestIo::Stdio { stdin, .. } => stdin.as_str(),
            TestIo::Call { .. } => "",
        };
        let args = self.args_with(source);
        let setup = RunSetup {
            stdin,
            args: &args,
            limits,
            fuel_per_ms: self.manifest.fuel_per_ms,
            extra_fuel: self.startup.fuel,
            extra_memory_bytes: self.startup.memory_bytes,
            extra_wall: self.startup.time * 2,
        };
        run_test(&self.engine, &setup, |store, session| self.launch(store, session, &args))
    }

    pub fn engine_info(&self) -> EngineInfo {
        EngineInfo {
            name: "wasmi".to_string(),
            version: WASMI_VERSION.to_string(),
            startup_ms: Some(millis(self.startup.time)),
            runtime: Some(format!("{} {}", self.manifest.runtime, self.manifest.version)),
        }
    }
}

/// Calls `_start`; a program that returns from it exited with status 0.
fn call_start(store: &mut Store<TestContext>, session: &mut Session, instance: &Instance) -> Termination {
    let Some(start) = instance.get_func(&*store, "_start") else {
        return Termination::Internal("the runtime exports no `_start`".into());
    };
    match session.call(store, &start, &[], &mut []) {
        Ok(()) => Termination::Exited(0),
        Err(ended) => ended,
    }
}

/// Writes the snapshot into a fresh instance: memory (grown to its size), mutable globals, `_start` re-armed.
fn restore(store: &mut Store<TestContext>, instance: &Instance, snapshot: &Snapshot) -> Result<(), Termination> {
    let memory = instance
        .get_memory(&*store, "memory")
        .ok_or_else(|| Termination::Internal("the runtime exports no memory".into()))?;
    let missing_pages = (snapshot.memory.len().saturating_sub(memory.data_size(&*store)) / (64 << 10)) as u64;
    memory
        .grow(&mut *store, missing_pages)
        .map_err(|err| Termination::Internal(format!("the snapshot's memory does not fit the limits: {err}")))?;
    let data = memory.data_mut(&mut *store);
    data[..snapshot.memory.len()].copy_from_slice(&snapshot.memory);
    let guard = snapshot.start_guard as usize;
    data.get_mut(guard..guard + 4)
        .ok_or_else(|| Termination::Internal("the start flag lies outside memory".into()))?
        .fill(0);
    for (name, value) in &snapshot.globals {
        instance
            .get_global(&*store, name)
            .ok_or_else(|| Termination::Internal(format!("global export {name} is missing")))?
            .set(&mut *store, value.clone())
            .map_err(|err| Termination::Internal(format!("global {name}: {err}")))?;
    }
    Ok(())
}

/// QuickJS-NG's reactor: `_initialize`, the arguments copied into guest memory with its `malloc`, then
/// `qjs_init_argv`, which evaluates the program and answers 0, or -1 after printing the uncaught exception.
fn run_quickjs_reactor(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    args: &[String],
) -> Result<Termination, Termination> {
    let export = |store: &Store<TestContext>, name: &str| {
        instance.get_func(store, name).ok_or_else(|| Termination::Internal(format!("the reactor exports no `{name}`")))
    };
    if let Ok(initialize) = export(store, "_initialize") {
        session.call(store, &initialize, &[], &mut [])?;
    }
    let malloc = export(store, "malloc")?;
    let memory = instance
        .get_memory(&*store, "memory")
        .ok_or_else(|| Termination::Internal("the reactor exports no memory".into()))?;
    let allocate = |store: &mut Store<TestContext>, session: &mut Session, bytes: &[u8]| {
        let mut address = [Val::I32(0)];
        let size = i32::try_from(bytes.len()).map_err(|_| Termination::Internal("argument too large".into()))?;
        session.call(store, &malloc, &[Val::I32(size)], &mut address)?;
        let address = address[0].i32().unwrap_or(0) as u32 as usize;
        if address == 0 {
            return Err(Termination::MemoryLimit("the runtime could not allocate the program's text".into()));
        }
        memory
            .write(&mut *store, address, bytes)
            .map_err(|err| Termination::Internal(format!("writing an argument: {err}")))?;
        Ok(address as u32)
    };
    let mut pointers = Vec::new();
    for arg in args {
        let mut text = arg.as_bytes().to_vec();
        text.push(0);
        pointers.push(allocate(store, session, &text)?);
    }
    let argv: Vec<u8> = pointers.iter().flat_map(|pointer| pointer.to_le_bytes()).collect();
    let argv = allocate(store, session, &argv)?;
    let init = export(store, "qjs_init_argv")?;
    let mut status = [Val::I32(0)];
    session.call(store, &init, &[Val::I32(args.len() as i32), Val::I32(argv as i32)], &mut status)?;
    Ok(Termination::Exited(if status[0].i32() == Some(0) { 0 } else { 1 }))
}

/// The parser's message when a run ended because the program did not parse, per language: CPython as natively;
/// QuickJS throws a SyntaxError before evaluating; Ruby prints `-e:LINE: syntax error` and exits 1.
fn parse_failure(language: Language, outcome: &Outcome) -> Option<String> {
    let status = match outcome.termination {
        Termination::Exited(status) => Some(status),
        _ => None,
    };
    if language == Language::Python {
        return python_parse_failure(status, &outcome.stdout, &outcome.stderr);
    }
    if status != Some(1) || !outcome.stdout.is_empty() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    let first = stderr.lines().next().unwrap_or_default();
    let unparsed = match language {
        Language::Javascript => first.starts_with("SyntaxError:"),
        Language::Ruby => first.starts_with("-e:") && first.contains("syntax error"),
        _ => false,
    };
    unparsed.then_some(stderr)
}

fn runtime_config() -> Config {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Interpreters are large (CPython: 11,000 functions); translated on first call, and the warm-up and
        // calibration runs translate the hot ones before any test, so tests pay little translation.
        .compilation_mode(CompilationMode::LazyTranslation)
        .set_max_recursion_depth(MAX_RECURSION_DEPTH)
        .set_max_stack_height(MAX_STACK_BYTES);
    config
}

/// The loaded runtimes of one process, shared by all requests.
pub struct RuntimePacks {
    source: PackSource,
    cache_bytes: usize,
    state: Mutex<CacheState>,
    /// One load at a time: a second request for a loading language waits instead of loading it twice.
    loading: Mutex<()>,
}

#[derive(Default)]
struct CacheState {
    loaded: Vec<(Language, Arc<LoadedRuntime>)>,
}

impl RuntimePacks {
    pub fn new(source: PackSource, cache_bytes: usize) -> RuntimePacks {
        RuntimePacks { source, cache_bytes, state: Mutex::default(), loading: Mutex::new(()) }
    }

    /// The packs store from the environment, cache size RUNTIME_CACHE_MB.
    pub fn from_env() -> Result<RuntimePacks, ConfigError> {
        let megabytes = config::read("RUNTIME_CACHE_MB")
            .map(|value| {
                value.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    var: "RUNTIME_CACHE_MB",
                    value: value.clone(),
                    expected: "a whole number of megabytes".into(),
                })
            })
            .transpose()?
            .unwrap_or(DEFAULT_CACHE_MB);
        Ok(RuntimePacks::new(PackSource::from_env()?, usize::try_from(megabytes << 20).unwrap_or(usize::MAX)))
    }

    pub fn source(&self) -> &PackSource {
        &self.source
    }

    /// The runtime of `language`, loaded on first use.
    pub fn get(&self, language: Language) -> Result<Arc<LoadedRuntime>, RuntimeError> {
        if let Some(runtime) = self.cached(language) {
            return Ok(runtime);
        }
        let _one_load = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(runtime) = self.cached(language) {
            return Ok(runtime);
        }
        let started = Instant::now();
        let runtime = Arc::new(LoadedRuntime::load(&self.source, language)?);
        tracing::info!(
            pack = %runtime.pack,
            load_ms = millis(started.elapsed()),
            startup_ms = millis(runtime.startup.time),
            snapshot = runtime.snapshot.is_some(),
            without_snapshot = runtime.snapshot_unavailable.as_deref().unwrap_or(""),
            "language runtime loaded"
        );
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.loaded.push((language, runtime.clone()));
        // Least recently used first out, never the one just loaded.
        while state.loaded.len() > 1
            && state.loaded.iter().map(|(_, runtime)| runtime.footprint).sum::<usize>() > self.cache_bytes
        {
            let (evicted, _) = state.loaded.remove(0);
            tracing::info!(language = %evicted, "language runtime evicted from the cache");
        }
        Ok(runtime)
    }

    /// A cached runtime, marked as most recently used.
    fn cached(&self, language: Language) -> Option<Arc<LoadedRuntime>> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let position = state.loaded.iter().position(|(cached, _)| *cached == language)?;
        let entry = state.loaded.remove(position);
        let runtime = entry.1.clone();
        state.loaded.push(entry);
        Some(runtime)
    }
}

/// The judge of python, javascript and ruby in WebAssembly.
#[derive(Clone)]
pub struct RuntimeJudge {
    packs: Arc<RuntimePacks>,
}

impl RuntimeJudge {
    pub fn new(packs: Arc<RuntimePacks>) -> RuntimeJudge {
        RuntimeJudge { packs }
    }

    /// The judge when a packs store is configured and has an index, else `None` (the function then judges these
    /// languages natively or not at all). Every judge made here shares one cache: the dev host serves validate and
    /// generate from one process, and a runtime is loaded once for both.
    pub fn from_env() -> Result<Option<RuntimeJudge>, ConfigError> {
        static SHARED: std::sync::OnceLock<Arc<RuntimePacks>> = std::sync::OnceLock::new();
        let packs = match SHARED.get() {
            Some(packs) => packs.clone(),
            None => {
                let packs = Arc::new(RuntimePacks::from_env()?);
                SHARED.get_or_init(|| packs).clone()
            }
        };
        Ok(packs.source().has_index().then(|| RuntimeJudge::new(packs)))
    }
}

impl Judge for RuntimeJudge {
    fn engine(&self) -> EngineInfo {
        EngineInfo { name: "wasmi".to_string(), version: WASMI_VERSION.to_string(), startup_ms: None, runtime: None }
    }

    fn judges(&self, language: Language) -> bool {
        LANGUAGES.contains(&language)
    }

    fn runs_webassembly(&self) -> bool {
        true
    }

    fn describe(&self) -> serde_json::Value {
        let mut description = serde_json::to_value(self.engine()).unwrap_or_default();
        description["languages"] = LANGUAGES.iter().map(|language| language.as_str()).collect();
        description["packs"] = self.packs.source().describe().into();
        description
    }

    fn judge(&self, submission: &Submission) -> Result<JudgeReport, JudgeError> {
        let Code::Source(source) = &submission.code else {
            return Err(JudgeError::Internal("a language runtime got a binary module".into()));
        };
        let started = Instant::now();
        let runtime = self
            .packs
            .get(submission.language)
            .map_err(|err| JudgeError::Unavailable { language: submission.language, reason: err.to_string() })?;
        // Interpreters parse the whole program before running a line: the first test doubles as the syntax check,
        // as in the native Python judge.
        let first = runtime.run(&submission.tests[0], source, &submission.limits);
        if let Some(output) = parse_failure(submission.language, &first) {
            return Ok(compilation_failed(submission, output, started.elapsed(), runtime.engine_info()));
        }
        let compile = CompileReport { ok: true, output: String::new(), time_ms: 0.0 };
        let mut first = Some(first);
        Ok(run_tests(submission, compile, runtime.engine_info(), |index, test| match first.take() {
            Some(first) if index == 0 => first,
            _ => runtime.run(test, source, &submission.limits),
        }))
    }
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
