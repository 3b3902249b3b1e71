//! The seccomp-bpf filter every sandboxed program runs under: a deny list (default allow), so language runtimes keep
//! working across glibc and JVM upgrades (DMOJ's allow list broke on every new syscall), while what a judged program
//! never needs is refused with EPERM: sockets, debugging other processes, namespaces, mounts, kernel keyrings, BPF,
//! perf, io_uring, module loading, clocks and reboots, signals aimed at the judge, and every channel a run could leave
//! for a later run or share with a run beside it (docs/sandbox.md lists them): System V IPC and POSIX message queues
//! (objects that outlive a run), sockets of any family, unix ones included (abstract names are shared by every process
//! of a network namespace, paths by every process that can reach them; `socketpair` stays, it names nothing), and file
//! locks, leases and directory notifications (flock, fcntl's lock commands: a lock on a file two runs can open, such as
//! the interpreter's standard library, is a signal from one to the other). Measured: CPython, the JVM (with
//! -XX:-UsePerfData) and Mono start and run without any of them.
//!
//! The program is assembled here rather than by a filter compiler, as a binary search over syscall-number ranges:
//! any syscall's path through it is about ten instructions, where a linear list of `jeq` tests walked ~80 for every
//! allowed call. The path length is what each run pays: the kernel runs the filter once per syscall number when it is
//! attached (to cache the numbers that are always allowed, whatever their arguments) and on every call it could not
//! cache. Measured at attach: the linear list cost ~0.12 ms per run more than a ten-instruction path.

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
    // Channels between runs: System V IPC and POSIX message queues outlive the run that made them.
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
    // Sockets of every family: no network, and no unix socket by path or abstract name through which two runs meet.
    libc::SYS_socket,
    // Advisory locks on files two runs can both open.
    libc::SYS_flock,
    // tkill names a thread id, which cannot be known here; it is obsolete (tgkill replaced it).
    libc::SYS_tkill,
    // Port I/O exists on x86 only (Lambda also runs arm64).
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// fcntl commands refused (the second argument): record locks (F_SETLK, F_SETLKW), open-file-description locks
/// (F_OFD_SETLK, F_OFD_SETLKW), leases (F_SETLEASE) and directory notifications (F_NOTIFY), each a way for one run to
/// signal another through a file both can open. The check is a small search (see `filter`): the commands runtimes
/// call all the time (F_GETFD … F_GETLK, 0 to 5) pass after one comparison.
const FCNTL_CHANNELS_LOW: [u32; 2] = [libc::F_OFD_SETLK as u32, libc::F_OFD_SETLKW as u32];
const FCNTL_CHANNELS_HIGH: [u32; 2] = [libc::F_SETLEASE as u32, libc::F_NOTIFY as u32];

/// Syscalls whose first argument is a pid, refused when it is the judge's.
const AIMED_AT_A_PID: &[libc::c_long] =
    &[libc::SYS_tgkill, libc::SYS_rt_sigqueueinfo, libc::SYS_rt_tgsigqueueinfo, libc::SYS_pidfd_open];

/// Namespace flags that `clone` must not carry (a new user namespace is the usual first step of a kernel exploit).
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u32;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// The x32 ABI's syscall numbers carry this bit; they are refused (no judged runtime uses x32).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data`: nr, arch, then the arguments (the low 32 bits of args[0], little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;
const ARG1_LOW: u32 = 24;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// What the filter does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Deny,
    /// ENOSYS, so the caller falls back to an older call whose arguments the filter can read.
    NoSuchCall,
    /// Checked further on its first argument, at the label.
    Check(Label),
}

/// Every syscall number the filter does not simply allow, sorted by number.
fn rules() -> Vec<(u32, Action)> {
    let mut rules: Vec<(u32, Action)> = DENIED.iter().map(|nr| (*nr as u32, Action::Deny)).collect();
    rules.push((libc::SYS_clone3 as u32, Action::NoSuchCall));
    rules.push((libc::SYS_fcntl as u32, Action::Check(Label::Fcntl)));
    rules.push((libc::SYS_clone as u32, Action::Check(Label::Clone)));
    rules.push((libc::SYS_kill as u32, Action::Check(Label::KillCall)));
    rules.extend(AIMED_AT_A_PID.iter().map(|nr| (*nr as u32, Action::Check(Label::AimedAtJudge))));
    rules.sort_by_key(|(nr, _)| *nr);
    rules
}

/// The syscall-number line cut into ranges of one action: (first number of the range, action), ascending from 0.
/// Adjacent numbers with the same action share a range (the mount family, the keyring calls, …).
fn ranges() -> Vec<(u32, Action)> {
    let mut ranges: Vec<(u32, Action)> = vec![(0, Action::Allow)];
    for (nr, action) in rules() {
        push_range(&mut ranges, nr, action);
        push_range(&mut ranges, nr + 1, Action::Allow);
    }
    if cfg!(target_arch = "x86_64") {
        // The x32 ABI's numbers (no judged runtime uses x32), and everything above them.
        push_range(&mut ranges, X32_SYSCALL_BIT, Action::Deny);
    }
    ranges
}

/// Starts a range at `start` (replacing an empty one that started there), or extends the last one if it has the
/// same action.
fn push_range(ranges: &mut Vec<(u32, Action)>, start: u32, action: Action) {
    if ranges.len() > 1 && ranges.last().is_some_and(|(last_start, _)| *last_start == start) {
        ranges.pop();
    }
    if ranges.last().is_some_and(|(_, last)| *last == action) {
        return;
    }
    ranges.push((start, action));
}

/// The filter. `judge` is the judge's pid: signals aimed at it are refused, and so is kill(-1) (every process of the
/// uid, which without a uid of its own includes the judge). `clone3` passes its flags in memory, where a filter cannot
/// read them, so it gets ENOSYS, on which glibc falls back to `clone`, whose flags are checked.
pub fn filter(judge: u32) -> Vec<libc::sock_filter> {
    let mut program = Assembler::default();
    program.load(ARCH);
    program.jump_unless_equal(AUDIT_ARCH, Label::KillProcess);
    program.load(NR);
    let ranges = ranges();
    program.search(&ranges, 0);

    program.label(Label::KillProcess);
    program.ret(RET_KILL);

    // fcntl(fd, cmd, …): not the lock, lease and notification commands. Below F_SETLK (6): allowed; F_SETLK and
    // F_SETLKW (6, 7): refused; then the OFD locks (37, 38) below F_SETLEASE (1024), the lease and F_NOTIFY above.
    program.label(Label::Fcntl);
    program.load(ARG1_LOW);
    program.jump_if_at_least(libc::F_SETLK as u32, Label::FcntlLocks);
    program.ret(RET_ALLOW);
    program.label(Label::FcntlLocks);
    program.jump_if_at_least(libc::F_SETLKW as u32 + 1, Label::FcntlOthers);
    program.ret(RET_EPERM);
    program.label(Label::FcntlOthers);
    program.jump_if_at_least(libc::F_SETLEASE as u32, Label::FcntlHigh);
    for command in FCNTL_CHANNELS_LOW {
        program.jump_if_equal(command, Label::FinalDeny);
    }
    program.ret(RET_ALLOW);
    program.label(Label::FcntlHigh);
    for command in FCNTL_CHANNELS_HIGH {
        program.jump_if_equal(command, Label::FinalDeny);
    }
    program.ret(RET_ALLOW);

    // clone(flags, …): no new namespaces.
    program.label(Label::Clone);
    program.load(ARG0_LOW);
    program.jump_if_any_bit(NAMESPACE_FLAGS, Label::FinalDeny);
    program.ret(RET_ALLOW);

    // kill(pid, …): not -1 (everyone the uid may signal), and, like the calls below, not the judge.
    program.label(Label::KillCall);
    program.load(ARG0_LOW);
    program.jump_if_equal(u32::MAX, Label::FinalDeny);
    program.label(Label::AimedAtJudge);
    program.load(ARG0_LOW);
    program.jump_if_equal(judge, Label::FinalDeny);
    program.label(Label::FinalAllow);
    program.ret(RET_ALLOW);
    program.label(Label::FinalDeny);
    program.ret(RET_EPERM);
    program.assemble()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    FinalAllow,
    FinalDeny,
    KillProcess,
    Fcntl,
    FcntlLocks,
    FcntlOthers,
    FcntlHigh,
    Clone,
    KillCall,
    AimedAtJudge,
    /// The upper half of a search node, numbered by its first range.
    UpperHalf(usize),
}

/// Classic BPF with forward jumps to labels, resolved when assembled.
#[derive(Default)]
struct Assembler {
    instructions: Vec<(libc::sock_filter, Option<(Label, bool)>)>,
    labels: Vec<(Label, usize)>,
}

impl Assembler {
    fn push(&mut self, code: u32, k: u32, jump: Option<(Label, bool)>) {
        self.instructions.push((libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }, jump));
    }

    fn load(&mut self, offset: u32) {
        self.push(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset, None);
    }

    fn ret(&mut self, value: u32) {
        self.push(libc::BPF_RET | libc::BPF_K, value, None);
    }

    /// if A == k goto label (else fall through)
    fn jump_if_equal(&mut self, k: u32, label: Label) {
        self.push(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, k, Some((label, true)));
    }

    /// if A != k goto label (else fall through)
    fn jump_unless_equal(&mut self, k: u32, label: Label) {
        self.push(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, k, Some((label, false)));
    }

    /// if A >= k goto label
    fn jump_if_at_least(&mut self, k: u32, label: Label) {
        self.push(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, k, Some((label, true)));
    }

    /// if A & k != 0 goto label
    fn jump_if_any_bit(&mut self, k: u32, label: Label) {
        self.push(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K, k, Some((label, true)));
    }

    /// goto label (a 32-bit offset: any distance)
    fn jump(&mut self, label: Label) {
        self.push(libc::BPF_JMP | libc::BPF_JA, 0, Some((label, true)));
    }

    /// Binary search over `ranges` (the accumulator holds the syscall number), ending in each range's action.
    /// `first` is the index of `ranges[0]` in the whole list, which names the labels uniquely.
    fn search(&mut self, ranges: &[(u32, Action)], first: usize) {
        if let [(_, action)] = ranges {
            match action {
                Action::Allow => self.ret(RET_ALLOW),
                Action::Deny => self.ret(RET_EPERM),
                Action::NoSuchCall => self.ret(RET_ENOSYS),
                Action::Check(label) => self.jump(*label),
            }
            return;
        }
        let middle = ranges.len() / 2;
        let upper = Label::UpperHalf(first + middle);
        self.jump_if_at_least(ranges[middle].0, upper);
        self.search(&ranges[..middle], first);
        self.label(upper);
        self.search(&ranges[middle..], first + middle);
    }

    fn label(&mut self, label: Label) {
        self.labels.push((label, self.instructions.len()));
    }

    fn assemble(self) -> Vec<libc::sock_filter> {
        let position = |label: Label| {
            self.labels.iter().find(|(known, _)| *known == label).map(|(_, at)| *at).expect("every label is placed")
        };
        self.instructions
            .iter()
            .enumerate()
            .map(|(index, (instruction, jump))| {
                let mut instruction = *instruction;
                if let Some((label, when_true)) = jump {
                    let target = position(*label);
                    let offset = target.checked_sub(index + 1).expect("classic BPF jumps only forward");
                    if u32::from(instruction.code) == libc::BPF_JMP | libc::BPF_JA {
                        instruction.k = offset as u32;
                        return instruction;
                    }
                    let offset = u8::try_from(offset).expect("a conditional jump reaches at most 255 instructions");
                    if *when_true {
                        instruction.jt = offset;
                    } else {
                        instruction.jf = offset;
                    }
                }
                instruction
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program as the kernel would, on one syscall: a small classic-BPF interpreter for the five
    /// instruction kinds the assembler emits.
    fn verdict(program: &[libc::sock_filter], nr: libc::c_long, args: [u64; 2]) -> u32 {
        run(program, nr, args).0
    }

    /// The verdict and how many instructions the filter ran to reach it.
    fn run(program: &[libc::sock_filter], nr: libc::c_long, args: [u64; 2]) -> (u32, usize) {
        let data = |offset: u32| match offset {
            NR => nr as u32,
            ARCH => AUDIT_ARCH,
            ARG0_LOW => args[0] as u32,
            ARG1_LOW => args[1] as u32,
            other => panic!("unexpected load at {other}"),
        };
        let (mut pc, mut accumulator, mut executed) = (0usize, 0u32, 0usize);
        loop {
            let instruction = program[pc];
            let code = u32::from(instruction.code);
            pc += 1;
            executed += 1;
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                accumulator = data(instruction.k);
            } else if code == libc::BPF_RET | libc::BPF_K {
                return (instruction.k, executed);
            } else if code == libc::BPF_JMP | libc::BPF_JA {
                pc += instruction.k as usize;
            } else {
                let taken = match code & 0xf0 {
                    c if c == libc::BPF_JEQ => accumulator == instruction.k,
                    c if c == libc::BPF_JGE => accumulator >= instruction.k,
                    c if c == libc::BPF_JSET => accumulator & instruction.k != 0,
                    other => panic!("unexpected jump {other:#x}"),
                };
                pc += usize::from(if taken { instruction.jt } else { instruction.jf });
            }
        }
    }

    #[test]
    fn the_filter_refuses_what_it_should_and_nothing_else() {
        let judge = 4242;
        let program = filter(judge);
        let check =
            |nr, arg0, expected: u32| assert_eq!(verdict(&program, nr, [arg0, 0]), expected, "syscall {nr}({arg0})");
        check(libc::SYS_read, 0, RET_ALLOW);
        check(libc::SYS_write, 1, RET_ALLOW);
        check(libc::SYS_ptrace, 0, RET_EPERM);
        check(libc::SYS_unshare, 0, RET_EPERM);
        check(libc::SYS_clone3, 0, RET_ENOSYS);
        check(libc::SYS_socket, libc::AF_UNIX as u64, RET_EPERM);
        check(libc::SYS_socketpair, libc::AF_UNIX as u64, RET_ALLOW);
        check(libc::SYS_socket, libc::AF_INET as u64, RET_EPERM);
        check(libc::SYS_socket, libc::AF_INET6 as u64, RET_EPERM);
        check(libc::SYS_clone, libc::SIGCHLD as u64, RET_ALLOW);
        check(libc::SYS_clone, (libc::CLONE_VM | libc::CLONE_THREAD) as u64, RET_ALLOW);
        check(libc::SYS_clone, libc::CLONE_NEWUSER as u64, RET_EPERM);
        check(libc::SYS_clone, (libc::CLONE_NEWNET | libc::SIGCHLD) as u64, RET_EPERM);
        check(libc::SYS_kill, u64::from(judge), RET_EPERM);
        check(libc::SYS_kill, u64::MAX, RET_EPERM);
        check(libc::SYS_kill, 77, RET_ALLOW);
        check(libc::SYS_tgkill, u64::from(judge), RET_EPERM);
        check(libc::SYS_tgkill, 77, RET_ALLOW);
        check(libc::SYS_pidfd_open, u64::from(judge), RET_EPERM);
        check(libc::SYS_tkill, 77, RET_EPERM);
        for nr in [libc::SYS_shmget, libc::SYS_msgget, libc::SYS_semget, libc::SYS_mq_open, libc::SYS_flock] {
            check(nr, 0, RET_EPERM);
        }
        let fcntl = |command: libc::c_int| verdict(&program, libc::SYS_fcntl, [3, command as u64]);
        for command in
            [libc::F_SETLK, libc::F_SETLKW, libc::F_OFD_SETLK, libc::F_OFD_SETLKW, libc::F_SETLEASE, libc::F_NOTIFY]
        {
            assert_eq!(fcntl(command), RET_EPERM, "fcntl command {command}");
        }
        for command in
            [libc::F_GETFL, libc::F_SETFL, libc::F_GETFD, libc::F_SETFD, libc::F_DUPFD_CLOEXEC, libc::F_GETLK]
        {
            assert_eq!(fcntl(command), RET_ALLOW, "fcntl command {command}");
        }
    }

    /// The search must decide every number exactly as the rules say, and quickly: the path length is the cost.
    #[test]
    fn every_syscall_number_gets_its_rule_within_a_short_path() {
        let judge = 4242;
        let program = filter(judge);
        let rules = rules();
        let mut longest = 0;
        let mut numbers: Vec<u32> = (0..1_024).collect();
        if cfg!(target_arch = "x86_64") {
            numbers.extend([X32_SYSCALL_BIT, X32_SYSCALL_BIT + 1, u32::MAX]);
        }
        for nr in numbers {
            let rule = rules.iter().find(|(rule, _)| *rule == nr).map(|(_, action)| *action);
            // Each argument check: an argument it refuses, and a harmless one that passes.
            let (refused, harmless) = match rule {
                Some(Action::Check(Label::Fcntl)) => (Some([3, libc::F_SETLK as u64]), [3, libc::F_GETFL as u64]),
                Some(Action::Check(Label::Clone)) => (Some([libc::CLONE_NEWUSER as u64, 0]), [libc::SIGCHLD as u64, 0]),
                Some(Action::Check(_)) => (Some([u64::from(judge), 0]), [77, 0]),
                _ => (None, [77, 0]),
            };
            if let Some(refused) = refused {
                assert_eq!(verdict(&program, nr.into(), refused), RET_EPERM, "syscall {nr}({refused:?})");
            }
            let expected = match rule {
                _ if cfg!(target_arch = "x86_64") && nr >= X32_SYSCALL_BIT => RET_EPERM,
                Some(Action::Deny) => RET_EPERM,
                Some(Action::NoSuchCall) => RET_ENOSYS,
                None | Some(Action::Allow) | Some(Action::Check(_)) => RET_ALLOW,
            };
            let (got, executed) = run(&program, nr.into(), harmless);
            assert_eq!(got, expected, "syscall {nr}");
            longest = longest.max(executed);
        }
        assert!(longest <= 16, "the longest path runs {longest} instructions");
    }
}
