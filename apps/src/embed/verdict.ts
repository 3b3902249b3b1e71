// How the widget words a judge's verdicts for readers.

const WORDS: Record<string, string> = {
  accepted: "Accepted",
  wrong_answer: "Wrong answer",
  time_limit_exceeded: "Time limit exceeded",
  memory_limit_exceeded: "Memory limit exceeded",
  output_limit_exceeded: "Output limit exceeded",
  runtime_error: "Runtime error",
  compilation_error: "Compilation error",
  internal_error: "Internal error",
  ok: "Finished",
};

/** `verdict` in words ("wrong_answer" → "Wrong answer"); an unknown one as it came. */
export function verdictWords(verdict: string): string {
  return WORDS[verdict] ?? verdict;
}

/** The one-line summary of a submission: "2 of 3 tests passed". */
export function summary(passed: number, total: number): string {
  return `${passed} of ${total} test${total === 1 ? "" : "s"} passed`;
}
