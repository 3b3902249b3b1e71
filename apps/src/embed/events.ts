// Widget events (view, run, submit, pass, fail, error) to POST /api/events: queued, sent in batches with
// navigator.sendBeacon (text/plain, so no CORS preflight and delivery survives the page closing), each with its own
// event_id so that a batch sent twice counts once.
import { uuid } from "../lib/http";

export type EventType = "view" | "run" | "submit" | "pass" | "fail" | "error";

export interface WidgetEvent {
  event_id: string;
  type: EventType;
  capsule_id: string;
  visitor_id: string;
  session_id: string;
  ts: string;
  duration_ms?: number;
  language?: string;
  widget_version: string;
}

/** The server takes at most 500 events a batch; the widget sends far fewer at once. */
export const MAX_BATCH = 50;
/** How long an event waits for others before its batch is sent. */
export const FLUSH_AFTER_MS = 2_000;

export type Send = (url: string, body: string) => boolean;

/** navigator.sendBeacon, else fetch with keepalive (both send a string: text/plain;charset=UTF-8). */
export const beacon: Send = (url, body) => {
  if (typeof navigator !== "undefined" && typeof navigator.sendBeacon === "function") {
    return navigator.sendBeacon(url, body);
  }
  void fetch(url, { method: "POST", body, keepalive: true, headers: { "content-type": "text/plain" } }).catch(() => {});
  return true;
};

export class EventQueue {
  private pending: WidgetEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly url: string,
    private readonly context: { visitor_id: string; session_id: string; widget_version: string },
    private readonly send: Send = beacon,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Queues one event; the batch goes within FLUSH_AFTER_MS, or at once when full. */
  record(type: EventType, capsuleId: string, extra: { duration_ms?: number; language?: string } = {}): WidgetEvent {
    const event: WidgetEvent = {
      event_id: uuid(),
      type,
      capsule_id: capsuleId,
      ts: this.now().toISOString(),
      ...this.context,
      ...(extra.duration_ms === undefined ? {} : { duration_ms: Math.max(0, Math.round(extra.duration_ms)) }),
      ...(extra.language === undefined ? {} : { language: extra.language }),
    };
    this.pending.push(event);
    if (this.pending.length >= MAX_BATCH) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    return event;
  }

  /** Sends what is queued now (on a full batch, the timer, or the page being hidden). A refused beacon (the browser's
   * queue is full) keeps the events for the next flush: their ids make a resend harmless. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0) {
      const batch = this.pending.slice(0, MAX_BATCH);
      if (!this.send(this.url, JSON.stringify({ events: batch }))) {
        this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
        return;
      }
      this.pending = this.pending.slice(batch.length);
    }
  }

  get queued(): number {
    return this.pending.length;
  }
}

/** The visitor's id, kept in localStorage where the page allows it, else for this page only. */
export function visitorId(storage: Pick<Storage, "getItem" | "setItem"> | undefined): string {
  const KEY = "codecapsule.visitor";
  try {
    const known = storage?.getItem(KEY);
    if (known && known.length <= 128) return known;
    const made = uuid();
    storage?.setItem(KEY, made);
    return made;
  } catch {
    return uuid();
  }
}
