//! The native sandbox: runs an untrusted program in layers, each detected at start-up and reported by /api/health.
//! The threat model, layer by layer and host by host (Lambda vs a root host), is in docs/sandbox.md.
//!
//! Per submission a [`SandboxBox`]: a private directory (program files written by the judge, read-only to the program),
//! and, as root, a user id of its own. Per run:
//! - a fresh work directory (a private tmpfs with a size and inode cap when mount namespaces are available);
//! - a cleared environment; the judge process itself is undumpable, so its /proc files (environ, mem) are root's;
//! - rlimits: CPU, address space (per language), file size, processes, open files, core 0, stack;
//! - its own session and process group, killed at the end together with every process of its uid and every orphan
//!   that reparented to the judge (a child subreaper): nothing outlives a run;
//! - a wall-clock timeout; CPU time and peak RSS from wait4's rusage;
//! - stdout/stderr read concurrently with caps (the group is killed at the cap) and stdin fed, all from the judging
//!   thread with poll (see [`pipes`]);
//! - started the way posix_spawn starts a program, without copying the judge's page tables (see [`spawn`]);
//! - no_new_privs and a seccomp filter (see [`seccomp`]);
//! - as root: an unprivileged uid/gid with no supplementary groups, an empty network namespace (made once, joined per
//!   run), private IPC and UTS namespaces, and a private mount namespace for the tmpfs.

mod pipes;
mod seccomp;
mod spawn;

use pipes::Streams;
use spawn::ChildSetup;

use serde::Serialize;
use std::collections::HashSet;
use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// First of the user ids given to sandboxes when the judge runs as root (one per submission, recycled).
/// Sandbox user ids, when the judge runs as root: one per submission, from a block of its own per judge process (by
/// pid), so that two judge processes on one host never share a uid (killing one's leftovers would kill the other's
/// runs). All of them lie in [`SANDBOX_UID_RANGE`], far above the ids of real users and system accounts.
const SANDBOX_UID_BASE: u32 = 200_000;
const SANDBOX_UIDS_PER_PROCESS: u32 = 1_000;
const SANDBOX_UID_BLOCKS: u32 = 4_096;
pub const SANDBOX_UID_RANGE: std::ops::Range<u32> =
    SANDBOX_UID_BASE..SANDBOX_UID_BASE + SANDBOX_UID_BLOCKS * SANDBOX_UIDS_PER_PROCESS;

/// The sandbox user ids this judge process gives its submissions (its block of [`SANDBOX_UID_RANGE`]).
pub fn uids_of_this_process() -> std::ops::Range<u32> {
    let first = SANDBOX_UID_BASE + (std::process::id() % SANDBOX_UID_BLOCKS) * SANDBOX_UIDS_PER_PROCESS;
    first..first + SANDBOX_UIDS_PER_PROCESS
}
/// In a box, where each run's private tmpfs work directory is mounted (in the run's own mount namespace).
const MOUNT_POINT: &str = "work";
/// Size and inode caps of a run's private tmpfs work directory.
pub const WORK_TMPFS_BYTES: u64 = 64 << 20;
const WORK_TMPFS_INODES: u64 = 4_096;
/// The host's world-writable directories, each covered by a small private tmpfs in a run's mount namespace, so a
/// program can neither leave files there for a later run nor fill the host's disk.
const MASKED_DIRS: &[&std::ffi::CStr] = &[c"/tmp", c"/var/tmp", c"/dev/shm", c"/run/lock"];
const MASK_TMPFS_OPTIONS: &std::ffi::CStr = c"size=16m,nr_inodes=1024,mode=1777";
/// How long the judge reads a run's pipes after it has ended and every process of it was killed: they reach end of
/// file at once then; the bound only keeps a judge from waiting on a pipe something outside the run still holds.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The layers this host allows, as GET /api/health reports them.
#[derive(Debug, Clone, Serialize)]
pub struct Layers {
    pub root: bool,
    pub separate_uid: bool,
    pub network_namespace: bool,
    pub mount_namespace_tmpfs: bool,
    pub ipc_uts_namespaces: bool,
    pub seccomp: bool,
    pub no_new_privs: bool,
    pub rlimits: bool,
    pub process_group: bool,
    pub child_subreaper: bool,
    pub undumpable_judge: bool,
}

/// The sandbox of this process: detected once.
pub struct Sandbox {
    layers: Layers,
    /// The seccomp program; empty where the kernel has no seccomp.
    filter: Vec<libc::sock_filter>,
    /// An empty network namespace (and IPC/UTS ones) made once at start-up; runs join them with setns, which costs
    /// microseconds where creating a network namespace per run costs milliseconds.
    namespaces: Option<SharedNamespaces>,
    base: PathBuf,
    /// The owner of `base` when it is not this process's effective uid: boxes are then refused (whoever owns the
    /// directory could swap a box for a link to a directory of theirs).
    foreign_owner: Option<u32>,
    next_uid: AtomicU32,
}

struct SharedNamespaces {
    net: OwnedFd,
    ipc: OwnedFd,
    uts: OwnedFd,
}

/// Every child the judge itself started and has not reaped yet (sandboxed programs, helpers, version probes). The
/// orphan sweep kills only children that are not in it, and a child is started and registered under this lock, so a
/// sweep in another thread can never take a live child in the instant between its fork and its registration.
static OWN_CHILDREN: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Starts a child through `start` with the registry locked, and registers it.
fn start_registered<T>(start: impl FnOnce() -> io::Result<(i32, T)>) -> io::Result<(i32, T)> {
    let mut children = OWN_CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (pid, value) = start()?;
    if pid > 0 {
        children.get_or_insert_with(HashSet::new).insert(pid);
    }
    Ok((pid, value))
}

fn unregister(pid: i32) {
    let mut children = OWN_CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(children) = children.as_mut() {
        children.remove(&pid);
    }
}

/// Runs a trusted command (a runtime's version probe) to completion, as a registered child.
pub fn run_trusted(command: &mut Command) -> io::Result<std::process::Output> {
    let (pid, child) = start_registered(|| {
        let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        Ok((child.id() as i32, child))
    })?;
    let output = child.wait_with_output();
    unregister(pid);
    output
}

impl Sandbox {
    /// The process's sandbox, detecting the host's layers on first use.
    pub fn get() -> &'static Sandbox {
        static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
        SANDBOX.get_or_init(Sandbox::detect)
    }

    fn detect() -> Sandbox {
        // SAFETY: plain syscalls without pointers.
        let root = unsafe { libc::geteuid() } == 0;
        let undumpable = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
        let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
        let seccomp_supported = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
        let filter = if seccomp_supported { seccomp::filter(std::process::id()) } else { Vec::new() };
        let namespaces = if root { SharedNamespaces::create().ok() } else { None };
        // As root, not under /tmp: runs get private tmpfs mounts over the shared writable directories, /tmp among them.
        // Unprivileged, one directory per uid: the temporary directory is shared by every user of the host.
        // SAFETY: plain syscall without pointers.
        let euid = unsafe { libc::geteuid() };
        let base = std::env::var_os("SANDBOX_DIR").map(PathBuf::from).unwrap_or_else(|| {
            if root {
                PathBuf::from("/run/codecapsule-sandbox")
            } else {
                std::env::temp_dir().join(format!("codecapsule-sandbox-{euid}"))
            }
        });
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o711).create(&base);
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o711));
        let foreign_owner = std::fs::symlink_metadata(&base).ok().map(|meta| meta.uid()).filter(|owner| *owner != euid);
        let mount_tmpfs = root && probe_private_tmpfs(&base);
        let layers = Layers {
            root,
            separate_uid: root,
            network_namespace: namespaces.is_some(),
            mount_namespace_tmpfs: mount_tmpfs,
            ipc_uts_namespaces: namespaces.is_some(),
            seccomp: !filter.is_empty(),
            no_new_privs: true,
            rlimits: true,
            process_group: true,
            child_subreaper: subreaper,
            undumpable_judge: undumpable,
        };
        tracing::info!(layers = ?layers, "sandbox layers detected");
        Sandbox { layers, filter, namespaces, base, foreign_owner, next_uid: AtomicU32::new(0) }
    }

    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// Where the boxes of this process live (SANDBOX_DIR, else /run/codecapsule-sandbox as root, else
    /// `$TMPDIR/codecapsule-sandbox-<uid>`, a directory of the user's own).
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    /// A private directory for one submission, removed (with every process of its uid) when dropped.
    pub fn new_box(&'static self) -> io::Result<SandboxBox> {
        if let Some(owner) = self.foreign_owner {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the sandbox directory {} belongs to uid {owner}, not to this judge: set SANDBOX_DIR to a directory \
                     of the judge's own",
                    self.base.display()
                ),
            ));
        }
        let dir = self.base.join(uuid::Uuid::new_v4().to_string());
        std::fs::DirBuilder::new().mode(0o711).create(&dir)?;
        let uid = self.layers.separate_uid.then(|| {
            let index = self.next_uid.fetch_add(1, Ordering::Relaxed) % SANDBOX_UIDS_PER_PROCESS;
            uids_of_this_process().start + index
        });
        let program = dir.join("program");
        std::fs::DirBuilder::new().mode(0o755).create(&program)?;
        if self.layers.mount_namespace_tmpfs {
            std::fs::DirBuilder::new().mode(0o700).create(dir.join(MOUNT_POINT))?;
        }
        let build = dir.join("build");
        std::fs::DirBuilder::new().mode(0o700).create(&build)?;
        if let Some(uid) = uid {
            chown(&build, uid)?;
        }
        Ok(SandboxBox { sandbox: self, dir, program, build, uid, runs: AtomicU32::new(0) })
    }
}

impl SharedNamespaces {
    /// Forks a child that unshares network, IPC and UTS namespaces and waits; its namespaces are opened through /proc
    /// and kept, then the child is killed. The network namespace has only a loopback device, and it is down.
    fn create() -> io::Result<SharedNamespaces> {
        let mut ready = [0i32; 2];
        // SAFETY: pipe2 fills the array; fork's child only calls async-signal-safe functions before _exit.
        if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            unsafe {
                let ok = libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) == 0;
                let byte = [u8::from(ok)];
                libc::write(ready[1], byte.as_ptr().cast(), 1);
                libc::pause();
                libc::_exit(0);
            }
        }
        unsafe { libc::close(ready[1]) };
        let mut byte = [0u8];
        let read = unsafe { libc::read(ready[0], byte.as_mut_ptr().cast(), 1) };
        unsafe { libc::close(ready[0]) };
        let open = |kind: &str| -> io::Result<OwnedFd> {
            let file = std::fs::File::open(format!("/proc/{pid}/ns/{kind}"))?;
            Ok(OwnedFd::from(file))
        };
        let namespaces = if read == 1 && byte[0] == 1 {
            (|| Ok(SharedNamespaces { net: open("net")?, ipc: open("ipc")?, uts: open("uts")? }))()
        } else {
            Err(io::Error::other("unshare of network/IPC/UTS namespaces was refused"))
        };
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        namespaces
    }
}

/// Whether a child may unshare a mount namespace and mount a tmpfs (root, and a kernel/container that allows it).
fn probe_private_tmpfs(base: &Path) -> bool {
    let Ok(target) = CString::new(base.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: the child calls only async-signal-safe functions on memory prepared before the fork.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return false;
        }
        if pid == 0 {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, c"size=1m".as_ptr().cast())
                    == 0;
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// Where a run's working directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkDir {
    /// The build directory, writable: compilers write their output there.
    Build,
    /// A fresh, empty directory for this run only.
    Fresh,
}

/// Resource limits of one run.
#[derive(Debug, Clone)]
pub struct RunLimits {
    pub wall: Duration,
    /// RLIMIT_CPU backstop, in whole seconds (the exact CPU limit is checked from rusage).
    pub cpu_seconds: u64,
    /// RLIMIT_AS; None where a runtime reserves far more address space than it uses (JVM, Mono): bounded otherwise.
    pub address_space: Option<u64>,
    /// RLIMIT_NPROC: processes and threads of the sandbox uid.
    pub processes: u64,
    pub open_files: u64,
    /// RLIMIT_FSIZE: the largest file the program may write.
    pub file_size: u64,
    pub stack: u64,
    /// Per stream (stdout, stderr).
    pub output_bytes: usize,
}

/// What to run.
pub struct Run<'a> {
    /// Absolute path of the executable (no PATH search).
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// The whole environment of the program (nothing of the judge's is passed).
    pub env: Vec<(OsString, OsString)>,
    pub work_dir: WorkDir,
    pub stdin: &'a [u8],
    pub limits: RunLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a run went.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub exit: Exit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The stream that went over the output cap (the program was killed then).
    pub output_overflow: Option<Stream>,
    pub timed_out: bool,
    pub wall: Duration,
    pub cpu: Duration,
    /// Peak resident set from wait4. It includes the judge's own peak resident set: the child starts on the judge's
    /// memory (CLONE_VM) and at exec the kernel records that memory's high-water mark as the child's: see
    /// `inherited_rss_kb`.
    pub max_rss_kb: u64,
    /// The judge's peak resident set, read after the run (it only grows, so it bounds what the child inherited): a
    /// `max_rss_kb` at or below it may be the judge's, not the program's. It matters when the judge process is larger
    /// than the program, as the dev host with its language runtimes loaded.
    pub inherited_rss_kb: u64,
}

/// One submission's private directory and uid.
pub struct SandboxBox {
    sandbox: &'static Sandbox,
    dir: PathBuf,
    program: PathBuf,
    build: PathBuf,
    uid: Option<u32>,
    runs: AtomicU32,
}

impl SandboxBox {
    /// Read-only to the program: the judge writes sources and collected build outputs here.
    pub fn program_dir(&self) -> &Path {
        &self.program
    }

    pub fn build_dir(&self) -> &Path {
        &self.build
    }

    /// Writes a file of the judge's into the program directory (never through a link: the name is plain).
    pub fn write_program_file(&self, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
        let path = self.program.join(name);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&path)?;
        file.write_all(contents)?;
        Ok(path)
    }

    /// Copies the regular files a compiler left in the build directory into the program directory, where the program
    /// cannot change them between tests. Links and special files are skipped, never followed.
    pub fn collect_build(&self, extension: &str) -> io::Result<Vec<PathBuf>> {
        let mut collected = Vec::new();
        for entry in std::fs::read_dir(&self.build)? {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(extension) || !entry.file_type()?.is_file() {
                continue;
            }
            let mut source =
                std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(entry.path())?;
            let target = self.program.join(&name);
            let mut copy = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&target)?;
            io::copy(&mut source, &mut copy)?;
            collected.push(target);
        }
        Ok(collected)
    }

    /// Runs one program to its end, its timeout or its output cap, then removes everything it left behind.
    pub fn run(&self, run: &Run) -> io::Result<RunResult> {
        let private_tmpfs = self.sandbox.layers.mount_namespace_tmpfs;
        match run.work_dir {
            WorkDir::Build => self.run_in(run, &self.build),
            // Each run mounts a new tmpfs over the box's one mount point, in a mount namespace of its own that dies
            // with it: the directory on the host is never written, so it serves every run.
            WorkDir::Fresh if private_tmpfs => self.run_in(run, &self.dir.join(MOUNT_POINT)),
            WorkDir::Fresh => {
                let work = self.dir.join(format!("work-{}", self.runs.fetch_add(1, Ordering::Relaxed)));
                std::fs::DirBuilder::new().mode(0o700).create(&work)?;
                if let Some(uid) = self.uid {
                    chown(&work, uid)?;
                }
                let result = self.run_in(run, &work);
                // remove_dir_all does not follow symbolic links the program may have planted.
                let _ = std::fs::remove_dir_all(&work);
                result
            }
        }
    }

    fn run_in(&self, run: &Run, work: &Path) -> io::Result<RunResult> {
        let sandbox = self.sandbox;
        let (program, args, env) = spawn::command_line(run.program, &run.args, &run.env)?;
        let setup = ChildSetup {
            program,
            args,
            env,
            cwd: spawn::c_string(work.as_os_str().as_bytes())?,
            tmpfs: (run.work_dir == WorkDir::Fresh && sandbox.layers.mount_namespace_tmpfs).then(|| {
                let uid = self.uid.unwrap_or(0);
                CString::new(format!(
                    "size={WORK_TMPFS_BYTES},nr_inodes={WORK_TMPFS_INODES},mode=0700,uid={uid},gid={uid}"
                ))
                .expect("no NUL in tmpfs options")
            }),
            namespaces: sandbox.namespaces.as_ref().map(|n| [n.net.as_raw_fd(), n.ipc.as_raw_fd(), n.uts.as_raw_fd()]),
            rlimits: rlimits(&run.limits, self.uid.is_none()),
            uid: self.uid,
            filter: &sandbox.filter,
        };
        let started = Instant::now();
        let (pid, child) = start_registered(|| {
            let child = spawn::spawn(&setup)?;
            Ok((child.pid, child))
        })?;
        let streams = Streams::new(child.stdin, child.stdout, child.stderr, run.stdin, run.limits.output_bytes);
        let mut streams = match streams {
            Ok(streams) => streams,
            Err(err) => {
                kill_group(pid);
                let _ = reap(pid);
                unregister(pid);
                return Err(err);
            }
        };
        let exited = streams.pump(Some(child.pidfd.as_fd()), started + run.limits.wall, || kill_group(pid));
        let timed_out = !exited;
        if timed_out {
            kill_group(pid);
        }
        let reaped = reap(pid);
        unregister(pid);
        let (status, usage) = reaped?;
        let wall = started.elapsed();
        // Every writer of the pipes dies here, so what is left in them can be read to its end.
        self.kill_leftovers(pid);
        streams.close_input();
        streams.pump(None, Instant::now() + DRAIN_GRACE, || kill_group(pid));
        let collected = streams.finish();
        let exit = if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        };
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        Ok(RunResult {
            exit,
            stdout: collected.stdout,
            stderr: collected.stderr,
            output_overflow: collected.overflow,
            timed_out,
            wall,
            cpu,
            max_rss_kb: usage.ru_maxrss as u64,
            inherited_rss_kb: peak_resident_kb_of_self(),
        })
    }

    /// Kills the run's process group, every process of the box's uid, and orphans reparented to the judge.
    fn kill_leftovers(&self, pid: i32) {
        kill_group(pid);
        if let Some(uid) = self.uid {
            kill_all_of_uid(uid);
        } else if self.sandbox.layers.child_subreaper {
            sweep_until_clear();
        }
    }
}

impl Drop for SandboxBox {
    fn drop(&mut self) {
        if let Some(uid) = self.uid {
            kill_all_of_uid_and_wait(uid);
        } else if self.sandbox.layers.child_subreaper {
            sweep_until_clear();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This process's peak resident set in KiB (getrusage: one syscall, cheap enough for every run).
fn peak_resident_kb_of_self() -> u64 {
    // SAFETY: rusage is plain memory for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    u64::try_from(usage.ru_maxrss).unwrap_or(0)
}

fn rlimits(limits: &RunLimits, shared_uid: bool) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let mut list = vec![
        (libc::RLIMIT_CPU, limits.cpu_seconds.max(1)),
        (libc::RLIMIT_FSIZE, limits.file_size),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_STACK, limits.stack),
        (libc::RLIMIT_MSGQUEUE, 0),
        (libc::RLIMIT_MEMLOCK, 0),
    ];
    // NPROC counts every process and thread of the uid. With a uid per box it is exact; sharing the judge's uid
    // (Lambda), the judge's own tasks count too, so the allowance goes on top of them.
    let processes = if shared_uid { limits.processes + tasks_of_current_uid() } else { limits.processes };
    list.push((libc::RLIMIT_NPROC, processes));
    if let Some(bytes) = limits.address_space {
        list.push((libc::RLIMIT_AS, bytes));
    }
    list
}

fn reap(pid: i32) -> io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain memory for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn timeval(value: libc::timeval) -> Duration {
    Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
}

fn kill_group(pid: i32) {
    // SAFETY: signalling a process group we created (setsid made pid its leader).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Kills every process of `uid` from a short-lived child that takes that uid: kill(-1) then reaches exactly them.
/// One round is enough against a fork bomb (the kernel fails a fork whose parent has a fatal signal pending); a
/// second covers a child created while the first was delivered. Killed processes whose parent died were reparented
/// to the judge, and the sweep reaps them.
#[allow(deprecated)] // libc marks vfork deprecated for Rust code at large; here the child only makes raw syscalls.
fn kill_all_of_uid(uid: u32) {
    // vfork: the helper borrows the judge's memory for three raw syscalls and exits, so no page tables are copied.
    // Raw syscalls, not libc's wrappers: glibc's setresuid would try to change the uid of every thread it knows of,
    // which in a vfork child are the judge's own threads.
    // SAFETY: the child touches no memory, calls only raw syscalls and _exit; the parent is suspended meanwhile.
    let forked = start_registered(|| unsafe {
        let pid = libc::vfork();
        if pid == 0 {
            let (uid, minus_one) = (uid as libc::c_long, -1 as libc::c_long);
            if libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0 {
                libc::syscall(libc::SYS_kill, minus_one, libc::SIGKILL as libc::c_long);
                libc::syscall(libc::SYS_sched_yield);
                libc::syscall(libc::SYS_kill, minus_one, libc::SIGKILL as libc::c_long);
            }
            libc::_exit(0);
        }
        if pid < 0 { Err(io::Error::last_os_error()) } else { Ok((pid, ())) }
    });
    if let Ok((pid, ())) = forked {
        // SAFETY: reaping our own helper.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        unregister(pid);
    }
    sweep_orphans();
}

/// At the end of a submission: kill the uid's processes until /proc shows none (zombies included: a zombie is
/// reparented to the judge only once its parent has finished dying).
fn kill_all_of_uid_and_wait(uid: u32) {
    for _ in 0..100 {
        kill_all_of_uid(uid);
        if !processes().any(|process| process.uid == uid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tracing::error!(uid, "processes of a sandbox uid survived every kill: the uid is not reused until they are gone");
}

/// Kills and reaps processes reparented to the judge (it is a child subreaper): children it did not start itself.
/// As root, only those running as one of this judge's sandbox uids: every program it runs has one, and the host
/// process's other children (a database the dev host or a test started, its tools) are none of its business. Without
/// root every run shares the judge's uid, so any child it did not start is taken for a run's leftover: such a judge
/// process (Lambda) must start nothing else, or start it through [`run_trusted`].
fn sweep_orphans() {
    let me = std::process::id() as i32;
    // SAFETY: no arguments.
    let sandbox_uids = (unsafe { libc::geteuid() } == 0).then(uids_of_this_process);
    let ours_to_kill = |pid: i32| match &sandbox_uids {
        None => true,
        Some(range) => uid_of(pid).is_some_and(|uid| range.contains(&uid)),
    };
    // Held throughout, so no child can be started (and not yet registered) while the sweep runs.
    let children = OWN_CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let own = children.as_ref();
    for pid in children_of(me).into_iter().filter(|pid| !own.is_some_and(|own| own.contains(pid)) && ours_to_kill(*pid))
    {
        // SAFETY: signalling and reaping a child of ours that is no run's.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Sweeps until the judge has no child it did not start. A process killed with its group reaches the judge only
/// once its parent has died (then it is reparented here), so one sweep can come too early: repeat, briefly.
fn sweep_until_clear() {
    let me = std::process::id() as i32;
    for _ in 0..200 {
        sweep_orphans();
        let own = OWN_CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone().unwrap_or_default();
        if children_of(me).iter().all(|pid| own.contains(pid)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tracing::error!("children the judge did not start survived every sweep");
}

/// The children of process `me`: from /proc/self/task/*/children (one small file per thread), or, where the kernel
/// lacks those files, from a scan of every process.
fn children_of(me: i32) -> Vec<i32> {
    let mut found = false;
    let mut children = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            found = true;
            children.extend(list.split_whitespace().filter_map(|pid| pid.parse::<i32>().ok()));
        }
    }
    if !found {
        children = processes().filter(|process| process.ppid == me).map(|process| process.pid).collect();
    }
    children
}

struct ProcessInfo {
    pid: i32,
    ppid: i32,
    uid: u32,
}

/// Every process in /proc, with its parent and owner.
fn processes() -> impl Iterator<Item = ProcessInfo> {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| status.lines().find_map(|line| line.strip_prefix(name)).map(str::trim);
        Some(ProcessInfo {
            pid,
            ppid: field("PPid:")?.parse().ok()?,
            uid: field("Uid:")?.split_whitespace().next()?.parse().ok()?,
        })
    })
}

/// A process's real uid, from /proc (zombies included).
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

fn tasks_of_current_uid() -> u64 {
    // SAFETY: no arguments.
    let uid = unsafe { libc::getuid() };
    processes()
        .filter(|process| process.uid == uid)
        .map(|process| std::fs::read_dir(format!("/proc/{}/task", process.pid)).map_or(1, |tasks| tasks.count() as u64))
        .sum()
}

fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}
