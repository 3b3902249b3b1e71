// The messages between the widget and its runner (a Web Worker, src/runner/worker.ts).
import type { RunOutcome } from "../embed/api";

/** The widget asks for one run. */
export interface RunMessage {
  id: number;
  packs: string;
  language: string;
  source: string;
  stdin: string;
  outputLimitBytes: number;
}

/** The runner answers: the outcome, or why it could not run the program at all. `ready` is posted when the runtime
 * is loaded, so that the widget starts the program's clock then, not while a 26 MB runtime downloads. */
export type RunnerMessage =
  | { id: number; kind: "ready" }
  | { id: number; kind: "done"; outcome: RunOutcome }
  | { id: number; kind: "failed"; message: string };
