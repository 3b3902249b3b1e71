//! The replay provider: a recorded transcript played back in order, for demos (`make run` without an LLM account) and
//! tests. Each generation job replays the transcript from its start ([`Transcript::from_start`]): a host serves any
//! number of jobs from one recording. A transcript is a JSON Lines file, one chat completion response per line (as the OpenAI wire format has
//! it); blank lines and lines starting with `//` are skipped. Every completion it produces has `replayed: true`, and
//! the model is named `replay:<file>`, so nothing downstream can mistake it for a model's work.

use super::LlmError;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A recorded transcript: the completions of one generation, answered in order.
pub struct Transcript {
    responses: Arc<[Value]>,
    next: AtomicUsize,
}

impl Transcript {
    /// The transcript at `path` (JSON lines).
    pub fn load(path: &Path) -> Result<Transcript, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            LlmError::Replay(format!("cannot read {} ({err}): check LLM_REPLAY_FILE", path.display()))
        })?;
        Transcript::parse(&text).map_err(|reason| LlmError::Replay(format!("{}: {reason}", path.display())))
    }

    /// A transcript from its JSON lines.
    pub fn parse(text: &str) -> Result<Transcript, String> {
        let mut responses = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let response: Value =
                serde_json::from_str(line).map_err(|err| format!("line {} is not JSON: {err}", number + 1))?;
            if response["choices"].as_array().is_none_or(Vec::is_empty) {
                return Err(format!("line {} is not a chat completion (no choices)", number + 1));
            }
            responses.push(response);
        }
        if responses.is_empty() {
            return Err("the transcript has no responses".into());
        }
        Ok(Transcript { responses: responses.into(), next: AtomicUsize::new(0) })
    }

    /// The same recording, played again from its first response (for the next job).
    pub fn from_start(&self) -> Transcript {
        Transcript { responses: self.responses.clone(), next: AtomicUsize::new(0) }
    }

    /// The next recorded response; an error once all have been played.
    pub fn next(&self) -> Result<Value, LlmError> {
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses.get(index).cloned().ok_or_else(|| {
            LlmError::Replay(format!(
                "the transcript has {} responses and call {} asked for another",
                self.responses.len(),
                index + 1
            ))
        })
    }
}
