//! The seccomp-bpf filters every sandboxed program runs under: a deny list (default allow), so language runtimes keep
//! working across glibc and JVM upgrades (DMOJ's allow list broke on every new syscall), while what a judged program
//! never needs is refused with EPERM: network sockets, debugging other processes, namespaces, mounts, kernel keyrings,
//! BPF, perf, io_uring, module loading, clocks and reboots.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Syscalls refused outright.
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_syslog,
    libc::SYS_quotactl,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_lookup_dcookie,
    libc::SYS_vhangup,
    // Port I/O exists on x86 only (Lambda also runs arm64).
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// Namespace flags that `clone` must not carry (a new user namespace is the usual first step of a kernel exploit).
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The two filters, in the order they are installed. `clone3` passes its flags in memory, where a filter cannot read
/// them, so it gets ENOSYS, on which glibc falls back to `clone`, whose flags the second filter checks.
///
/// `judge` is the judge's pid: signals aimed at it are refused, and so is kill(-1) (every process of the uid, which
/// without a uid of its own includes the judge).
pub fn filters(judge: u32) -> Result<Vec<BpfProgram>, seccompiler::Error> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, vec![]);
    let clone3 = SeccompFilter::new(clone3, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)?;

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|syscall| (*syscall, vec![])).collect();
    // Sockets: only AF_UNIX (runtimes use it locally); no network of any kind (IPv4, IPv6, netlink, packet, vsock…).
    rules.insert(
        libc::SYS_socket,
        vec![SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?],
    );
    rules.insert(
        libc::SYS_clone,
        NAMESPACE_FLAGS
            .iter()
            .map(|flag| {
                SeccompRule::new(vec![SeccompCondition::new(
                    0,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::MaskedEq(*flag),
                    *flag,
                )?])
            })
            .collect::<Result<_, _>>()?,
    );
    let aimed_at = |value: u64| -> Result<Vec<SeccompRule>, seccompiler::Error> {
        Ok(vec![SeccompRule::new(vec![SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)?])?])
    };
    let judge = u64::from(judge);
    let mut kill = aimed_at(judge)?;
    kill.extend(aimed_at(u64::from(u32::MAX))?); // -1 as a 32-bit pid_t
    rules.insert(libc::SYS_kill, kill);
    rules.insert(libc::SYS_tgkill, aimed_at(judge)?);
    rules.insert(libc::SYS_rt_sigqueueinfo, aimed_at(judge)?);
    rules.insert(libc::SYS_rt_tgsigqueueinfo, aimed_at(judge)?);
    rules.insert(libc::SYS_pidfd_open, aimed_at(judge)?);
    // tkill names a thread id, which cannot be known here; it is obsolete (tgkill replaced it).
    rules.insert(libc::SYS_tkill, vec![]);
    let deny = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)?;
    Ok(vec![clone3.try_into()?, deny.try_into()?])
}
