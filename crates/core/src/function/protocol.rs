//! The harness protocol: how the judge starts a language's harness on a batch of calls, how the harness answers, and
//! the loop that runs every call of a submission in as few processes as the calls allow.
//!
//! **Starting.** The harness reads its whole input from stdin before the program's code runs, so the program then
//! finds stdin at its end:
//!
//! ```text
//! <nonce> <time_ms> <count>\n
//! [lines of the harness's own: Java's reads the signature there, its class being the same for every capsule]
//! <test index> <arguments, in the language's own notation>\n     (count lines)
//! ```
//!
//! **Answering.** The harness writes records to stdout, each in one write after flushing the program's own buffered
//! output, and a marker to stderr after each call, so that each call's output can be told apart:
//!
//! ```text
//! \x1e<nonce> load <ready | did_not_compile | missing_function | wrong_signature | raised> 0 <JSON>\n
//! \x1e<nonce> <test index> <returned | raised | timed_out | out_of_memory | unsupported> <cpu ms> <JSON>\n
//! stderr: \x1e<nonce> load\n, then \x1e<nonce> <test index>\n after each call
//! ```
//!
//! After `timed_out` or `out_of_memory` (and after a load that failed) the harness leaves; the calls after it run in
//! a new batch.
//!
//! **Why the program cannot forge a result.** The nonce is fresh for every run and reaches only the harness, before
//! the program runs; lines the program prints without it are the program's output. Records must come in the order the
//! calls were sent: one out of turn ends the batch as tampered with. Arguments are sent, expected values never: a
//! program that digs the nonce out of the interpreter's memory can claim no more than a value it could have returned.
//!
//! **Hidden tests.** A batch holds visible calls only or hidden calls only, so a visible call's output (shown to the
//! reader) never comes from a process that held a hidden test's arguments. What a hidden batch says at load is never
//! shown either: a submission with no visible test is first loaded alone (a batch of no calls) to learn whether it
//! compiles.

use super::{Isolation, Signature};
use crate::deadline::Deadline;
use crate::judge::{Outcome, Termination, TestCase, TestIo};
use crate::model::Limits;
use serde_json::Value;

/// The byte that starts every record and marker (ASCII record separator).
pub const RECORD_MARK: char = '\x1e';

/// What one batch is: which calls, under which nonce.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Fresh for every batch: 32 hexadecimal digits.
    pub nonce: String,
    /// The indexes (into the submission's tests) of the calls, in order; empty for a batch that only loads.
    pub calls: Vec<usize>,
}

impl Batch {
    /// The harness's stdin: the header line, the harness's own `lines` (each ending in a newline), then
    /// `<index> <arguments>` per call, the arguments rendered by `notation` (the language's own: a Python literal,
    /// JSON, ...).
    pub fn stdin(
        &self,
        time_ms: u64,
        tests: &[TestCase],
        lines: &str,
        notation: impl Fn(&[Value]) -> String,
    ) -> String {
        let mut text = format!("{} {time_ms} {}\n{lines}", self.nonce, self.calls.len());
        for &index in &self.calls {
            let args = match &tests[index].io {
                TestIo::Function { args, .. } => args.as_slice(),
                _ => &[],
            };
            text.push_str(&format!("{index} {}\n", notation(args)));
        }
        text
    }
}

/// How one harness run ended: its streams, and how its process ended, graded as the engine grades any run.
#[derive(Debug, Clone)]
pub struct BatchRun {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// How the process ended (an exit, a signal, a limit), with its time and memory.
    pub ending: Outcome,
    /// The engine's reading of a run that never reached the harness: the language's parser refused the program
    /// (QuickJS parses the harness and the program as one module).
    pub did_not_compile: Option<String>,
    /// Each record's time since the record before it, as the host measured it, when the harness's own clock is no
    /// clock (WebAssembly's are virtual); empty when each record's own CPU time counts.
    pub record_ms: Vec<f64>,
}

/// The calls' outcomes, or why the program never got to them.
#[derive(Debug)]
pub enum CallsOutcome {
    /// One outcome per test, in order.
    Ran(Vec<Outcome>),
    /// The program did not compile, or has no function of the signature: the message is the compile output.
    DidNotCompile(String),
}

/// The limits of a batch of `calls` calls: `calls` times each test's time and output (a load-only batch gets one
/// test's), the same memory.
pub fn batch_limits(limits: &Limits, calls: usize) -> Limits {
    let calls = calls.max(1) as u64;
    Limits {
        time_ms: limits.time_ms.saturating_mul(calls),
        memory_mb: limits.memory_mb,
        output_kb: limits.output_kb.saturating_mul(calls),
    }
}

/// Runs every test's call through `run_batch`, which starts the language's harness on a [`Batch`] and reports how it
/// ended. Calls run in one batch per group (visible, then hidden; one per test with [`Isolation::PerTest`]); a call
/// that ended its process (a crash, a limit, an early exit) gets that ending, and the calls after it run in a new
/// batch. `nonce` gives each batch its nonce. Calls the deadline overtakes are reported as not run.
pub fn run_calls(
    signature: &Signature,
    isolation: Isolation,
    tests: &[TestCase],
    limits: &Limits,
    deadline: &Deadline,
    mut nonce: impl FnMut() -> String,
    mut run_batch: impl FnMut(&Batch) -> BatchRun,
) -> CallsOutcome {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; tests.len()];
    let visible: Vec<usize> = (0..tests.len()).filter(|&index| !tests[index].hidden).collect();
    let hidden: Vec<usize> = (0..tests.len()).filter(|&index| tests[index].hidden).collect();
    if visible.is_empty() && !deadline.has_passed() {
        // Nothing visible to learn from whether it compiles: a batch of no calls says, and holds no hidden argument.
        let load = Batch { nonce: nonce(), calls: Vec::new() };
        let run = run_batch(&load);
        if let Some(message) = read_batch(&load, &run, tests, limits, signature, &mut outcomes) {
            return CallsOutcome::DidNotCompile(message);
        }
    }
    for group in [visible, hidden] {
        let mut pending: &[usize] = &group;
        while let Some(&first) = pending.first() {
            if deadline.has_passed() {
                break;
            }
            let count = if isolation == Isolation::PerTest { 1 } else { pending.len() };
            let batch = Batch { nonce: nonce(), calls: pending[..count].to_vec() };
            let run = run_batch(&batch);
            // A hidden batch's word on compiling is not shown: its calls fail, saying nothing (see call_outcome).
            let did_not_compile = read_batch(&batch, &run, tests, limits, signature, &mut outcomes);
            if let (Some(message), false) = (did_not_compile, tests[first].hidden) {
                return CallsOutcome::DidNotCompile(message);
            }
            // Every call with an outcome is done; the next batch starts after the last one that has one.
            let done = pending.iter().take_while(|&&index| outcomes[index].is_some()).count();
            pending = &pending[done.max(1)..];
        }
    }
    CallsOutcome::Ran(
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Outcome::not_run(deadline.spent(false))))
            .collect(),
    )
}

/// Reads one batch's records into `outcomes`: each call with a record gets its outcome; the first call without one
/// gets the process's ending; the calls after it stay without (the next batch runs them). Returns the compile output
/// when the program did not compile or has no function of the signature.
fn read_batch(
    batch: &Batch,
    run: &BatchRun,
    tests: &[TestCase],
    limits: &Limits,
    signature: &Signature,
    outcomes: &mut [Option<Outcome>],
) -> Option<String> {
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let mark = format!("{RECORD_MARK}{} ", batch.nonce);
    let mut stdout_pieces = stdout.split(mark.as_str());
    let mut stderr_pieces = stderr.split(mark.as_str());
    // What the program printed while loading goes with the first call.
    let mut carried_stdout = stdout_pieces.next().unwrap_or_default().to_string();
    let mut carried_stderr = stderr_pieces.next().unwrap_or_default().to_string();
    let load = stdout_pieces.next().map(parse_record);
    let load_marker = stderr_pieces.next();
    if let Some(rest) = load_marker.and_then(|piece| piece.strip_prefix("load\n")) {
        carried_stderr.push_str(rest);
    }
    // How loading failed, if it did, and the compile output when that is why.
    let load_failure: Option<(Termination, Option<String>)> = match load {
        Some(Ok(record)) if record.index.is_none() => {
            carried_stdout.push_str(&record.rest);
            match record.kind.as_str() {
                "ready" => None,
                "did_not_compile" | "missing_function" | "wrong_signature" => {
                    let message = record.text();
                    Some((Termination::Crashed(message.clone()), Some(message)))
                }
                "timed_out" => Some((
                    Termination::TimeLimit(format!(
                        "loading the program ran past the time limit of {} ms",
                        limits.time_ms
                    )),
                    None,
                )),
                "out_of_memory" => {
                    Some((Termination::MemoryLimit("loading the program ran out of memory".into()), None))
                }
                _ => Some((Termination::Crashed(format!("loading the program raised {}", record.text())), None)),
            }
        }
        Some(_) => Some((tampered(), None)),
        None => match &run.did_not_compile {
            Some(message) => Some((Termination::Crashed(message.clone()), Some(message.clone()))),
            None => {
                // The process ended while loading the program (an exit, a crash, a limit): so it would for every
                // call.
                let ending = over_output(run.ending.clone(), limits);
                let termination = match ending.termination {
                    Termination::Exited(status) => {
                        Termination::Crashed(format!("the program ended (exit status {status}) while loading"))
                    }
                    other => other,
                };
                Some((termination, None))
            }
        },
    };
    if let Some((failure, did_not_compile)) = load_failure {
        for (position, &index) in batch.calls.iter().enumerate() {
            let mut outcome = Outcome::not_run(failure.clone());
            if position == 0 {
                // What it printed before failing is the first call's to show.
                outcome.stdout = std::mem::take(&mut carried_stdout).into_bytes();
                outcome.stderr = std::mem::take(&mut carried_stderr).into_bytes();
                outcome.time_ms = run.ending.time_ms;
                outcome.memory_kb = run.ending.memory_kb;
            }
            outcomes[index] = Some(call_outcome(&tests[index], signature, limits, outcome, Stage::Load));
        }
        return did_not_compile;
    }
    let mut spent_ms = 0.0;
    for (position, &index) in batch.calls.iter().enumerate() {
        let test = &tests[index];
        let record = stdout_pieces.next().map(parse_record);
        let stderr_piece = stderr_pieces.next().unwrap_or_default();
        let (mut own_stderr, later_stderr) = match stderr_piece.split_once('\n') {
            Some((marker, rest)) if marker == index.to_string() => (std::mem::take(&mut carried_stderr), rest),
            _ => (std::mem::take(&mut carried_stderr) + stderr_piece, ""),
        };
        let mut own_stdout = std::mem::take(&mut carried_stdout);
        let (termination, time_ms) = match record {
            Some(Ok(record)) if record.index == Some(index) => {
                // Position 0 of `record_ms` is the load's record.
                let time_ms = run.record_ms.get(position + 1).copied().unwrap_or(record.cpu_ms);
                spent_ms += time_ms;
                carried_stdout = record.rest.clone();
                carried_stderr = later_stderr.to_string();
                (record.termination(), time_ms)
            }
            Some(_) => (tampered(), 0.0),
            None => {
                // The process ended inside this call: its ending is the call's, with what it printed to the end.
                let mut ending = run.ending.clone();
                ending.stdout = own_stdout.into_bytes();
                ending.stderr = (own_stderr + later_stderr).into_bytes();
                ending.time_ms = (ending.time_ms - spent_ms).max(0.0);
                ending.termination = match ending.termination {
                    Termination::Exited(status) => Termination::Crashed(format!(
                        "the program ended (exit status {status}) before the function returned"
                    )),
                    other => other,
                };
                outcomes[index] =
                    Some(call_outcome(test, signature, limits, over_output(ending, limits), Stage::Ended));
                return None;
            }
        };
        let tampered_with = termination == tampered();
        // After running out of time or memory the harness leaves: the calls after it need a new batch.
        let process_over = matches!(termination, Termination::TimeLimit(_) | Termination::MemoryLimit(_));
        let outcome = Outcome {
            termination,
            stdout: std::mem::take(&mut own_stdout).into_bytes(),
            stderr: std::mem::take(&mut own_stderr).into_bytes(),
            time_ms,
            memory_kb: run.ending.memory_kb,
            fuel: None,
        };
        outcomes[index] = Some(call_outcome(
            test,
            signature,
            limits,
            over_output(outcome, limits),
            if tampered_with { Stage::Ended } else { Stage::Call },
        ));
        if tampered_with || process_over {
            // Nothing after a forged record can be trusted; the next batch starts after this call.
            return None;
        }
    }
    None
}

/// A call whose output went over a stream's limit is output_limit_exceeded, whatever it returned.
fn over_output(mut outcome: Outcome, limits: &Limits) -> Outcome {
    let cap = usize::try_from(limits.output_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
    for (name, stream) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if stream.len() > cap {
            outcome.termination =
                Termination::OutputLimit(format!("{name} went over the output limit of {} KiB", limits.output_kb));
            break;
        }
    }
    outcome
}

fn tampered() -> Termination {
    Termination::Crashed(
        "the harness's results came out of turn: the program wrote into the harness's result channel".into(),
    )
}

/// A record as parsed: `None` as the index for load records.
struct Record {
    index: Option<usize>,
    kind: String,
    cpu_ms: f64,
    payload: Result<Value, String>,
    /// What followed the record's line: the program's output after it.
    rest: String,
}

/// Parses a piece that starts just after `\x1e<nonce> `.
fn parse_record(piece: &str) -> Result<Record, ()> {
    let (line, rest) = piece.split_once('\n').ok_or(())?;
    let mut fields = line.splitn(4, ' ');
    let index = match fields.next().ok_or(())? {
        "load" => None,
        number => Some(number.parse::<usize>().map_err(|_| ())?),
    };
    let kind = fields.next().ok_or(())?.to_string();
    let cpu_ms = fields.next().ok_or(())?.parse::<f64>().map_err(|_| ())?;
    let payload = serde_json::from_str(fields.next().ok_or(())?).map_err(|err| err.to_string());
    Ok(Record { index, kind, cpu_ms: cpu_ms.max(0.0), payload, rest: rest.to_string() })
}

impl Record {
    /// The payload as text (the harnesses send messages as JSON strings).
    fn text(&self) -> String {
        match &self.payload {
            Ok(Value::String(text)) => text.clone(),
            Ok(other) => other.to_string(),
            Err(err) => format!("(unreadable: {err})"),
        }
    }

    fn termination(&self) -> Termination {
        match self.kind.as_str() {
            "returned" => match &self.payload {
                Ok(value) => Termination::Returned(vec![value.clone()]),
                Err(_) => {
                    Termination::WrongReturn("a value that is not valid JSON (a string that is not Unicode?)".into())
                }
            },
            "raised" => Termination::Crashed(self.text()),
            "timed_out" => Termination::TimeLimit(String::new()),
            "out_of_memory" => Termination::MemoryLimit(String::new()),
            "unsupported" => Termination::WrongReturn(self.text()),
            _ => tampered(),
        }
    }
}

/// Where in a harness run a call's outcome came from.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// The program failed while loading, before any call.
    Load,
    /// The call's own record.
    Call,
    /// The process ended inside the call.
    Ended,
}

/// The call's outcome with its message in words: naming the call for a visible test, nothing of it for a hidden one
/// (whose exception message or load failure the program could have filled with the test's arguments).
fn call_outcome(
    test: &TestCase,
    signature: &Signature,
    limits: &Limits,
    mut outcome: Outcome,
    stage: Stage,
) -> Outcome {
    let call = match &test.io {
        TestIo::Function { call, .. } => call.clone(),
        _ => signature.name.clone(),
    };
    let subject = if test.hidden { "the call".to_string() } else { call.clone() };
    outcome.termination = match (outcome.termination, stage, test.hidden) {
        (Termination::Crashed(_), Stage::Load, true) => {
            Termination::Crashed("the program failed while loading (hidden test: details withheld)".into())
        }
        (Termination::Crashed(_), Stage::Ended, true) => Termination::Crashed(
            "the program ended before the function returned (hidden test: details withheld)".into(),
        ),
        (Termination::Crashed(_), Stage::Call, true) => {
            Termination::Crashed("the function raised an exception (hidden test: details withheld)".into())
        }
        (Termination::Crashed(message), Stage::Ended, false) => Termination::Crashed(format!("{call}: {message}")),
        (Termination::Crashed(message), Stage::Call, false) => Termination::Crashed(format!("{call} raised {message}")),
        // A process that ran out of time inside a call ran out of the batch's time: the call's own limit is the one
        // to name.
        (Termination::TimeLimit(message), stage, _) if message.is_empty() || stage == Stage::Ended => {
            Termination::TimeLimit(format!("{subject} ran past its time limit of {} ms", limits.time_ms))
        }
        (Termination::MemoryLimit(message), _, _) if message.is_empty() => {
            Termination::MemoryLimit(format!("{subject} ran out of memory (limit {} MiB)", limits.memory_mb))
        }
        (Termination::WrongReturn(_), _, true) => Termination::WrongReturn(String::new()),
        (Termination::WrongReturn(what), _, false) => Termination::WrongReturn(format!("{call} returned {what}")),
        (other, _, _) => other,
    };
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Termination;
    use serde_json::json;

    fn signature() -> Signature {
        Signature {
            name: "f".into(),
            params: vec![("x".into(), crate::function::ValueType::Int)],
            returns: crate::function::ValueType::Int,
        }
    }

    fn tests(count: usize, hidden_from: usize) -> Vec<TestCase> {
        (0..count)
            .map(|index| TestCase {
                id: format!("t{index}"),
                io: TestIo::Function {
                    args: vec![json!(index)],
                    expected: json!(index),
                    call: format!("f({index})"),
                    returns: crate::function::ValueType::Int,
                },
                hidden: index >= hidden_from,
                weight: 1.0,
            })
            .collect()
    }

    fn ended(status: i32) -> Outcome {
        Outcome::not_run(Termination::Exited(status))
    }

    const LIMITS: Limits = Limits { time_ms: 100, memory_mb: 64, output_kb: 1 };

    /// Runs `tests` through batches answered by `answer(batch) -> (stdout, stderr)`; the nonce is `n<batch number>`.
    fn run(tests: &[TestCase], answer: impl Fn(&Batch) -> (String, String)) -> (CallsOutcome, Vec<Vec<usize>>) {
        let mut batches = Vec::new();
        let mut count = 0;
        let outcome = run_calls(
            &signature(),
            Isolation::PerSubmission,
            tests,
            &LIMITS,
            &Deadline::after(std::time::Duration::from_secs(60)),
            || {
                count += 1;
                format!("n{count}")
            },
            |batch| {
                batches.push(batch.calls.clone());
                let (stdout, stderr) = answer(batch);
                BatchRun {
                    stdout: stdout.into_bytes(),
                    stderr: stderr.into_bytes(),
                    ending: ended(0),
                    did_not_compile: None,
                    record_ms: Vec::new(),
                }
            },
        );
        (outcome, batches)
    }

    fn record(batch: &Batch, index: &str, kind: &str, payload: &str) -> String {
        format!("\x1e{} {index} {kind} 1.5 {payload}\n", batch.nonce)
    }

    #[test]
    fn output_is_split_per_call_and_hidden_calls_run_apart() {
        let (outcome, batches) = run(&tests(3, 2), |batch| {
            let mut stdout = format!("loading{}", record(batch, "load", "ready", "null"));
            let mut stderr = format!("warn\x1e{} load\n", batch.nonce);
            for index in &batch.calls {
                stdout.push_str(&format!(
                    "out{index}{}",
                    record(batch, &index.to_string(), "returned", &index.to_string())
                ));
                stderr.push_str(&format!("err{index}\x1e{} {index}\n", batch.nonce));
            }
            (stdout, stderr)
        });
        assert_eq!(batches, vec![vec![0, 1], vec![2]], "visible calls and hidden calls never share a process");
        let CallsOutcome::Ran(outcomes) = outcome else { panic!("it loaded") };
        assert_eq!(String::from_utf8_lossy(&outcomes[0].stdout), "loadingout0");
        assert_eq!(String::from_utf8_lossy(&outcomes[0].stderr), "warnerr0");
        assert_eq!(String::from_utf8_lossy(&outcomes[1].stdout), "out1");
        assert_eq!(outcomes[1].termination, Termination::Returned(vec![json!(1)]));
        assert_eq!(outcomes[1].time_ms, 1.5);
    }

    #[test]
    fn a_record_out_of_turn_or_without_the_nonce_is_not_a_result() {
        let (outcome, batches) = run(&tests(3, 3), |batch| {
            let forged = "\x1eguess 0 returned 1.0 0\n";
            let mut stdout = record(batch, "load", "ready", "null") + forged;
            // Call 1's record where call 0's must come.
            stdout.push_str(&record(batch, "1", "returned", "1"));
            (stdout, String::new())
        });
        let CallsOutcome::Ran(outcomes) = outcome else { panic!("it loaded") };
        assert!(matches!(&outcomes[0].termination, Termination::Crashed(m) if m.contains("out of turn")));
        assert_eq!(batches[1], vec![1, 2], "the calls after a forged record run again");
    }

    #[test]
    fn a_process_that_ends_inside_a_call_gives_it_its_ending_and_the_rest_run_again() {
        let (outcome, batches) = run(&tests(3, 3), |batch| {
            let mut stdout = record(batch, "load", "ready", "null");
            if batch.calls[0] == 0 {
                stdout.push_str(&record(batch, "0", "returned", "0"));
            } else {
                for index in &batch.calls {
                    stdout.push_str(&record(batch, &index.to_string(), "returned", &index.to_string()));
                }
            }
            (stdout, String::new())
        });
        assert_eq!(batches, vec![vec![0, 1, 2], vec![2]], "call 1 ended the first process; call 2 ran again");
        let CallsOutcome::Ran(outcomes) = outcome else { panic!("it loaded") };
        assert!(
            matches!(&outcomes[1].termination, Termination::Crashed(m) if m == "f(1): the program ended (exit status 0) before the function returned")
        );
        assert_eq!(outcomes[2].termination, Termination::Returned(vec![json!(2)]));
    }

    #[test]
    fn a_program_that_does_not_load_is_a_compile_error_only_from_a_batch_without_hidden_calls() {
        let (outcome, batches) = run(&tests(2, 0), |batch| {
            let kind = if batch.calls.is_empty() { "missing_function" } else { "ready" };
            (record(batch, "load", kind, "\"no f\""), String::new())
        });
        assert_eq!(batches, vec![Vec::<usize>::new()], "all hidden: a batch of no calls learns whether it loads");
        assert!(matches!(outcome, CallsOutcome::DidNotCompile(message) if message == "no f"));
        // A hidden batch saying so is not believed as compile output: its calls fail, saying nothing.
        let (outcome, _) = run(&tests(2, 0), |batch| {
            let kind = if batch.calls.is_empty() { "ready" } else { "did_not_compile" };
            (record(batch, "load", kind, "\"secret args\""), String::new())
        });
        let CallsOutcome::Ran(outcomes) = outcome else { panic!("the load-only batch loaded") };
        for outcome in outcomes {
            assert!(matches!(&outcome.termination, Termination::Crashed(m) if !m.contains("secret")), "{outcome:?}");
        }
    }

    #[test]
    fn each_call_is_held_to_its_own_output_limit() {
        let (outcome, _) = run(&tests(2, 2), |batch| {
            let mut stdout = record(batch, "load", "ready", "null");
            stdout.push_str(&"x".repeat(1025));
            stdout.push_str(&record(batch, "0", "returned", "0"));
            stdout.push_str(&"x".repeat(1024));
            stdout.push_str(&record(batch, "1", "returned", "1"));
            (stdout, String::new())
        });
        let CallsOutcome::Ran(outcomes) = outcome else { panic!("it loaded") };
        assert!(matches!(outcomes[0].termination, Termination::OutputLimit(_)));
        assert_eq!(outcomes[1].termination, Termination::Returned(vec![json!(1)]), "1024 bytes is at the limit");
    }
}
