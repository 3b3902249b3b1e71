//! The WebAssembly judge: wasmi 2 with WASI preview 1, in-process.
//!
//! Per submission: a fresh [`Engine`] (an Engine never frees compiled code, so a shared one would grow with every
//! request) and one compile, with its imports checked against WASI. Per test: a fresh [`Store`] and WASI context, so no state crosses tests.
//! Bounds on every run:
//! - CPU: fuel, `time_ms` x [`FUEL_PER_MS`], given out in slices of [`FUEL_SLICE`] through `call_resumable`; between
//!   slices the wall clock is checked too ([`wall_deadline`], or the request's deadline when that comes first), so a
//!   slow or overloaded host cannot hang a request;
//! - memory: a [`ResourceLimiter`] refuses linear memory past `memory_mb`; a refused grow followed by a failure is
//!   memory_limit_exceeded, and the peak is reported;
//! - stack: recursion depth and value stack raised far above wasmi's defaults (1000 frames), still bounded;
//! - output: capped stdout/stderr that stop the program when full (see [`wasi`]);
//! - imports: only `wasi_snapshot_preview1` functions; the WASI context is deterministic and has no files.

#![warn(missing_docs)]

pub mod runtimes;
mod wasi;

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{
    Code, Judge, JudgeError, Judging, Outcome, Submission, Termination, TestCase, TestIo, compilation_failed, limits,
    millis, run_tests,
};
use codecapsule_core::model::{CompileReport, EngineInfo, Entry, JudgeReport, Language, Limits};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi::{CappedOutput, judging_ctx};
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, ExternType, Func, FuncType, Instance, Linker, Module,
    ResourceLimiter, ResumableCall, Store, TrapCode, Val, ValType,
};
use wasmi_core::LimiterError;
use wasmi_wasi::WasiCtx;

/// Fuel per millisecond of time limit: wasmi runs compiled code at roughly 1 G fuel/s on this class of machine
/// (measured: BENCHMARKS.md), so the fuel budget tracks the time limit.
pub const FUEL_PER_MS: u64 = 1_000_000;
/// Fuel given out between two wall-clock checks: about 10 ms of work.
pub const FUEL_SLICE: u64 = 10_000_000;
/// Call frames a program may nest (wasmi's default is 1000, too low for real recursive programs).
pub const MAX_RECURSION_DEPTH: usize = 100_000;
/// Bytes of wasmi value stack (default 1 MB).
pub const MAX_STACK_BYTES: usize = 64 << 20;
/// Table elements a program may grow a table to.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The version of wasmi this build links, read from Cargo.lock by build.rs.
const WASMI_VERSION: &str = env!("CODECAPSULE_WASMI_VERSION");

/// The wall-clock deadline of one test: twice its time limit plus a grace, since fuel is the real CPU bound and the
/// wall clock only guards against a host too slow or too busy to burn fuel at the expected rate.
pub fn wall_deadline(time_ms: u64) -> Duration {
    Duration::from_millis(time_ms * 2 + 50)
}

#[derive(Debug, Default, Clone)]
/// The judge of WebAssembly modules (wasm and wat): compiled once per submission, a fresh store per test.
pub struct WasmJudge;

impl Judge for WasmJudge {
    fn engine(&self) -> EngineInfo {
        EngineInfo { name: "wasmi".to_string(), version: WASMI_VERSION.to_string(), startup_ms: None, runtime: None }
    }

    fn judges(&self, language: Language) -> bool {
        language.is_webassembly()
    }

    fn runs_webassembly(&self) -> bool {
        true
    }

    fn judge(self: Arc<Self>, submission: Arc<Submission>, deadline: Deadline) -> Judging {
        Box::pin(on_blocking_thread(move || self.judge_here(&submission, deadline)))
    }
}

/// Runs CPU-bound judging on a thread the async runtime sets aside for blocking work, so that the runtime's workers
/// keep serving other requests.
pub(crate) async fn on_blocking_thread(
    work: impl FnOnce() -> Result<JudgeReport, JudgeError> + Send + 'static,
) -> Result<JudgeReport, JudgeError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|err| {
        tracing::error!(error = %err, "a judging thread failed");
        Err(JudgeError::crashed())
    })
}

impl WasmJudge {
    /// Compiles the module once and runs every test, on the calling thread, before `deadline`.
    fn judge_here(&self, submission: &Submission, deadline: Deadline) -> Result<JudgeReport, JudgeError> {
        let started = Instant::now();
        let program = match Program::compile(submission) {
            Ok(program) => program,
            Err(CompileError(message)) => {
                return Ok(compilation_failed(submission, message, started.elapsed(), self.engine()));
            }
        };
        let arguments = program.typed_arguments(&submission.tests)?;
        let compile = CompileReport { ok: true, output: String::new(), time_ms: millis(started.elapsed()) };
        Ok(run_tests(submission, compile, self.engine(), deadline, None, |index, test| {
            program.run(test, &arguments[index], &submission.limits, deadline)
        }))
    }
}

/// Why a module cannot be run: invalid, oversize, a forbidden import, a missing entry. Reported as compilation_error.
struct CompileError(String);

/// What each test's store holds.
pub(crate) struct TestContext {
    wasi: WasiCtx,
    memory: MemoryLimiter,
}

/// A compiled submission, ready to run any number of tests.
struct Program {
    engine: Engine,
    linker: Linker<TestContext>,
    module: Module,
    entry: String,
    signature: FuncType,
}

impl Program {
    fn compile(submission: &Submission) -> Result<Program, CompileError> {
        let bytes = match &submission.code {
            Code::Module(bytes) => bytes.as_slice(),
            Code::Source(text) => text.as_bytes(),
        };
        if bytes.len() > limits::MAX_MODULE_BYTES {
            return Err(CompileError(format!(
                "the module is {} bytes; at most {} bytes (8 MiB) are accepted",
                bytes.len(),
                limits::MAX_MODULE_BYTES
            )));
        }
        if submission.language == Language::Wasm && !bytes.starts_with(b"\0asm") {
            return Err(CompileError(
                "the module is not a WebAssembly binary (it does not start with \\0asm); send WAT text in `source` \
                 with language wat"
                    .to_string(),
            ));
        }
        let engine = Engine::new(&engine_config());
        let module = Module::new(&engine, bytes).map_err(|err| CompileError(describe_compile_error(&err)))?;
        check_imports(&engine, &module)?;
        let (entry, signature) = match &submission.entry {
            Entry::Wasi => {
                let signature = exported_func(&module, "_start").ok_or_else(|| {
                    CompileError(
                        "the module has no `_start` function export: build it as a WASI command (with a `main` \
                         function), or judge one export with entry kind `function`"
                            .to_string(),
                    )
                })?;
                if !signature.params().is_empty() || !signature.results().is_empty() {
                    return Err(CompileError("`_start` must take no parameters and return nothing".to_string()));
                }
                ("_start".to_string(), signature)
            }
            Entry::Function { export, .. } => {
                // Checked at the edge: a wasm or wat function entry names its export.
                let export = export.clone().unwrap_or_default();
                let signature = exported_func(&module, &export)
                    .ok_or_else(|| CompileError(format!("the module has no function export named `{export}`")))?;
                if let Some(unsupported) =
                    signature.params().iter().chain(signature.results()).find(|ty| !is_number(ty))
                {
                    return Err(CompileError(format!(
                        "export `{export}` uses type {unsupported:?}; function entries take and return only i32, i64, \
                         f32 and f64"
                    )));
                }
                (export, signature)
            }
        };
        let linker = wasi_linker(&engine);
        Ok(Program { engine, linker, module, entry, signature })
    }

    /// Each test's arguments typed against the entry's parameters (empty for WASI commands).
    fn typed_arguments(&self, tests: &[TestCase]) -> Result<Vec<Vec<Val>>, JudgeError> {
        tests
            .iter()
            .map(|test| match &test.io {
                TestIo::Stdio { .. } => Ok(Vec::new()),
                TestIo::Function { .. } => {
                    Err(JudgeError::Internal("a WebAssembly module got a named function's test".into()))
                }
                TestIo::Call { args, expected_result } => {
                    let params = self.signature.params();
                    if args.len() != params.len() || expected_result.len() != self.signature.results().len() {
                        return Err(JudgeError::InvalidTest(format!(
                            "test `{}`: export `{}` takes {} ({}) and returns {} ({}); the test gives {} args and {} \
                             expected results",
                            test.id,
                            self.entry,
                            params.len(),
                            type_list(params),
                            self.signature.results().len(),
                            type_list(self.signature.results()),
                            args.len(),
                            expected_result.len()
                        )));
                    }
                    args.iter()
                        .zip(params)
                        .enumerate()
                        .map(|(position, (number, ty))| {
                            to_val(number, ty).ok_or_else(|| {
                                JudgeError::InvalidTest(format!(
                                    "test `{}`: arg {} ({number}) is not a valid {ty:?}",
                                    test.id,
                                    position + 1
                                ))
                            })
                        })
                        .collect()
                }
            })
            .collect()
    }

    /// Runs one test in a fresh store and says how it ended.
    fn run(&self, test: &TestCase, arguments: &[Val], limits: &Limits, deadline: Deadline) -> Outcome {
        let stdin = match &test.io {
            TestIo::Stdio { stdin, .. } => stdin.as_str(),
            TestIo::Call { .. } | TestIo::Function { .. } => "",
        };
        let setup = RunSetup {
            stdin,
            args: &["main".to_string()],
            fuel_per_ms: FUEL_PER_MS,
            deadline: Some(deadline),
            ..RunSetup::plain(limits)
        };
        run_test(&self.engine, &setup, |store, session| {
            let instance = session.instantiate(store, &self.linker, &self.module)?;
            let func = instance.get_func(&*store, &self.entry).ok_or_else(|| {
                Termination::Internal(format!("the export `{}` vanished after instantiation", self.entry))
            })?;
            let mut results: Vec<Val> = self.signature.results().iter().map(|ty| Val::default_for_ty(*ty)).collect();
            session.call(store, &func, arguments, &mut results)?;
            Ok(if self.entry == "_start" {
                Termination::Exited(0)
            } else {
                Termination::Returned(results.iter().map(to_json).collect())
            })
        })
    }
}

/// What one run is given beyond the module: its input, arguments and bounds.
pub(crate) struct RunSetup<'a> {
    pub stdin: &'a str,
    /// WASI arguments, the program name first.
    pub args: &'a [String],
    pub limits: &'a Limits,
    /// Fuel per millisecond of `limits.time_ms`: [`FUEL_PER_MS`] for compiled code, calibrated per language runtime.
    pub fuel_per_ms: u64,
    /// Fuel and linear memory granted on top of the limits: a language runtime's own start-up and footprint.
    pub extra_fuel: u64,
    pub extra_memory_bytes: usize,
    /// Wall time granted on top of [`wall_deadline`] for that start-up.
    pub extra_wall: Duration,
    /// The module imports its memory, which the host creates in the store (a language runtime's: see
    /// `runtimes::memory`); wasmi then counts that memory twice against the store's limit of one.
    pub host_memory: bool,
    /// The request's deadline, which stops the run when it comes before the run's own wall deadline; none for the
    /// runs that load a language runtime, which belong to the process rather than to a request.
    pub deadline: Option<Deadline>,
    /// A function harness's run: each call held to its own fuel.
    pub calls: Option<&'a CallWatch>,
}

/// A function harness's run of a batch of calls (see codecapsule_core::function::protocol): the record mark to watch
/// stdout for, the fuel each call may burn (the load before the first call has the runtime's start-up on top), and,
/// after the run, when each record arrived.
pub(crate) struct CallWatch {
    pub mark: String,
    pub fuel_per_call: u64,
    pub record_times: std::cell::RefCell<Vec<Instant>>,
}

impl<'a> RunSetup<'a> {
    /// The most linear memory the run may have: its limit and the runtime's own.
    fn memory_cap(&self) -> usize {
        usize::try_from(self.limits.memory_mb << 20).unwrap_or(usize::MAX).saturating_add(self.extra_memory_bytes)
    }

    fn plain(limits: &'a Limits) -> RunSetup<'a> {
        RunSetup {
            stdin: "",
            args: &[],
            limits,
            fuel_per_ms: FUEL_PER_MS,
            extra_fuel: 0,
            extra_memory_bytes: 0,
            extra_wall: Duration::ZERO,
            host_memory: false,
            deadline: None,
            calls: None,
        }
    }
}

/// Runs one test in a fresh store: `launch` instantiates the module through the [`Session`] and calls into it;
/// an `Err` is how the run ended early. Output and memory verdicts are decided here, the same for every launch.
pub(crate) fn run_test(
    engine: &Engine,
    setup: &RunSetup,
    launch: impl FnOnce(&mut Store<TestContext>, &mut Session) -> Result<Termination, Termination>,
) -> Outcome {
    let limits = setup.limits;
    let output_cap = usize::try_from(limits.output_kb * 1024).unwrap_or(usize::MAX);
    let stdout = match setup.calls {
        Some(watch) => CappedOutput::watching(output_cap, &watch.mark),
        None => CappedOutput::new(output_cap),
    };
    let stderr = CappedOutput::new(output_cap);
    let memory_cap = setup.memory_cap();
    let host = TestContext {
        wasi: judging_ctx(setup.stdin, setup.args, &stdout, &stderr),
        memory: MemoryLimiter::new(memory_cap, if setup.host_memory { 2 } else { 1 }),
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.memory);

    let started = Instant::now();
    let budget = limits.time_ms.saturating_mul(setup.fuel_per_ms).saturating_add(setup.extra_fuel);
    let own_deadline = started + wall_deadline(limits.time_ms) + setup.extra_wall;
    let (deadline, request_deadline) = match setup.deadline {
        Some(request) if request.at() < own_deadline => (request.at(), Some(request)),
        _ => (own_deadline, None),
    };
    let calls = setup.calls.map(|watch| CallMeter {
        stdout: stdout.clone(),
        allowance: watch.fuel_per_call.saturating_add(setup.extra_fuel),
        fuel_per_call: watch.fuel_per_call,
        seen: 0,
        since: 0,
    });
    let mut session = Session {
        meter: FuelMeter { budget, used: 0, given: 0, per_ms: setup.fuel_per_ms },
        deadline,
        request_deadline,
        limits,
        calls,
    };
    let termination = launch(&mut store, &mut session).unwrap_or_else(|ended| ended);
    let elapsed = started.elapsed();
    if let Some(watch) = setup.calls {
        *watch.record_times.borrow_mut() = stdout.mark_times();
    }

    let (stdout_bytes, stdout_overflowed) = stdout.take();
    let (stderr_bytes, stderr_overflowed) = stderr.take();
    let memory = &store.data().memory;
    let termination = if stdout_overflowed || stderr_overflowed {
        let stream = if stdout_overflowed { "stdout" } else { "stderr" };
        Termination::OutputLimit(format!("{stream} went over the output limit of {} KiB", limits.output_kb))
    } else if let (Some(asked), false) = (memory.refused, ended_normally(&termination)) {
        Termination::MemoryLimit(format!(
            "the program asked for {} KiB of linear memory; the memory limit is {} MiB",
            asked.saturating_sub(setup.extra_memory_bytes) / 1024,
            limits.memory_mb
        ))
    } else {
        termination
    };
    Outcome {
        termination,
        stdout: stdout_bytes,
        stderr: stderr_bytes,
        time_ms: millis(elapsed),
        memory_kb: (memory.peak.saturating_sub(setup.extra_memory_bytes) / 1024) as u64,
        fuel: Some(session.meter.used),
    }
}

/// One run's fuel, wall deadline and limits: every call into the module goes through it.
pub(crate) struct Session<'a> {
    meter: FuelMeter,
    deadline: Instant,
    /// The request's deadline when it is the one `deadline` holds (it came before the run's own).
    request_deadline: Option<Deadline>,
    limits: &'a Limits,
    /// A function harness's run: the fuel of the call under way.
    calls: Option<CallMeter>,
}

/// The fuel of a function harness's calls: a new record on stdout starts the next call's allowance.
struct CallMeter {
    stdout: CappedOutput,
    /// What the call under way may burn: `fuel_per_call`, and the runtime's start-up on top for the load.
    allowance: u64,
    fuel_per_call: u64,
    /// Records seen, and the fuel used when the last one arrived.
    seen: usize,
    since: u64,
}

impl CallMeter {
    /// Between two fuel slices: a call that has burnt its allowance ends the run (the harness reports no record
    /// for it, and the judge names the call's own limit).
    fn check(&mut self, used: u64) -> Result<(), Termination> {
        let seen = self.stdout.marks();
        if seen != self.seen {
            (self.seen, self.since, self.allowance) = (seen, used, self.fuel_per_call);
        } else if used.saturating_sub(self.since) > self.allowance {
            return Err(Termination::TimeLimit(String::new()));
        }
        Ok(())
    }
}

impl Session<'_> {
    /// Instantiates `module` with the imports `linker` defines (WASI, see [`wasi_linker`], and a language runtime's
    /// own). Instantiation runs data segments and any start function: it is metered from the same budget.
    pub fn instantiate(
        &mut self,
        store: &mut Store<TestContext>,
        linker: &Linker<TestContext>,
        module: &Module,
    ) -> Result<Instance, Termination> {
        self.meter.give(store, self.meter.remaining())?;
        let instance = linker.instantiate_and_start(&mut *store, module);
        self.meter.take_back(store);
        instance.map_err(|err| classify(&err, &self.meter, self.limits))
    }

    /// Calls `func` to the end, in fuel slices with the wall clock checked between them. `Ok` when it returned.
    pub fn call(
        &mut self,
        store: &mut Store<TestContext>,
        func: &Func,
        arguments: &[Val],
        results: &mut [Val],
    ) -> Result<(), Termination> {
        let meter = &mut self.meter;
        meter.give(store, FUEL_SLICE)?;
        let mut call = func.call_resumable(&mut *store, arguments, results);
        loop {
            match call {
                Ok(ResumableCall::Finished) => {
                    meter.take_back(store);
                    return Ok(());
                }
                Ok(ResumableCall::OutOfFuel(paused)) => {
                    meter.take_back(store);
                    if Instant::now() >= self.deadline {
                        if let Some(request) = self.request_deadline {
                            return Err(request.spent(true));
                        }
                        return Err(Termination::TimeLimit(format!(
                            "the wall-clock deadline of {} ms passed (time limit {} ms, {} fuel used)",
                            wall_deadline(self.limits.time_ms).as_millis(),
                            self.limits.time_ms,
                            meter.used
                        )));
                    }
                    if let Some(calls) = &mut self.calls {
                        calls.check(meter.used)?;
                    }
                    if meter.remaining() < paused.required_fuel() {
                        return Err(out_of_fuel(meter, self.limits));
                    }
                    meter.give(store, FUEL_SLICE.max(paused.required_fuel()))?;
                    call = paused.resume(&mut *store, results);
                }
                Ok(ResumableCall::HostTrap(trapped)) => {
                    meter.take_back(store);
                    return Err(classify(trapped.host_error(), meter, self.limits));
                }
                Err(err) => {
                    meter.take_back(store);
                    return Err(classify(&err, meter, self.limits));
                }
            }
        }
    }
}

/// Fuel accounting across slices: `given` is what the store was last topped up with.
struct FuelMeter {
    budget: u64,
    used: u64,
    given: u64,
    /// Fuel per millisecond of time limit, for messages.
    per_ms: u64,
}

impl FuelMeter {
    fn remaining(&self) -> u64 {
        self.budget.saturating_sub(self.used)
    }

    /// Puts up to `amount` fuel (never past the budget) into the store.
    fn give(&mut self, store: &mut Store<TestContext>, amount: u64) -> Result<(), Termination> {
        self.given = amount.min(self.remaining());
        store.set_fuel(self.given).map_err(|err| Termination::Internal(format!("fuel metering is off: {err}")))
    }

    /// Counts what the store burnt of what it was given.
    fn take_back(&mut self, store: &Store<TestContext>) {
        let left = store.get_fuel().unwrap_or(0);
        self.used += self.given.saturating_sub(left);
        self.given = left;
    }
}

fn out_of_fuel(meter: &FuelMeter, limits: &Limits) -> Termination {
    Termination::TimeLimit(format!(
        "the time limit of {} ms was exceeded: its fuel budget of {} ({} per ms) ran out",
        limits.time_ms, meter.budget, meter.per_ms
    ))
}

/// A run ended "normally" when nothing went wrong with it: a refused memory grow then does not make it a failure.
fn ended_normally(termination: &Termination) -> bool {
    matches!(termination, Termination::Exited(0) | Termination::Returned(_) | Termination::TimeLimit(_))
}

/// Maps a wasmi error at run time to how the program ended.
fn classify(err: &wasmi::Error, meter: &FuelMeter, limits: &Limits) -> Termination {
    if let Some(status) = err.i32_exit_status() {
        return Termination::Exited(status);
    }
    match err.as_trap_code() {
        Some(TrapCode::OutOfFuel) => out_of_fuel(meter, limits),
        Some(TrapCode::StackOverflow) => Termination::Crashed(format!(
            "trap: stack overflow (call stack exhausted: recursion deeper than {MAX_RECURSION_DEPTH} frames or \
             {} MiB of value stack)",
            MAX_STACK_BYTES >> 20
        )),
        Some(code) => Termination::Crashed(format!("trap: {code}")),
        None => Termination::Crashed(format!("the program failed: {err}")),
    }
}

fn engine_config() -> Config {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Eager: the fuel a test uses does not depend on what earlier tests translated .
        .compilation_mode(CompilationMode::Eager)
        // Rejects compile bombs: too many functions, globals, segments, or tiny functions in a huge body.
        .enforced_limits(EnforcedLimits::strict())
        .set_max_recursion_depth(MAX_RECURSION_DEPTH)
        .set_max_stack_height(MAX_STACK_BYTES);
    config
}

fn describe_compile_error(err: &wasmi::Error) -> String {
    match err.kind() {
        wasmi::errors::ErrorKind::Wat(_) => format!("the WAT text does not parse: {err}"),
        wasmi::errors::ErrorKind::UserLimits(_) => {
            format!("the module is over the judge's limits: {err}")
        }
        _ => format!("the module is not valid WebAssembly: {err}"),
    }
}

/// Only functions of `wasi_snapshot_preview1`, with the signatures WASI defines, may be imported.
fn check_imports(engine: &Engine, module: &Module) -> Result<(), CompileError> {
    for import in module.imports() {
        if import.module() != "wasi_snapshot_preview1" {
            return Err(CompileError(format!(
                "import `{}.{}` is not allowed: a module may import only WASI preview 1 functions \
                 (module wasi_snapshot_preview1)",
                import.module(),
                import.name()
            )));
        }
    }
    let mut probe = Store::new(
        engine,
        TestContext {
            wasi: judging_ctx("", &[], &CappedOutput::new(0), &CappedOutput::new(0)),
            memory: MemoryLimiter::new(0, 1),
        },
    );
    let mut provided = Vec::new();
    wasmi_wasi::add_to_externals(&mut probe, module, &mut provided, wasi_of)
        .map_err(|err| CompileError(format!("{err}: it is not a WASI preview 1 function")))?;
    for (import, function) in module.imports().zip(&provided) {
        let name = format!("{}.{}", import.module(), import.name());
        match (import.ty(), function.ty(&probe)) {
            (ExternType::Func(wanted), ExternType::Func(defined)) if *wanted == defined => {}
            (ExternType::Func(wanted), _) => {
                return Err(CompileError(format!(
                    "import `{name}` is declared as {wanted:?}, which is not the signature WASI defines"
                )));
            }
            _ => {
                return Err(CompileError(format!("import `{name}` is not a function; only functions may be imported")));
            }
        }
    }
    Ok(())
}

/// A linker that defines the WASI preview 1 functions over each store's [`TestContext`]; imports were checked at
/// compile time, so instantiation finds every one.
pub(crate) fn wasi_linker(engine: &Engine) -> Linker<TestContext> {
    let mut linker = Linker::new(engine);
    // Defining WASI into an empty linker cannot clash with an earlier definition.
    wasmi_wasi::add_to_linker(&mut linker, wasi_of).expect("WASI is defined once into an empty linker");
    linker
}

fn wasi_of(host: &mut TestContext) -> &mut WasiCtx {
    &mut host.wasi
}

fn exported_func(module: &Module, name: &str) -> Option<FuncType> {
    match module.get_export(name) {
        Some(ExternType::Func(signature)) => Some(signature),
        _ => None,
    }
}

fn is_number(ty: &ValType) -> bool {
    matches!(ty, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64)
}

fn type_list(types: &[ValType]) -> String {
    types.iter().map(|ty| format!("{ty:?}").to_lowercase()).collect::<Vec<_>>().join(", ")
}

/// A JSON number as a value of `ty`. Integers may be given signed or as their unsigned bit pattern.
fn to_val(number: &serde_json::Number, ty: &ValType) -> Option<Val> {
    match ty {
        ValType::I32 => {
            let value = number.as_i64()?;
            (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value).then_some(Val::I32(value as i32))
        }
        ValType::I64 => number.as_i64().or_else(|| number.as_u64().map(|unsigned| unsigned as i64)).map(Val::I64),
        // An f32 argument must be one: beyond f32's range it would become infinite, below its smallest value zero.
        ValType::F32 => number.as_f64().and_then(|value| {
            let single = value as f32;
            (single.is_finite() && (single != 0.0 || value == 0.0)).then(|| Val::F32(single.into()))
        }),
        ValType::F64 => number.as_f64().map(|value| Val::F64(value.into())),
        _ => None,
    }
}

/// A returned value as JSON: a number, or "NaN"/"inf"/"-inf" for the floats JSON cannot carry.
fn to_json(value: &Val) -> Value {
    let float = |value: f64| {
        serde_json::Number::from_f64(value).map(Value::Number).unwrap_or_else(|| {
            Value::String(if value.is_nan() {
                "NaN".into()
            } else if value > 0.0 {
                "inf".into()
            } else {
                "-inf".into()
            })
        })
    };
    match value {
        Val::I32(value) => Value::from(*value),
        Val::I64(value) => Value::from(*value),
        // The shortest decimal that is this f32 (0.1f32 is 0.1, not 0.10000000149011612 as its exact f64 would be), so
        // that an expected 0.1 compares equal to the f32 nearest it.
        Val::F32(value) => {
            let single = f32::from(*value);
            float(if single.is_finite() {
                single.to_string().parse().unwrap_or(f64::from(single))
            } else {
                f64::from(single)
            })
        }
        Val::F64(value) => float(f64::from(*value)),
        other => Value::String(format!("{other:?}")),
    }
}

/// Refuses linear memory past the cap and remembers the peak and the first refusal.
struct MemoryLimiter {
    cap: usize,
    peak: usize,
    refused: Option<usize>,
    /// Linear memories the store may hold, as wasmi counts them (see [`RunSetup::host_memory`]).
    memories: usize,
}

impl MemoryLimiter {
    fn new(cap: usize, memories: usize) -> Self {
        MemoryLimiter { cap, peak: 0, refused: None, memories }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.cap {
            self.refused.get_or_insert(desired);
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_arguments_accept_signed_and_unsigned_spellings_within_range() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(to_val(&number("-2147483648"), &ValType::I32).map(|v| v.i32()), Some(Some(i32::MIN)));
        assert_eq!(to_val(&number("4294967295"), &ValType::I32).map(|v| v.i32()), Some(Some(-1)));
        assert!(to_val(&number("4294967296"), &ValType::I32).is_none());
        assert!(to_val(&number("1.5"), &ValType::I32).is_none());
        assert_eq!(to_val(&number("18446744073709551615"), &ValType::I64).map(|v| v.i64()), Some(Some(-1)));
    }

    #[test]
    fn f32_values_are_f32s_both_ways() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(to_json(&Val::F32(0.1f32.into())), serde_json::json!(0.1), "the shortest decimal of the f32");
        assert_eq!(to_json(&Val::F32(16_777_217f32.into())), serde_json::json!(16_777_216.0));
        assert!(to_val(&number("3.5e38"), &ValType::F32).is_none(), "beyond f32: would be inf");
        assert!(to_val(&number("1e-50"), &ValType::F32).is_none(), "below f32: would be 0");
        assert!(to_val(&number("0"), &ValType::F32).is_some());
        assert!(to_val(&number("3.4e38"), &ValType::F32).is_some());
        assert!(to_val(&number("3.5e38"), &ValType::F64).is_some());
    }

    #[test]
    fn non_finite_results_become_strings() {
        assert_eq!(to_json(&Val::F64(f64::NAN.into())), Value::String("NaN".into()));
        assert_eq!(to_json(&Val::F32(f32::NEG_INFINITY.into())), Value::String("-inf".into()));
        assert_eq!(to_json(&Val::F64(2.5.into())), serde_json::json!(2.5));
    }
}
