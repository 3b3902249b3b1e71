//! Landlock scoping: each run is a Landlock domain of its own, so it cannot signal, ptrace (nor open the
//! ptrace-guarded /proc files of: fd, mem, environ, maps) or reach the abstract unix sockets of any process outside
//! it. Runs of one judge share a uid where the judge is not root (as on Lambda), and there nothing else keeps one run
//! from signalling a run beside it or reading its pipes through /proc/<pid>/fd.
//!
//! Needs Landlock ABI 6 (Linux 6.12) for the signal and abstract-socket scopes; the ptrace rule holds from ABI 1. The
//! ruleset is made once per process and holds no filesystem or network rules: only `scoped`. Each run's child calls
//! landlock_restrict_self on it after no_new_privs, which makes a new domain per run.

use std::os::fd::{FromRawFd, OwnedFd};

/// The first ABI with the signal and abstract-unix-socket scopes.
const SCOPES_ABI: libc::c_long = 6;
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
const LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const LANDLOCK_SCOPE_SIGNAL: u64 = 1 << 1;

/// `struct landlock_ruleset_attr` as of ABI 6.
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// The kernel's Landlock ABI version, if Landlock is enabled.
pub(super) fn abi() -> Option<libc::c_long> {
    // SAFETY: the version query takes no attribute (null, size 0).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version > 0).then_some(version)
}

/// The scoping ruleset, where the kernel has the scopes (its descriptor is close-on-exec).
pub(super) fn scopes() -> Option<OwnedFd> {
    if abi()? < SCOPES_ABI {
        return None;
    }
    let attr = RulesetAttr {
        handled_access_fs: 0,
        handled_access_net: 0,
        scoped: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
    };
    // SAFETY: `attr` is a valid ruleset attribute of the size given.
    let fd = unsafe {
        libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, size_of::<RulesetAttr>(), 0)
    };
    // SAFETY: a new descriptor this process owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
