//! What differs between the native languages: where the runtime is, how a source is compiled (once per submission)
//! and run (once per test), and how each runtime says it ran out of memory.

use super::{COMPILE_OUTPUT_BYTES, compile_limits, harness};
use codecapsule_core::deadline::Deadline;
use codecapsule_core::function::{Signature, python};
use codecapsule_core::model::{Language, Limits};
use codecapsule_sandbox::{Exit, Run, RunResult, SandboxBox, WorkDir};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A language runtime on this host.
#[derive(Debug, Clone)]
pub enum Runtime {
    /// CPython 3, run in isolated mode (-I: no environment variables, no user site, no script directory on the path)
    /// without `site` (-S: 30 ms less start-up).
    Python {
        /// The CPython binary (PYTHON_BIN, else python3 on the PATH).
        interpreter: PathBuf,
    },
    /// OpenJDK: javac once per submission (annotation processing off), then one JVM per test.
    Java {
        /// The compiler.
        javac: PathBuf,
        /// The JVM that runs the compiled classes.
        java: PathBuf,
    },
    /// Mono: mcs once per submission, then `mono main.exe` per test.
    Csharp {
        /// The Mono runtime.
        mono: PathBuf,
        /// Mono's C# compiler (mcs.exe), run on that runtime.
        mcs_exe: PathBuf,
    },
}

/// A compiled submission, ready to run.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Python: the script; Java: the main class; C#: the assembly.
    entry: OsString,
    pub compiler_output: String,
    /// Java: directories of classes put before the program's on the class path (the function harness's).
    class_path: Vec<PathBuf>,
    /// What a function capsule's harness reads after its stdin's header line (Java's: the signature); empty otherwise.
    pub harness_lines: String,
}

/// Why a compile step produced no program.
#[derive(Debug)]
pub enum CompileFailure {
    /// The program's fault: a syntax error, a compile-time bomb. The text is shown as `compile.output`.
    Rejected(String),
    /// The request's deadline passed while compiling: nobody's fault, and no verdict on the program.
    OutOfTime,
    /// The judge's fault.
    Io(io::Error),
}

impl std::fmt::Display for CompileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileFailure::Rejected(output) => write!(f, "rejected: {output}"),
            CompileFailure::OutOfTime => write!(f, "the request's deadline passed while compiling"),
            CompileFailure::Io(err) => write!(f, "{err}"),
        }
    }
}

impl From<io::Error> for CompileFailure {
    fn from(err: io::Error) -> Self {
        CompileFailure::Io(err)
    }
}

/// The command of one test run.
pub struct RunCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub address_space: Option<u64>,
}

/// JVM options for the compiler and every run: quick start-up over peak speed (tests are short), no shared
/// perf-data file, one GC thread.
const JVM_OPTIONS: &[&str] = &["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData"];

impl Runtime {
    /// PYTHON_BIN, else /usr/bin/python3 (the system interpreter: a pyenv shim needs the environment it is denied).
    pub fn python() -> Runtime {
        Runtime::Python { interpreter: env_path("PYTHON_BIN").unwrap_or_else(|| PathBuf::from("/usr/bin/python3")) }
    }

    /// JAVA_HOME/bin, else /usr/bin.
    pub fn java() -> Runtime {
        let bin = env_path("JAVA_HOME").map(|home| home.join("bin")).unwrap_or_else(|| PathBuf::from("/usr/bin"));
        Runtime::Java { javac: bin.join("javac"), java: bin.join("java") }
    }

    /// MONO_BIN (default /usr/bin/mono) and MCS_EXE (default /usr/lib/mono/4.5/mcs.exe, as Debian's mono-mcs installs it).
    pub fn csharp() -> Runtime {
        Runtime::Csharp {
            mono: env_path("MONO_BIN").unwrap_or_else(|| PathBuf::from("/usr/bin/mono")),
            mcs_exe: env_path("MCS_EXE").unwrap_or_else(|| PathBuf::from("/usr/lib/mono/4.5/mcs.exe")),
        }
    }

    /// The language this runtime judges.
    pub fn language(&self) -> Language {
        match self {
            Runtime::Python { .. } => Language::Python,
            Runtime::Java { .. } => Language::Java,
            Runtime::Csharp { .. } => Language::Csharp,
        }
    }

    /// The engine's name in every answer (`engine.name`).
    pub fn engine_name(&self) -> &'static str {
        match self {
            Runtime::Python { .. } => "cpython",
            Runtime::Java { .. } => "openjdk",
            Runtime::Csharp { .. } => "mono",
        }
    }

    /// The runtime's version line, from the trusted binary itself (outside the sandbox, environment cleared).
    pub fn version(&self) -> Result<String, String> {
        let (binary, flag) = match self {
            Runtime::Python { interpreter } => (interpreter, "--version"),
            Runtime::Java { java, .. } => (java, "-version"),
            Runtime::Csharp { mono, .. } => (mono, "--version"),
        };
        let output = codecapsule_sandbox::run_trusted(Command::new(binary).arg(flag).env_clear())
            .map_err(|err| format!("{} cannot be started: {err}", binary.display()))?;
        let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
        let line = String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_string();
        if !output.status.success() || line.is_empty() {
            return Err(format!("{} {flag} failed", binary.display()));
        }
        if let Runtime::Java { javac: compiler, .. } | Runtime::Csharp { mcs_exe: compiler, .. } = self
            && !compiler.exists()
        {
            return Err(format!("the compiler {} is not installed", compiler.display()));
        }
        Ok(line)
    }

    /// Writes a function capsule's program into the box with the language's harness around it, and compiles both:
    /// the program to run is the harness, which calls `signature`'s function (see codecapsule_core::function).
    pub fn compile_function(
        &self,
        sandbox_box: &SandboxBox,
        source: &str,
        signature: &Signature,
        deadline: &Deadline,
    ) -> Result<Program, CompileFailure> {
        match self {
            Runtime::Python { .. } => {
                // main.py holds the program as written, for tracebacks to quote; the harness compiles the same text.
                let program = sandbox_box.write_program_file("main.py", source.as_bytes())?;
                let harness = python::harness_program(source, &program.display().to_string(), signature);
                let harness = sandbox_box.write_program_file("harness.py", harness.as_bytes())?;
                Ok(Program { entry: harness.into(), ..Program::default() })
            }
            Runtime::Java { javac, .. } => {
                let classes = java_classes(source).map_err(CompileFailure::Rejected)?;
                let harness = java_harness(javac)
                    .ok_or_else(|| io::Error::other("the Java function harness could not be compiled (logged)"))?;
                let javac = Javac { javac, processes: self.processes() };
                let mut program =
                    javac.compile(sandbox_box, source, &classes, "CodeCapsuleHarness".into(), deadline)?;
                program.class_path = vec![harness.to_path_buf()];
                program.harness_lines = harness::java_signature_lines(signature, &classes.classes);
                Ok(program)
            }
            Runtime::Csharp { mono, mcs_exe } => {
                let harness = harness::csharp(signature);
                Mcs { mono, mcs_exe, processes: self.processes() }.compile(
                    sandbox_box,
                    source,
                    Some(&harness),
                    deadline,
                )
            }
        }
    }

    /// A call's arguments in the notation the language's harness reads.
    pub fn arguments(&self, args: &[serde_json::Value]) -> String {
        match self {
            Runtime::Python { .. } => python::arguments(args),
            Runtime::Java { .. } | Runtime::Csharp { .. } => serde_json::Value::Array(args.to_vec()).to_string(),
        }
    }

    /// A program that does nothing, for calibrating start-up.
    pub fn empty_program(&self) -> &'static str {
        match self {
            Runtime::Python { .. } => "",
            Runtime::Java { .. } => "class Empty { public static void main(String[] args) {} }",
            Runtime::Csharp { .. } => "class Empty { static void Main() {} }",
        }
    }

    /// Processes and threads the program may have: CPython needs one, a JVM or Mono some twenty.
    pub fn processes(&self) -> u64 {
        match self {
            Runtime::Python { .. } => 16,
            Runtime::Java { .. } | Runtime::Csharp { .. } => 96,
        }
    }

    /// Memory the runtime itself takes beyond the program's limit (interpreter, JIT, metaspace, stacks).
    pub fn memory_overhead(&self) -> u64 {
        match self {
            Runtime::Python { .. } => 64 << 20,
            Runtime::Java { .. } => 192 << 20,
            Runtime::Csharp { .. } => 128 << 20,
        }
    }

    /// How the runtime reports an exhausted heap.
    pub fn out_of_memory(&self, stderr: &[u8]) -> bool {
        let text = String::from_utf8_lossy(stderr);
        match self {
            Runtime::Python { .. } => text
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .is_some_and(|line| line.starts_with("MemoryError")),
            // "unable to create native thread" is the process limit, not memory: a runtime error.
            Runtime::Java { .. } => {
                text.contains("java.lang.OutOfMemoryError") && !text.contains("unable to create native thread")
            }
            Runtime::Csharp { .. } => text.contains("System.OutOfMemoryException"),
        }
    }

    /// Whether the runtime parses the program when it starts, so that a run can reveal a compile error.
    pub fn parses_at_start(&self) -> bool {
        matches!(self, Runtime::Python { .. })
    }

    /// The compiler's message, when a run ended because the program did not parse: CPython exits 1 having printed
    /// a SyntaxError (or IndentationError, TabError) without any traceback, since not a line ran.
    pub fn parse_failure(&self, result: &RunResult) -> Option<String> {
        if !self.parses_at_start() {
            return None;
        }
        let status = match result.exit {
            Exit::Code(status) => Some(status),
            Exit::Signal(_) => None,
        };
        codecapsule_core::judge::python_parse_failure(status, &result.stdout, &result.stderr)
    }

    /// Writes the source into the box and compiles it there, as the box's user, under compile limits and before
    /// `deadline`.
    pub fn compile(
        &self,
        sandbox_box: &SandboxBox,
        source: &str,
        deadline: &Deadline,
    ) -> Result<Program, CompileFailure> {
        match self {
            Runtime::Python { .. } => {
                // No separate syntax check: CPython parses the whole file before running a line (see parse_failure).
                let script = sandbox_box.write_program_file("main.py", source.as_bytes())?;
                Ok(Program { entry: script.into(), compiler_output: String::new(), ..Program::default() })
            }
            Runtime::Java { javac, .. } => {
                let classes = java_classes(source).map_err(CompileFailure::Rejected)?;
                let main = classes.main.clone().ok_or_else(|| {
                    CompileFailure::Rejected("no class declares `public static void main(String[] args)`".into())
                })?;
                let javac = Javac { javac, processes: self.processes() };
                javac.compile(sandbox_box, source, &classes, main, deadline)
            }
            Runtime::Csharp { mono, mcs_exe } => {
                Mcs { mono, mcs_exe, processes: self.processes() }.compile(sandbox_box, source, None, deadline)
            }
        }
    }

    /// The command of one test run of `program` under `limits`.
    pub fn run_command(&self, sandbox_box: &SandboxBox, program: &Program, limits: &Limits) -> RunCommand {
        let base_env: Vec<(OsString, OsString)> =
            vec![("LANG".into(), "C.UTF-8".into()), ("PATH".into(), "/usr/bin:/bin".into())];
        match self {
            Runtime::Python { interpreter } => RunCommand {
                program: interpreter.clone(),
                args: vec!["-I".into(), "-S".into(), program.entry.clone()],
                env: [
                    base_env,
                    vec![("PYTHONHASHSEED".into(), "0".into()), ("PYTHONIOENCODING".into(), "utf-8".into())],
                ]
                .concat(),
                address_space: Some((limits.memory_mb << 20) + self.memory_overhead()),
            },
            Runtime::Java { java, .. } => {
                let mut args: Vec<OsString> = JVM_OPTIONS.iter().map(OsString::from).collect();
                args.extend(
                    [
                        format!("-Xmx{}m", limits.memory_mb.max(8)),
                        "-Xms8m".into(),
                        "-Xss16m".into(),
                        "-XX:MaxMetaspaceSize=128m".into(),
                        "-XX:ReservedCodeCacheSize=32m".into(),
                        "-cp".into(),
                    ]
                    .map(OsString::from),
                );
                let class_path = program.class_path.iter().map(PathBuf::as_path).chain([sandbox_box.program_dir()]);
                args.push(std::env::join_paths(class_path).unwrap_or_default());
                args.push(program.entry.clone());
                RunCommand { program: java.clone(), args, env: base_env, address_space: None }
            }
            Runtime::Csharp { mono, .. } => RunCommand {
                program: mono.clone(),
                args: vec![program.entry.clone()],
                env: [
                    base_env,
                    vec![
                        ("MONO_GC_PARAMS".into(), format!("max-heap-size={}m", limits.memory_mb.max(8)).into()),
                        ("HOME".into(), "/tmp".into()),
                    ],
                ]
                .concat(),
                address_space: None,
            },
        }
    }
}

/// javac, as a compile step in the box.
struct Javac<'a> {
    javac: &'a Path,
    processes: u64,
}

impl Javac<'_> {
    /// javac on the program, into classes whose `main` is `main`.
    fn compile(
        &self,
        sandbox_box: &SandboxBox,
        source: &str,
        classes: &JavaClasses,
        main: String,
        deadline: &Deadline,
    ) -> Result<Program, CompileFailure> {
        let file = format!("{}.java", classes.file_stem);
        let path = sandbox_box.write_program_file(&file, source.as_bytes())?;
        let mut args: Vec<OsString> = JVM_OPTIONS.iter().map(|option| format!("-J{option}").into()).collect();
        if let Some(archive) = javac_archive(self.javac) {
            args.push(format!("-J-XX:SharedArchiveFile={}", archive.display()).into());
        }
        args.extend(
            ["-J-Xmx512m", "-proc:none", "-encoding", "UTF-8", "-nowarn", "-Xmaxerrs", "20", "-d"].map(OsString::from),
        );
        args.push(sandbox_box.build_dir().into());
        args.push(path.into());
        let env = vec![("LANG".into(), "C.UTF-8".into())];
        let result = compile_run(sandbox_box, self.javac, args, env, self.processes, deadline)?;
        rejected_unless_clean(&result, "javac")?;
        sandbox_box.collect_build(".class")?;
        Ok(Program { entry: main.into(), compiler_output: text(&result.stderr), ..Program::default() })
    }
}

/// javac outside the sandbox, with the judge's JVM options and no environment: for the judge's own compiles.
fn trusted_javac(javac: &Path) -> Command {
    let mut command = Command::new(javac);
    command.args(JVM_OPTIONS.iter().map(|option| format!("-J{option}"))).env_clear();
    command
}

/// javac's classes as a CDS archive, made once per judge process by a trusted javac run (on an empty class) into the
/// sandbox's shared directory, and mapped read-only by every compile: javac then starts in half the time
/// (BENCHMARKS.md, "Function capsules"). `None` where it could not be made: javac starts without it (and under
/// `-Xshare:auto` the JVM ignores an archive it cannot use).
fn javac_archive(javac: &Path) -> Option<&'static Path> {
    static ARCHIVE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let made = (|| -> io::Result<PathBuf> {
                let dir = codecapsule_sandbox::Sandbox::get().shared_dir()?;
                let archive = dir.join("javac.jsa");
                let scratch = dir.join("javac-archive-run");
                std::fs::create_dir_all(&scratch)?;
                std::fs::write(scratch.join("Empty.java"), "class Empty {}\n")?;
                let mut command = trusted_javac(javac);
                command.arg(format!("-J-XX:ArchiveClassesAtExit={}", archive.display()));
                command.args(["-proc:none", "-d"]).arg(&scratch).arg(scratch.join("Empty.java"));
                let output = codecapsule_sandbox::run_trusted(&mut command);
                std::fs::remove_dir_all(&scratch)?;
                let output = output?;
                if !output.status.success() || !archive.is_file() {
                    return Err(io::Error::other(text(&output.stderr)));
                }
                std::fs::set_permissions(&archive, std::os::unix::fs::PermissionsExt::from_mode(0o444))?;
                Ok(archive)
            })();
            made.map_err(|err| tracing::warn!(error = %err, "javac's class archive could not be made")).ok()
        })
        .as_deref()
}

/// The Java function harness compiled once per judge process by a trusted javac run, into the sandbox's shared
/// directory (read-only to runs), where every function capsule's runs find it first on their class path: javac then
/// compiles only the program. `None` where it could not be made (logged).
fn java_harness(javac: &Path) -> Option<&'static Path> {
    static HARNESS: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    HARNESS
        .get_or_init(|| {
            let made = (|| -> io::Result<PathBuf> {
                let dir = codecapsule_sandbox::Sandbox::get().shared_dir()?.join("java-harness");
                std::fs::create_dir_all(&dir)?;
                let source = dir.join("CodeCapsuleHarness.java");
                std::fs::write(&source, harness::JAVA_SOURCE)?;
                let mut command = trusted_javac(javac);
                // String concatenation compiled inline: the default (invokedynamic) costs ~20 ms of bootstrap per run.
                command.args(["-proc:none", "-XDstringConcat=inline", "-encoding", "UTF-8", "-nowarn", "-d"]);
                command.arg(&dir).arg(&source);
                let output = codecapsule_sandbox::run_trusted(&mut command)?;
                std::fs::remove_file(&source)?;
                if !output.status.success() {
                    return Err(io::Error::other(text(&output.stderr)));
                }
                Ok(dir)
            })();
            made.map_err(|err| tracing::warn!(error = %err, "the Java function harness could not be compiled")).ok()
        })
        .as_deref()
}

/// Mono's C# compiler, as a compile step in the box.
struct Mcs<'a> {
    mono: &'a Path,
    mcs_exe: &'a Path,
    processes: u64,
}

impl Mcs<'_> {
    /// mcs on the program (and a function capsule's harness, whose `Main` is then the entry point) into main.exe.
    fn compile(
        &self,
        sandbox_box: &SandboxBox,
        source: &str,
        harness: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Program, CompileFailure> {
        let path = sandbox_box.write_program_file("main.cs", source.as_bytes())?;
        let assembly = sandbox_box.build_dir().join("main.exe");
        let mut args: Vec<OsString> = vec![
            self.mcs_exe.into(),
            "-nologo".into(),
            "-optimize+".into(),
            format!("-out:{}", assembly.display()).into(),
            path.into(),
        ];
        if let Some(harness) = harness {
            args.push("-main:CodeCapsuleHarness".into());
            args.push(sandbox_box.write_program_file("harness.cs", harness.as_bytes())?.into());
        }
        let env = vec![("HOME".into(), sandbox_box.build_dir().into())];
        let result = compile_run(sandbox_box, self.mono, args, env, self.processes, deadline)?;
        rejected_unless_clean(&result, "mcs")?;
        let collected = sandbox_box.collect_build(".exe")?;
        let entry =
            collected.into_iter().next().ok_or_else(|| CompileFailure::Rejected("mcs produced no assembly".into()))?;
        Ok(Program { entry: entry.into(), compiler_output: text(&result.stdout), ..Program::default() })
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    codecapsule_core::config::read(var).map(PathBuf::from)
}

/// A compiler's run; [`CompileFailure::OutOfTime`] when `deadline`, not the compile limit, stopped it.
fn compile_run(
    sandbox_box: &SandboxBox,
    program: &Path,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    processes: u64,
    deadline: &Deadline,
) -> Result<RunResult, CompileFailure> {
    if deadline.has_passed() {
        return Err(CompileFailure::OutOfTime);
    }
    let mut limits = compile_limits(processes);
    let (wall, cut_by_deadline) = deadline.cap(limits.wall);
    limits.wall = wall;
    let env = [vec![("PATH".into(), "/usr/bin:/bin".into())], env].concat();
    let result = sandbox_box.run(&Run { program, args, env, work_dir: WorkDir::Build, stdin: b"", limits })?;
    if result.timed_out && cut_by_deadline {
        return Err(CompileFailure::OutOfTime);
    }
    Ok(result)
}

fn rejected_unless_clean(result: &RunResult, step: &str) -> Result<(), CompileFailure> {
    if result.timed_out {
        return Err(CompileFailure::Rejected(format!(
            "{step} did not finish within its time limit: the source is too costly to compile"
        )));
    }
    if result.output_overflow.is_some() {
        return Err(CompileFailure::Rejected(format!(
            "{step} printed more than {} KiB of errors",
            COMPILE_OUTPUT_BYTES >> 10
        )));
    }
    if result.exit != Exit::Code(0) {
        let mut output = text(&result.stderr);
        output.push_str(&text(&result.stdout));
        return Err(CompileFailure::Rejected(if output.trim().is_empty() {
            format!("{step} failed ({:?})", result.exit)
        } else {
            output
        }));
    }
    Ok(())
}

/// A program's bytes as text (invalid UTF-8 replaced), as reports carry them.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The classes of a Java source that decide its file name and its entry point.
#[derive(Debug)]
struct JavaClasses {
    /// The public top-level class (the file must be named after it), else "Main".
    file_stem: String,
    /// The class declaring `static void main`, if one does.
    main: Option<String>,
    /// Every type the source declares, in order (where a function capsule's method may be).
    classes: Vec<String>,
}

/// Finds the class with `static void main` (the nearest `class Name` before it) and the public class, from the source
/// with comments and string literals blanked out so that neither can fool the scan.
fn java_classes(source: &str) -> Result<JavaClasses, String> {
    let code = strip_comments_and_strings(source);
    let words: Vec<&str> =
        code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).filter(|w| !w.is_empty()).collect();
    if words.first() == Some(&"package") || code.trim_start().starts_with("package ") {
        return Err(
            "remove the `package` declaration: the program is compiled as a single file in the default package".into(),
        );
    }
    let mut public_class = None;
    let mut last_class = None;
    let mut main = None;
    let mut classes = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let next = words.get(index + 1).copied();
        if matches!(*word, "class" | "record" | "enum" | "interface")
            && let Some(name) = next
        {
            last_class = Some(name);
            if !classes.contains(&name.to_string()) {
                classes.push(name.to_string());
            }
            if index > 0 && words[index - 1] == "public" && public_class.is_none() {
                public_class = Some(name);
            }
        }
        if *word == "main"
            && index >= 2
            && words[index - 1] == "void"
            && words[..index].iter().rev().take(4).any(|w| *w == "static")
        {
            main = main.or(last_class);
        }
    }
    Ok(JavaClasses { file_stem: public_class.unwrap_or("Main").to_string(), main: main.map(str::to_string), classes })
}

fn strip_comments_and_strings(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for next in chars.by_ref() {
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
                out.push(' ');
            }
            '"' | '\'' => {
                let quote = c;
                let mut escaped = false;
                for next in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if next == '\\' {
                        escaped = true;
                    } else if next == quote {
                        break;
                    }
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_entry_point_is_found_by_its_main_method() {
        let classes = java_classes("import java.util.*;\nclass Helper {}\npublic class Solution {\n  public static void main(String[] a) {}\n}").unwrap();
        assert_eq!((classes.file_stem.as_str(), classes.main.as_deref()), ("Solution", Some("Solution")));
        assert_eq!(classes.classes, ["Helper", "Solution"]);
        let classes = java_classes("class A { static public void main(String... x) {} } class B {}").unwrap();
        assert_eq!((classes.file_stem.as_str(), classes.main.as_deref()), ("Main", Some("A")));
        // Comments and strings cannot fool the scan.
        let classes = java_classes("// class Fake { static void main\nclass Real { /* class X */ public static void main(String[] a) { String s = \"class Y\"; } }").unwrap();
        assert_eq!(classes.main.as_deref(), Some("Real"));
        assert_eq!(java_classes("class A {}").unwrap().main, None, "a function capsule's program needs no main");
        assert!(
            java_classes("package x.y; class A { public static void main(String[] a) {} }")
                .unwrap_err()
                .contains("package")
        );
    }

    #[test]
    fn only_a_python_program_that_did_not_parse_is_a_compile_failure() {
        let run = |code: i32, stdout: &str, stderr: &str| RunResult {
            exit: Exit::Code(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            output_overflow: None,
            timed_out: false,
            wall: std::time::Duration::ZERO,
            cpu: std::time::Duration::ZERO,
            max_rss_kb: 0,
            inherited_rss_kb: 0,
        };
        let python = Runtime::python();
        let unparsed = "  File \"/box/main.py\", line 1\n    print(\n         ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(python.parse_failure(&run(1, "", unparsed)).as_deref(), Some(unparsed));
        let indented = "  File \"/box/main.py\", line 2\n    x\nIndentationError: unexpected indent\n";
        assert!(python.parse_failure(&run(1, "", indented)).is_some());
        // Raised while running (a traceback), after printing, or with another status: the program ran.
        let raised = "Traceback (most recent call last):\n  File \"/box/main.py\", line 1\nSyntaxError: made up\n";
        assert!(python.parse_failure(&run(1, "", raised)).is_none());
        assert!(python.parse_failure(&run(1, "3\n", unparsed)).is_none());
        assert!(python.parse_failure(&run(2, "", unparsed)).is_none());
        assert!(Runtime::java().parse_failure(&run(1, "", unparsed)).is_none());
    }

    #[test]
    fn memory_errors_are_recognised_per_runtime() {
        assert!(Runtime::python().out_of_memory(b"Traceback (most recent call last):\n  ...\nMemoryError\n"));
        assert!(!Runtime::python().out_of_memory(b"ValueError: MemoryError is not this\n"));
        assert!(
            Runtime::java().out_of_memory(b"Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space")
        );
        assert!(Runtime::csharp().out_of_memory(b"Unhandled Exception:\nSystem.OutOfMemoryException: Out of memory"));
    }
}
