//! Starting a sandboxed program: what posix_spawn does, with the sandbox's setup between the clone and the exec.
//!
//! std's `Command` forks as soon as it is given a `pre_exec` hook, copying the judge's page tables on every run (and
//! the judge then takes copy-on-write faults on its own memory). posix_spawn avoids both with
//! clone(CLONE_VM | CLONE_VFORK): the child borrows the judge's memory, on a stack of its own, until it execs, while
//! the calling thread waits. It takes no hook, so this module does the same by hand:
//! - everything the child needs (paths, argv, envp, rlimits, the seccomp program) is prepared in the parent; the
//!   child allocates nothing, takes no lock and cannot panic;
//! - the child makes plain syscalls only. glibc's setuid family is avoided: it would signal every thread glibc knows,
//!   which in a child sharing the judge's memory are the judge's threads; raw syscalls change the child alone;
//! - every signal is blocked in the calling thread around the clone, and the child resets every handler to the
//!   default before unblocking, so no handler of the judge's ever runs on the judge's memory in the child;
//! - a failure before exec is written to the plan's `failure` slot, in the shared memory, which the parent reads once
//!   it resumes.

use std::cell::UnsafeCell;
use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{MASK_TMPFS_OPTIONS, MASKED_DIRS};

/// Signals the kernel knows (1 to 64), and the size of its signal set, as rt_sigaction takes them.
const KERNEL_SIGNALS: libc::c_int = 64;
const SIGSET_BYTES: libc::size_t = 8;

/// The child's stack until exec: its frames are a few syscall wrappers deep (posix_spawn's is smaller).
const CHILD_STACK_BYTES: usize = 64 * 1024;

/// What the child does between clone and exec, all of it prepared by the parent.
pub(super) struct ChildSetup<'a> {
    pub program: CString,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: CString,
    /// The options of a private tmpfs mounted over `cwd` in a mount namespace of the run's own, which also covers the
    /// host's shared writable directories; None: no mount namespace.
    pub tmpfs: Option<CString>,
    /// The prepared network, IPC and UTS namespaces to join.
    pub namespaces: Option<[RawFd; 3]>,
    /// The run's Landlock domain, made in the child after its mounts.
    pub landlock: Option<crate::landlock::Plan>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    pub uid: Option<u32>,
    pub filter: &'a [libc::sock_filter],
}

/// A started program: its pid, a pidfd that becomes readable when it exits, and the judge's ends of its pipes.
pub(super) struct Child {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The step of the child's setup that failed, for the error message.
#[derive(Debug, Clone, Copy)]
enum Step {
    Streams,
    Session,
    JoinNamespaces,
    MountNamespace,
    WorkTmpfs,
    MaskTmpfs,
    WorkDirectory,
    NoNewPrivileges,
    Landlock,
    Rlimits,
    DropPrivileges,
    DeathSignal,
    Seccomp,
    Signals,
    Exec,
}

/// Everything the child reads, in the parent's memory: pointers are made before the clone.
struct Plan<'a> {
    setup: &'a ChildSetup<'a>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The child's ends of stdin, stdout and stderr.
    streams: [RawFd; 3],
    /// Written by the child when a step fails (the parent is suspended until the child has exited then, so the two
    /// never touch it at once), read by the parent once it resumes.
    failure: UnsafeCell<Option<(Step, i32)>>,
}

/// Starts `setup.program` in the sandbox with three fresh pipes as its standard streams.
pub(super) fn spawn(setup: &ChildSetup<'_>) -> io::Result<Child> {
    let (stdin_read, stdin_write) = pipe()?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let null_terminated = |strings: &[CString]| {
        strings.iter().map(|string| string.as_ptr()).chain(std::iter::once(std::ptr::null())).collect::<Vec<_>>()
    };
    let plan = Plan {
        setup,
        argv: null_terminated(&setup.args),
        envp: null_terminated(&setup.env),
        streams: [stdin_read.as_raw_fd(), stdout_write.as_raw_fd(), stderr_write.as_raw_fd()],
        failure: UnsafeCell::new(None),
    };
    let stack = ChildStack::new()?;
    let mut pidfd: libc::c_int = -1;
    // SAFETY: every signal is blocked in this thread while the child borrows its memory (the previous mask restored
    // right after); `plan` and `stack` outlive the child's use of them, since CLONE_VFORK resumes this thread only
    // once the child has exec'd or exited.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let pid = libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            &plan as *const Plan as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        );
        let error = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        if pid < 0 {
            return Err(error);
        }
        pid
    };
    drop(stack);
    if pidfd < 0 {
        // SAFETY: the child is ours; without a pidfd it cannot be supervised, so it goes at once.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(io::Error::other(
            "this kernel gave no pidfd for the sandboxed program: the sandbox needs Linux 5.9 or later",
        ));
    }
    // SAFETY: CLONE_PIDFD stored a new descriptor of ours.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: the child is gone (exec'd or exited): nothing else touches the slot now.
    if let Some((step, errno)) = unsafe { std::ptr::read_volatile(plan.failure.get()) } {
        let errno = io::Error::from_raw_os_error(errno);
        // SAFETY: reaping the child that just exited.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        let what = setup.program.to_string_lossy();
        return Err(io::Error::new(
            errno.kind(),
            format!("starting {what} in the sandbox failed at {step:?}: {errno}"),
        ));
    }
    Ok(Child { pid, pidfd, stdin: stdin_write, stdout: stdout_read, stderr: stderr_read })
}

/// The child's stack: its own mapping with a guard page below it, so an overflow faults in the child instead of
/// writing over the judge's memory.
struct ChildStack {
    mapping: *mut libc::c_void,
    length: usize,
}

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        // SAFETY: sysconf has no preconditions; mmap makes a new private mapping, mprotect changes only its first page.
        unsafe {
            let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
            let length = CHILD_STACK_BYTES + page;
            let mapping = libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if mapping == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = ChildStack { mapping, length };
            if libc::mprotect(mapping, page, libc::PROT_NONE) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// Where the stack starts: it grows down from the mapping's end (page-aligned, so 16-byte aligned as both ABIs
    /// require).
    fn top(&self) -> *mut libc::c_void {
        self.mapping.wrapping_byte_add(self.length)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used (the child has exec'd or exited).
        unsafe { libc::munmap(self.mapping, self.length) };
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut ends = [0; 2];
    // SAFETY: pipe2 fills the array with two new descriptors, which we own.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) })
}

/// The child: set up, exec; on failure record the step and errno and exit.
extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the parent passed a pointer to a Plan that lives until it resumes.
    let plan = unsafe { &*(plan as *const Plan) };
    // SAFETY: plain syscalls on memory the parent prepared (see the module's comment).
    let failure = unsafe { plan.set_up_and_exec() };
    // SAFETY: the parent is suspended until this child exits, so the slot is this child's alone.
    unsafe { std::ptr::write_volatile(plan.failure.get(), Some(failure)) };
    // SAFETY: leaving without running anything of the judge's.
    unsafe { libc::_exit(127) }
}

/// A syscall's result, or the step that failed and its errno.
fn check(step: Step, result: libc::c_long) -> Result<(), (Step, i32)> {
    if result < 0 { Err((step, io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))) } else { Ok(()) }
}

impl Plan<'_> {
    /// Returns only on failure.
    unsafe fn set_up_and_exec(&self) -> (Step, i32) {
        match unsafe { self.set_up() } {
            Err(failure) => failure,
            Ok(()) => {
                unsafe { libc::execve(self.setup.program.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
                (Step::Exec, io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
            }
        }
    }

    unsafe fn set_up(&self) -> Result<(), (Step, i32)> {
        let setup = self.setup;
        unsafe {
            // The pipes become 0, 1, 2 (dup2 clears close-on-exec on the copy); everything else the judge has open
            // is closed at exec, whether or not it was opened close-on-exec.
            for (target, fd) in self.streams.iter().enumerate() {
                let target = target as RawFd;
                if *fd == target {
                    check(Step::Streams, libc::fcntl(target, libc::F_SETFD, 0).into())?;
                } else {
                    check(Step::Streams, libc::dup2(*fd, target).into())?;
                }
            }
            check(
                Step::Streams,
                libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC),
            )?;
            check(Step::Session, libc::setsid().into())?;
            if let Some([net, ipc, uts]) = setup.namespaces {
                check(Step::JoinNamespaces, libc::setns(net, libc::CLONE_NEWNET).into())?;
                check(Step::JoinNamespaces, libc::setns(ipc, libc::CLONE_NEWIPC).into())?;
                check(Step::JoinNamespaces, libc::setns(uts, libc::CLONE_NEWUTS).into())?;
            }
            if let Some(options) = &setup.tmpfs {
                check(Step::MountNamespace, libc::unshare(libc::CLONE_NEWNS).into())?;
                let private = libc::MS_REC | libc::MS_PRIVATE;
                check(Step::MountNamespace, mount(c"none", c"/", None, private, None))?;
                let flags = libc::MS_NOSUID | libc::MS_NODEV;
                check(Step::WorkTmpfs, mount(c"tmpfs", &setup.cwd, Some(c"tmpfs"), flags, Some(options)))?;
                for dir in MASKED_DIRS {
                    // A directory this host lacks is skipped: ENOENT is not a failure of the sandbox.
                    let mounted = mount(c"tmpfs", dir, Some(c"tmpfs"), flags, Some(MASK_TMPFS_OPTIONS));
                    if mounted < 0 && *libc::__errno_location() != libc::ENOENT {
                        check(Step::MaskTmpfs, mounted)?;
                    }
                }
            }
            // After the mount, so the working directory is the tmpfs and not what it covers.
            check(Step::WorkDirectory, libc::chdir(setup.cwd.as_ptr()).into())?;
            // no_new_privs, then the Landlock domain (which needs it), before the rlimits: making the domain opens a
            // few descriptors, and until exec the child still holds every descriptor of the judge's (close-on-exec),
            // more than the run's open-file limit allows.
            check(Step::NoNewPrivileges, libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0).into())?;
            if let Some(plan) = &setup.landlock {
                plan.restrict().map_err(|errno| (Step::Landlock, errno))?;
            }
            for (resource, value) in &setup.rlimits {
                let limit = libc::rlimit { rlim_cur: *value, rlim_max: *value };
                check(Step::Rlimits, libc::setrlimit(*resource, &limit).into())?;
            }
            if let Some(uid) = setup.uid {
                let id = libc::c_long::from(uid);
                check(Step::DropPrivileges, libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()))?;
                check(Step::DropPrivileges, libc::syscall(libc::SYS_setresgid, id, id, id))?;
                check(Step::DropPrivileges, libc::syscall(libc::SYS_setresuid, id, id, id))?;
            }
            // After setuid, which clears it: the program dies with the judge.
            check(Step::DeathSignal, libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0).into())?;
            if !setup.filter.is_empty() {
                let program = libc::sock_fprog {
                    len: setup.filter.len() as u16,
                    filter: setup.filter.as_ptr() as *mut libc::sock_filter,
                };
                check(Step::Seccomp, libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &program))?;
            }
            // Default dispositions for every signal (the judge ignores SIGPIPE, as every Rust program does, and
            // ignored signals survive exec), then the signals the parent blocked around the clone are unblocked: the
            // program starts with none blocked. The raw syscall, because glibc refuses to touch its own two
            // real-time signals (32, 33), which an ignoring parent may also have passed on. All-zero is SIG_DFL
            // with no flags and an empty mask in the kernel's struct on every architecture.
            let default = [0u64; 4];
            for signal in 1..=KERNEL_SIGNALS {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    let no_old_action = std::ptr::null_mut::<u64>();
                    libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), no_old_action, SIGSET_BYTES);
                }
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(Step::Signals, libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()).into())?;
        }
        Ok(())
    }
}

/// mount(2) with optional filesystem type and options.
unsafe fn mount(
    source: &CStr,
    target: &CStr,
    kind: Option<&CStr>,
    flags: libc::c_ulong,
    options: Option<&CStr>,
) -> libc::c_long {
    let kind = kind.map_or(std::ptr::null(), CStr::as_ptr);
    let options = options.map_or(std::ptr::null(), |options| options.as_ptr().cast());
    // SAFETY: NUL-terminated strings or null pointers, as mount(2) takes.
    unsafe { libc::mount(source.as_ptr(), target.as_ptr(), kind, flags, options) }.into()
}

/// A C string of a path or an argument (the sandbox's inputs never hold NUL: the judge builds them).
pub(super) fn c_string(bytes: impl AsRef<[u8]>) -> io::Result<CString> {
    CString::new(bytes.as_ref()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument"))
}

/// argv for `program` and `args`, and `KEY=value` strings for the environment.
pub(super) fn command_line(
    program: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
) -> io::Result<(CString, Vec<CString>, Vec<CString>)> {
    let program = c_string(program.as_os_str().as_bytes())?;
    let args = std::iter::once(Ok(program.clone()))
        .chain(args.iter().map(|arg| c_string(arg.as_bytes())))
        .collect::<io::Result<Vec<_>>>()?;
    let env = env
        .iter()
        .map(|(key, value)| c_string([key.as_bytes(), b"=", value.as_bytes()].concat()))
        .collect::<io::Result<Vec<_>>>()?;
    Ok((program, args, env))
}
