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
//! - no_new_privs, a Landlock domain of its own where the kernel has Landlock (see [`landlock`]: writes only beneath
//!   its work directory; no ptrace, signals or abstract sockets across runs), and a seccomp filter (see [`seccomp`]:
//!   no System V IPC, message queues, sockets or file locks, the other channels between runs);
//! - as root: an unprivileged uid/gid with no supplementary groups, an empty network namespace (made once, joined per
//!   run), private IPC and UTS namespaces, and a private mount namespace for the tmpfs.
//!
//! Files by job, one per facility: `detect` (what the host allows), `boxes` (a submission's directory and its runs),
//! `spawn` (how a program starts), `pipes` (its standard streams), `seccomp` (the syscall filter), `landlock` (a
//! domain per run), `reaper` (nothing outlives a run).

#![warn(missing_docs)]

mod boxes;
mod detect;
mod landlock;
mod pipes;
mod reaper;
mod seccomp;
mod spawn;

pub use boxes::SandboxBox;
pub use reaper::run_trusted;

use serde::Serialize;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// First of the user ids given to sandboxes when the judge runs as root (one per submission, recycled).
/// Sandbox user ids, when the judge runs as root: one per submission, from a block of its own per judge process (by
/// pid), so that two judge processes on one host never share a uid (killing one's leftovers would kill the other's
/// runs). All of them lie in [`SANDBOX_UID_RANGE`], far above the ids of real users and system accounts.
const SANDBOX_UID_BASE: u32 = 200_000;
const SANDBOX_UIDS_PER_PROCESS: u32 = 1_000;
const SANDBOX_UID_BLOCKS: u32 = 4_096;
/// Every sandbox uid of every judge process on the host.
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
    /// The judge runs as root (the other root-only layers depend on it).
    pub root: bool,
    /// Each submission runs as a uid of its own.
    pub separate_uid: bool,
    /// Runs join an empty network namespace.
    pub network_namespace: bool,
    /// Runs get private tmpfs mounts in a mount namespace of their own.
    pub mount_namespace_tmpfs: bool,
    /// Runs join private IPC and UTS namespaces.
    pub ipc_uts_namespaces: bool,
    /// A seccomp filter refuses the syscalls no judged runtime needs.
    pub seccomp: bool,
    /// Each run is a Landlock domain of its own that may write only beneath its work directory and its private tmpfs
    /// mounts, and cannot ptrace (nor read the /proc files of) a process outside it.
    pub landlock: bool,
    /// The run's Landlock domain also keeps it from signalling any process outside it, or reaching its abstract unix
    /// sockets (Linux 6.12+).
    pub landlock_scopes: bool,
    /// Runs cannot gain privileges through exec.
    pub no_new_privs: bool,
    /// CPU, memory, file size, processes, open files, core and stack are limited.
    pub rlimits: bool,
    /// Each run is a session and process group of its own, killed whole.
    pub process_group: bool,
    /// The judge adopts orphans (child subreaper), so nothing escapes the clean-up.
    pub child_subreaper: bool,
    /// The judge's own /proc files belong to root (not dumpable).
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
    /// What Landlock offers on this kernel, where it is enabled.
    landlock: Option<landlock::Support>,
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
    /// The wall-clock timeout.
    pub wall: Duration,
    /// RLIMIT_CPU backstop, in whole seconds (the exact CPU limit is checked from rusage).
    pub cpu_seconds: u64,
    /// RLIMIT_AS; None where a runtime reserves far more address space than it uses (JVM, Mono): bounded otherwise.
    pub address_space: Option<u64>,
    /// RLIMIT_NPROC: processes and threads of the sandbox uid.
    pub processes: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_FSIZE: the largest file the program may write.
    pub file_size: u64,
    /// RLIMIT_STACK, in bytes.
    pub stack: u64,
    /// Per stream (stdout, stderr).
    pub output_bytes: usize,
}

/// What to run.
pub struct Run<'a> {
    /// Absolute path of the executable (no PATH search).
    pub program: &'a Path,
    /// The program and its arguments.
    pub args: Vec<OsString>,
    /// The whole environment of the program (nothing of the judge's is passed).
    pub env: Vec<(OsString, OsString)>,
    /// Where the run's working directory is.
    pub work_dir: WorkDir,
    /// What the program reads on stdin.
    pub stdin: &'a [u8],
    /// The run's resource limits.
    pub limits: RunLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// How a program ended.
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// One of a program's output streams.
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a run went.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// How the program ended.
    pub exit: Exit,
    /// What it wrote to stdout, up to the cap.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, up to the cap.
    pub stderr: Vec<u8>,
    /// The stream that went over the output cap (the program was killed then).
    pub output_overflow: Option<Stream>,
    /// Whether the wall-clock timeout killed it.
    pub timed_out: bool,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// CPU time (user + system) of the run, from wait4.
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
