//! Nothing one run creates or holds reaches another run: pairs of Python programs judged for real, one planting or
//! listening, the other probing. Sequential pairs for what could outlive a run (System V IPC, POSIX message queues,
//! files in the host's shared writable directories);
//! overlapping pairs for live channels (abstract unix sockets, file locks, signals, the other run's /proc files),
//! each proving the overlap from CLOCK_MONOTONIC, which every process of the host reads alike. Run as root, the same
//! tests are run again with the judge as uid 65534, as on Lambda (no uid per submission, no namespaces).

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_core::model::{JudgeReport, LimitsRequest, Test, TestReport};
use codecapsule_native::{NativeJudge, Runtime};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Runs of this file must not meet runs of another test of this file.
static SERIAL: Mutex<()> = Mutex::new(());

fn judges() -> &'static Judges {
    static JUDGES: OnceLock<Judges> = OnceLock::new();
    JUDGES.get_or_init(|| {
        // SAFETY: set once, before any judge thread starts, while the tests holding SERIAL wait for this init.
        unsafe { std::env::set_var("SANDBOX_DIR", codecapsule_test_support::test_sandbox_dir("cross-run")) };
        Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>])
    })
}

/// `source` run once in Python; its one test's report.
fn run(source: &str) -> TestReport {
    let limits = LimitsRequest { time_ms: Some(4_000), memory_mb: Some(128), output_kb: Some(64) };
    let request = codecapsule_test_support::source_request("python", source, vec![Test::stdio("", "")], limits);
    let report: JudgeReport =
        codecapsule_test_support::block_on(judges().prepare(request).unwrap().judge(Deadline::for_request(None)))
            .unwrap();
    report.tests.into_iter().next().unwrap()
}

/// What a program printed as `NAME value`.
fn value<'a>(report: &'a TestReport, name: &str) -> &'a str {
    report
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {report:?}"))
}

/// Runs `first` and `second` at the same time; asserts from their START and END lines that they overlapped.
fn overlapping(first: &str, second: &str) -> (TestReport, TestReport) {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(first));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let b = scope.spawn(|| run(second));
        (a.join().unwrap(), b.join().unwrap())
    });
    let time = |report: &TestReport, name| value(report, name).parse::<f64>().unwrap();
    let (start, end) = (time(&a, "START").max(time(&b, "START")), time(&a, "END").min(time(&b, "END")));
    assert!(end - start > 0.5, "the two runs overlapped by {:.3} s only:\n{a:?}\n{b:?}", end - start);
    (a, b)
}

/// Python that plants one of each System V IPC object and a POSIX message queue, printing what it managed.
const PLANT_IPC: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
IPC_CREAT = 0o1000
made = []
shm = libc.shmget(0x5EED, 4096, IPC_CREAT | 0o666)
if shm >= 0:
    libc.shmat.restype = ctypes.c_void_p
    address = libc.shmat(shm, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(address, b"LEFT-BEHIND", 11)
    made.append("shm")
if libc.msgget(0x5EED, IPC_CREAT | 0o666) >= 0:
    made.append("msg")
if libc.semget(0x5EED, 1, IPC_CREAT | 0o666) >= 0:
    made.append("sem")
if rt.mq_open(b"/codecapsule-cross-run", os.O_CREAT | os.O_RDWR, 0o666, None) >= 0:
    made.append("mq")
print("MADE", ",".join(made) or "-")
"#;

/// Python that looks for anything an earlier run left: by key and name, and in /proc/sysvipc.
const PROBE_IPC: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
found = []
if libc.shmget(0x5EED, 0, 0) >= 0: found.append("shm")
if libc.msgget(0x5EED, 0) >= 0: found.append("msg")
if libc.semget(0x5EED, 0, 0) >= 0: found.append("sem")
if rt.mq_open(b"/codecapsule-cross-run", os.O_RDONLY) >= 0: found.append("mq")
# The IPC namespace's own listing, by key (0x5EED is 24301): other software's objects on an unprivileged host are
# not this test's business.
for kind in ("shm", "msg", "sem"):
    try:
        with open("/proc/sysvipc/" + kind) as listing:
            if any(line.split()[:1] == ["24301"] for line in listing.read().splitlines()[1:]):
                found.append("listed-" + kind)
    except OSError:
        pass
print("FOUND", ",".join(found) or "-")
"#;

#[test]
fn no_ipc_object_outlives_its_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let planted = run(PLANT_IPC);
    let made = value(&planted, "MADE").to_string();
    let probed = run(PROBE_IPC);
    assert_eq!(value(&probed, "FOUND"), "-", "a later run found what the first left (it made {made})");
}

/// Python that writes a file in every shared writable directory it can, printing where it managed.
const PLANT_FILES: &str = r#"
import os
left = []
for directory in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", os.path.dirname(os.getcwd())):
    try:
        with open(os.path.join(directory, "codecapsule-cross-run-left"), "w") as planted:
            planted.write("LEFT-BEHIND")
        left.append(directory)
    except OSError:
        pass
print("LEFT", ",".join(left) or "-")
"#;

/// Python that looks for those files.
const PROBE_FILES: &str = r#"
import os
found = []
for directory in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", os.path.dirname(os.getcwd())):
    try:
        with open(os.path.join(directory, "codecapsule-cross-run-left")) as planted:
            if planted.read() == "LEFT-BEHIND":
                found.append(directory)
    except OSError:
        pass
print("FOUND", ",".join(found) or "-")
"#;

#[test]
fn no_file_outlives_its_run_in_a_shared_directory() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let planted = run(PLANT_FILES);
    let left = value(&planted, "LEFT").to_string();
    let probed = run(PROBE_FILES);
    let found = value(&probed, "FOUND").to_string();
    // What a run managed to leave on the host is removed here, whatever the outcome.
    for directory in ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"] {
        let _ = std::fs::remove_file(Path::new(directory).join("codecapsule-cross-run-left"));
    }
    assert_eq!(found, "-", "a later run found the files the first left (it wrote to {left})");
}

/// Listens on an abstract unix socket, holds an exclusive flock and a read lock on a file every run can open (the
/// standard library's os.py), and counts the signals it gets, for 2.5 s; prints what reached it.
const HOLDER: &str = r#"
import fcntl, os, signal, socket, struct, time
print("START", time.monotonic())
reached = []
signal.signal(signal.SIGUSR1, lambda *_: reached.append("signal"))
held = []
try:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0codecapsule-cross-run")
    server.listen()
    server.setblocking(False)
    held.append("abstract-socket")
except OSError:
    server = None
shared = open(os.__file__, "rb")
try:
    fcntl.flock(shared, fcntl.LOCK_EX)
    held.append("flock")
except OSError:
    pass
try:
    fcntl.fcntl(shared, fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0))
    held.append("record-lock")
except OSError:
    pass
deadline = time.monotonic() + 2.5
while time.monotonic() < deadline:
    if server is not None:
        try:
            server.accept()
            reached.append("connection")
        except OSError:
            pass
    time.sleep(0.02)
print("HELD", ",".join(held) or "-")
print("REACHED", ",".join(sorted(set(reached))) or "-")
print("END", time.monotonic())
"#;

/// For 2 s, tries every way to reach the holder: its socket, its locks, signals to it, its /proc files.
const PROBER: &str = r#"
import fcntl, os, signal, socket, struct, time
print("START", time.monotonic())
seen = []
me = os.getpid()
def others():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                    if b"main.py" in cmdline.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids
shared = open(os.__file__, "rb")
deadline = time.monotonic() + 2.0
while time.monotonic() < deadline:
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect("\0codecapsule-cross-run")
        seen.append("abstract-socket")
    except OSError:
        pass
    try:
        fcntl.flock(shared, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(shared, fcntl.LOCK_UN)
    except BlockingIOError:
        seen.append("flock")
    except OSError:
        pass
    try:
        answer = fcntl.fcntl(shared, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
        if struct.unpack("hhqqi", answer)[0] != fcntl.F_UNLCK:
            seen.append("record-lock")
    except OSError:
        pass
    for pid in others():
        try:
            os.kill(pid, signal.SIGUSR1)
            seen.append("signal")
        except OSError:
            pass
        for name in ("fd/0", "fd/1", "environ", "mem"):
            try:
                with open("/proc/%d/%s" % (pid, name), "rb") as handle:
                    seen.append("proc-" + name.split("/")[0])
            except OSError:
                pass
    time.sleep(0.05)
print("SEEN", ",".join(sorted(set(seen))) or "-")
print("END", time.monotonic())
"#;

#[test]
fn runs_at_the_same_time_cannot_reach_each_other() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (holder, prober) = overlapping(HOLDER, PROBER);
    assert_eq!(value(&prober, "SEEN"), "-", "the prober reached the holder (which held {})", value(&holder, "HELD"));
    assert_eq!(value(&holder, "REACHED"), "-", "something reached the holder");
}

/// Runs this test binary as uid/gid 65534 with `tests`, and `env`; its log once they all passed.
fn as_unprivileged_judge(tests: &[&str], env: &[(&str, &str)]) -> String {
    use std::os::unix::process::CommandExt;
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--test-threads=1")
        .args(tests)
        .envs(env.iter().copied())
        .uid(65_534)
        .gid(65_534)
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the unprivileged runs failed:\n{log}");
    assert!(log.contains(&format!("{} passed", tests.len())), "the unprivileged runs did not all run:\n{log}");
    log
}

/// Run as root, this re-runs the tests above in a child process of this test binary as uid/gid 65534 (no uid per
/// submission, no namespaces: what separates runs there is seccomp and Landlock alone); then the sequential pairs
/// again without Landlock, as on a kernel without it (Lambda's may be one), where the shared directories are swept
/// after each run instead. (Without Landlock, runs under one uid that overlap can signal each other: on Lambda they
/// never overlap, one request at a time per instance.)
#[test]
fn the_same_holds_for_an_unprivileged_judge_like_on_lambda() {
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let sequential = ["no_ipc_object_outlives_its_run", "no_file_outlives_its_run_in_a_shared_directory"];
    as_unprivileged_judge(&[sequential[0], sequential[1], "runs_at_the_same_time_cannot_reach_each_other"], &[]);
    as_unprivileged_judge(&sequential, &[("SANDBOX_LANDLOCK", "off")]);
}
