// Run mode in the reader's browser: the runner Web Worker (embed-runner.js, fetched on the first Run and started
// from a blob, so that it works on any page that embeds the widget) runs the program in the server's own runtime.
import type { RunOutcome } from "./api";
import type { RunMessage, RunnerMessage } from "../runner/protocol";

/** The languages whose runtime runs in the browser; the others run on the server (POST /api/capsules/{id}/run). */
export const BROWSER_LANGUAGES: ReadonlySet<string> = new Set(["python", "javascript", "ruby"]);

/** Granted on top of the program's time limit for the interpreter's own start in the worker (CPython's: ~0.3 s). */
export const STARTUP_ALLOWANCE_MS = 2_000;
/** How long the first Run may take to download, compile and (Ruby) boot a runtime (CPython's is 26 MB, Ruby's 31). */
export const LOAD_BUDGET_MS = 120_000;

export interface RunLimits {
  timeMs: number;
  outputLimitBytes: number;
}

export class BrowserRunner {
  private worker: Promise<Worker> | undefined;
  private next = 1;

  constructor(
    private readonly runnerUrl: string,
    private readonly packs: string,
  ) {}

  private start(): Promise<Worker> {
    this.worker ??= fetch(this.runnerUrl)
      .then((response) => {
        if (!response.ok) throw new Error(`${this.runnerUrl} answered ${response.status}`);
        return response.text();
      })
      .then((code) => new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" }))));
    this.worker.catch(() => (this.worker = undefined));
    return this.worker;
  }

  /** Stops the worker (a run over its time limit); the next run starts another. */
  private stop(worker: Worker): void {
    worker.terminate();
    this.worker = undefined;
  }

  async run(language: string, source: string, stdin: string, limits: RunLimits): Promise<RunOutcome> {
    const worker = await this.start();
    const id = this.next++;
    const message: RunMessage = { id, packs: this.packs, language, source, stdin, outputLimitBytes: limits.outputLimitBytes };
    return new Promise<RunOutcome>((resolve, reject) => {
      let started = 0;
      const finish = () => {
        clearTimeout(timer);
        worker.removeEventListener("message", listen);
      };
      const expire = (waited: string) => () => {
        finish();
        this.stop(worker);
        if (started === 0) reject(new Error(`the ${language} runtime did not load within ${waited}: try again`));
        else resolve({ status: "time_limit_exceeded", stdout: "", stderr: "", exit_code: null, time_ms: Math.round(performance.now() - started), output_truncated: false });
      };
      let timer = setTimeout(expire(`${LOAD_BUDGET_MS / 1000} s`), LOAD_BUDGET_MS);
      const listen = (event: MessageEvent<RunnerMessage>) => {
        const answer = event.data;
        if (answer.id !== id) return;
        if (answer.kind === "ready") {
          started = performance.now();
          clearTimeout(timer);
          timer = setTimeout(expire("its time limit"), limits.timeMs + STARTUP_ALLOWANCE_MS);
        } else if (answer.kind === "done") {
          finish();
          resolve(answer.outcome);
        } else {
          finish();
          reject(new Error(answer.message));
        }
      };
      worker.addEventListener("message", listen);
      worker.postMessage(message);
    });
  }
}
