//! A run's standard streams, driven from the judging thread with poll(2): stdin fed, stdout and stderr read up to
//! their caps, and the program's pidfd watched in the same call, so a run needs no thread of its own (three per run
//! cost more than the rest of the sandbox's bookkeeping together).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use super::Stream;

/// The judge's ends of a program's three pipes.
pub(super) struct Streams<'a> {
    stdin: Option<File>,
    input: &'a [u8],
    written: usize,
    outputs: [Capture; 2],
    overflow: Option<Stream>,
}

/// One output stream, kept up to its cap.
struct Capture {
    stream: Stream,
    pipe: Option<File>,
    kept: Vec<u8>,
    cap: usize,
}

/// What the streams collected.
pub(super) struct Collected {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The first stream that went over its cap.
    pub overflow: Option<Stream>,
}

impl<'a> Streams<'a> {
    /// Takes the pipes (made non-blocking here); `input` is fed to stdin, each output kept up to `cap` bytes.
    pub fn new(stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd, input: &'a [u8], cap: usize) -> io::Result<Self> {
        for pipe in [&stdin, &stdout, &stderr] {
            set_non_blocking(pipe)?;
        }
        let capture = |stream, pipe| Capture { stream, pipe: Some(File::from(pipe)), kept: Vec::new(), cap };
        let mut streams = Streams {
            stdin: Some(File::from(stdin)),
            input,
            written: 0,
            outputs: [capture(Stream::Stdout, stdout), capture(Stream::Stderr, stderr)],
            overflow: None,
        };
        if input.is_empty() {
            streams.close_input();
        }
        Ok(streams)
    }

    /// Closes stdin (the program reads end of file; nothing more is fed).
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Moves data until `exited` (a pidfd) becomes readable, which returns true, or until `deadline` passes or
    /// every pipe is closed, which return false. `on_overflow` runs when an output goes over its cap (that pipe is
    /// closed then): it kills the program.
    pub fn pump(&mut self, exited: Option<BorrowedFd>, deadline: Instant, mut on_overflow: impl FnMut()) -> bool {
        loop {
            // Slots: 0 the pidfd, 1 stdin, 2 stdout, 3 stderr; a slot without a descriptor is -1, which poll skips.
            let fd_of = |file: &Option<File>| file.as_ref().map_or(-1, AsRawFd::as_raw_fd);
            let mut slots = [
                pollfd(exited.map_or(-1, |fd| fd.as_raw_fd()), libc::POLLIN),
                pollfd(fd_of(&self.stdin), libc::POLLOUT),
                pollfd(fd_of(&self.outputs[0].pipe), libc::POLLIN),
                pollfd(fd_of(&self.outputs[1].pipe), libc::POLLIN),
            ];
            if slots.iter().all(|slot| slot.fd < 0) {
                return false;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return false;
            }
            // Rounded up: a timeout rounded down to 0 ms would spin until the deadline.
            let timeout = remaining.as_micros().div_ceil(1_000).min(i32::MAX as u128) as i32;
            // SAFETY: four valid pollfd entries.
            let ready = unsafe { libc::poll(slots.as_mut_ptr(), slots.len() as libc::nfds_t, timeout) };
            if ready < 0 {
                if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    // Only a kernel out of memory fails poll here: wait a little rather than spin.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                continue;
            }
            if slots[1].revents != 0 {
                self.feed();
            }
            for (output, slot) in self.outputs.iter_mut().zip(&slots[2..]) {
                if slot.revents != 0 && output.drain() {
                    self.overflow.get_or_insert(output.stream);
                    on_overflow();
                }
            }
            if slots[0].revents != 0 {
                return true;
            }
        }
    }

    /// Writes as much of the input as the pipe takes; closes stdin when all is written or the program stopped
    /// reading (closing it early is the program's business, not an error of the judge).
    fn feed(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else { return };
        loop {
            match stdin.write(&self.input[self.written..]) {
                Ok(written) => {
                    self.written += written;
                    if self.written == self.input.len() {
                        self.close_input();
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.close_input();
                    return;
                }
            }
        }
    }

    pub fn finish(self) -> Collected {
        let [stdout, stderr] = self.outputs;
        Collected { stdout: stdout.kept, stderr: stderr.kept, overflow: self.overflow }
    }
}

impl Capture {
    /// Reads what the pipe holds. Returns true when this read went over the cap (the pipe is closed then); the pipe
    /// is also closed at end of file.
    fn drain(&mut self) -> bool {
        let Some(pipe) = self.pipe.as_mut() else { return false };
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => {
                    self.pipe = None;
                    return false;
                }
                Ok(read) => {
                    let room = self.cap - self.kept.len();
                    if read > room {
                        self.kept.extend_from_slice(&chunk[..room]);
                        self.pipe = None;
                        return true;
                    }
                    self.kept.extend_from_slice(&chunk[..read]);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    self.pipe = None;
                    return false;
                }
            }
        }
    }
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd, events, revents: 0 }
}

fn set_non_blocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
