//! Where boxes are made: a judge that is not root gets a sandbox directory of its own uid under the temporary
//! directory, so two unprivileged judges on one host never share (or block) one, and a directory another user owns
//! is refused. Run as root, the tests re-run [`a_box_is_made_under_the_default_directory`] in child processes of this
//! test binary as other uids.

use codecapsule_sandbox::Sandbox;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Makes one box where this process's sandbox puts them (SANDBOX_DIR, else the default for its uid).
#[test]
fn a_box_is_made_under_the_default_directory() {
    let sandbox = Sandbox::get();
    let sandbox_box =
        sandbox.new_box().unwrap_or_else(|err| panic!("no box in {}: {err}", sandbox.base_dir().display()));
    assert!(sandbox_box.program_dir().starts_with(sandbox.base_dir()));
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    let base = std::fs::metadata(sandbox.base_dir()).unwrap();
    assert_eq!(base.uid(), euid, "the sandbox directory belongs to the judge's uid");
    assert_eq!(base.permissions().mode() & 0o777, 0o711, "others may pass through, never list or write");
}

/// A temporary directory like /tmp: world-writable with the sticky bit, removed when dropped.
struct SharedTmp(PathBuf);

impl SharedTmp {
    fn new(label: &str) -> SharedTmp {
        let path = std::env::temp_dir().join(format!("codecapsule-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777)).unwrap();
        SharedTmp(path)
    }
}

impl Drop for SharedTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// [`a_box_is_made_under_the_default_directory`] in a child process as `uid`, with TMPDIR at `tmp`.
fn make_a_box_as(uid: u32, tmp: &Path, sandbox_dir: Option<&Path>) -> Output {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "a_box_is_made_under_the_default_directory", "--test-threads=1", "--nocapture"])
        .env("TMPDIR", tmp)
        .env_remove("SANDBOX_DIR")
        .uid(uid)
        .gid(uid);
    if let Some(dir) = sandbox_dir {
        command.env("SANDBOX_DIR", dir);
    }
    command.output().unwrap()
}

fn log(output: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn is_root() -> bool {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn two_unprivileged_judges_on_one_host_each_make_boxes() {
    if !is_root() {
        // Switching uids needs root; the box test above covers this uid's own directory.
        return;
    }
    let tmp = SharedTmp::new("two-judges");
    for uid in [65_534, 65_533] {
        let output = make_a_box_as(uid, &tmp.0, None);
        let log = log(&output);
        assert!(output.status.success() && log.contains("1 passed"), "uid {uid} could not make a box:\n{log}");
        let own = tmp.0.join(format!("codecapsule-sandbox-{uid}"));
        let meta = std::fs::metadata(&own).unwrap_or_else(|err| panic!("{}: {err}", own.display()));
        assert_eq!(meta.uid(), uid, "{} belongs to its judge", own.display());
    }
}

#[test]
fn a_sandbox_directory_another_user_owns_is_refused() {
    if !is_root() {
        return;
    }
    let tmp = SharedTmp::new("foreign-dir");
    // A directory planted by another user, open to everyone: whoever owns it could swap a box for a link of theirs.
    let planted = tmp.0.join("planted");
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::chown(&planted, Some(65_534), Some(65_534)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = make_a_box_as(65_533, &tmp.0, Some(&planted));
    let log = log(&output);
    assert!(!output.status.success(), "a box was made in a directory of another user's:\n{log}");
    assert!(log.contains("belongs to uid 65534") && log.contains("set SANDBOX_DIR"), "{log}");
    assert_eq!(std::fs::read_dir(&planted).unwrap().count(), 0, "nothing was written into the planted directory");
}
