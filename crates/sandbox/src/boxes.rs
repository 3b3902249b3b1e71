//! A submission's box: its private directory (program files read-only to the program, a build directory) and, as
//! root, a uid of its own; each run in it, and the clean-up when it is dropped.

use crate::pipes::Streams;
use crate::reaper::{
    kill_all_of_uid, kill_all_of_uid_and_wait, kill_group, reap, start_registered, sweep_until_clear,
    tasks_of_current_uid, timeval, unregister,
};
use crate::spawn::{self, ChildSetup};
use crate::{
    DRAIN_GRACE, Exit, MASKED_DIRS, MOUNT_POINT, Run, RunLimits, RunResult, SANDBOX_UIDS_PER_PROCESS, Sandbox,
    WORK_TMPFS_BYTES, WORK_TMPFS_INODES, WorkDir, uids_of_this_process,
};
use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

impl Sandbox {
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

impl Sandbox {
    /// A directory of this judge process's own for files it shares read-only with every run (javac's class archive):
    /// `shared-<pid>` in the sandbox directory, 0755 and the judge's, so a run may read what is in it and write nothing
    /// there (it is no channel between runs). Made on first use; those of judge processes that are gone are removed.
    pub fn shared_dir(&'static self) -> io::Result<&'static Path> {
        static SHARED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        if let Some(dir) = SHARED.get() {
            return Ok(dir);
        }
        if let Some(owner) = self.foreign_owner {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the sandbox directory {} belongs to uid {owner}", self.base.display()),
            ));
        }
        for entry in std::fs::read_dir(&self.base)?.flatten() {
            let name = entry.file_name();
            let gone = name
                .to_str()
                .and_then(|name| name.strip_prefix("shared-"))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = self.base.join(format!("shared-{}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
            _ => {}
        }
        Ok(SHARED.get_or_init(|| dir))
    }
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

    /// Writable by the submission's uid: compilers put their output here.
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
        let cwd = spawn::c_string(work.as_os_str().as_bytes())?;
        let tmpfs = (run.work_dir == WorkDir::Fresh && sandbox.layers.mount_namespace_tmpfs).then(|| {
            let uid = self.uid.unwrap_or(0);
            CString::new(format!("size={WORK_TMPFS_BYTES},nr_inodes={WORK_TMPFS_INODES},mode=0700,uid={uid},gid={uid}"))
                .expect("no NUL in tmpfs options")
        });
        // Writable in the run's Landlock domain: its work directory and, in its mount namespace, its private tmpfs
        // mounts over the host's shared directories.
        let landlock = sandbox.landlock.map(|support| {
            let mut writable = vec![cwd.clone()];
            if tmpfs.is_some() {
                writable.extend(MASKED_DIRS.iter().map(|dir| (*dir).to_owned()));
            }
            support.plan(writable)
        });
        let setup = ChildSetup {
            program,
            args,
            env,
            cwd,
            tmpfs,
            namespaces: sandbox.namespaces.as_ref().map(|n| [n.net.as_raw_fd(), n.ipc.as_raw_fd(), n.uts.as_raw_fd()]),
            landlock,
            rlimits: rlimits(&run.limits, self.uid.is_none()),
            uid: self.uid,
            filter: &sandbox.filter,
        };
        let started = Instant::now();
        let began = std::time::SystemTime::now();
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
        if !sandbox.layers.mount_namespace_tmpfs && !sandbox.layers.landlock {
            sweep_shared_dirs(began, &sandbox.base);
        }
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
pub(crate) fn peak_resident_kb_of_self() -> u64 {
    // SAFETY: rusage is plain memory for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    u64::try_from(usage.ru_maxrss).unwrap_or(0)
}

pub(crate) fn rlimits(limits: &RunLimits, shared_uid: bool) -> Vec<(libc::__rlimit_resource_t, u64)> {
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

pub(crate) fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}

/// Where a run could write that a later run can read, when runs get neither private mounts (no mount namespace) nor a
/// Landlock domain confining their writes (an unprivileged judge on a kernel without Landlock): the host's shared
/// writable directories. After each run, every entry there of the judge's uid made or changed since the run began is
/// removed (directories whole, without following links), except `keep` (the sandbox's own directory).
fn sweep_shared_dirs(since: std::time::SystemTime, keep: &Path) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    for dir in MASKED_DIRS {
        let Ok(entries) = std::fs::read_dir(std::ffi::OsStr::from_bytes(dir.to_bytes())) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if keep.starts_with(&path) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            // The change time is set when an entry is made and whenever it changes: what a run made is at least as
            // new as the run.
            let changed = std::time::UNIX_EPOCH
                + std::time::Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec().clamp(0, 999_999_999) as u32);
            if meta.uid() != euid || changed < since {
                continue;
            }
            let _ = if meta.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}
