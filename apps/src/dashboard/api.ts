// The dashboard's calls, as the signed-in organization: an API key, or a member's Supabase session with the
// organization it acts for (X-Organization-Id).
import { problemOf, requestJson } from "../lib/http";
import type { HourlyStats } from "./stats";

export interface Identity {
  bearer: string;
  organizationId?: string;
}

export interface CapsuleListing {
  id: string;
  slug: string;
  title: string;
  language: string;
  status: "draft" | "validated" | "published" | "quarantined";
  visibility: "public" | "unlisted" | "private";
  version: number;
  updated_at: string;
}

export interface SubmissionRecord {
  id: string;
  capsule_version: number;
  verdict: string;
  score: number;
  user_id: string | null;
  api_key_organization_id: string | null;
  visitor_hash: string | null;
  created_at: string;
}

export interface StatsAnswer {
  from: string;
  to: string;
  hours: HourlyStats[];
}

/** How long a generation may stream (the server's own budget is shorter; this only stops a dead connection). */
const GENERATION_BUDGET_MS = 15 * 60_000;

export class DashboardApi {
  constructor(
    readonly base: string,
    private readonly identity: Identity,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Bearer ${this.identity.bearer}`,
      ...(this.identity.organizationId ? { "x-organization-id": this.identity.organizationId } : {}),
      ...extra,
    };
  }

  capsules(): Promise<{ organization_id: string; capsules: CapsuleListing[] }> {
    return requestJson(`${this.base}/api/capsules`, { headers: this.headers() });
  }

  stats(id: string, from: Date, to: Date): Promise<StatsAnswer> {
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    return requestJson(`${this.base}/api/capsules/${id}/stats?${query}`, { headers: this.headers() });
  }

  submissions(id: string, limit = 20): Promise<{ submissions: SubmissionRecord[] }> {
    return requestJson(`${this.base}/api/capsules/${id}/submissions?limit=${limit}`, { headers: this.headers() });
  }

  /** Publishes (or unpublishes) a capsule: its authored version saved again with `publish`, validated as any save is
   * (a new version; unpublished, it is private). */
  async setPublished(id: string, publish: boolean): Promise<{ status: string; version: number }> {
    const authored = await requestJson<Record<string, unknown>>(`${this.base}/api/capsules/${id}?view=author`, { headers: this.headers() });
    const { status: _status, visibility: _visibility, organization_id: _organization, ...capsule } = authored;
    return requestJson(`${this.base}/api/capsules`, {
      method: "POST",
      headers: this.headers({ "content-type": "application/json" }),
      body: JSON.stringify({ capsule, publish, visibility: publish ? "public" : "private" }),
    });
  }

  /** POST /api/generate: each NDJSON line as it arrives, to `onEvent`. */
  async generate(request: { prompt: string; language: string; difficulty: string }, onEvent: (event: Record<string, unknown>) => void): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), GENERATION_BUDGET_MS);
    try {
      const response = await fetch(`${this.base}/api/generate`, {
        method: "POST",
        headers: this.headers({ "content-type": "application/json" }),
        body: JSON.stringify(request),
        signal: controller.signal,
      });
      if (!response.ok || !response.body) throw await problemOf(response);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) onEvent(JSON.parse(line));
      }
      if (pending.trim()) onEvent(JSON.parse(pending));
    } finally {
      clearTimeout(timer);
    }
  }
}
