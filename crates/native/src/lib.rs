//! The native judges: Python 3, Java and C# programs compiled once per submission and run once per test in the
//! [`codecapsule_sandbox`].
//!
//! Fair time: every runtime costs CPU before the user's first line runs (CPython ~20 ms, a JVM ~50-100 ms, Mono
//! ~50 ms). Each judge calibrates that start-up once per process (the least CPU time of three empty runs) and
//! subtracts it: a test's `time_ms` and its limit are about the user's code, and the calibration is reported by
//! GET /api/health and in each report's `engine.startup_ms`. The wall-clock limit is generous (twice the limit plus
//! twice the start-up, plus 200 ms) and only catches programs that sleep or block.
//!
//! Memory: limits are per runtime. CPython runs under RLIMIT_AS (limit + interpreter overhead), so a memory bomb ends
//! in MemoryError; the JVM and Mono reserve far more address space than they use, so they get a heap cap of the limit
//! (-Xmx, max-heap-size) instead, and OutOfMemoryError / OutOfMemoryException are memory_limit_exceeded, never
//! runtime_error. Peak RSS from rusage is reported and, past the limit plus overhead, is memory_limit_exceeded too.

#![warn(missing_docs)]

mod harness;
mod languages;

pub use languages::Runtime;

use codecapsule_core::deadline::Deadline;
use codecapsule_core::function::protocol::{Batch, BatchRun, batch_limits};
use codecapsule_core::judge::{
    Code, Judge, JudgeError, Judging, Outcome, Submission, Termination, TestCase, TestIo, compilation_failed,
    judge_function, millis, run_tests,
};
use codecapsule_core::model::{CompileReport, EngineInfo, JudgeReport, Language, Limits};
use codecapsule_sandbox::{Exit, RunLimits, RunResult, Sandbox, SandboxBox, Stream, WorkDir};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Slack on top of the judge's peak resident set, which a run inherits as its high-water mark (see
/// `RunResult::inherited_rss_kb`): a peak within it is not taken as the program's.
const INHERITED_RSS_MARGIN_KB: u64 = 4 << 10;

/// Limits of a compile step (javac, mcs, the Python syntax check): generous, but a compile-time bomb still ends.
const COMPILE_WALL: Duration = Duration::from_secs(30);
const COMPILE_CPU_SECONDS: u64 = 30;
const COMPILE_OUTPUT_BYTES: usize = 64 << 10;
/// The largest file a program (or compiler) may write.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
const OPEN_FILES: u64 = 64;
const STACK_BYTES: u64 = 64 << 20;

/// A native judge for one language.
pub struct NativeJudge {
    runtime: Runtime,
    /// Probed on first use: the runtime's version, or why it is unavailable.
    probe: OnceLock<Result<Probe, String>>,
}

#[derive(Debug, Clone)]
struct Probe {
    version: String,
    startup: Duration,
}

impl NativeJudge {
    /// A judge of `runtime`'s language; the runtime is probed on first use, not here.
    pub fn new(runtime: Runtime) -> NativeJudge {
        NativeJudge { runtime, probe: OnceLock::new() }
    }

    fn probe(&self) -> &Result<Probe, String> {
        self.probe.get_or_init(|| {
            let version = self.runtime.version()?;
            let startup = self.calibrate()?;
            tracing::info!(language = %self.runtime.language(), %version, startup_ms = millis(startup), "runtime probed");
            Ok(Probe { version, startup })
        })
    }

    /// The least CPU time of three runs of an empty program: the runtime's own start-up.
    fn calibrate(&self) -> Result<Duration, String> {
        let sandbox = Sandbox::get();
        let sandbox_box = sandbox.new_box().map_err(|err| format!("cannot create a sandbox: {err}"))?;
        // Calibration belongs to the process, not to the request that happened to start it.
        let deadline = Deadline::after(COMPILE_WALL * 2);
        let program = self
            .runtime
            .compile(&sandbox_box, self.runtime.empty_program(), &deadline)
            .map_err(|err| format!("the empty calibration program did not build: {err}"))?;
        let mut least = Duration::MAX;
        for _ in 0..3 {
            let result = self
                .run_program(
                    &sandbox_box,
                    &program,
                    b"",
                    &Limits { time_ms: 5_000, memory_mb: 256, output_kb: 64 },
                    Duration::ZERO,
                    &deadline,
                )
                .map_err(|err| format!("the calibration run failed: {err}"))?
                .result;
            if result.exit != Exit::Code(0) {
                return Err(format!(
                    "the empty program did not run cleanly ({:?}): {}",
                    result.exit,
                    String::from_utf8_lossy(&result.stderr)
                ));
            }
            least = least.min(result.cpu);
        }
        Ok(least)
    }

    /// One run of `program`, its wall clock cut short by `deadline` when that comes first.
    fn run_program(
        &self,
        sandbox_box: &SandboxBox,
        program: &languages::Program,
        stdin: &[u8],
        limits: &Limits,
        startup: Duration,
        deadline: &Deadline,
    ) -> std::io::Result<ProgramRun> {
        let time = Duration::from_millis(limits.time_ms) + startup;
        let (wall, cut_by_deadline) = deadline.cap(time * 2 + Duration::from_millis(200));
        let command = self.runtime.run_command(sandbox_box, program, limits);
        let result = sandbox_box.run(&codecapsule_sandbox::Run {
            program: &command.program,
            args: command.args,
            env: command.env,
            work_dir: WorkDir::Fresh,
            stdin,
            limits: RunLimits {
                wall,
                cpu_seconds: time.as_secs() + 1,
                address_space: command.address_space,
                processes: self.runtime.processes(),
                open_files: OPEN_FILES,
                file_size: MAX_FILE_BYTES,
                stack: STACK_BYTES,
                output_bytes: usize::try_from(limits.output_kb * 1024).unwrap_or(usize::MAX),
            },
        })?;
        Ok(ProgramRun { result, cut_by_deadline })
    }

    fn outcome(&self, run: ProgramRun, limits: &Limits, startup: Duration, deadline: &Deadline) -> Outcome {
        let ProgramRun { result, cut_by_deadline } = run;
        let used = result.cpu.saturating_sub(startup);
        let memory_bytes = result.max_rss_kb * 1024;
        let memory_limit = limits.memory_mb << 20;
        // A peak at or just above the judge's own peak resident set may be inherited from it, not the program's:
        // it is no evidence of running out of memory (the runtime's own error still is).
        let peak_is_the_programs = result.max_rss_kb > result.inherited_rss_kb + INHERITED_RSS_MARGIN_KB;
        let termination = if let Some(stream) = result.output_overflow {
            let name = if stream == Stream::Stdout { "stdout" } else { "stderr" };
            Termination::OutputLimit(format!("{name} went over the output limit of {} KiB", limits.output_kb))
        } else if result.timed_out && cut_by_deadline {
            deadline.spent(true)
        } else if result.timed_out {
            Termination::TimeLimit(format!(
                "the wall-clock limit of {} ms passed (the program slept, blocked or was starved)",
                (Duration::from_millis(limits.time_ms) + startup).as_millis() * 2 + 200
            ))
        } else if result.exit == Exit::Signal(libc::SIGXCPU) || used > Duration::from_millis(limits.time_ms) {
            Termination::TimeLimit(format!(
                "the time limit of {} ms was exceeded: {:.0} ms of CPU beyond the runtime's start-up",
                limits.time_ms,
                millis(used)
            ))
        } else if result.exit == Exit::Signal(libc::SIGXFSZ) {
            Termination::OutputLimit(format!("a file went over the {} MiB file size limit", MAX_FILE_BYTES >> 20))
        } else if self.runtime.out_of_memory(&result.stderr)
            || (result.exit != Exit::Code(0)
                && peak_is_the_programs
                && memory_bytes > memory_limit + self.runtime.memory_overhead())
        {
            Termination::MemoryLimit(format!(
                "the program ran out of memory: the memory limit is {} MiB (peak {} MiB)",
                limits.memory_mb,
                result.max_rss_kb / 1024
            ))
        } else {
            match result.exit {
                Exit::Code(code) => Termination::Exited(code),
                Exit::Signal(signal) => {
                    Termination::Crashed(format!("the program was killed by {}", signal_name(signal)))
                }
            }
        };
        Outcome {
            termination,
            stdout: result.stdout,
            stderr: result.stderr,
            time_ms: millis(used),
            memory_kb: result.max_rss_kb,
            fuel: None,
        }
    }
}

impl Judge for NativeJudge {
    fn engine(&self) -> EngineInfo {
        let (version, startup_ms) = match self.probe() {
            Ok(probe) => (probe.version.clone(), Some(millis(probe.startup))),
            Err(_) => ("unavailable".to_string(), None),
        };
        EngineInfo { name: self.runtime.engine_name().to_string(), version, startup_ms, runtime: None }
    }

    fn judges(&self, language: Language) -> bool {
        language == self.runtime.language()
    }

    fn runs_webassembly(&self) -> bool {
        false
    }

    fn describe(&self) -> serde_json::Value {
        let mut description = serde_json::to_value(self.engine()).unwrap_or_default();
        description["language"] = self.runtime.language().as_str().into();
        description["sandbox"] = serde_json::to_value(Sandbox::get().layers()).unwrap_or_default();
        if let Err(reason) = self.probe() {
            description["unavailable"] = reason.clone().into();
        }
        description
    }

    /// Compiles and runs on a thread the async runtime sets aside for blocking work: a submission waits on its
    /// programs, and the runtime's workers keep serving other requests.
    fn judge(self: Arc<Self>, submission: Arc<Submission>, deadline: Deadline) -> Judging {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.judge_here(&submission, &deadline)).await.unwrap_or_else(|err| {
                tracing::error!(error = %err, "a judging thread failed");
                Err(JudgeError::crashed())
            })
        })
    }
}

impl NativeJudge {
    /// Compiles once and runs every test in the sandbox, on the calling thread, before `deadline`.
    fn judge_here(&self, submission: &Submission, deadline: &Deadline) -> Result<JudgeReport, JudgeError> {
        let probe = self.probe().as_ref().map_err(|reason| JudgeError::LanguageUnavailable {
            language: self.runtime.language(),
            hint: format!("its runtime is not usable on this host: {reason}"),
        })?;
        let Code::Source(source) = &submission.code else {
            return Err(JudgeError::Internal("a native judge got a binary module".into()));
        };
        let sandbox_box = Sandbox::get().new_box().map_err(|err| JudgeError::Internal(format!("no sandbox: {err}")))?;
        let started = Instant::now();
        let box_paths = BoxPaths::of(&sandbox_box);
        let compiled = match &submission.function {
            Some(function) => self.runtime.compile_function(&sandbox_box, source, &function.signature, deadline),
            None => self.runtime.compile(&sandbox_box, source, deadline),
        };
        let program = match compiled {
            Ok(program) => program,
            Err(languages::CompileFailure::Rejected(output)) => {
                let output = box_paths.cut(output);
                return Ok(compilation_failed(submission, output, started.elapsed(), self.engine()));
            }
            Err(languages::CompileFailure::OutOfTime) => {
                // Not the program's fault: its tests are reported as not run for want of time.
                let compile = CompileReport {
                    ok: false,
                    output: "stopped: the request's time budget ran out while compiling".into(),
                    time_ms: millis(started.elapsed()),
                };
                return Ok(run_tests(submission, compile, self.engine(), *deadline, None, |_, _| {
                    Outcome::not_run(deadline.spent(false))
                }));
            }
            Err(languages::CompileFailure::Io(err)) => return Err(JudgeError::Internal(err.to_string())),
        };
        let compile = CompileReport {
            ok: true,
            output: box_paths.cut(program.compiler_output.clone()),
            time_ms: millis(started.elapsed()),
        };
        let outcome = |run: std::io::Result<ProgramRun>, limits: &Limits| match run {
            Ok(mut run) => {
                run.result.stderr = box_paths.cut_bytes(std::mem::take(&mut run.result.stderr));
                self.outcome(run, limits, probe.startup, deadline)
            }
            Err(err) => Outcome::not_run(Termination::Internal(format!("the sandbox failed: {err}"))),
        };
        if let Some(function) = &submission.function {
            // The harness runs the calls: a batch's limits are its calls' together, each call held to its own.
            let run_batch = |batch: &Batch| {
                let limits = batch_limits(&submission.limits, batch.calls.len());
                let stdin = batch.stdin(submission.limits.time_ms, &submission.tests, &program.harness_lines, |args| {
                    self.runtime.arguments(args)
                });
                let run = self.run_program(&sandbox_box, &program, stdin.as_bytes(), &limits, probe.startup, deadline);
                let ending = outcome(run, &limits);
                BatchRun {
                    stdout: ending.stdout.clone(),
                    stderr: ending.stderr.clone(),
                    ending,
                    did_not_compile: None,
                    record_ms: Vec::new(),
                }
            };
            let nonce = || uuid::Uuid::new_v4().simple().to_string();
            return Ok(judge_function(submission, function, compile, self.engine(), deadline, nonce, run_batch));
        }
        let run = |test: &TestCase| {
            let stdin = match &test.io {
                TestIo::Stdio { stdin, .. } => stdin.as_bytes(),
                TestIo::Call { .. } | TestIo::Function { .. } => b"",
            };
            self.run_program(&sandbox_box, &program, stdin, &submission.limits, probe.startup, deadline)
        };
        // An interpreter that parses the program as it starts (CPython) reports a syntax error on the first run, which
        // therefore doubles as the syntax check when it is visible: one interpreter start fewer per submission. With
        // the deadline passed, nothing runs and every test is reported as not run.
        let mut first = None;
        if self.runtime.parses_at_start() && !deadline.has_passed() {
            let probe = submission.parse_probe();
            let result = run(probe.as_ref().unwrap_or(&submission.tests[0]));
            if let Some(output) = result.as_ref().ok().and_then(|run| self.runtime.parse_failure(&run.result)) {
                let output = box_paths.cut(output);
                return Ok(compilation_failed(submission, output, started.elapsed(), self.engine()));
            }
            first = probe.is_none().then(|| outcome(result, &submission.limits));
        }
        Ok(run_tests(submission, compile, self.engine(), *deadline, first, |_, test: &TestCase| {
            outcome(run(test), &submission.limits)
        }))
    }
}

/// A run's result, and whether the request's deadline rather than the test's own limit bounded its wall clock.
struct ProgramRun {
    result: RunResult,
    cut_by_deadline: bool,
}

/// A box's directories as paths in messages start with them (`/run/codecapsule-sandbox/<box>/program/`). Compilers
/// and tracebacks name the program's files by their full path, which says where the sandbox keeps its boxes and is no
/// business of the reader's; the file's own name (`Main.java:3: error`) is what they need. Made once per submission.
struct BoxPaths([String; 2]);

impl BoxPaths {
    fn of(sandbox_box: &SandboxBox) -> BoxPaths {
        let prefix = |dir: &std::path::Path| format!("{}/", dir.display());
        BoxPaths([prefix(sandbox_box.program_dir()), prefix(sandbox_box.build_dir())])
    }

    /// `text` with the box's directories cut from its paths.
    fn cut(&self, mut text: String) -> String {
        for prefix in &self.0 {
            if text.contains(prefix.as_str()) {
                text = text.replace(prefix.as_str(), "");
            }
        }
        text
    }

    /// The same for a program's stream, left as it is (bytes, not necessarily UTF-8) when it names no box path.
    fn cut_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        let names_the_box =
            self.0.iter().any(|prefix| bytes.windows(prefix.len()).any(|window| window == prefix.as_bytes()));
        if names_the_box { self.cut(languages::text(&bytes)).into_bytes() } else { bytes }
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV (invalid memory access)",
        libc::SIGABRT => "SIGABRT (abort)",
        libc::SIGKILL => "SIGKILL",
        libc::SIGFPE => "SIGFPE (arithmetic error)",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGSYS => "SIGSYS (forbidden system call)",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// Limits of a compile step. Source size is checked at the edge (limits::MAX_SOURCE_BYTES).
pub(crate) fn compile_limits(processes: u64) -> RunLimits {
    RunLimits {
        wall: COMPILE_WALL,
        cpu_seconds: COMPILE_CPU_SECONDS,
        address_space: None,
        processes,
        open_files: 256,
        file_size: MAX_FILE_BYTES * 4,
        stack: STACK_BYTES,
        output_bytes: COMPILE_OUTPUT_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_run(max_rss_kb: u64, inherited_rss_kb: u64) -> ProgramRun {
        let result = RunResult {
            exit: Exit::Code(1),
            stdout: Vec::new(),
            stderr: b"ValueError: boom\n".to_vec(),
            output_overflow: None,
            timed_out: false,
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            max_rss_kb,
            inherited_rss_kb,
        };
        ProgramRun { result, cut_by_deadline: false }
    }

    #[test]
    fn a_peak_inherited_from_a_large_judge_is_not_the_programs_memory() {
        let judge = NativeJudge::new(Runtime::python());
        let limits = Limits { time_ms: 1000, memory_mb: 64, output_kb: 16 };
        let deadline = Deadline::after(Duration::from_secs(60));
        // The judge holds 200 MiB (say, language runtimes loaded): its forked child's peak starts there.
        let inherited = judge.outcome(failed_run(200 << 10, 200 << 10), &limits, Duration::ZERO, &deadline);
        assert_eq!(inherited.termination, Termination::Exited(1));
        // A program that grew well past the judge's size did run out of memory.
        let grown = judge.outcome(failed_run(300 << 10, 200 << 10), &limits, Duration::ZERO, &deadline);
        assert!(matches!(grown.termination, Termination::MemoryLimit(_)), "{:?}", grown.termination);
        // A small judge: the peak is the program's.
        let small = judge.outcome(failed_run(200 << 10, 8 << 10), &limits, Duration::ZERO, &deadline);
        assert!(matches!(small.termination, Termination::MemoryLimit(_)), "{:?}", small.termination);
    }
}
