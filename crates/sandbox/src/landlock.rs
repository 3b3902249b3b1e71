//! Landlock: each run is a Landlock domain of its own, made in the child after its mounts, just before seccomp.
//!
//! - Filesystem writes (ABI 1+): the run may create, write, truncate, rename or remove files beneath its work
//!   directory (and, as root, beneath its private tmpfs over /tmp, /var/tmp, /dev/shm, /run/lock) and write /dev/null,
//!   and nowhere else. Reads are not confined (the runtimes read their libraries wherever they are installed). Where
//!   the judge is not root (as on Lambda) every run has the judge's uid and the host's /tmp: without this, a run could
//!   leave files there for a later run, or pass them to a run beside it.
//! - Scopes (ABI 6, Linux 6.12+): no signals to, and no abstract unix socket of, any process outside the domain.
//! - ptrace (ABI 1+): no ptrace of, and none of the ptrace-guarded /proc files (fd, mem, environ, maps) of, a process
//!   outside the domain: under one uid, a run could otherwise read the pipes of a run beside it.
//!
//! The parent prepares a [`Plan`] (the ruleset's attributes for this kernel's ABI, the paths and their rights); the
//! child, which may not allocate, makes the ruleset from it with plain syscalls ([`Plan::restrict`]).

use std::ffi::CString;

/// The first ABI with the signal and abstract-unix-socket scopes.
const SCOPES_ABI: libc::c_long = 6;
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
const LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const LANDLOCK_SCOPE_SIGNAL: u64 = 1 << 1;

/// Filesystem rights (`LANDLOCK_ACCESS_FS_*`) that change the filesystem, by the ABI that introduced them.
const WRITE_FILE: u64 = 1 << 1;
const WRITES_ABI_1: u64 = WRITE_FILE
    | 1 << 4 // REMOVE_DIR
    | 1 << 5 // REMOVE_FILE
    | 1 << 6 // MAKE_CHAR
    | 1 << 7 // MAKE_DIR
    | 1 << 8 // MAKE_REG
    | 1 << 9 // MAKE_SOCK
    | 1 << 10 // MAKE_FIFO
    | 1 << 11 // MAKE_BLOCK
    | 1 << 12; // MAKE_SYM
const REFER: u64 = 1 << 13; // ABI 2: linking or renaming into another directory
const TRUNCATE: u64 = 1 << 14; // ABI 3

/// `struct landlock_ruleset_attr` as of ABI 6 (an older kernel takes it whole as long as the fields it does not know
/// are zero).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// `struct landlock_path_beneath_attr` (packed, as the kernel declares it).
#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// What the kernel offers, detected once per process.
#[derive(Debug, Clone, Copy)]
pub(super) struct Support {
    /// The filesystem rights a ruleset handles on this kernel.
    writes: u64,
    /// Whether the signal and abstract-socket scopes exist (ABI 6).
    pub scopes: bool,
}

impl Support {
    /// The kernel's Landlock support, if Landlock is enabled.
    pub(super) fn detect() -> Option<Support> {
        // SAFETY: the version query takes no attribute (null, size 0).
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<RulesetAttr>(),
                0,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        if abi < 1 {
            return None;
        }
        let mut writes = WRITES_ABI_1;
        if abi >= 2 {
            writes |= REFER;
        }
        if abi >= 3 {
            writes |= TRUNCATE;
        }
        Some(Support { writes, scopes: abi >= SCOPES_ABI })
    }

    /// The plan of a run that may write beneath `writable` (directories) and nowhere else but /dev/null.
    pub(super) fn plan(&self, writable: Vec<CString>) -> Plan {
        let scoped = if self.scopes { LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL } else { 0 };
        let mut rules: Vec<(CString, u64)> = writable.into_iter().map(|dir| (dir, self.writes)).collect();
        rules.push((c"/dev/null".to_owned(), self.writes & (WRITE_FILE | TRUNCATE)));
        Plan { attr: RulesetAttr { handled_access_fs: self.writes, handled_access_net: 0, scoped }, rules }
    }
}

/// One run's ruleset, prepared by the parent.
pub(super) struct Plan {
    attr: RulesetAttr,
    /// Each path and the rights granted beneath it.
    rules: Vec<(CString, u64)>,
}

impl Plan {
    /// Makes the run's domain: creates the ruleset, adds each path (opened here, in the child, so that a tmpfs
    /// mounted in its mount namespace is the one named), restricts the calling process. Plain syscalls only: the
    /// child of a vfork-like clone may not allocate. Needs no_new_privs. The errno of the failing call on failure.
    ///
    /// # Safety
    /// Called in the sandbox's child between clone and exec.
    pub(super) unsafe fn restrict(&self) -> Result<(), i32> {
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        // SAFETY: `attr` is a valid ruleset attribute of the size given; the descriptor is close-on-exec.
        let ruleset = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &self.attr as *const RulesetAttr,
                size_of::<RulesetAttr>(),
                0,
            )
        };
        if ruleset < 0 {
            return Err(errno());
        }
        for (path, access) in &self.rules {
            // SAFETY: a NUL-terminated path; O_PATH opens nothing but the name.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(errno());
            }
            let beneath = PathBeneath { allowed_access: *access, parent_fd: fd };
            // SAFETY: a valid path-beneath attribute for a ruleset this child made.
            let added = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    ruleset,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &beneath as *const PathBeneath,
                    0,
                )
            };
            // SAFETY: the descriptor opened above.
            unsafe { libc::close(fd) };
            if added < 0 {
                return Err(errno());
            }
        }
        // SAFETY: a ruleset this child made; no_new_privs is set.
        let restricted = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) };
        // SAFETY: the ruleset's descriptor, no longer needed.
        unsafe { libc::close(ruleset as i32) };
        if restricted < 0 { Err(errno()) } else { Ok(()) }
    }
}
