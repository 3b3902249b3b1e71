//! What this host allows, detected once per process: root or not, namespaces, a private tmpfs, seccomp; and where
//! the boxes live.

use crate::seccomp;
use crate::{Layers, Sandbox, SharedNamespaces};
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;

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
        // SANDBOX_LANDLOCK=off: runs without Landlock domains (for a runtime that must write outside its work directory;
        // the shared directories are then swept after each run where there is no mount namespace either).
        let landlock_off = std::env::var_os("SANDBOX_LANDLOCK").is_some_and(|value| value == "off");
        let landlock = if landlock_off { None } else { crate::landlock::Support::detect() };
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
            landlock: landlock.is_some(),
            landlock_scopes: landlock.is_some_and(|support| support.scopes),
            no_new_privs: true,
            rlimits: true,
            process_group: true,
            child_subreaper: subreaper,
            undumpable_judge: undumpable,
        };
        tracing::info!(layers = ?layers, "sandbox layers detected");
        Sandbox { layers, filter, namespaces, landlock, base, foreign_owner, next_uid: AtomicU32::new(0) }
    }

    /// The layers this host allows.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// Where the boxes of this process live (SANDBOX_DIR, else /run/codecapsule-sandbox as root, else
    /// `$TMPDIR/codecapsule-sandbox-<uid>`, a directory of the user's own).
    pub fn base_dir(&self) -> &Path {
        &self.base
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
pub(crate) fn probe_private_tmpfs(base: &Path) -> bool {
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
