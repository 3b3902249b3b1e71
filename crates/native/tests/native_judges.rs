//! The native judges for real: every verdict in Python, Java and C#, an attack battery of hostile programs with checks
//! on the host after each one, and concurrent submissions. Needs the runtimes (python3, OpenJDK, Mono: .ci/run
//! installs Mono) and, for the full set of layers, root (CI runs as root).

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, JudgeError, Judges, limits};
use codecapsule_core::model::ErrorCode;
use codecapsule_core::model::{JudgeReport, JudgeRequest, LimitsRequest, Test, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_sandbox::Sandbox;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A secret in the judge's own environment: no program may ever print it.
const SECRET: &str = "codecapsule-test-secret-7f3a9c";

/// Tests in this file share the judge process, its sandbox directory and its uid range; host checks after each
/// attack expect no other run in flight, so runs take this lock.
static SERIAL: Mutex<()> = Mutex::new(());

fn judges() -> &'static Judges {
    static JUDGES: OnceLock<Judges> = OnceLock::new();
    JUDGES.get_or_init(|| {
        // SAFETY: set once, before any judge thread starts, while the tests holding SERIAL wait for this init.
        unsafe {
            std::env::set_var("CODECAPSULE_JUDGE_SECRET", SECRET);
            std::env::set_var("SANDBOX_DIR", codecapsule_test_support::test_sandbox_dir("tests"));
        }
        Judges::new(vec![
            Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>,
            Arc::new(NativeJudge::new(Runtime::java())),
            Arc::new(NativeJudge::new(Runtime::csharp())),
        ])
    })
}

fn test(stdin: &str, expected: &str) -> Test {
    Test::stdio(stdin, expected)
}

fn request(language: &str, source: &str, tests: Vec<Test>, time_ms: u64) -> JudgeRequest {
    let limits = LimitsRequest { time_ms: Some(time_ms), memory_mb: Some(128), output_kb: Some(64) };
    codecapsule_test_support::source_request(language, source, tests, limits)
}

fn judge(request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    codecapsule_test_support::block_on(judges().prepare(request)?.judge(Deadline::for_request(None)))
}

/// One test, its report; the overall verdict must be that test's.
fn run(language: &str, source: &str, stdin: &str, expected: &str, time_ms: u64) -> codecapsule_core::model::TestReport {
    let report = judge(request(language, source, vec![test(stdin, expected)], time_ms)).expect("a valid request");
    assert_eq!(report.tests.len(), 1);
    report.tests.into_iter().next().unwrap()
}

/// This judge's sandbox uids. (Another judge process on the host, such as a second test run, has a block of its own:
/// its live programs are not this judge's leftovers.)
fn is_sandbox_uid(uid: u32) -> bool {
    codecapsule_sandbox::uids_of_this_process().contains(&uid)
}

/// What must hold on the host after any run: no process of this judge's sandbox uids, no child of the judge, no box
/// of its own left.
fn assert_host_clean(context: &str) {
    judges(); // the sandbox directory is chosen there, before the first box
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
        let uid: u32 = field("Uid:")
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let ppid = field("PPid:").unwrap_or_default();
        assert!(
            !is_sandbox_uid(uid),
            "{context}: process {:?} of sandbox uid {uid} outlived its run",
            entry.file_name()
        );
        if ppid == me {
            let name = field("Name:").unwrap_or_default();
            // The test harness itself has no other children than sandboxed programs.
            panic!("{context}: process {:?} ({name}) is still a child of the judge", entry.file_name());
        }
    }
    // The judge's own shared directory (read-only files for every run, see Sandbox::shared_dir) lives as it does.
    let shared = format!("shared-{}", std::process::id());
    let left: Vec<_> = std::fs::read_dir(Sandbox::get().base_dir())
        .map(|dir| dir.flatten().map(|e| e.file_name()).filter(|name| *name != *shared).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{context}: sandbox directories left behind: {left:?}");
}

#[test]
fn every_verdict_in_python() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sum = "a, b = map(int, input().split())\nprint(a + b)";
    assert_eq!(run("python", sum, "1 2\n", "3\n", 2000).verdict, Verdict::Accepted);
    let wrong = run("python", sum, "1 2\n", "4\n", 2000);
    assert_eq!(
        (wrong.verdict, wrong.message.as_deref()),
        (Verdict::WrongAnswer, Some("line 1, column 1: expected \"4\", got \"3\""))
    );
    let report = judge(request("python", "print(", vec![test("", "")], 1000)).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("SyntaxError"), "{}", report.compile.output);
    let exception = run("python", "raise ValueError('boom')", "", "", 1000);
    assert_eq!((exception.verdict, exception.exit_code), (Verdict::RuntimeError, Some(1)));
    assert!(exception.stderr.contains("ValueError: boom"));
    let exit = run("python", "import sys\nsys.exit(3)", "", "", 1000);
    assert_eq!((exit.verdict, exit.exit_code), (Verdict::RuntimeError, Some(3)));
    let signal = run("python", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "", "", 1000);
    assert_eq!(signal.verdict, Verdict::RuntimeError);
    assert!(signal.message.unwrap().contains("SIGSEGV"));
    let spin = run("python", "while True: pass", "", "", 300);
    assert_eq!(spin.verdict, Verdict::TimeLimitExceeded);
    let sleep = run("python", "import time\ntime.sleep(100)", "", "", 300);
    assert_eq!(sleep.verdict, Verdict::TimeLimitExceeded);
    assert!(sleep.message.unwrap().contains("wall-clock"));
    let memory = run("python", "chunks = []\nwhile True: chunks.append(bytearray(10**7))", "", "", 2000);
    assert_eq!(memory.verdict, Verdict::MemoryLimitExceeded, "{:?} {}", memory.message, memory.stderr);
    let flood = run("python", "while True: print('spam')", "", "", 2000);
    assert_eq!(flood.verdict, Verdict::OutputLimitExceeded);
    assert_host_clean("python verdicts");
}

const JAVA_SUM: &str = "import java.util.*;\npublic class Sum {\n  public static void main(String[] args) {\n    Scanner in = new Scanner(System.in);\n    System.out.println(in.nextLong() + in.nextLong());\n  }\n}";

/// Compiler messages and tracebacks name the program's files, never the sandbox's directories.
#[test]
fn messages_name_the_programs_files_not_the_sandboxs_paths() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    judges();
    let sandbox_dir = codecapsule_test_support::test_sandbox_dir("tests").display().to_string();
    let traceback = run("python", "def f():\n    raise ValueError('boom')\nf()\n", "", "", 2_000);
    assert!(traceback.stderr.contains("File \"main.py\", line 2"), "{}", traceback.stderr);
    let syntax = judge(request("python", "print((", vec![test("", "")], 2_000)).unwrap();
    assert!(syntax.compile.output.contains("main.py"), "{}", syntax.compile.output);
    let broken_java = "public class Main { public static void main(String[] a) { int x = ; } }";
    let javac = judge(request("java", broken_java, vec![test("", "")], 5_000)).unwrap();
    assert!(javac.compile.output.contains("Main.java:1: error"), "{}", javac.compile.output);
    let mcs =
        judge(request("csharp", "class P { static void Main() { int x = ; } }", vec![test("", "")], 5_000)).unwrap();
    assert!(mcs.compile.output.contains("main.cs(1,"), "{}", mcs.compile.output);
    for text in [&traceback.stderr, &syntax.compile.output, &javac.compile.output, &mcs.compile.output] {
        assert!(!text.contains(&sandbox_dir) && !text.contains("/program/"), "a sandbox path in: {text}");
    }
}

#[test]
fn every_verdict_in_java() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let report = judge(request("java", JAVA_SUM, vec![test("1 2\n", "3\n"), test("2 2\n", "5\n")], 2000)).unwrap();
    assert_eq!(report.tests[0].verdict, Verdict::Accepted, "{:?}", report.tests[0]);
    assert_eq!(report.tests[1].verdict, Verdict::WrongAnswer);
    assert!(report.engine.startup_ms.unwrap() > 0.0, "the JVM's start-up is calibrated and reported");
    let report =
        judge(request("java", "class A { public static void main(String[] a) { int x = } }", vec![test("", "")], 1000))
            .unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("error"), "{}", report.compile.output);
    let cases = [
        (
            "class A { public static void main(String[] a) { throw new IllegalStateException(\"boom\"); } }",
            Verdict::RuntimeError,
        ),
        ("class A { public static void main(String[] a) { System.exit(3); } }", Verdict::RuntimeError),
        (
            "class A { static int f(int n) { return f(n + 1) + 1; } public static void main(String[] a) { f(0); } }",
            Verdict::RuntimeError,
        ),
        ("class A { public static void main(String[] a) { while (true) {} } }", Verdict::TimeLimitExceeded),
        (
            "class A { public static void main(String[] a) throws Exception { Thread.sleep(100000); } }",
            Verdict::TimeLimitExceeded,
        ),
        (
            "import java.util.*; class A { public static void main(String[] a) { List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 20]); } }",
            Verdict::MemoryLimitExceeded,
        ),
        (
            "class A { public static void main(String[] a) { while (true) System.out.println(\"spam\"); } }",
            Verdict::OutputLimitExceeded,
        ),
    ];
    for (source, expected) in cases {
        let result = run("java", source, "", "", 1000);
        assert_eq!(result.verdict, expected, "{source}: {:?} {}", result.message, result.stderr);
    }
    let exit = run("java", "class A { public static void main(String[] a) { System.exit(3); } }", "", "", 1000);
    assert_eq!(exit.exit_code, Some(3));
    // A JVM crash is a signal: the JVM aborts on the invalid write.
    let crash = "import java.lang.reflect.*; class A { public static void main(String[] a) throws Exception { \
        Field f = Class.forName(\"sun.misc.Unsafe\").getDeclaredField(\"theUnsafe\"); f.setAccessible(true); \
        sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null); u.putAddress(0, 0); } }";
    let crashed = run("java", crash, "", "", 2000);
    assert_eq!(crashed.verdict, Verdict::RuntimeError, "{:?}", crashed.message);
    assert_host_clean("java verdicts");
}

#[test]
fn every_verdict_in_csharp() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sum = "using System; class P { static void Main() { var p = Console.ReadLine().Split(' '); Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }";
    let report = judge(request("csharp", sum, vec![test("1 2\n", "3\n"), test("2 2\n", "5\n")], 2000)).unwrap();
    assert_eq!(
        (report.tests[0].verdict, report.tests[1].verdict),
        (Verdict::Accepted, Verdict::WrongAnswer),
        "{report:?}"
    );
    let report =
        judge(request("csharp", "class P { static void Main() { int x = } }", vec![test("", "")], 1000)).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("error CS"), "{}", report.compile.output);
    let cases = [
        (
            "class P { static void Main() { throw new System.InvalidOperationException(\"boom\"); } }",
            Verdict::RuntimeError,
        ),
        ("class P { static void Main() { System.Environment.Exit(3); } }", Verdict::RuntimeError),
        (
            "class P { static void Main() { System.Diagnostics.Process.GetCurrentProcess().Kill(); } }",
            Verdict::RuntimeError,
        ),
        ("class P { static void Main() { while (true) {} } }", Verdict::TimeLimitExceeded),
        ("class P { static void Main() { System.Threading.Thread.Sleep(100000); } }", Verdict::TimeLimitExceeded),
        (
            "class P { static void Main() { var l = new System.Collections.Generic.List<long[]>(); while (true) l.Add(new long[1 << 20]); } }",
            Verdict::MemoryLimitExceeded,
        ),
        (
            "class P { static void Main() { while (true) System.Console.WriteLine(\"spam\"); } }",
            Verdict::OutputLimitExceeded,
        ),
    ];
    for (source, expected) in cases {
        let result = run("csharp", source, "", "", 1000);
        assert_eq!(result.verdict, expected, "{source}: {:?} {}", result.message, result.stderr);
    }
    assert_host_clean("csharp verdicts");
}

/// A host file the attacks aim at: readable only by root, with content that must stay as it is.
struct Sentinel {
    path: std::path::PathBuf,
    content: String,
    owned: bool,
}

impl Sentinel {
    /// A root-owned 0600 file; an unprivileged re-run of the battery gets its parent's through CODECAPSULE_TEST_SENTINEL.
    fn new(name: &str) -> Sentinel {
        use std::os::unix::fs::PermissionsExt;
        if let Some(path) = std::env::var_os("CODECAPSULE_TEST_SENTINEL") {
            return Sentinel { path: path.into(), content: format!("sentinel {SECRET}"), owned: false };
        }
        // Under /run: every user may look it up (not read it), and it is not one of the directories runs get a private
        // tmpfs over, so programs really face the host file.
        let path = std::path::PathBuf::from(format!("/run/codecapsule-{name}-{}", std::process::id()));
        let content = format!("sentinel {SECRET}");
        std::fs::write(&path, &content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Sentinel { path, content, owned: true }
    }

    fn assert_untouched(&self, context: &str) {
        let metadata = std::fs::symlink_metadata(&self.path)
            .unwrap_or_else(|err| panic!("{context}: the sentinel is gone: {err}"));
        assert!(metadata.is_file(), "{context}: the sentinel was replaced");
        if self.owned {
            let now = std::fs::read_to_string(&self.path).unwrap();
            assert_eq!(now, self.content, "{context}: the sentinel was changed");
        } else {
            // Not readable from here (root's 0600 file); its parent checks the content when this run is over.
            assert_eq!(metadata.len(), self.content.len() as u64, "{context}: the sentinel was changed");
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct Attack {
    name: &'static str,
    language: &'static str,
    source: String,
    /// Verdicts that count as the attack failing. Never accepted unless the attack's point is what it leaves behind.
    verdicts: &'static [Verdict],
    stdin: String,
}

fn attack(
    name: &'static str,
    language: &'static str,
    source: impl Into<String>,
    verdicts: &'static [Verdict],
) -> Attack {
    Attack { name, language, source: source.into(), verdicts, stdin: String::new() }
}

const STOPPED: &[Verdict] =
    &[Verdict::RuntimeError, Verdict::TimeLimitExceeded, Verdict::MemoryLimitExceeded, Verdict::OutputLimitExceeded];

#[test]
fn attack_battery_leaves_the_host_untouched() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    judges();
    let sentinel = Sentinel::new("attack-sentinel");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sentinel_path = sentinel.path.display().to_string();
    let host_tmp_marker = format!("/tmp/codecapsule-pwned-{}", std::process::id());
    // A descriptor of the judge's opened without close-on-exec, on a file holding the secret: no program may get it.
    let judges_file = std::env::temp_dir().join(format!("codecapsule-judge-fd-{}", std::process::id()));
    std::fs::write(&judges_file, SECRET).unwrap();
    let judges_path = std::ffi::CString::new(judges_file.display().to_string()).unwrap();
    // SAFETY: open without O_CLOEXEC on purpose; closed at the end of the test.
    let judges_fd = unsafe { libc::open(judges_path.as_ptr(), libc::O_RDONLY) };
    assert!(judges_fd > 2, "{}", std::io::Error::last_os_error());
    let py = |body: &str| body.to_string();
    let attacks = vec![
        attack(
            "python fork bomb",
            "python",
            py("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"),
            STOPPED,
        ),
        attack(
            "python thread bomb",
            "python",
            py("import threading, time\nwhile True: threading.Thread(target=time.sleep, args=(100,)).start()"),
            STOPPED,
        ),
        attack("python memory bomb", "python", py("x = bytearray(1 << 34)"), &[Verdict::MemoryLimitExceeded]),
        attack(
            "python disk fill",
            "python",
            py("with open('fill', 'wb') as f:\n    while True: f.write(b'x' * (1 << 20))"),
            &[Verdict::OutputLimitExceeded, Verdict::RuntimeError],
        ),
        attack(
            "python huge line without newline",
            "python",
            py("import sys\nwhile True: sys.stdout.write('x' * 65536)"),
            &[Verdict::OutputLimitExceeded],
        ),
        attack(
            "python daemon (double fork + setsid)",
            "python",
            py(
                "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1000)\n    os._exit(0)\nos.wait()\nprint(3)",
            ),
            &[Verdict::Accepted],
        ),
        attack(
            "python reads the parent's environment through /proc",
            "python",
            py(
                "import os\nfor p in ['/proc/%d/environ' % os.getppid(), '/proc/1/environ', '/proc/self/environ']:\n    try: print(open(p).read())\n    except Exception as e: print(type(e).__name__)\nprint(dict(os.environ))",
            ),
            &[Verdict::WrongAnswer],
        ),
        attack(
            "python reads a root-only host file",
            "python",
            format!("print(open('{sentinel_path}').read())"),
            &[Verdict::RuntimeError],
        ),
        attack("python reads /etc/shadow", "python", py("print(open('/etc/shadow').read())"), &[Verdict::RuntimeError]),
        attack(
            "python writes outside the work dir",
            "python",
            format!("open('{sentinel_path}', 'w').write('pwned')"),
            &[Verdict::RuntimeError],
        ),
        attack(
            "python leaves a file in /tmp for later runs",
            "python",
            format!("open('{host_tmp_marker}', 'w').write('pwned')\nprint(3)"),
            &[Verdict::Accepted, Verdict::RuntimeError],
        ),
        attack(
            "python plants symlinks in the work dir",
            "python",
            format!(
                "import os\nos.symlink('{sentinel_path}', 'out')\nos.symlink('/', 'root')\nos.mkdir('d')\nos.symlink('{sentinel_path}', 'd/x')\nprint(3)"
            ),
            &[Verdict::Accepted],
        ),
        attack(
            "python connects to a TCP port the judge host opened",
            "python",
            format!("import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint(3)"),
            &[Verdict::RuntimeError],
        ),
        attack(
            "python resolves DNS",
            "python",
            py("import socket\nprint(socket.getaddrinfo('example.com', 80))"),
            &[Verdict::RuntimeError],
        ),
        attack(
            "python kills its parent",
            "python",
            py("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"),
            &[Verdict::RuntimeError],
        ),
        attack(
            "python ptraces its parent",
            "python",
            py(
                "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nif libc.ptrace(16, os.getppid(), 0, 0) != 0: sys.exit(7)\nprint(3)",
            ),
            &[Verdict::RuntimeError],
        ),
        attack(
            "python unshares a user namespace",
            "python",
            py("import ctypes, sys\nlibc = ctypes.CDLL(None)\nsys.exit(7 if libc.unshare(0x10000000) != 0 else 0)"),
            &[Verdict::RuntimeError],
        ),
        Attack {
            stdin: "1 ".repeat(500_000),
            ..attack(
                "python closes stdout early under a large stdin",
                "python",
                py("import os\nos.close(1)\nos.close(0)"),
                &[Verdict::WrongAnswer],
            )
        },
        attack("python sleeps forever", "python", py("import time\ntime.sleep(10**6)"), &[Verdict::TimeLimitExceeded]),
        attack(
            "python looks for the judge's descriptors and signal state",
            "python",
            // Accepted only when nothing but 0-2 is open, no signal is blocked, and none is ignored beyond the two
            // CPython ignores itself (SIGPIPE, SIGXFSZ): anything else is printed and judged a wrong answer.
            py("import os, signal
leaked = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        leaked.append((fd, os.pread(fd, 64, 0)))
    except OSError: pass
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())
blocked = int(status['SigBlk'], 16)
ignored = int(status['SigIgn'], 16) & ~((1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1)))
print(3 if not leaked and not blocked and not ignored else (leaked, hex(blocked), hex(ignored)))"),
            &[Verdict::Accepted],
        ),
        attack(
            "java fork bomb",
            "java",
            "class A { public static void main(String[] a) throws Exception { while (true) new ProcessBuilder(\"/bin/sleep\", \"1000\").start(); } }",
            STOPPED,
        ),
        attack(
            "java thread bomb",
            "java",
            "class A { public static void main(String[] a) { while (true) new Thread(() -> { try { Thread.sleep(100000); } catch (Exception e) {} }).start(); } }",
            STOPPED,
        ),
        attack(
            "java reads the environment",
            "java",
            "class A { public static void main(String[] a) throws Exception { System.out.println(System.getenv()); \
             System.out.println(new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(\"/proc/\" + ProcessHandle.current().parent().get().pid() + \"/environ\")))); } }",
            &[Verdict::RuntimeError],
        ),
        attack(
            "java opens a socket",
            "java",
            format!(
                "class A {{ public static void main(String[] a) throws Exception {{ new java.net.Socket(\"127.0.0.1\", {port}); }} }}"
            ),
            &[Verdict::RuntimeError],
        ),
        attack(
            "java compile-time bomb (giant constant)",
            "java",
            format!(
                "class A {{ static int[] x = {{ {} }}; public static void main(String[] a) {{}} }}",
                vec!["7"; 60_000].join(",")
            ),
            &[Verdict::CompilationError],
        ),
        attack(
            "csharp fork bomb",
            "csharp",
            "class P { static void Main() { while (true) System.Diagnostics.Process.Start(\"/bin/sleep\", \"1000\"); } }",
            STOPPED,
        ),
        attack(
            "csharp reads the parent's environment",
            "csharp",
            "class P { static void Main() { System.Console.WriteLine(System.IO.File.ReadAllText(\"/proc/\" + System.Diagnostics.Process.GetCurrentProcess().Id + \"/../1/environ\")); } }",
            &[Verdict::RuntimeError],
        ),
        attack(
            "csharp writes outside the work dir",
            "csharp",
            format!(
                "class P {{ static void Main() {{ System.IO.File.WriteAllText(\"{sentinel_path}\", \"pwned\"); }} }}"
            ),
            &[Verdict::RuntimeError],
        ),
        attack(
            "csharp disk fill",
            "csharp",
            "class P { static void Main() { using (var f = System.IO.File.OpenWrite(\"fill\")) { var b = new byte[1 << 20]; while (true) f.Write(b, 0, b.Length); } } }",
            &[Verdict::OutputLimitExceeded, Verdict::RuntimeError],
        ),
    ];
    assert!(attacks.len() >= 25, "{} attacks", attacks.len());
    sentinel.assert_untouched("before any attack");
    for attack in attacks {
        let report = judge(request(attack.language, &attack.source, vec![test(&attack.stdin, "3\n")], 1000))
            .unwrap_or_else(|err| panic!("{}: {err}", attack.name));
        let result = &report.tests[0];
        assert!(
            attack.verdicts.contains(&result.verdict),
            "{}: verdict {:?} ({:?}), expected one of {:?}; stdout {:?} stderr {:?} compile {:?}",
            attack.name,
            result.verdict,
            result.message,
            attack.verdicts,
            &result.stdout[..result.stdout.len().min(300)],
            &result.stderr[..result.stderr.len().min(500)],
            &report.compile.output[..report.compile.output.len().min(300)],
        );
        assert!(
            !result.stdout.contains(SECRET) && !result.stderr.contains(SECRET),
            "{}: the judge's secret leaked",
            attack.name
        );
        assert_host_clean(attack.name);
        sentinel.assert_untouched(attack.name);
        if Sandbox::get().layers().mount_namespace_tmpfs {
            assert!(!Path::new(&host_tmp_marker).exists(), "{}: a file was left in the host's /tmp", attack.name);
        } else {
            // Without mount namespaces (Lambda) the program shares the judge's /tmp: docs/sandbox.md says so.
            let _ = std::fs::remove_file(&host_tmp_marker);
        }
        assert!(listener.accept().is_err(), "{}: a connection reached the host's port", attack.name);
    }
    // Still alive and well: the judge process was neither killed nor traced.
    assert_eq!(run("python", "print(1 + 2)", "", "3\n", 1000).verdict, Verdict::Accepted);
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(judges_fd) };
    let _ = std::fs::remove_file(&judges_file);
}

/// A program the sandbox cannot start is an error naming the program and the step, and leaves nothing behind.
#[test]
fn a_program_that_cannot_start_is_a_clear_error() {
    use codecapsule_sandbox::{Run, RunLimits, WorkDir};
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    judges();
    let sandbox_box = Sandbox::get().new_box().unwrap();
    let limits = RunLimits {
        wall: Duration::from_secs(5),
        cpu_seconds: 5,
        address_space: None,
        processes: 16,
        open_files: 64,
        file_size: 1 << 20,
        stack: 8 << 20,
        output_bytes: 1 << 10,
    };
    for work_dir in [WorkDir::Fresh, WorkDir::Build] {
        let err = sandbox_box
            .run(&Run {
                program: Path::new("/nonexistent/codecapsule-runtime"),
                args: vec![],
                env: vec![],
                work_dir,
                stdin: b"input",
                limits: limits.clone(),
            })
            .unwrap_err();
        let message = err.to_string();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{message}");
        assert!(message.contains("/nonexistent/codecapsule-runtime") && message.contains("Exec"), "{message}");
    }
    drop(sandbox_box);
    assert_host_clean("a program that cannot start");
}

/// The same battery with the judge running unprivileged, as on AWS Lambda: no uid switch, no namespaces, no tmpfs.
/// Run as root, this re-runs the battery test in a child process of this test binary as uid/gid 65534.
#[test]
fn attack_battery_as_an_unprivileged_judge_like_on_lambda() {
    use std::os::unix::process::CommandExt;
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } != 0 {
        // Already unprivileged: the battery test of this very run covers this case.
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sentinel = Sentinel::new("unprivileged-sentinel");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "attack_battery_leaves_the_host_untouched", "--test-threads=1"])
        .env("CODECAPSULE_TEST_SENTINEL", &sentinel.path)
        .uid(65_534)
        .gid(65_534)
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the unprivileged battery failed:\n{log}");
    assert!(log.contains("1 passed"), "the unprivileged battery did not run:\n{log}");
    sentinel.assert_untouched("unprivileged battery");
}

#[test]
fn source_beyond_the_size_limit_is_refused() {
    let source = format!("# {}\nprint(3)", "x".repeat(limits::MAX_SOURCE_BYTES));
    let err = judge(request("python", &source, vec![test("", "3\n")], 1000)).unwrap_err();
    assert_eq!((err.code(), err.status()), (ErrorCode::SourceTooLarge, 413));
}

#[test]
fn eight_concurrent_submissions_get_their_own_verdicts_and_directories() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    judges();
    // Each writes its own marker into its work directory, sleeps a little, and prints what it finds there.
    let python = |marker: &str| {
        format!(
            "import os, time\nopen('m', 'w').write('{marker}')\ntime.sleep(0.2)\nprint(sorted(os.listdir('.')), open('m').read())"
        )
    };
    let submissions: Vec<(String, String, String, Verdict)> = (0..8)
        .map(|index| {
            let marker = format!("run{index}");
            let expected = format!("['m'] {marker}\n");
            match index % 4 {
                0 | 1 => ("python".to_string(), python(&marker), expected, Verdict::Accepted),
                2 => ("python".to_string(), python(&marker), "something else\n".to_string(), Verdict::WrongAnswer),
                _ => ("java".to_string(), JAVA_SUM.to_string(), "3\n".to_string(), Verdict::Accepted),
            }
        })
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = submissions
            .iter()
            .map(|(language, source, expected, verdict)| {
                scope.spawn(move || {
                    let stdin = if language == "java" { "1 2\n" } else { "" };
                    let report =
                        judge(request(language, source, vec![test(stdin, expected), test(stdin, expected)], 3000))
                            .unwrap();
                    for result in &report.tests {
                        assert_eq!(
                            result.verdict, *verdict,
                            "{language}: {:?} {:?} {}",
                            result.message, result.stdout, result.stderr
                        );
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_host_clean("concurrent submissions");
}
