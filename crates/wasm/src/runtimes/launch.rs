//! A loaded runtime: its module compiled once, verified against its manifest, snapshotted and calibrated; and how one
//! test is launched on it (from the snapshot, a WASI command, QuickJS's reactor or Ruby's).

use super::binary::{self, MEMORY_IMPORT};
use super::memory::{Lease, MemoryPool};
use super::packs::{Launch, Manifest, PackSource, worth_compiling_once};
use super::snapshot::{self, Snapshot};
use super::{RuntimeError, ruby};
use crate::{
    CallWatch, MAX_RECURSION_DEPTH, MAX_STACK_BYTES, RunSetup, Session, TestContext, WASMI_VERSION, run_test,
    wasi_linker,
};
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Outcome, Termination, TestCase, TestIo, millis};
use codecapsule_core::model::{EngineInfo, Language, Limits};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use wasmi::{
    CompilationMode, Config, CustomFuelCosts, Engine, Instance, Linker, Memory, MemoryType, Module, Store, Val,
};

/// Where `{source}` stands in a manifest's arguments.
const SOURCE_PLACEHOLDER: &str = "{source}";
/// What a loaded module costs in memory per byte of module, estimated with a margin: loading CPython's 26 MB module
/// added 62 MB of resident memory with its 10 MiB snapshot, Ruby's 24 MB module 24 MB (BENCHMARKS.md).
const COMPILED_BYTES_PER_MODULE_BYTE: usize = 4;
/// Limits of the warm-up and calibration runs, which run the runtime's own start-up.
const LOAD_LIMITS: Limits = Limits { time_ms: 10_000, memory_mb: 512, output_kb: 64 };
/// Runs of an empty program measured at load, after a first one that warms the runtime up.
const CALIBRATION_RUNS: usize = 3;
/// Largest manifest or index accepted, largest module, largest snapshot file.
const MAX_MANIFEST_BYTES: usize = 64 << 10;
const MAX_RUNTIME_MODULE_BYTES: usize = 64 << 20;
const MAX_SNAPSHOT_FILE_BYTES: usize = 256 << 20;

/// A runtime ready to judge: compiled once, snapshotted and calibrated.
pub struct LoadedRuntime {
    /// The pack's name in the store.
    pub pack: String,
    /// The pack's manifest.
    pub manifest: Manifest,
    engine: Engine,
    /// WASI, and the runtime's own imports (Ruby's).
    linker: Linker<TestContext>,
    module: Module,
    /// The buffers of the tests' memories, when the module's memory could be made an import (see [`super::memory`]).
    memories: Option<MemoryPool>,
    pub(super) snapshot: Option<Snapshot>,
    /// Why there is no snapshot (logged at load).
    pub(super) snapshot_unavailable: Option<String>,
    /// What running an empty program costs: granted on top of every test's limits.
    pub startup: Calibration,
    pub(super) footprint: usize,
    /// CPython: the function harness compiled once and marshalled, hex-encoded (see [`LoadedRuntime::python_harness`]).
    python_harness: std::sync::OnceLock<Option<String>>,
}

/// The runtime's own cost per test, measured at load on an empty program.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// Fuel an empty program burns.
    pub fuel: u64,
    /// Time an empty program takes.
    pub time: Duration,
    /// Linear memory an empty program uses.
    pub memory_bytes: usize,
}

/// A pack as read from the store: its name, its checked manifest, its module's bytes and its snapshot file's when it
/// has one (neither verified yet).
pub(super) struct FetchedPack {
    pub(super) pack: String,
    pub(super) manifest: Manifest,
    bytes: Vec<u8>,
    snapshot: Option<Vec<u8>>,
}

impl FetchedPack {
    /// Reads the index, the manifest of `language`'s pack (checked) and its module.
    pub(super) async fn fetch(source: &PackSource, language: Language) -> Result<FetchedPack, RuntimeError> {
        let index_bytes = source.read("index.json", MAX_MANIFEST_BYTES).await?;
        let index: HashMap<String, String> = serde_json::from_slice(&index_bytes)
            .map_err(|err| RuntimeError::Manifest { key: "index.json".into(), reason: err.to_string() })?;
        let pack = index
            .get(language.as_str())
            .filter(|pack| !pack.is_empty() && !pack.contains("..") && !pack.contains('/'))
            .ok_or_else(|| RuntimeError::NoPack { language, where_: source.describe() })?
            .clone();
        let manifest_key = format!("{pack}/manifest.json");
        let manifest: Manifest = serde_json::from_slice(&source.read(&manifest_key, MAX_MANIFEST_BYTES).await?)
            .map_err(|err| RuntimeError::Manifest { key: manifest_key.clone(), reason: err.to_string() })?;
        let invalid = |reason: String| RuntimeError::Manifest { key: manifest_key.clone(), reason };
        if manifest.language != language.as_str() {
            return Err(invalid(format!("it is for {}, the index lists it for {language}", manifest.language)));
        }
        let holding = |slots: &Vec<&str>| slots.iter().filter(|slot| slot.contains(SOURCE_PLACEHOLDER)).count();
        if manifest.launch.source_slots().iter().any(|slots| holding(slots) != 1) {
            return Err(invalid(format!("exactly one argument (or `run`) must hold {SOURCE_PLACEHOLDER}")));
        }
        let snapshot_file = manifest.snapshot.as_ref().map(|file| file.file.as_str());
        if manifest.fuel_per_ms == 0 || manifest.module.contains('/') || snapshot_file.is_some_and(|f| f.contains('/'))
        {
            return Err(invalid("fuel_per_ms must be positive, module and snapshot file names".into()));
        }

        let bytes = source.read(&format!("{pack}/{}", manifest.module), MAX_RUNTIME_MODULE_BYTES).await?;
        let snapshot = match snapshot_file {
            Some(file) => Some(source.read(&format!("{pack}/{file}"), MAX_SNAPSHOT_FILE_BYTES).await?),
            None => None,
        };
        Ok(FetchedPack { pack, manifest, bytes, snapshot })
    }

    /// Forgets the pack's snapshot file, so that loading takes the snapshot afresh (what baking one does).
    pub(super) fn without_snapshot(mut self) -> FetchedPack {
        self.manifest.snapshot = None;
        self.snapshot = None;
        self
    }
}

impl LoadedRuntime {
    /// Verifies the module against its manifest, compiles it, snapshots and calibrates it: CPU-bound, seconds for
    /// CPython.
    pub(super) fn build(fetched: FetchedPack) -> Result<LoadedRuntime, RuntimeError> {
        let FetchedPack { pack, manifest, bytes, snapshot: snapshot_bytes } = fetched;
        let check = |file: &str, expected: &str, bytes: &[u8]| {
            let actual = format!("{:x}", Sha256::digest(bytes));
            if actual.eq_ignore_ascii_case(expected) {
                return Ok(());
            }
            Err(RuntimeError::HashMismatch {
                pack: pack.clone(),
                module: file.to_string(),
                expected: expected.to_string(),
                actual,
            })
        };
        check(&manifest.module, &manifest.sha256, &bytes)?;
        // A snapshot computed ahead of time, when the pack has one taken of this very module and launch.
        let mut baked = None;
        if let (Some(file), Some(snapshot_bytes)) = (&manifest.snapshot, snapshot_bytes) {
            check(&file.file, &file.sha256, &snapshot_bytes)?;
            match Snapshot::decode(&snapshot_bytes, &manifest.sha256, &manifest.launch.digest()) {
                Ok(snapshot) => baked = Some(snapshot),
                Err(err) => tracing::warn!(%pack, file = %file.file, "the pack's snapshot is not used: {err}"),
            }
        }

        // Snapshots need the mutable globals exported and, for a command, `_start`'s run-once flag found; without,
        // tests boot.
        let mut snapshot_unavailable = None;
        let mut prepared = None;
        let found = match &manifest.launch {
            Launch::Command { warm_up: Some(_), .. } => {
                Some(binary::expose_mutable_globals(&bytes).and_then(|(module, globals)| {
                    binary::start_guard(&bytes).map(|guard| (module, globals, Some(guard)))
                }))
            }
            Launch::RubyReactor { .. } => {
                Some(binary::expose_mutable_globals(&bytes).map(|(module, globals)| (module, globals, None)))
            }
            Launch::Command { warm_up: None, .. } | Launch::QuickjsReactor { .. } => None,
        };
        match found {
            Some(Ok(found)) => prepared = Some(found),
            Some(Err(err)) => snapshot_unavailable = Some(format!("the module cannot be snapshotted: {err}")),
            None => snapshot_unavailable = Some("the pack has no warm-up to snapshot".into()),
        }
        let module_bytes = prepared.as_ref().map(|(module, ..)| module.as_slice()).unwrap_or(&bytes);
        let (module_bytes, memories) = match binary::import_memory(module_bytes) {
            Ok((module, limits)) => (module, Some(MemoryPool::new(MemoryType::new(limits.minimum, limits.maximum)))),
            Err(err) => {
                tracing::warn!(%pack, "each test allocates its memory afresh (slower): {err}");
                (module_bytes.to_vec(), None)
            }
        };
        let engine = Engine::new(&runtime_config());
        let module = Module::new(&engine, &module_bytes)
            .map_err(|err| RuntimeError::Module { pack: pack.clone(), reason: err.to_string() })?;
        drop(module_bytes);
        let mut linker = wasi_linker(&engine);
        if let Launch::RubyReactor { .. } = &manifest.launch {
            ruby::define_imports(&mut linker, &module)
                .map_err(|reason| RuntimeError::Module { pack: pack.clone(), reason })?;
        }
        let mut runtime = LoadedRuntime {
            linker,
            footprint: bytes.len() * COMPILED_BYTES_PER_MODULE_BYTE,
            python_harness: std::sync::OnceLock::new(),
            pack,
            manifest,
            engine,
            module,
            memories,
            snapshot: None,
            snapshot_unavailable,
            startup: Calibration { fuel: 0, time: Duration::ZERO, memory_bytes: 0 },
        };
        if let Some((_, globals, guard)) = prepared {
            let snapshot = match baked {
                Some(snapshot) => snapshot,
                None => runtime.take_snapshot(globals, guard)?,
            };
            runtime.footprint += snapshot.dirty.iter().map(|run| run.bytes.len()).sum::<usize>();
            if let Some(memories) = &mut runtime.memories {
                memories.keep_resident(snapshot.memory_size);
            }
            runtime.snapshot = Some(snapshot);
        }
        runtime.startup = runtime.calibrate()?;
        let touched_by_every_test =
            runtime.startup.memory_bytes.max(runtime.snapshot.as_ref().map_or(0, |s| s.memory_size));
        if let Some(memories) = &mut runtime.memories {
            memories.keep_resident(touched_by_every_test);
            if memories.pools() {
                // One buffer kept between tests, as a function judging one request at a time keeps it.
                runtime.footprint += touched_by_every_test;
            }
        }
        Ok(runtime)
    }

    fn start_error(&self, reason: String) -> RuntimeError {
        RuntimeError::Start { pack: self.pack.clone(), reason }
    }

    /// Runs the warm-up (to its `proc_exit(0)` for a command) and keeps memory and mutable globals.
    fn take_snapshot(&self, globals: Vec<String>, guard: Option<u32>) -> Result<Snapshot, RuntimeError> {
        let args = match &self.manifest.launch {
            Launch::Command { warm_up: Some(warm_up), .. } => warm_up.clone(),
            _ => self.wasi_args(""),
        };
        let setup = self.load_setup(&args);
        let mut taken = None;
        let outcome = run_test(&self.engine, &setup, |store, session| {
            let instance = self.instantiate(store, session, None)?;
            let fresh = memory_of(store, &instance)?.data(&*store).to_vec();
            let ended = match &self.manifest.launch {
                Launch::RubyReactor { args, warm_up, .. } => ruby_warm_up(store, session, &instance, args, warm_up)?,
                _ => call_start(store, session, &instance),
            };
            if matches!(ended, Termination::Exited(0)) {
                taken = Some(capture(store, &instance, &fresh, &globals, guard)?);
            }
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
        let args = self.wasi_args("");
        let setup = self.load_setup(&args);
        // The first run translates the functions every test runs (lazily compiled) and allocates the buffer the
        // memory pool keeps; the fastest of the next ones is what a test costs (fuel and memory are the same in each).
        self.run_leased(&setup, "", None);
        let outcome = (0..CALIBRATION_RUNS)
            .map(|_| self.run_leased(&setup, "", None))
            .min_by(|one, other| one.time_ms.total_cmp(&other.time_ms))
            .expect("at least one calibration run");
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

    /// The WASI arguments of a run of `source`: the program's own where the runtime takes it in its arguments;
    /// Ruby's boot arguments (which `ruby-init` is given directly) otherwise.
    fn wasi_args(&self, source: &str) -> Vec<String> {
        match &self.manifest.launch {
            Launch::Command { args, .. } | Launch::QuickjsReactor { args } => {
                args.iter().map(|arg| arg.replace(SOURCE_PLACEHOLDER, source)).collect()
            }
            Launch::RubyReactor { args, .. } => args.clone(),
        }
    }

    /// The setup of the runs that load the runtime: its own start-up, bounded by [`LOAD_LIMITS`].
    fn load_setup<'a>(&self, args: &'a [String]) -> RunSetup<'a> {
        RunSetup {
            args,
            fuel_per_ms: self.manifest.fuel_per_ms,
            host_memory: self.memories.is_some(),
            ..RunSetup::plain(&LOAD_LIMITS)
        }
    }

    /// Runs `source` (or the program `compiled` holds) in a fresh store as `setup` says, its memory over a buffer
    /// leased from the pool.
    fn run_leased(&self, setup: &RunSetup, source: &str, compiled: Option<&Snapshot>) -> Outcome {
        let mut lease = self.memories.as_ref().and_then(|pool| pool.lease(setup.memory_cap()));
        // `lease` outlives the store run_test makes and drops, as `Lease::memory` requires.
        run_test(&self.engine, setup, |store, session| {
            self.launch(store, session, setup.args, source, compiled, lease.as_mut())
        })
    }

    /// Compiles `source` once for all of a submission's `tests` tests, when the runtime can (its manifest's
    /// `compile_once`) and it pays ([`worth_compiling_once`]):
    /// runs the compile step from the snapshot and keeps the memory it leaves. The outcome says how compiling went
    /// (a parse error printed as running the program would print it); the compiled memory comes only with status 0.
    /// `None` when the runtime compiles with every test.
    pub(super) fn compile(
        &self,
        source: &str,
        tests: usize,
        limits: &Limits,
        deadline: Deadline,
    ) -> Option<(Outcome, Option<Snapshot>)> {
        let base = self.snapshot.as_ref()?;
        let worth = |from: usize| worth_compiling_once(source.len(), tests, from);
        let args = match &self.manifest.launch {
            Launch::Command { compile_once: Some(once), .. } if worth(once.worth_from_bytes) => {
                once.compile.iter().map(|arg| arg.replace(SOURCE_PLACEHOLDER, source)).collect()
            }
            Launch::RubyReactor { args, compile_once: Some(once), .. } if worth(once.worth_from_bytes) => args.clone(),
            _ => return None,
        };
        let setup = self.test_setup("", &args, limits, deadline);
        let globals: Vec<String> = base.globals.iter().map(|(name, _)| name.clone()).collect();
        let mut compiled = None;
        let mut lease = self.memories.as_ref().and_then(|pool| pool.lease(setup.memory_cap()));
        // `lease` outlives the store run_test makes and drops, as `Lease::memory` requires.
        let outcome = run_test(&self.engine, &setup, |store, session| {
            let instance = self.instantiate(store, session, lease.as_mut())?;
            let fresh = memory_of(store, &instance)?.data(&*store).to_vec();
            restore(store, &instance, base)?;
            let ended = match &self.manifest.launch {
                Launch::RubyReactor { compile_once: Some(once), .. } => {
                    let compile = once.compile.replace(SOURCE_PLACEHOLDER, &ruby::hex(source));
                    match ruby::eval(store, session, &instance, &compile)? {
                        0 => Termination::Exited(0),
                        state => Termination::Crashed(format!("Ruby's driver did not compile (state {state})")),
                    }
                }
                _ => call_start(store, session, &instance),
            };
            if matches!(ended, Termination::Exited(0)) {
                compiled = Some(capture(store, &instance, &fresh, &globals, base.start_guard)?);
            }
            Ok(ended)
        });
        Some((outcome, compiled))
    }

    /// A fresh instance of the runtime in `store`: its memory over `lease`'s buffer when given (`lease` must outlive
    /// `store`), else allocated.
    fn instantiate(
        &self,
        store: &mut Store<TestContext>,
        session: &mut Session,
        lease: Option<&mut Lease>,
    ) -> Result<Instance, Termination> {
        let Some(pool) = &self.memories else {
            return session.instantiate(store, &self.linker, &self.module);
        };
        let memory = match lease {
            // SAFETY: the caller's lease outlives `store` (run_leased).
            Some(lease) => unsafe { lease.memory(store, pool.ty)? },
            None => Memory::new(&mut *store, pool.ty).map_err(|err| {
                Termination::MemoryLimit(format!("the runtime's memory does not fit the limits: {err}"))
            })?,
        };
        let mut linker = self.linker.clone();
        linker
            .define(MEMORY_IMPORT.0, MEMORY_IMPORT.1, memory)
            .map_err(|err| Termination::Internal(format!("defining the runtime's memory: {err}")))?;
        session.instantiate(store, &linker, &self.module)
    }

    /// Instantiates the runtime for one test and runs `source` (which `args`, the WASI arguments, hold for a
    /// command or QuickJS), or the program `compiled` holds.
    fn launch(
        &self,
        store: &mut Store<TestContext>,
        session: &mut Session,
        args: &[String],
        source: &str,
        compiled: Option<&Snapshot>,
        lease: Option<&mut Lease>,
    ) -> Result<Termination, Termination> {
        let instance = self.instantiate(store, session, lease)?;
        match &self.manifest.launch {
            Launch::Command { .. } => {
                if let Some(snapshot) = compiled.or(self.snapshot.as_ref()) {
                    restore(store, &instance, snapshot)?;
                }
                Ok(call_start(store, session, &instance))
            }
            Launch::QuickjsReactor { .. } => run_quickjs_reactor(store, session, &instance, args),
            Launch::RubyReactor { args, warm_up, run, compile_once } => {
                match compiled.or(self.snapshot.as_ref()) {
                    Some(snapshot) => restore(store, &instance, snapshot)?,
                    None => match ruby_warm_up(store, session, &instance, args, warm_up)? {
                        Termination::Exited(0) => {}
                        failed => return Ok(failed),
                    },
                }
                let program = match (compile_once, compiled) {
                    (Some(once), Some(_)) => once.run.clone(),
                    _ => run.replace(SOURCE_PLACEHOLDER, &ruby::hex(source)),
                };
                // The driver leaves through `exit!`, which ends the call with the program's status.
                let state = ruby::eval(store, session, &instance, &program)?;
                Ok(Termination::Crashed(format!("Ruby's driver returned (state {state}) instead of exiting")))
            }
        }
    }

    /// Runs one test of `source`, from the memory `compiled` holds when [`LoadedRuntime::compile`] gave one; stopped
    /// by `deadline` at the latest.
    pub(super) fn run(
        &self,
        test: &TestCase,
        source: &str,
        compiled: Option<&Snapshot>,
        limits: &Limits,
        deadline: Deadline,
    ) -> Outcome {
        let stdin = match &test.io {
            TestIo::Stdio { stdin, .. } => stdin.as_str(),
            TestIo::Call { .. } | TestIo::Function { .. } => "",
        };
        self.run_input(stdin, source, compiled, limits, deadline, None)
    }

    /// Runs `source` (a function harness, see codecapsule_core::function) on a batch's `stdin` under the batch's
    /// `limits`, each call held to `watch`'s fuel.
    pub(super) fn run_calls(
        &self,
        stdin: &str,
        source: &str,
        compiled: Option<&Snapshot>,
        limits: &Limits,
        deadline: Deadline,
        watch: &CallWatch,
    ) -> Outcome {
        self.run_input(stdin, source, compiled, limits, deadline, Some(watch))
    }

    /// CPython: the function harness (codecapsule_core::function::python) compiled once per loaded runtime, as
    /// `marshal` bytes in hexadecimal, for a function capsule's program to load instead of compiling it (CPython's
    /// compiler takes ~70 ms over the harness on wasmi; loading its code takes a fraction of a millisecond). `None`
    /// for other runtimes, or when the run failed (logged): the harness is then compiled with each program.
    pub(super) fn python_harness(&self) -> Option<&str> {
        self.python_harness
            .get_or_init(|| {
                if self.manifest.runtime != "cpython" {
                    return None;
                }
                let harness = serde_json::Value::String(codecapsule_core::function::python::HARNESS.into());
                let program = format!(
                    "import marshal, sys\nsys.stdout.write(marshal.dumps(compile({harness}, 'harness.py', 'exec')).hex())"
                );
                let args = self.wasi_args(&program);
                let outcome = self.run_leased(&self.load_setup(&args), &program, None);
                match (&outcome.termination, String::from_utf8(outcome.stdout)) {
                    (Termination::Exited(0), Ok(hex)) if !hex.is_empty() => Some(hex),
                    (termination, _) => {
                        tracing::warn!(pack = %self.pack, ?termination, "the Python harness did not compile ahead");
                        None
                    }
                }
            })
            .as_deref()
    }

    /// Calls held to their own fuel: a test's time limit in this runtime's fuel.
    pub(super) fn fuel_per_call(&self, time_ms: u64) -> u64 {
        time_ms.saturating_mul(self.manifest.fuel_per_ms)
    }

    fn run_input(
        &self,
        stdin: &str,
        source: &str,
        compiled: Option<&Snapshot>,
        limits: &Limits,
        deadline: Deadline,
        calls: Option<&CallWatch>,
    ) -> Outcome {
        let args = match (&self.manifest.launch, compiled) {
            (Launch::Command { compile_once: Some(once), .. }, Some(_)) => once.run.clone(),
            _ => self.wasi_args(source),
        };
        let setup = RunSetup { calls, ..self.test_setup(stdin, &args, limits, deadline) };
        self.run_leased(&setup, source, compiled)
    }

    /// The setup of a test's run (or of compiling its program): the test's limits, and the runtime's start-up on top.
    fn test_setup<'a>(
        &self,
        stdin: &'a str,
        args: &'a [String],
        limits: &'a Limits,
        deadline: Deadline,
    ) -> RunSetup<'a> {
        RunSetup {
            stdin,
            args,
            limits,
            fuel_per_ms: self.manifest.fuel_per_ms,
            extra_fuel: self.startup.fuel,
            extra_memory_bytes: self.startup.memory_bytes,
            extra_wall: self.startup.time * 2,
            host_memory: self.memories.is_some(),
            deadline: Some(deadline),
            calls: None,
        }
    }

    /// What answers report as `engine` for this runtime (wasmi, with the runtime and its start-up).
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

/// The instance's exported memory.
fn memory_of(store: &Store<TestContext>, instance: &Instance) -> Result<Memory, Termination> {
    instance.get_memory(store, "memory").ok_or_else(|| Termination::Internal("the runtime exports no memory".into()))
}

/// The snapshot of `instance` as it is now: the parts of its memory that differ from `fresh` (its memory when
/// instantiated) and the values of the mutable `globals`.
fn capture(
    store: &Store<TestContext>,
    instance: &Instance,
    fresh: &[u8],
    globals: &[String],
    start_guard: Option<u32>,
) -> Result<Snapshot, Termination> {
    let mut values = Vec::new();
    for name in globals {
        let global = instance
            .get_global(store, name)
            .ok_or_else(|| Termination::Internal(format!("global export {name} is missing")))?;
        values.push((name.clone(), global.get(store)));
    }
    let now = memory_of(store, instance)?.data(store);
    Ok(Snapshot { memory_size: now.len(), dirty: snapshot::dirty_runs(fresh, now), globals: values, start_guard })
}

/// Boots Ruby and evaluates the driver: `Exited(0)` when the driver was defined (the state to snapshot or to run the
/// program from), else how it failed.
fn ruby_warm_up(
    store: &mut Store<TestContext>,
    session: &mut Session,
    instance: &Instance,
    args: &[String],
    driver: &str,
) -> Result<Termination, Termination> {
    ruby::boot(store, session, instance, args)?;
    Ok(match ruby::eval(store, session, instance, driver)? {
        0 => Termination::Exited(0),
        state => Termination::Crashed(format!("Ruby's driver did not evaluate (state {state})")),
    })
}

/// Writes the snapshot into a fresh instance: memory (grown to its size), mutable globals, `_start` re-armed.
fn restore(store: &mut Store<TestContext>, instance: &Instance, snapshot: &Snapshot) -> Result<(), Termination> {
    let memory = instance
        .get_memory(&*store, "memory")
        .ok_or_else(|| Termination::Internal("the runtime exports no memory".into()))?;
    let missing_pages = (snapshot.memory_size.saturating_sub(memory.data_size(&*store)) / (64 << 10)) as u64;
    memory
        .grow(&mut *store, missing_pages)
        .map_err(|err| Termination::Internal(format!("the snapshot's memory does not fit the limits: {err}")))?;
    let data = memory.data_mut(&mut *store);
    for run in &snapshot.dirty {
        data[run.at..run.at + run.bytes.len()].copy_from_slice(&run.bytes);
    }
    if let Some(guard) = snapshot.start_guard {
        let guard = guard as usize;
        data.get_mut(guard..guard + 4)
            .ok_or_else(|| Termination::Internal("the start flag lies outside memory".into()))?
            .fill(0);
    }
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

fn runtime_config() -> Config {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Interpreters are large (CPython: 11,000 functions); validated and translated on first call, and the
        // warm-up and calibration runs reach the hot ones before any test, so tests pay little of it. Validating
        // on first call instead of at load took CPython's compile from 65 to 28 ms and Ruby's from 66 to 20 ms
        // (BENCHMARKS.md); every function is still validated before it runs, and the module is the pack's, pinned
        // by its SHA-256, not a submission.
        .compilation_mode(CompilationMode::Lazy)
        // Validating and translating the interpreter's functions is free of fuel. It is the runtime's cost, not the
        // program's, and wasmi cannot resume a call that ran out of fuel while compiling a function on first call:
        // with a per-byte price, a large function (CPython's parser) reached near the end of a fuel slice ended the
        // run as out of time, whatever its budget. Copies keep wasmi's default price.
        .fuel_cost(CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        })
        .set_max_recursion_depth(MAX_RECURSION_DEPTH)
        .set_max_stack_height(MAX_STACK_BYTES);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmi::ResumableCall;

    /// A function first called with less fuel left than its translation would cost (with wasmi's default per-byte
    /// price) must run, not end the call with a trap that cannot be resumed.
    #[test]
    fn a_function_translated_on_first_call_does_not_end_the_run() {
        let big_body = "(drop (i32.const 1))".repeat(20_000);
        let wat = format!(r#"(module (func $big {big_body}) (func (export "run") call $big))"#);
        let engine = Engine::new(&runtime_config());
        let module = Module::new(&engine, wat::parse_str(&wat).unwrap().as_slice()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = wasmi::Linker::new(&engine).instantiate_and_start(&mut store, &module).unwrap();
        let run = instance.get_func(&store, "run").unwrap();
        store.set_fuel(1_000).unwrap();
        let mut call = run.call_resumable(&mut store, &[], &mut []);
        while let Ok(ResumableCall::OutOfFuel(paused)) = call {
            store.set_fuel(paused.required_fuel().max(1_000)).unwrap();
            call = paused.resume(&mut store, &mut []);
        }
        assert!(matches!(call, Ok(ResumableCall::Finished)), "{:?}", call.err());
    }
}
