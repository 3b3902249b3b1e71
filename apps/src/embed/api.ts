// The widget's server calls: the capsule's reader view, a submission judged against the stored tests, and a run on
// the reader's own input for languages the browser does not run.
import { requestJson } from "../lib/http";

/** A visible test as readers see it; a hidden one is only its id and weight. */
export interface ReaderTest {
  id: string;
  hidden: boolean;
  weight: number;
  stdin?: string;
  expected_stdout?: string;
}

/** GET /api/capsules/{id}: the reader's view. */
export interface ReaderCapsule {
  id: string;
  title: string;
  description_md: string;
  language: string;
  starter: { source: string | null; module_base64: string | null };
  limits: { time_ms: number; memory_mb: number; output_kb: number | null };
  hints: string[];
  tests: ReaderTest[];
  version: number;
  entry?: { kind: string } | null;
}

/** One test of a submission's report: a hidden one carries its verdict and nothing else. */
export interface TestReport {
  id: string;
  verdict: string;
  hidden: boolean;
  weight?: number;
  stdout?: string;
  stderr?: string;
  message?: string | null;
  exit_code?: number | null;
  time_ms?: number;
}

/** POST /api/capsules/{id}/submissions' answer. */
export interface SubmissionReport {
  submission_id: string;
  verdict: string;
  passed: number;
  total: number;
  score: number;
  compile: { ok: boolean; output: string } | null;
  tests: TestReport[];
}

/** One run's outcome, from the browser's runner or POST /api/capsules/{id}/run. */
export interface RunOutcome {
  status: string;
  stdout: string;
  stderr: string;
  exit_code: number | null;
  time_ms: number;
  output_truncated: boolean;
}

const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export class CapsuleApi {
  constructor(readonly base: string) {}

  capsule(id: string): Promise<ReaderCapsule> {
    return requestJson(`${this.base}/api/capsules/${encodeURIComponent(id)}`);
  }

  submit(id: string, source: string, visitorId: string): Promise<SubmissionReport> {
    return requestJson(`${this.base}/api/capsules/${encodeURIComponent(id)}/submissions`, json({ source, visitor_id: visitorId }));
  }

  run(id: string, source: string, stdin: string): Promise<RunOutcome> {
    return requestJson(`${this.base}/api/capsules/${encodeURIComponent(id)}/run`, json({ source, stdin }));
  }
}
