//! Nothing outlives a run: the registry of the judge's own children, reaping, killing a run's process group and
//! every process of its uid, and sweeping orphans reparented to the judge (a child subreaper).

use crate::uids_of_this_process;
use std::collections::HashSet;
use std::io;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Every child the judge itself started and has not reaped yet (sandboxed programs, helpers, version probes). The
/// orphan sweep kills only children that are not in it, and a child is started and registered under this lock, so a
/// sweep in another thread can never take a live child in the instant between its fork and its registration.
pub(crate) static OWN_CHILDREN: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Starts a child through `start` with the registry locked, and registers it.
pub(crate) fn start_registered<T>(start: impl FnOnce() -> io::Result<(i32, T)>) -> io::Result<(i32, T)> {
    let mut children = OWN_CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (pid, value) = start()?;
    if pid > 0 {
        children.get_or_insert_with(HashSet::new).insert(pid);
    }
    Ok((pid, value))
}

pub(crate) fn unregister(pid: i32) {
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

pub(crate) fn reap(pid: i32) -> io::Result<(i32, libc::rusage)> {
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

pub(crate) fn timeval(value: libc::timeval) -> Duration {
    Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
}

pub(crate) fn kill_group(pid: i32) {
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
pub(crate) fn kill_all_of_uid(uid: u32) {
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
pub(crate) fn kill_all_of_uid_and_wait(uid: u32) {
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
pub(crate) fn sweep_orphans() {
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
pub(crate) fn sweep_until_clear() {
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
pub(crate) fn children_of(me: i32) -> Vec<i32> {
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

pub(crate) struct ProcessInfo {
    pid: i32,
    ppid: i32,
    uid: u32,
}

/// Every process in /proc, with its parent and owner.
pub(crate) fn processes() -> impl Iterator<Item = ProcessInfo> {
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
pub(crate) fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

pub(crate) fn tasks_of_current_uid() -> u64 {
    // SAFETY: no arguments.
    let uid = unsafe { libc::getuid() };
    processes()
        .filter(|process| process.uid == uid)
        .map(|process| std::fs::read_dir(format!("/proc/{}/task", process.pid)).map_or(1, |tasks| tasks.count() as u64))
        .sum()
}
