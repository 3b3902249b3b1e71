//! A WASI preview 1 context for judging: deterministic, sealed and bounded.
//!
//! - stdin is the test's input; stdout and stderr are [`CappedOutput`]s, never wasi-common's unbounded in-memory pipe;
//! - arguments as the caller gives them (the program name; a language runtime's flags and program), no environment,
//!   no preopened directory (wasi-common's are read-write);
//! - clocks and randomness are virtual: time starts at a fixed instant and moves only when the program reads a clock
//!   (by 1 µs, so consecutive reads differ) or sleeps (by the time asked, at once); the RNG has a fixed seed. The same
//!   program with the same input therefore prints the same output every time, and sleeping costs no wall time.

use async_trait::async_trait;
use cap_rand::SeedableRng;
use cap_std::time::{Duration, Instant, SystemTime};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use wasmi_wasi::wasi_common::pipe::{ReadPipe, WritePipe};
use wasmi_wasi::wasi_common::sched::{Poll, RwEventFlags, Subscription, WasiSched};
use wasmi_wasi::wasi_common::{Error, Table, WasiClocks, WasiCtx, WasiMonotonicClock, WasiSystemClock};

/// What the virtual wall clock reads at the start of every run: 2024-01-01T00:00:00Z.
const VIRTUAL_EPOCH_SECS: u64 = 1_704_067_200;
/// How far the virtual clock moves on each read.
const CLOCK_TICK: Duration = Duration::from_micros(1);

/// Builds the context for one run with arguments `args` (the program name first). `stdout`/`stderr` are shared with
/// the caller, who reads them afterwards.
pub fn judging_ctx(stdin: &str, args: &[String], stdout: &CappedOutput, stderr: &CappedOutput) -> WasiCtx {
    let time = VirtualTime::default();
    let origin = Instant::from_std(std::time::Instant::now());
    let clocks = WasiClocks::new()
        .with_system(VirtualSystemClock { time: time.clone() })
        .with_monotonic(VirtualMonotonicClock { origin, time: time.clone() });
    let random = Box::new(cap_rand::rngs::StdRng::seed_from_u64(0));
    let mut ctx = WasiCtx::new(random, clocks, Box::new(VirtualScheduler { origin, time }), Table::new());
    ctx.set_stdin(Box::new(ReadPipe::from(stdin.as_bytes().to_vec())));
    ctx.set_stdout(Box::new(WritePipe::from_shared(stdout.buffer.clone())));
    ctx.set_stderr(Box::new(WritePipe::from_shared(stderr.buffer.clone())));
    for arg in args {
        // The context is fresh and not shared yet, so push_arg cannot fail on that; it fails only past u32::MAX
        // bytes, and arguments are bounded by the source limit.
        ctx.push_arg(arg).expect("arguments within the source limit fit");
    }
    ctx
}

/// An output stream that keeps at most `cap` bytes. Writing past the cap keeps what fits, marks the stream as
/// overflowed and fails the write, which wasi-common turns into a trap: the program stops at once instead of spinning
/// until its fuel runs out.
#[derive(Clone)]
pub struct CappedOutput {
    buffer: Arc<RwLock<CappedBuffer>>,
}

pub struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
    /// A function harness's record mark (`\x1e<nonce> `) and when each write holding one arrived.
    watch: Option<(Vec<u8>, Vec<std::time::Instant>)>,
}

impl CappedOutput {
    pub fn new(cap: usize) -> Self {
        CappedOutput {
            buffer: Arc::new(RwLock::new(CappedBuffer { bytes: Vec::new(), cap, overflowed: false, watch: None })),
        }
    }

    /// A stream that also notes when each write holding `mark` arrived: a function harness writes each record in
    /// one write, so the host learns when each call ended although the program's clocks are virtual.
    pub fn watching(cap: usize, mark: &str) -> Self {
        let output = CappedOutput::new(cap);
        output.lock().watch = Some((mark.as_bytes().to_vec(), Vec::new()));
        output
    }

    /// How many writes have held the mark so far.
    pub fn marks(&self) -> usize {
        self.lock().watch.as_ref().map_or(0, |(_, times)| times.len())
    }

    /// When each write holding the mark arrived.
    pub fn mark_times(&self) -> Vec<std::time::Instant> {
        self.lock().watch.as_ref().map(|(_, times)| times.clone()).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, CappedBuffer> {
        self.buffer.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The bytes kept and whether the program tried to write more than the cap.
    pub fn take(&self) -> (Vec<u8>, bool) {
        let mut buffer = self.lock();
        (std::mem::take(&mut buffer.bytes), buffer.overflowed)
    }
}

impl Write for CappedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some((mark, times)) = &mut self.watch
            && data.windows(mark.len()).any(|window| window == mark.as_slice())
        {
            times.push(std::time::Instant::now());
        }
        let room = self.cap - self.bytes.len();
        if data.len() <= room {
            self.bytes.extend_from_slice(data);
            return Ok(data.len());
        }
        self.bytes.extend_from_slice(&data[..room]);
        self.overflowed = true;
        Err(io::Error::other("output limit exceeded"))
    }

    /// Takes every buffer, as `writev` does: the default writes only the first one, and some runtimes (Ruby) take
    /// a short `writev` for a failure.
    fn write_vectored(&mut self, buffers: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut written = 0;
        for buffer in buffers {
            written += self.write(buffer)?;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Nanoseconds of virtual time since the run began, shared by the clocks and the scheduler.
#[derive(Clone, Default)]
struct VirtualTime(Arc<AtomicU64>);

impl VirtualTime {
    /// Moves time forward by one tick and returns the new reading.
    fn tick(&self) -> Duration {
        let tick = CLOCK_TICK.as_nanos() as u64;
        let before = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(tick)));
        Duration::from_nanos(before.unwrap_or(u64::MAX).saturating_add(tick))
    }

    fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Saturating: a program sleeping "forever" reaches the end of virtual time, not an overflow.
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(nanos)));
    }

    fn advance_to(&self, since_origin: Duration) {
        let target = u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_max(target, Ordering::Relaxed);
    }
}

struct VirtualMonotonicClock {
    origin: Instant,
    time: VirtualTime,
}

impl WasiMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> Duration {
        CLOCK_TICK
    }

    fn now(&self, _precision: Duration) -> Instant {
        self.origin + self.time.tick()
    }
}

struct VirtualSystemClock {
    time: VirtualTime,
}

impl WasiSystemClock for VirtualSystemClock {
    fn resolution(&self) -> Duration {
        CLOCK_TICK
    }

    fn now(&self, _precision: Duration) -> SystemTime {
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(VIRTUAL_EPOCH_SECS);
        SystemTime::from_std(epoch + self.time.tick())
    }
}

/// Sleeps and polls complete at once: a timer by moving virtual time to its deadline, pipes because in-memory stdin
/// and capped outputs never block.
struct VirtualScheduler {
    origin: Instant,
    time: VirtualTime,
}

#[async_trait]
impl WasiSched for VirtualScheduler {
    async fn poll_oneoff<'a>(&self, poll: &mut Poll<'a>) -> Result<(), Error> {
        let mut any_ready = false;
        for subscription in poll.rw_subscriptions() {
            any_ready = true;
            match subscription {
                Subscription::Read(read) => {
                    let ready = read.file.num_ready_bytes()?;
                    read.complete(ready.max(1), RwEventFlags::empty());
                }
                Subscription::Write(write) => write.complete(0, RwEventFlags::empty()),
                Subscription::MonotonicClock(_) => {}
            }
        }
        if let (false, Some(deadline)) = (any_ready, poll.earliest_clock_deadline().map(|timer| timer.deadline)) {
            self.time.advance_to(deadline.duration_since(self.origin));
        }
        Ok(())
    }

    async fn sched_yield(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn sleep(&self, duration: Duration) -> Result<(), Error> {
        self.time.advance(duration);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_output_keeps_what_fits_and_flags_the_rest() {
        let output = CappedOutput::new(5);
        let mut buffer = output.buffer.write().unwrap();
        assert_eq!(buffer.write(b"abc").unwrap(), 3);
        assert_eq!(buffer.write(b"de").unwrap(), 2, "exactly at the cap is still fine");
        assert!(!buffer.overflowed);
        assert!(buffer.write(b"f").is_err());
        drop(buffer);
        assert_eq!(output.take(), (b"abcde".to_vec(), true));
    }

    #[test]
    fn vectored_writes_take_every_buffer_up_to_the_cap() {
        let output = CappedOutput::new(6);
        let mut buffer = output.buffer.write().unwrap();
        let written = buffer.write_vectored(&[io::IoSlice::new(b"abc"), io::IoSlice::new(b"\n")]).unwrap();
        assert_eq!(written, 4, "both buffers, as writev");
        assert!(buffer.write_vectored(&[io::IoSlice::new(b"d"), io::IoSlice::new(b"ef")]).is_err());
        drop(buffer);
        assert_eq!(output.take(), (b"abc\nde".to_vec(), true));
    }

    #[test]
    fn virtual_time_moves_only_when_read_or_slept() {
        let time = VirtualTime::default();
        assert_eq!(time.tick(), Duration::from_micros(1));
        assert_eq!(time.tick(), Duration::from_micros(2));
        time.advance(Duration::from_secs(3));
        assert_eq!(time.tick(), Duration::from_secs(3) + Duration::from_micros(3));
        time.advance(Duration::MAX);
        assert_eq!(time.0.load(Ordering::Relaxed), u64::MAX, "sleeping forever saturates");
    }
}
